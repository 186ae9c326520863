"""The affiliate's portal in a real browser (Debian Chromium): build a tracking link and see its
click (and the lead that followed) in the dashboard, a traffic-cost CSV with a bad row, a test
postback to a real HTTP server, the API quick-start's curl commands run for real, and what an
affiliate must never see."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from affiliates.tracking_models import Click
from leadmarket.celery_app import enqueue
from leadmarket.clock import utcnow
from tests.http_stubs import ScriptedServer
from tests.portal_fixtures import ARTIFACTS, log_in
from tests.support import created, lead_body

PAGES = ("/affiliate", "/affiliate/offers", "/affiliate/offers/links", "/affiliate/leads", "/affiliate/traffic-costs",
         "/affiliate/postbacks", "/affiliate/payouts", "/affiliate/api")


@pytest.fixture
def partner(network, make_user):
    """The network's first affiliate (Bright Traffic) as a portal user."""
    return make_user("affiliate", affiliate_id=network.affiliate["id"], name="Bright Traffic")


def text_of(page, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


def tile(page, name: str) -> str:
    return text_of(page, f"[data-tile={name}] .value")


def post_lead(client, network, body, *, other: bool = False) -> dict:
    return created(client.post("/api/v1/leads", headers=network.affiliate_headers(other=other), json=body))


# ---------------------------------------------------------------- the main flow


def test_an_affiliate_builds_a_link_and_sees_the_click_in_stats(page, client, network, partner, live_server, settings,
                                                               redis_db, db):
    log_in(page, partner)
    assert tile(page, "clicks") == "0" and tile(page, "earnings") == "0.00 USD"
    assert "No clicks or leads in this period yet" in text_of(page, ".empty")

    page.click("nav.menu >> text=Offers & links")
    offer = network.cpl_offer
    assert "12.50 USD" in text_of(page, f"tr[data-offer='{offer['id']}']")
    page.select_option("#f-offer_id", str(offer["id"]))
    page.fill("#f-sub_ids\\.sub1", "spring-sale")
    page.fill("#f-sub_ids\\.sub2", "x" * 256)
    page.click("button[data-action=build-link]")
    assert text_of(page, "[data-field='sub_ids.sub2']") == "must be a string of at most 255 characters"
    assert page.input_value("#f-sub_ids\\.sub1") == "spring-sale"  # nothing typed is lost
    page.fill("#f-sub_ids\\.sub2", "")
    page.click("button[data-action=build-link]")
    page.wait_for_url(re.compile(r".*/affiliate/offers/links/[a-z0-9]+$"))
    code = page.url.rsplit("/", 1)[1]
    assert text_of(page, ".notice") == "Tracking link created: copy it into your campaign."
    assert text_of(page, "[data-url]") == f"{settings.public_base_url}/r/{code}"
    assert "sub1=spring-sale" in text_of(page, "main")
    assert page.locator("button[data-action=copy-url]").is_visible()

    # A visitor follows the link (on this server), paying 0.50 for the click.
    visit = httpx.get(f"{live_server}/r/{code}?sub2=ad7&cost=0.50", follow_redirects=False,
                      headers={"User-Agent": "Mozilla/5.0 (portal test)"})
    assert visit.status_code == 302
    click_id = visit.headers["location"].split("cid=")[1]
    enqueue("affiliates.flush_clicks")  # what beat does every two seconds: the stream into PostgreSQL

    page.click("nav.menu >> text=Dashboard")
    assert tile(page, "clicks") == "1"
    assert text_of(page, "[data-tile=clicks] .small") == "1 unique"
    assert tile(page, "traffic-cost") == "0.50 USD"
    assert tile(page, "leads") == "0"

    # Four minutes later the visitor leaves their details: the lead comes back to the click; a
    # second post of the same person is a duplicate.
    with db() as session, session.begin():
        session.execute(update(Click).where(Click.click_id == click_id).values(clicked_at=utcnow() - timedelta(minutes=4)))
    body = lead_body(offer["id"], click_id=click_id)
    assert post_lead(client, network, body)["status"] == "accepted"
    again = post_lead(client, network, body)
    assert (again["status"], again["reason"], again["payout"]) == ("rejected", "duplicate", "0.00")
    enqueue("affiliates.refresh_stats")  # the rollup worker's run

    page.reload()
    assert tile(page, "clicks") == "1"
    assert tile(page, "leads") == "2" and tile(page, "accepted") == "1" and tile(page, "rejected") == "1"
    assert tile(page, "earnings") == "12.50 USD"
    assert tile(page, "epc") == "12.50 USD"  # 12.50 earned over 1 click
    assert tile(page, "roi") == "2400.0 %"  # (12.50 - 0.50) / 0.50
    assert text_of(page, "#rejections tr[data-reason=duplicate]") == "duplicate 1"
    assert page.locator("figure.chart svg").count() == 2  # clicks and leads; earnings
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "affiliate_dashboard.png"), full_page=True)

    # A period without that day shows none of it; a bad period is refused beside its field.
    page.goto("/affiliate?from=2026-01-01&to=2026-01-31")
    assert tile(page, "clicks") == "0" and "2026-01-01 to 2026-01-31 (31 days" in text_of(page, "main")
    page.goto("/affiliate?from=2026-02-10&to=2026-02-01")
    assert text_of(page, ".field.has-error .error") == "must not be after to"
    assert tile(page, "clicks") == "1"  # the default period instead

    page.click("nav.menu >> text=Leads")
    rows = page.locator("table[data-table=leads] tbody tr")
    assert rows.count() == 2
    rejected = page.locator("tr", has_text="rejected")
    assert "duplicate" in rejected.locator("[data-reason]").inner_text()
    assert "sub1=spring-sale" in text_of(page, "table[data-table=leads]")


