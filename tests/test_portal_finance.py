"""Finance's portal in a real browser: run payouts and approve one (the audit log names the
approver), hold needs a note, bulk approval reports each payout, two approvers above the
threshold, manual credits need a reason, the trial balance is zero, settlement with its chart,
the bank CSV, a phone-sized screen, and other roles kept out."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from billing import charging, settlement
from billing.payout_models import Payout
from billing.payout_runs import run_payouts
from billing.payout_schemas import PayoutRunCreate
from billing.payouts import approve_payout
from leadmarket.db import transaction
from leadmarket.identity import Principal, Role
from tests.billing_support import FINANCE, assert_ledger_consistent, cash_minor, fund
from tests.order_support import new_advertiser, person_lead, place_order, post
from tests.portal_fixtures import log_in
from tests.store_support import set_vertical

_refs = itertools.count(1)
TODAY = datetime.now(UTC).date()


@pytest.fixture
def money(network, db):
    """A funded advertiser and commission that matures at once (return window 0 days)."""
    fund(db, network.advertiser["id"], "100000.00")
    set_vertical(db, network.vertical["id"], return_window_days=0)
    return network


def earn(db, network, amount: str, *, other: bool = False) -> None:
    """The affiliate earns `amount` commission on a sale, through the real charging code."""
    affiliate = network.other_affiliate if other else network.affiliate
    payout_minor = int(Decimal(amount) * 100)
    with db() as session, transaction(session):
        charging.charge_sale(session, reference=f"sale-portal:{next(_refs)}", advertiser_id=network.advertiser["id"],
                             affiliate_id=affiliate["id"], price_minor=payout_minor + 500, payout_minor=payout_minor,
                             currency="USD")


def draft(db, n: int = 0) -> list[int]:
    """Run payouts for the n-th 30-day period (each holds today's commission) through the service."""
    start = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) - timedelta(days=1) + timedelta(days=30 * n)
    with db() as session:
        run = run_payouts(session, FINANCE, PayoutRunCreate(period_start=start, period_end=start + timedelta(days=30)))
    return [p.id for p in run.payouts]


def as_principal(user, name: str) -> Principal:
    return Principal(role=Role.FINANCE, user_id=user.id, name=name)


def row(page, payout_id: int):
    return page.locator(f"tr[data-payout='{payout_id}']")


def test_finance_runs_payouts_and_approves_one_and_the_audit_log_names_the_approver(page, money, db, make_user):
    earn(db, money, "40.00")
    earn(db, money, "25.50")
    finance = make_user("finance", name="Fran Finance", time_zone="Europe/Berlin")
    log_in(page, finance)
    assert "No payouts yet" in page.inner_text("main")
    page.fill("#f-period_start", TODAY.isoformat())
    page.click("#run button[type=submit]")  # no end day: said beside the field, nothing is queued
    assert page.locator("#run .error[data-field=period_end]").inner_text() == "is required"
    assert page.input_value("#f-period_start") == TODAY.isoformat()

    page.fill("#f-period_start", (TODAY - timedelta(days=1)).isoformat())
    page.fill("#f-period_end", (TODAY + timedelta(days=28)).isoformat())
    page.click("#run button[type=submit]")
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    assert page.locator(".job .status").get_attribute("data-status") == "done"
    assert "1 new payout drafted" in page.inner_text(".job")

    page.click("nav.menu >> text=Payouts")
    with db() as session:
        payout = session.execute(select(Payout)).scalar_one()
    assert payout.amount_minor == 6550 and payout.status == "draft"
    listed = row(page, payout.id)
    assert "65.50 USD" in listed.inner_text() and "0 of 1 approval" in listed.inner_text()
    listed.locator("button", has_text="Approve").click()
    assert page.locator(".notice").inner_text() == f"Payout {payout.id} approved."
    assert row(page, payout.id).locator("[data-status]").inner_text() == "approved"
    assert "1 of 1 approval" in row(page, payout.id).inner_text()

    page.click("nav.menu >> text=Audit log")
    page.select_option("#filter-action", "payout.approve")
    page.click("form.filters button")
    event = page.locator("tr[data-action='payout.approve']")
    assert event.count() == 1
    assert "Fran Finance" in event.locator(".actor").inner_text()
    assert f"payout {payout.id}" in event.inner_text()
    assert re.search(r"\d{2}:\d{2} CES?T", event.inner_text())  # the reader's zone, Europe/Berlin


def test_hold_without_a_note_is_refused_beside_the_note_field(page, money, db, make_user):
    earn(db, money, "80.00")
    [payout_id] = draft(db)
    log_in(page, make_user("finance"))
    page.goto(f"/finance/payouts/{payout_id}")
    page.click("#hold button[type=submit]")
    assert page.locator("#hold .error[data-field=note]").inner_text() == "is required: say why"
    assert page.locator("h1 [data-status]").inner_text() == "draft"
    with db() as session:
        assert session.get(Payout, payout_id).status == "draft"

    page.fill("#hold-note", "affiliate asked to change the bank account")
    page.click("#hold button[type=submit]")
    assert page.locator(".notice").inner_text() == f"Payout {payout_id} held."
    assert page.locator("h1 [data-status]").inner_text() == "held"
    assert "affiliate asked to change the bank account" in page.inner_text("main")
    assert page.locator("#history tr[data-action='payout.hold']").count() == 1


