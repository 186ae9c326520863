"""The advertiser's portal in a real browser (Debian Chromium): buy a store lead and return it,
orders with errors beside their fields and a live count of matching leads, the CSV export through
the job page, a test delivery to a real HTTP server, top-ups through Stripe (localstripe), and
what an advertiser must never see."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import hmac
import io
import json
import re

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from leadmarket.clock import utcnow
from marketplace.sale_models import Sale

from leadmarket.settings import configure
from tests.http_stubs import ScriptedServer
from tests.portal_fixtures import log_in
from tests.store_support import new_advertiser, stored_lead
from tests.order_support import person_lead
from tests.support import created
from tests.test_portal_accounts import _csrf, _session_cookie
from tests.test_topups import localstripe  # noqa: F401  (the localstripe server fixture)

STORE = "/api/v1/store/leads"


@pytest.fixture
def buyer(client, network, make_user):
    """The network's advertiser (prepaid, credit limit 500.00) with 100.00 on account, and its portal user."""
    created(client.post(f"/api/v1/advertisers/{network.advertiser['id']}/credits", headers=network.admin_headers,
                        json={"amount": "100.00", "note": "opening balance"}))
    network.advertiser["headers"] = {"X-API-Key": network.advertiser["api_key"]}
    return make_user("advertiser", advertiser_id=network.advertiser["id"])