# ---------------------------------------------------------------- traffic costs


def test_a_cost_csv_with_a_bad_row_shows_the_row_error_and_keeps_the_good_rows(page, client, network, partner):
    offer = network.cpl_offer["id"]
    csv_text = ("date,offer_id,amount,currency,sub1\n"
                f"2026-11-20,{offer},120.50,USD,facebook\n"
                f"2026-11-20,{offer},12.345,USD,google\n"          # finer than a cent
                f"2026-11-21,{offer},80.00,USD,\n"
                f"not-a-day,99999,10.00,EUR,tiktok\n")
    log_in(page, partner)
    page.click("nav.menu >> text=Traffic costs")
    assert "No traffic cost reported yet" in text_of(page, ".empty")
    page.set_input_files("#f-file", files=[{"name": "costs.csv", "mimeType": "text/csv",
                                            "buffer": csv_text.encode()}])
    page.click("button[data-action=upload]")

    assert text_of(page, "[data-summary]") == "4 rows read: 2 recorded, 2 refused. 200.50 USD recorded"
    errors = {(r.get_attribute("data-row"), r.get_attribute("data-field")): " ".join(r.inner_text().split())
              for r in page.locator("table[data-table=row-errors] tbody tr").all()}
    assert set(errors) == {("3", "amount"), ("5", "date"), ("5", "offer_id")}
    assert "3 amount" in errors[("3", "amount")] and "USD" in errors[("3", "amount")]
    assert errors[("5", "date")] == "5 date must be a date as YYYY-MM-DD"
    assert errors[("5", "offer_id")] == "5 offer_id no offer with this id"
    recorded = page.locator("table[data-table=rows-recorded] tbody tr")
    assert [r.get_attribute("data-row") for r in recorded.all()] == ["2", "4"]
    assert "120.50 USD" in text_of(page, "table[data-table=costs]") and "80.00 USD" in text_of(
        page, "table[data-table=costs]")

    stored = client.get("/api/v1/traffic-costs?from=2026-11-01&to=2026-11-30", headers=network.affiliate_headers())
    assert sorted((c["date"], c["amount"], c["sub_ids"]) for c in stored.json()) == [
        ("2026-11-20", "120.50", {"sub1": "facebook"}), ("2026-11-21", "80.00", {})]

    # A file that is not a cost report at all is refused whole, beside the file input, storing nothing.
    page.set_input_files("#f-file", files=[{"name": "leads.csv", "mimeType": "text/csv",
                                            "buffer": b"name,email\nAna,ana@example.org\n"}])
    page.click("button[data-action=upload]")
    reason = text_of(page, ".field.has-error .error")
    assert reason.startswith("missing column date, offer_id, amount, currency; unknown column 'name', 'email'")
    assert len(client.get("/api/v1/traffic-costs?from=2026-11-01&to=2026-11-30",
                          headers=network.affiliate_headers()).json()) == 2