def test_bulk_approve_reports_which_were_approved_and_which_were_refused(page, money, db, make_user):
    earn(db, money, "60.00")
    earn(db, money, "1500.00", other=True)
    drafted = draft(db)
    with db() as session:
        by_amount = {session.get(Payout, p).amount_minor: p for p in drafted}
    small, big = by_amount[6000], by_amount[150000]
    earn(db, money, "2000.00")
    [bigger] = draft(db, 1)
    user = make_user("finance", name="Bo Bulk")
    with db() as session:
        approve_payout(session, as_principal(user, "Bo Bulk"), big)  # Bo's own first approval, earlier today

    log_in(page, user)
    page.check("#select-all")
    page.click("#bulk-approve")
    outcomes = {o.get_attribute("data-outcome"): (o.get_attribute("data-result"), o.inner_text())
                for o in page.locator("#bulk-outcomes li").all()}
    assert outcomes[str(small)][0] == "approved"
    assert outcomes[str(big)][0] == "refused" and "you already approved" in outcomes[str(big)][1]
    assert outcomes[str(bigger)][0] == "recorded" and "1 of 2 approvals" in outcomes[str(bigger)][1]
    assert row(page, small).locator("[data-status]").inner_text() == "approved"
    assert row(page, bigger).locator("[data-status]").inner_text() == "draft"
    assert "1 of 2 approvals" in row(page, bigger).inner_text()

    page.click("#bulk-approve")  # nothing chosen: said beside the table, nothing changes
    assert page.locator(".error[data-field=payout_ids]").inner_text() == "choose at least one payout"


def test_two_approvers_are_needed_above_the_threshold_and_one_cannot_approve_twice(page, browser, live_server,
                                                                                    money, db, make_user):
    earn(db, money, "1500.00")
    [payout_id] = draft(db)
    first, second = make_user("finance", name="Ann One"), make_user("finance", name="Ben Two")
    log_in(page, first)
    page.goto(f"/finance/payouts/{payout_id}")
    assert page.locator(".approvals").inner_text() == "0 of 2 approvals"
    page.click("#approve button")
    assert "1 of 2 approvals" in page.locator(".notice").inner_text()
    assert page.locator(".approvals").inner_text() == "1 of 2 approvals"
    page.click("#approve button")  # the same person again: refused by the service
    assert "you already approved payout" in page.locator("#approve .error").inner_text()
    assert page.locator("h1 [data-status]").inner_text() == "draft"

    other = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    try:
        tab = other.new_page()
        log_in(tab, second)
        tab.goto(f"/finance/payouts/{payout_id}")
        tab.click("#approve button")
        assert tab.locator(".notice").inner_text() == f"Payout {payout_id} approved."
        assert tab.locator("h1 [data-status]").inner_text() == "approved"
        assert tab.locator(".approvals").inner_text() == "2 of 2 approvals"
        approvers = tab.locator("#history tr[data-action='payout.approve']").all_inner_texts()
        assert any("Ann One" in a for a in approvers) and any("Ben Two" in a for a in approvers)
    finally:
        other.close()


def test_a_manual_credit_needs_a_reason_and_then_changes_the_balance_and_is_audited(page, network, db, make_user):
    advertiser_id = network.advertiser["id"]
    before = cash_minor(db, advertiser_id)
    log_in(page, make_user("finance", name="Cora Credit"))
    page.click("nav.menu >> text=Balances")
    listed = page.locator(f"tr[data-advertiser='{advertiser_id}']")
    assert "prepaid" in listed.inner_text() or "invoice" in listed.inner_text()
    listed.locator("a.button", has_text="Credit").click()

    page.fill("#f-amount", "125.00")
    page.click("#credit button[type=submit]")
    assert page.locator("#credit .error[data-field=note]").inner_text() == "is required: say why this credit is given"
    assert page.input_value("#f-amount") == "125.00"  # what was typed is kept
    assert cash_minor(db, advertiser_id) == before

    page.fill("#f-note", "goodwill for the delivery outage")
    page.click("#credit button[type=submit]")
    expected = f"{(before + 12500) / 100:,.2f} USD"
    assert page.locator(".notice").inner_text() == f"Credited 125.00 USD; the balance is now {expected}."
    assert page.locator("#balance").inner_text() == expected
    assert cash_minor(db, advertiser_id) == before + 12500

    page.goto("/finance/audit?action=advertiser.credit")
    event = page.locator("tr[data-action='advertiser.credit']")
    assert event.count() == 1
    assert "Cora Credit" in event.inner_text() and "goodwill for the delivery outage" in event.inner_text()
    assert_ledger_consistent(db)