def text_of(page, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


def buy_by_api(client, advertiser, lead_id: int, *, exclusive: bool = False) -> dict:
    answer = client.post(f"{STORE}/{lead_id}/buy", headers={"X-API-Key": advertiser["api_key"]},
                         json={"exclusive": exclusive})
    assert answer.status_code == 201, answer.text
    return answer.json()


# ---------------------------------------------------------------- the main flow


def test_an_advertiser_buys_a_store_lead_and_returns_it(page, client, network, buyer):
    body = person_lead(network.cpl_offer["id"])
    lead_id = stored_lead(client, network, body=body)
    contact = body["contact"]
    log_in(page, buyer)
    assert text_of(page, "[data-tile=balance] .value") == "100.00 USD"
    assert text_of(page, "[data-tile=leads] .value") == "0"

    page.click("nav.menu >> text=Lead store")
    card = page.locator(f"article[data-lead='{lead_id}']")
    assert "car-insurance · US-CA" in card.inner_text() and "postal 94…" in card.inner_text()
    for secret in (contact["first_name"], contact["last_name"], contact["email"], "94107"):
        assert secret not in page.content()  # a preview never shows who the person is

    card.locator("button[data-buy=shared]").click()  # HTMX posts; the answer sends the browser on
    page.wait_for_url(re.compile(r".*/advertiser/purchases/\d+$"))
    sale_id = int(page.url.rsplit("/", 1)[1])
    assert text_of(page, ".notice") == f"Bought lead {lead_id} (shared, sold 1 of 3) for 18.00 USD."
    assert text_of(page, "[data-field=first_name]") == contact["first_name"]
    assert text_of(page, "[data-field=email]") == contact["email"]
    assert re.fullmatch(r"\+1415\d{7}", text_of(page, "[data-field=phone]"))  # E.164, as normalized at intake
    assert text_of(page, "[data-field=postal_code]") == "94107"
    assert "return this lead until" in text_of(page, "#return").lower()

    page.click("nav.menu >> text=Dashboard")
    assert text_of(page, "[data-tile=balance] .value") == "82.00 USD"  # the price came off the balance
    assert text_of(page, "[data-tile=leads] .value") == "1"
    assert text_of(page, "[data-tile=spend] .value") == "18.00 USD"

    page.click("nav.menu >> text=Purchases")
    row = page.locator(f"tr[data-sale='{sale_id}']")
    assert contact["last_name"] in row.inner_text() and "18.00 USD" in row.inner_text()
    row.locator("a").first.click()
    page.select_option("#f-reason", "bad_phone")
    page.fill("#f-note", "the number is disconnected")
    page.click("#return button[type=submit]")
    assert text_of(page, ".notice") == "Return accepted: 18.00 USD refunded to your balance."
    assert "Refunded 18.00 USD" in text_of(page, "#return")
    assert page.locator("[data-status]").first.get_attribute("data-status") == "returned"

    page.click("nav.menu >> text=Billing")
    assert text_of(page, "[data-tile=balance] .value") == "100.00 USD"  # the refund is back on the balance
    kinds = page.locator("#transactions tr[data-entry]").evaluate_all("rows => rows.map(r => r.dataset.kind)")
    assert len(kinds) == 3 and kinds[-1] == "manual_credit"  # newest first: refund, purchase, opening credit
    amounts = [text_of(page, f"#transactions tr[data-entry]:nth-child({i}) td.num") for i in (1, 2, 3)]
    assert amounts == ["18.00 USD", "-18.00 USD", "100.00 USD"]
    page.click("nav.menu >> text=Dashboard")
    assert text_of(page, "[data-tile=returns] .value") == "1"
    assert "18.00 USD refunded" in text_of(page, "[data-tile=returns]")


def test_a_return_is_refused_beside_its_field_and_the_window_is_shown(page, client, network, buyer, db):
    sale = buy_by_api(client, network.advertiser, stored_lead(client, network))
    log_in(page, buyer)
    page.goto(f"/advertiser/purchases/{sale['sale_id']}")
    assert "(7 days after the sale)" in text_of(page, "#return")
    # Filed meanwhile by API (another tab, a CRM): the form still open is refused beside its field.
    filed = client.post(f"/api/v1/purchases/{sale['sale_id']}/return", headers=network.advertiser["headers"],
                        json={"reason": "fraud"})
    assert filed.status_code == 201 and filed.json()["status"] == "pending", filed.text
    page.select_option("#f-reason", "bad_email")
    page.click("#return button[type=submit]")
    assert "has a return already" in text_of(page, ".error[data-field=reason]")
    page.goto(f"/advertiser/purchases/{sale['sale_id']}")
    assert page.locator("#f-reason").count() == 0 and "Return pending" in text_of(page, "#return")

    late = buy_by_api(client, network.advertiser, stored_lead(client, network))
    with db() as session, session.begin():
        session.execute(update(Sale).where(Sale.id == late["sale_id"]).values(
            created_at=utcnow() - timedelta(days=8)))
    page.goto(f"/advertiser/purchases/{late['sale_id']}")
    assert "the return window closed 7 days after the sale" in text_of(page, "[data-refused=return]")
    assert page.locator("#f-reason").count() == 0


def test_the_store_says_sold_out_and_insufficient_balance_plainly(page, client, network, buyer, make_user):
    first, second = stored_lead(client, network), stored_lead(client, network)
    rival = new_advertiser(client, network)
    log_in(page, buyer)
    page.goto("/advertiser/store")
    buy_by_api(client, rival, first, exclusive=True)  # sold while the page is open
    page.locator(f"article[data-lead='{first}'] button[data-buy=shared]").click()
    assert text_of(page, f"[data-refused='{first}']").startswith("Sold out:")

    broke = new_advertiser(client, network, credit_limit="0.00")
    page.context.clear_cookies()
    log_in(page, make_user("advertiser", advertiser_id=broke["id"]))
    page.goto("/advertiser/store")
    page.locator(f"article[data-lead='{second}'] button[data-buy=exclusive]").click()
    assert text_of(page, f"[data-refused='{second}']").startswith("Insufficient balance:")
    assert page.locator(f"article[data-lead='{second}'] a", has_text="Top up").is_visible()

    page.goto("/advertiser/store?temperature=lukewarm")  # a bad filter is named, not a crash
    assert "must be one of cold, warm, hot" in text_of(page, ".error[data-field=temperature]")


# ---------------------------------------------------------------- orders


def test_an_order_with_a_bad_field_shows_the_error_beside_it_then_saves(page, network, buyer, db):
    log_in(page, buyer)
    page.click("nav.menu >> text=Orders")
    assert "No orders yet" in text_of(page, "main")
    page.click("main >> text=Place your first order")
    page.fill("#f-name", "Bay Area full cover")
    page.fill("#f-price", "12.345")
    page.fill("#f-caps\\.daily", "-1")
    page.fill("#f-filters\\.countries", "US, XX")
    page.click("#order-form button[type=submit]")
    assert text_of(page, ".error[data-field=price]") == "has more than 2 decimal places for USD"
    assert "between 0 and" in text_of(page, ".error[data-field='caps.daily']")
    assert "XX" in text_of(page, ".error[data-field='filters.countries']")
    assert page.input_value("#f-name") == "Bay Area full cover"  # what was typed is kept

    page.fill("#f-price", "12.50")
    page.fill("#f-caps\\.daily", "40")
    page.fill("#f-filters\\.countries", "US")
    page.uncheck("input[name='schedule.days'][value=sun]")
    page.fill("#f-delivery\\.webhook_url", "https://crm.example.com/leads")
    page.fill("#f-delivery\\.secret", "short")
    page.click("#order-form button[type=submit]")
    assert "16 to 200" in text_of(page, ".error[data-field='delivery.secret']")
    page.fill("#f-delivery\\.secret", "a-long-enough-signing-secret")
    page.click("#order-form button[type=submit]")
    assert text_of(page, ".notice").startswith("Order “Bay Area full cover” created")
    row = page.locator("tr", has_text="Bay Area full cover")
    assert "12.50 USD" in row.inner_text() and "40" in row.inner_text() and "active" in row.inner_text()

    row.locator("button", has_text="Pause").click()
    assert "paused" in text_of(page, ".notice")
    assert "paused" in page.locator("tr", has_text="Bay Area full cover").inner_text()
    page.locator("tr", has_text="Bay Area full cover").locator("a", has_text="Edit").click()
    assert page.input_value("#f-price") == "12.50"
    assert not page.is_checked("input[name='schedule.days'][value=sun]")
    assert page.is_checked("input[name='schedule.days'][value=mon]")
    page.fill("#f-price", "14.00")
    page.click("#order-form button[type=submit]")
    assert "saved" in text_of(page, ".notice")
    assert "14.00 USD" in page.locator("tr", has_text="Bay Area full cover").inner_text()


def test_the_live_count_follows_the_filters_as_they_change(page, client, network, buyer):
    for year in (2019, 2018, 2004):
        stored_lead(client, network, body=person_lead(network.cpl_offer["id"], attributes={"vehicle_year": year}))
    stored_lead(client, network, body=person_lead(network.cpl_offer["id"], contact={"region": "NV", "city": "Reno",
                                                                                   "postal_code": "89501"}))
    log_in(page, buyer)
    page.goto("/advertiser/orders/new")
    reach = page.locator("#reach [data-reach]")
    assert reach.get_attribute("data-reach") == "4"
    assert "4 of 4 leads from the last 7 days" in text_of(page, "#reach")

    page.fill("#f-filters\\.ranges\\.vehicle_year\\.min", "2010")  # typing is enough: no submit
    page.wait_for_function("document.querySelector('#reach [data-reach]').dataset.reach === '3'")
    page.fill("#f-filters\\.regions", "CA")
    page.wait_for_function("document.querySelector('#reach [data-reach]').dataset.reach === '2'")
    page.uncheck("input[name='filters.choices.coverage'][value=full]")
    page.wait_for_function("document.querySelector('#reach [data-reach]').dataset.reach === '0'")
    page.check("input[name='filters.choices.coverage'][value=full]")
    page.fill("#f-filters\\.max_fraud_score", "300")  # a bad filter: the count says what to fix
    page.wait_for_function("document.querySelector('#reach [data-reach]').dataset.reach === 'invalid'")
    assert "filters.max_fraud_score: must be between 0 and 100" in text_of(page, "#reach")


# ---------------------------------------------------------------- exports, deliveries, top-ups


def test_the_csv_export_downloads_through_the_job_page(page, client, network, buyer):
    bodies = [person_lead(network.cpl_offer["id"]) for _ in range(3)]
    for body in bodies:
        buy_by_api(client, network.advertiser, stored_lead(client, network, body=body))
    log_in(page, buyer)
    page.goto("/advertiser/purchases")
    assert page.locator("tr[data-sale]").count() == 3
    page.click("button[data-action=export]")
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    assert page.locator("[data-status]").get_attribute("data-status") == "done"
    assert "3 purchases exported." in text_of(page, ".job")
    with page.expect_download() as download_info:
        page.click("text=Download purchases-advertiser")
    download = download_info.value
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert sorted(r["email"] for r in rows) == sorted(b["contact"]["email"] for b in bodies)
    assert {r["price"] for r in rows} == {"18.00"} and {r["status"] for r in rows} == {"sold"}
    assert all(r["phone"].startswith("+1") for r in rows)  # a phone is data, not a formula to escape


def test_a_test_delivery_reaches_a_real_server_signed_and_shows_its_status(page, client, network, buyer):
    hook = ScriptedServer("/leads", statuses=[202, 500])
    try:
        secret = "whsec-portal-test-delivery"
        order = created(client.post("/api/v1/orders", headers=network.advertiser["headers"], json={
            "vertical": "car-insurance", "price": "20.00", "name": "CRM feed",
            "delivery": {"webhook_url": hook.url, "secret": secret}}))
        log_in(page, buyer)
        page.click("nav.menu >> text=API & webhooks")
        card = page.locator(f"[data-webhook='{order['id']}']")
        card.locator("button[data-action=test-delivery]").click()
        result = card.locator("[data-test-result]")
        assert result.get_attribute("data-test-result") == "ok"
        assert "HTTP 202" in result.inner_text() and " ms" in result.inner_text()
        [received] = hook.requests
        headers = {k.lower(): v for k, v in received["headers"].items()}
        expected = hmac.new(secret.encode(), headers["x-leadmarket-timestamp"].encode() + b"." + received["body"],
                            hashlib.sha256).hexdigest()
        assert headers["x-leadmarket-signature"] == f"sha256={expected}"
        sample = json.loads(received["body"])
        assert sample["event"] == "lead.test" and sample["order_id"] == order["id"] and sample["sale_id"] == 0

        card.locator("button[data-action=test-delivery]").click()  # the server now answers 500
        page.wait_for_selector(f"[data-webhook='{order['id']}'] [data-test-result=failed]")
        assert "HTTP 500" in card.locator("[data-test-result]").inner_text()
    finally:
        hook.close()


def test_webhook_settings_and_api_keys(page, client, network, buyer):
    order = created(client.post("/api/v1/orders", headers=network.advertiser["headers"], json={
        "vertical": "car-insurance", "price": "20.00", "name": "Pull only"}))
    log_in(page, buyer)
    page.goto("/advertiser/settings")
    card = page.locator(f"[data-webhook='{order['id']}']")
    assert card.locator("button[data-action=test-delivery]").count() == 0  # nothing to test yet
    card.locator("#f-delivery\\.webhook_url").fill("https://crm.example.com/hook")
    card.locator("button", has_text="Save webhook").click()
    assert "is required with a webhook_url" in text_of(page, f"[data-webhook='{order['id']}'] .error")
    card = page.locator(f"[data-webhook='{order['id']}']")
    card.locator("#f-delivery\\.secret").fill("another-long-signing-secret")
    card.locator("button", has_text="Save webhook").click()
    assert "go to https://crm.example.com/hook" in text_of(page, ".notice")

    first_key = page.locator("#api-keys tr[data-key]")
    assert first_key.count() == 1 and "(first key)" in first_key.inner_text()
    page.fill("#f-name", "CRM sync")
    page.click("form[action='/advertiser/settings/api-keys'] button")
    raw = text_of(page, "#api-key")
    assert raw.startswith("lmk_")
    assert httpx.get(f"{page.url.split('/advertiser')[0]}/api/v1/balance", headers={"X-API-Key": raw}).json()[
        "balance"] == "100.00"
    page.click("text=Done")
    assert raw not in page.content()  # shown once, then only its prefix
    row = page.locator("#api-keys tr", has_text="CRM sync")
    assert raw[:12] in row.inner_text()
    row.locator("button", has_text="Revoke").click()
    assert "revoked" in text_of(page, ".notice")
    assert "revoked" in page.locator("#api-keys tr", has_text="CRM sync").inner_text()
    page.locator("#api-keys tr", has_text="(first key)").locator("button", has_text="Revoke").click()
    assert "last working key" in text_of(page, "[data-field=revoke]")


def test_a_top_up_starts_a_stripe_payment_and_shows_the_next_step(page, settings, network, buyer, localstripe):  # noqa: F811
    configure(dataclasses.replace(settings, stripe_api_key="sk_test_local", stripe_api_base=localstripe))
    try:
        log_in(page, buyer)
        page.goto("/advertiser/billing")
        assert "Your account is prepaid" in text_of(page, "#invoices")
        page.fill("#f-amount", "0.50")
        page.click("#topup button[type=submit]")
        assert "must be between 1 and" in text_of(page, ".error[data-field=amount]")
        page.fill("#f-amount", "250.00")
        page.click("#topup button[type=submit]")
        assert "250.00 USD" in text_of(page, "h1")
        secret = text_of(page, "#client-secret")
        assert re.fullmatch(r"pi_\w+_secret_\w+", secret), secret
        page.goto("/advertiser/billing")
        row = page.locator("#topup tr[data-topup]")
        assert row.count() == 1 and "250.00 USD" in row.inner_text() and "pending" in row.inner_text()
    finally:
        configure(settings)
        httpx.delete(f"{localstripe}/_config/data")


# ---------------------------------------------------------------- what an advertiser must not see


def test_another_advertiser_s_purchase_is_a_404(page, client, network, buyer, live_server):
    rival = new_advertiser(client, network)
    rivals_sale = buy_by_api(client, rival, stored_lead(client, network))
    log_in(page, buyer)
    answer = page.goto(f"/advertiser/purchases/{rivals_sale['sale_id']}")
    assert answer.status == 404 and "Not found" in text_of(page, "h1")
    # Returning it by hand-made form is a 404 too, and changes nothing.
    cookie, token = _session_cookie(live_server, buyer), _csrf(live_server)
    returned = httpx.post(f"{live_server}/advertiser/purchases/{rivals_sale['sale_id']}/return",
                          data={"reason": "bad_phone", "_csrf_token": token},
                          cookies={"lm_session": cookie, "lm_csrf": token})
    assert returned.status_code == 404
    read = client.get(f"/api/v1/purchases/{rivals_sale['sale_id']}", headers={"X-API-Key": rival["api_key"]})
    assert read.json()["status"] == "sold" and read.json()["return"] is None
    # Another advertiser's order and API keys are not reachable either.
    order = created(client.post("/api/v1/orders", headers={"X-API-Key": rival["api_key"]},
                                json={"vertical": "car-insurance", "price": "20.00"}))
    assert page.goto(f"/advertiser/orders/{order['id']}/edit").status == 404
    assert httpx.post(f"{live_server}/advertiser/settings/webhooks/{order['id']}/test",
                      data={"_csrf_token": token}, cookies={"lm_session": cookie, "lm_csrf": token}).status_code == 404


def test_pages_fit_a_phone_screen_in_the_user_s_time_zone(page, client, network, buyer, make_user):
    buy_by_api(client, network.advertiser, stored_lead(client, network))
    stored_lead(client, network)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, make_user("advertiser", advertiser_id=network.advertiser["id"], time_zone="Asia/Tokyo"))
    assert "counted in Asia/Tokyo days" in text_of(page, "main")
    assert text_of(page, "[data-tile=leads] .value") == "1"
    for path in ("/advertiser", "/advertiser/store", "/advertiser/purchases", "/advertiser/orders/new",
                 "/advertiser/billing", "/advertiser/settings"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