# ---------------------------------------------------------------- postbacks


def test_a_test_postback_calls_the_real_url_and_shows_its_status(page, network, partner):
    tracker = ScriptedServer("/pb", statuses=[204, 500], record=lambda handler, body: handler.path)
    try:
        log_in(page, partner)
        page.click("nav.menu >> text=Postbacks")
        assert page.locator("button[data-action=test-postback]").count() == 0  # nothing saved to test yet
        page.fill("#f-url", tracker.url + "?cid={click_id}&ev={event}&amount={payout}&bogus={nope}")
        page.click("button[data-action=save-postback]")
        assert text_of(page, ".field.has-error .error").startswith("unknown macro {nope}")
        page.fill("#f-url", tracker.url + "?cid={click_id}&ev={event}&amount={payout}&s1={sub1}")
        page.uncheck("input[name=events][value=lead_rejected]")
        page.click("button[data-action=save-postback]")
        assert text_of(page, ".notice") == "Postback URL saved: called for 4 events. Send a test to check it."
        assert not page.is_checked("input[name=events][value=lead_rejected]")

        page.click("button[data-action=test-postback]")  # HTMX: the result appears in place
        result = page.locator("#test-result [data-test-result]")
        assert result.get_attribute("data-test-result") == "ok"
        assert "HTTP 204" in result.inner_text() and " ms" in result.inner_text()
        called = "/pb?cid=test-click&ev=test&amount=0.00&s1=test-sub1"
        assert tracker.requests == [called]
        assert text_of(page, "#test-result [data-url]") == tracker.url.removesuffix("/pb") + called

        page.click("button[data-action=test-postback]")  # the tracker now answers 500
        page.wait_for_selector("#test-result [data-test-result=failed]")
        assert "HTTP 500" in text_of(page, "#test-result") and "would be retried" in text_of(page, "#test-result")
    finally:
        tracker.close()


# ---------------------------------------------------------------- API keys and quick-start