def test_the_ledger_page_shows_a_zero_trial_balance_and_an_account_s_entries(page, money, db, make_user):
    earn(db, money, "33.00")
    log_in(page, make_user("finance"))
    page.click("nav.menu >> text=Ledger")
    assert page.locator("#trial-balance [data-balanced]").get_attribute("data-balanced") == "yes"
    assert page.locator("#trial-balance [data-currency=USD] .trial-total").inner_text() == "0.00 USD"
    page.select_option("#filter-kind", "affiliate_payable")
    page.click("form.filters button")
    payable = page.locator("#accounts tbody tr")
    assert payable.count() == 1 and "33.00 USD" in payable.inner_text()
    payable.locator("a").first.click()
    entry = page.locator("#entries tbody tr")
    assert entry.count() == 1
    assert "sale-portal:" in entry.inner_text() and "33.00 USD" in entry.inner_text()
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", entry.inner_text())


def test_settlement_shows_rows_totals_and_a_chart(page, client, network, db, make_user, redis_db):
    buyer = new_advertiser(client, network, name="Buyer A")
    place_order(client, buyer, price="30.00", exclusive=True)
    assert post(client, network, person_lead(network.cpl_offer["id"]))["status"] == "sold"
    log_in(page, make_user("finance"))
    page.goto("/finance/settlement")
    page.fill("#f-from", TODAY.isoformat())
    page.fill("#f-to", (TODAY - timedelta(days=3)).isoformat())
    page.click("form.filters button")
    assert page.locator(".error[data-field=to]").inner_text() == "must not be before from"

    page.goto("/finance/settlement?group_by=affiliate")
    listed = page.locator(f"#settlement tr[data-group='{network.affiliate['id']}']")
    assert "30.00 USD" in listed.inner_text() and network.affiliate["name"] in listed.inner_text()
    total = page.locator("#settlement tr[data-total=USD]")
    assert "30.00 USD" in total.inner_text()
    chart = page.locator("figure.chart svg")
    assert chart.count() == 1 and chart.locator("polyline").count() == 4
    assert "Margin" in page.inner_text("figure.chart .legend")
    with db() as session:  # the chart's days add up to the report's total row
        start, end = (TODAY - timedelta(days=29)).isoformat(), TODAY.isoformat()
        [usd] = settlement.settlement_series(session, start, end)
        [total] = settlement.settlement(session, start, end, "affiliate").totals
    assert len(usd.points) == 30
    assert (sum(p.net_revenue for p in usd.points), sum(p.margin for p in usd.points)) == (total.net_revenue,
                                                                                            total.margin)


def test_the_bank_csv_downloads_and_pays_by_its_batch_reference(page, money, db, make_user):
    earn(db, money, "70.00")
    [payout_id] = draft(db)
    log_in(page, make_user("finance"))
    row(page, payout_id).locator("button", has_text="Approve").click()
    with page.expect_download() as download_info:
        page.click("#export-approved")
    download = download_info.value
    assert download.suggested_filename.startswith("payouts-LMB-")
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert [(r["payout_id"], r["amount"]) for r in rows] == [(str(payout_id), "70.00")]

    page.goto(f"/finance/payouts/{payout_id}")
    page.click("#pay button[type=submit]")  # bank without the batch reference: said beside the field
    assert "batch reference" in page.locator("#pay .error[data-field=reference]").inner_text()
    page.fill("#f-reference", rows[0]["batch_reference"])
    page.click("#pay button[type=submit]")
    assert page.locator("h1 [data-status]").inner_text() == "paid"
    assert rows[0]["batch_reference"] in page.inner_text("main")
    assert_ledger_consistent(db)


def test_the_payout_queue_fits_a_phone_screen(page, money, db, make_user):
    earn(db, money, "90.00")
    [payout_id] = draft(db)
    log_in(page, make_user("finance"))
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/finance", f"/finance/payouts/{payout_id}", "/finance/settlement", "/finance/ledger",
                 "/finance/ledger/accounts/1", "/finance/balances", f"/finance/balances/{money.advertiser['id']}",
                 "/finance/audit"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    page.goto("/finance")


def _cookie(live_server: str, user: Any) -> str:
    token = re.search(r"lm_csrf=([^;]+)", httpx.get(f"{live_server}/login").headers["set-cookie"]).group(1)
    answer = httpx.post(f"{live_server}/login", cookies={"lm_csrf": token},
                        data={"email": user.email, "password": user.password, "_csrf_token": token})
    return re.search(r"lm_session=([^;]+)", answer.headers["set-cookie"]).group(1)


def test_finance_pages_refuse_other_roles(live_server, network, make_user):
    pages = ("/finance", "/finance/settlement", "/finance/ledger", "/finance/balances", "/finance/audit",
             f"/finance/balances/{network.advertiser['id']}")
    for user in (make_user("advertiser", advertiser_id=network.advertiser["id"]), make_user("admin"),
                 make_user("affiliate", affiliate_id=network.affiliate["id"])):
        cookie = _cookie(live_server, user)
        for path in pages:
            answer = httpx.get(f"{live_server}{path}", cookies={"lm_session": cookie})
            assert answer.status_code == 403, (user.role, path)
    finance = _cookie(live_server, make_user("finance"))
    assert httpx.get(f"{live_server}/finance/payouts/999999", cookies={"lm_session": finance}).status_code == 404
    assert httpx.get(f"{live_server}/finance", follow_redirects=False).status_code == 303
