"""The admin's portal in a real browser: the review queue (reject with a note, approve), the
network directory (create with errors beside fields, pause), blocklists and portal users."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from leadmarket.audit import AuditEvent
from marketplace.models import Lead
from tests.fraud_helpers import person_lead, post
from tests.portal_fixtures import PASSWORD, log_in


def review_lead(client, network) -> int:
    decision = post(client, network, person_lead(network.cpl_offer["id"], contact={"first_name": "M4ria"}))
    assert decision["status"] == "review"
    return decision["lead_id"]


def test_admin_rejects_a_review_lead_seeing_the_screen_s_reasons(page, client, network, make_user, db):
    first, second = review_lead(client, network), review_lead(client, network)
    admin = make_user("admin")
    log_in(page, admin)
    assert page.locator("[data-count=review]").inner_text() == "2"
    page.click("nav.menu >> text=Review queue")
    card = page.locator(f"[data-lead='{first}']")
    assert "name_digits" in card.inner_text() and "score 40" in card.inner_text()
    assert "M4ria" not in page.content()  # the queue shows the screen's reasons, not the person

    card.locator("button[value=reject]").click()  # no note: refused beside the field, nothing changes
    assert page.locator(f"[data-lead='{first}'] .error[data-field=note]").inner_text() == "say why the lead is rejected"
    with db() as session:
        assert session.get(Lead, first).status == "review"

    page.locator(f"[data-lead='{first}'] textarea[name=note]").fill("phone is a fax line")
    page.locator(f"[data-lead='{first}'] button[value=reject]").click()
    assert page.locator(".notice").inner_text() == f"Lead {first} rejected: now rejected."
    assert page.locator(f"[data-lead='{first}']").count() == 0
    page.locator(f"[data-lead='{second}'] button[value=approve]").click()
    assert "approved" in page.locator(".notice").inner_text()
    assert "Nothing waiting for review" in page.inner_text("main")
    with db() as session:
        assert session.get(Lead, first).status == "rejected"
        assert session.get(Lead, second).status in ("accepted", "sold")
        event = session.execute(select(AuditEvent).where(AuditEvent.action == "review.reject")).scalar_one()
        assert event.actor_user_id == admin.id and event.details["note"] == "phone is a fax line"


def test_directory_forms_show_errors_beside_fields_then_create(page, network, make_user, db):
    log_in(page, make_user("admin"))
    page.goto("/admin/offers")
    page.fill("#f-name", "Spring car deals")
    page.select_option("#f-vertical", network.vertical["slug"])
    page.fill("#f-payout", "12.505")
    page.fill("#f-landing_url", "ftp://nope")
    page.click("form[action='/admin/offers'] button[type=submit]")
    assert page.locator(".error[data-field=payout]").is_visible()
    assert page.locator(".error[data-field=landing_url]").is_visible()
    assert page.input_value("#f-name") == "Spring car deals"  # what was typed is kept
    page.fill("#f-payout", "12.50")
    page.fill("#f-landing_url", "https://cars.example.com/?c={click_id}")
    page.click("form[action='/admin/offers'] button[type=submit]")
    assert "Offer Spring car deals created" in page.locator(".notice").inner_text()
    row = page.locator("tr", has_text="Spring car deals")
    assert "12.50 USD" in row.inner_text()
    row.locator("button", has_text="Pause").click()
    assert "is now paused" in page.locator(".notice").inner_text()

    page.goto("/admin/affiliates")
    page.fill("#f-name", "Blue Media")
    page.fill("#f-email", network.affiliate["email"])  # taken
    page.click("form[action='/admin/affiliates'] button[type=submit]")
    assert "exists" in page.locator(".error[data-field=email]").inner_text()
    page.fill("#f-email", "blue@media.example")
    page.click("form[action='/admin/affiliates'] button[type=submit]")
    assert page.locator("#api-key").inner_text().startswith("lmk_")  # shown once

    page.goto("/admin/verticals")
    page.fill("#f-slug", "Bad Slug")
    page.fill("#f-name", "Loans")
    page.fill("#f-fields", "[{\"name\": \"amount\"")
    page.fill("#f-base_price", "5")
    page.click("form[action='/admin/verticals'] button[type=submit]")
    assert page.locator(".error[data-field=slug]").is_visible()
    assert page.locator(".error[data-field=fields]").inner_text() == "is not valid JSON"
    with db() as session:
        actions = set(session.execute(select(AuditEvent.action)).scalars())
    assert {"offer.create", "offer.status", "affiliate.create"} <= actions


def test_blocklist_add_and_remove(page, make_user):
    log_in(page, make_user("admin"))
    page.goto("/admin/blocklists")
    assert "Nothing blocked" in page.inner_text("main")
    page.select_option("#f-kind", "ip")
    page.fill("#f-value", "not an ip")
    page.click("#block-form button[type=submit]")
    assert page.locator(".error[data-field=value]").is_visible()
    page.fill("#f-value", "203.0.113.7/24")
    page.fill("#f-note", "click farm")
    page.click("#block-form button[type=submit]")
    assert "Blocked ip 203.0.113.0/24" in page.locator(".notice").inner_text()
    page.locator("tr", has_text="203.0.113.0/24").locator("button", has_text="Remove").click()
    assert "Entry removed" in page.locator(".notice").inner_text()


def test_admin_creates_a_user_who_then_logs_in(page, browser, live_server, network, make_user):
    log_in(page, make_user("admin"))
    page.goto("/admin/users")
    page.fill("#f-email", "buyer@cars.example")
    page.fill("#f-password", "short")
    page.select_option("#f-role", "advertiser")
    page.click("form[action='/admin/users'] button[type=submit]")
    assert "at least 10" in page.locator(".error[data-field=password]").inner_text()
    assert "needs an advertiser" in page.locator(".error[data-field=advertiser_id]").inner_text()
    page.fill("#f-password", PASSWORD)
    page.select_option("#f-advertiser_id", str(network.advertiser["id"]))
    page.select_option("#f-time_zone", "Europe/Berlin")
    page.click("form[action='/admin/users'] button[type=submit]")
    assert "buyer@cars.example created" in page.locator(".notice").inner_text()

    other = browser.new_context(base_url=live_server)
    try:
        tab = other.new_page()
        tab.goto("/login")
        tab.fill("#f-email", "buyer@cars.example")
        tab.fill("#f-password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(re.compile(r".*/advertiser$"))
    finally:
        other.close()

    page.locator("tr[data-user='buyer@cars.example'] button", has_text="Disable").click()
    assert "disabled" in page.locator(".notice").inner_text()


def test_admin_pages_fit_a_phone_screen(page, network, make_user):
    log_in(page, make_user("admin"))
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/admin", "/admin/offers", "/admin/users"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    page.click("label.menu-button")
    assert page.locator("nav.menu >> text=Blocklists").is_visible()


def test_admin_pages_refuse_other_roles_and_strangers(live_server, network, make_user):
    from tests.test_portal_accounts import _session_cookie

    advertiser = make_user("advertiser", advertiser_id=network.advertiser["id"])
    cookie = _session_cookie(live_server, advertiser)
    for path in ("/admin", "/admin/review", "/admin/users", "/admin/offers", "/admin/blocklists"):
        assert httpx.get(live_server + path, cookies={"lm_session": cookie}).status_code == 403, path
        stranger = httpx.get(live_server + path)
        assert stranger.status_code == 303 and stranger.headers["location"].startswith("/login?next=")


def test_a_paused_affiliate_cannot_post_leads_until_reactivated(page, client, network, make_user):
    from tests.support import lead_body, post_lead

    log_in(page, make_user("admin"))
    page.goto("/admin/affiliates")
    page.locator(f"tr[data-affiliate='{network.affiliate['id']}'] button", has_text="Pause").click()
    assert "is now paused" in page.locator(".notice").inner_text()
    refused = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]))
    assert refused.status_code == 403 and "paused" in refused.json()["detail"]
    page.locator(f"tr[data-affiliate='{network.affiliate['id']}'] button", has_text="Reactivate").click()
    assert post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"])).status_code == 201