def run(command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", **env})


def test_the_quick_start_curl_commands_work_against_this_server(page, client, network, partner, live_server):
    log_in(page, partner)
    page.click("nav.menu >> text=API")
    assert page.locator("table[data-table=keys] tr[data-key]").count() == 1  # the key the admin API issued
    post_command = text_of(page, "[data-command=post_lead] pre")
    assert f"{live_server}/api/v1/leads" in post_command and '"X-API-Key: $LEADMARKET_API_KEY"' in post_command

    page.fill("#f-name", "Landing server")
    page.click("button[data-action=create-key]")
    key = text_of(page, "#api-key")
    assert key.startswith("lmk_")
    export = page.locator("[data-command=key] pre").inner_text()
    assert export == f"export LEADMARKET_API_KEY={key}"
    lead_command = page.locator("[data-command=post_lead] pre").inner_text()  # as a person copies it

    answer = run(export + "\n" + lead_command)
    assert answer.returncode == 0, answer.stderr
    head, _, body = answer.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.splitlines()[0] == "HTTP/1.1 201 Created", answer.stdout
    decision = json.loads(body)
    assert decision["status"] in ("accepted", "sold", "review", "rejected") and decision["currency"] == "USD"
    lead = client.get(f"/api/v1/leads/{decision['lead_id']}", headers=network.affiliate_headers()).json()
    assert lead["offer_id"] == network.cpl_offer["id"] and lead["sub_ids"] == {"sub1": "quickstart"}

    link = json.loads(run(export + "\n" + page.locator("[data-command=tracking_link] pre").inner_text()).stdout)
    assert link["offer_id"] == network.cpl_offer["id"] and link["code"]
    stats = json.loads(run(export + "\n" + page.locator("[data-command=stats] pre").inner_text()).stdout)
    assert stats["group_by"] == ["day", "offer"]
    offers = json.loads(run(export + "\n" + page.locator("[data-command=offers] pre").inner_text()).stdout)
    assert {o["id"] for o in offers} == {network.cpl_offer["id"], network.cpa_offer["id"]}

    page.click("text=Done")
    assert key not in page.content()  # shown once, then only its prefix
    assert page.locator("table[data-table=keys] tr[data-key]").count() == 2
    # The commands on the page read the key from the variable: the same post works with it set.
    again = run(page.locator("[data-command=post_lead] pre").inner_text(), LEADMARKET_API_KEY=key)
    assert again.stdout.startswith("HTTP/1.1 201 Created"), again.stdout + again.stderr


# ---------------------------------------------------------------- what an affiliate never sees


def test_the_leads_page_never_shows_another_affiliates_lead(page, client, network, partner, make_user):
    mine = post_lead(client, network, lead_body(network.cpl_offer["id"], sub_ids={"sub1": "mine"}))
    theirs = post_lead(client, network, lead_body(network.cpl_offer["id"], sub_ids={"sub1": "theirs"}), other=True)
    other_link = created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(other=True),
                                     json={"offer_id": network.cpl_offer["id"]}))
    log_in(page, partner)
    page.click("nav.menu >> text=Leads")
    shown = [r.get_attribute("data-lead") for r in page.locator("table[data-table=leads] tbody tr").all()]
    assert shown == [str(mine["lead_id"])]
    assert "theirs" not in page.content()
    for query in (f"?offer_id={network.cpl_offer['id']}", "?status=accepted", "?sort=id&order=asc",
                  "?from=2000-01-01&to=2100-01-01"):
        page.goto("/affiliate/leads" + query)
        assert f"data-lead=\"{theirs['lead_id']}\"" not in page.content(), query
        assert page.locator(f"tr[data-lead='{mine['lead_id']}']").count() == 1, query
    page.goto(f"/affiliate/leads?offer_id={network.cpl_offer['id']}")
    page.click("button[data-action=export]")  # the export job: its page, then the file
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    assert text_of(page, "[data-status]").startswith("done") and "1 lead exported." in text_of(page, "main")
    with page.expect_download() as download_info:
        page.click("text=Download")
    with open(download_info.value.path(), encoding="utf-8") as exported_file:
        exported = list(csv.DictReader(io.StringIO(exported_file.read())))
    assert [(r["lead_id"], r["sub1"], r["status"]) for r in exported] == [(str(mine["lead_id"]), "mine", "accepted")]
    page.goto("/affiliate/leads?status=sold")
    assert "No lead matches these filters." in text_of(page, ".empty")
    page.goto("/affiliate/leads?status=bogus")
    assert text_of(page, ".field.has-error .error").startswith("must be one of accepted, sold")

    answer = page.goto(f"/affiliate/offers/links/{other_link['code']}")  # another affiliate's link
    assert answer.status == 404 and other_link["url"] not in page.content()

    page.context.clear_cookies()
    log_in(page, make_user("advertiser", advertiser_id=network.advertiser["id"]))
    assert page.goto("/affiliate/leads").status == 403


def test_the_affiliate_pages_fit_a_phone_screen(page, client, network, partner):
    body = lead_body(network.cpl_offer["id"], sub_ids={"sub1": "a-rather-long-sub-id-value-for-a-campaign"})
    post_lead(client, network, body)
    created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                        json={"offer_id": network.cpl_offer["id"], "sub_ids": {"sub1": "facebook"}}))
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, partner)
    for path in PAGES:
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    page.goto("/affiliate/offers/links")
    page.click("table[data-table=links] tbody a")
    page.wait_for_url(re.compile(r".*/affiliate/offers/links/[a-z0-9]+$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    code = page.url.rsplit("/", 1)[1]
    page.click("text=Pause link")
    assert text_of(page, ".notice") == f"Link {code} paused: its clicks now get a 404."
    assert text_of(page, "[data-status]") == "paused"
    assert httpx.get(page.url.split("/affiliate")[0] + f"/r/{code}", follow_redirects=False).status_code == 404
