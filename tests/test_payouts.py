"""Affiliate payouts: runs draft matured commission once, finance reviews (two people above the
threshold), pays by bank batch or a Stripe Connect transfer (through the SDK against our fake), and
no payout is ever paid twice; every step is audited and the trial balance stays zero."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from billing import charging
from billing.models import LedgerTransaction
from billing.payout_runs import run_payouts
from billing.payout_schemas import PayoutPay, PayoutRunCreate
from billing.payouts import approve_payout, pay_payout
from leadmarket.audit import events_for
from leadmarket.db import transaction
from leadmarket.errors import Conflict
from leadmarket.identity import Role, authenticate, create_api_key
from leadmarket.settings import Settings, configure
from marketplace.models import Vertical
from tests import order_support
from tests.billing_support import assert_ledger_consistent, balances_by_kind, fund
from tests.fraud_helpers import person_lead, post
from tests.store_support import set_vertical
from tests.stripe_fake import StripeFake
from tests.support import CAR_INSURANCE_FIELDS, Network, make_vertical

_refs = itertools.count(1)
_fakes = itertools.cycle(range(100, 200))
_TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def period(n: int = 0) -> dict[str, str]:
    """Consecutive 30-day periods; the first holds today, so commission posted now falls in each."""
    start = _TODAY - timedelta(days=1) + timedelta(days=30 * n)
    return {"period_start": start.isoformat(), "period_end": (start + timedelta(days=30)).isoformat()}


PERIOD = period(0)


def finance_key(db: sessionmaker[Session], name: str) -> dict[str, str]:
    with db() as session, transaction(session):
        _, raw = create_api_key(session, role=Role.FINANCE, name=name)
    return {"X-API-Key": raw}


def earn(db: sessionmaker[Session], network: Network, amount: str, *, other: bool = False) -> str:
    """The affiliate earns `amount` commission on a sale (posted through the real charging code)."""
    affiliate = network.other_affiliate if other else network.affiliate
    reference = f"sale-test:{next(_refs)}"
    payout_minor = int(Decimal(amount) * 100)
    with db() as session, transaction(session):
        charging.charge_sale(session, reference=reference, advertiser_id=network.advertiser["id"],
                             affiliate_id=affiliate["id"], price_minor=payout_minor + 500, payout_minor=payout_minor,
                             currency="USD")
    return reference


def claw_back(db: sessionmaker[Session], reference: str) -> None:
    with db() as session, transaction(session):
        charging.reverse_sale(session, reference, memo="returned")


@pytest.fixture
def money(client: TestClient, network: Network, db: sessionmaker[Session]) -> Network:
    """The network with a funded advertiser and commission that matures at once (window 0 days)."""
    fund(db, network.advertiser["id"], "100000.00")
    set_vertical(db, network.vertical["id"], return_window_days=0)
    return network


def joker() -> dict[str, str]:
    """A made-up person: a test name and a number from the 555-01xx fiction range (rejected, phone_fake)."""
    return {"first_name": "Test", "phone": f"+1 415 555 0{next(_fakes)}"}


def run(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/finance/payouts/run", headers=headers, json={**PERIOD, **body})
    assert response.status_code == 201, response.text
    return response.json()


def act(client: TestClient, headers: dict[str, str], payout_id: int, action: str, body: dict | None = None) -> Any:
    return client.post(f"/api/v1/finance/payouts/{payout_id}/{action}", headers=headers, json=body or {})


def test_a_run_drafts_one_payout_per_affiliate_above_the_minimum_and_repeats_as_the_same(client, money, db):
    finance = finance_key(db, "Fran")
    earn(db, money, "40.00")
    earn(db, money, "25.50")
    earn(db, money, "30.00", other=True)  # below the 50.00 minimum: carries over

    first = run(client, finance)
    again = run(client, finance)

    assert first["drafted"] == 1 and [(p["affiliate_id"], p["amount"], p["status"]) for p in first["payouts"]] == [
        (money.affiliate["id"], "65.50", "draft")]
    assert again["drafted"] == 0 and again["payouts"] == first["payouts"]
    # a later period: the small affiliate's carried-over commission plus new commission reaches the minimum
    earn(db, money, "25.00", other=True)
    later = run(client, finance, **period(1))
    assert [(p["affiliate_id"], p["amount"]) for p in later["payouts"]] == [(money.other_affiliate["id"], "55.00")]
    # the minimum can be lowered for one run
    earn(db, money, "5.00")
    low = run(client, finance, **period(2), minimum="1.00")
    assert [(p["affiliate_id"], p["amount"]) for p in low["payouts"]] == [(money.affiliate["id"], "5.00")]


def test_bad_run_input_names_every_field(client, money, db):
    response = client.post("/api/v1/finance/payouts/run", headers=finance_key(db, "Fran"),
                           json={"period_start": "2026-02-01T00:00:00Z", "period_end": "2026-01-01T00:00:00Z",
                                 "minimum": "0"})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"period_end", "minimum"}


def test_commission_waits_until_its_return_window_has_passed(client, network, db):
    fund(db, network.advertiser["id"], "1000.00")
    set_vertical(db, network.vertical["id"], return_window_days=7)
    reference = earn(db, network, "80.00")
    with db() as session:
        posted_at = session.execute(select(LedgerTransaction.created_at).where(
            LedgerTransaction.reference == reference)).scalar_one()
        finance = authenticate(session, finance_key(db, "Fran")["X-API-Key"])
    period = {"period_start": posted_at - timedelta(days=1), "period_end": posted_at + timedelta(days=30)}

    with db() as session:
        early = run_payouts(session, finance, PayoutRunCreate(**period),
                            now=posted_at + timedelta(days=7) - timedelta(seconds=1))
    assert early.payouts == []
    with db() as session:
        due = run_payouts(session, finance, PayoutRunCreate(**period), now=posted_at + timedelta(days=7))
    assert [(p.amount, p.entry_count) for p in due.payouts] == [(Decimal("80.00"), 1)]
    # commission posted at or after the period's end belongs to the next period
    with db() as session:
        before = run_payouts(session, finance, PayoutRunCreate(period_start=posted_at - timedelta(days=2),
                                                               period_end=posted_at),
                             now=posted_at + timedelta(days=30))
    assert before.payouts == []


def test_a_clawback_is_netted_and_a_negative_balance_carries_into_the_next_payout(client, money, db):
    finance = finance_key(db, "Fran")
    returned = earn(db, money, "100.00")
    earn(db, money, "40.00")
    claw_back(db, returned)
    assert run(client, finance)["payouts"] == []   # 40.00 after the return: under the minimum

    earn(db, money, "30.00")
    payout = run(client, finance, **period(1))
    assert [(p["amount"], p["entry_count"]) for p in payout["payouts"]] == [("70.00", 4)]


def test_finance_holds_with_a_note_approves_and_rejects(client, money, db):
    finance = finance_key(db, "Fran")
    earn(db, money, "60.00")
    earn(db, money, "70.00", other=True)
    first, second = run(client, finance)["payouts"]

    no_note = act(client, finance, first["id"], "hold")
    assert no_note.status_code == 422 and no_note.json()["errors"][0]["field"] == "note"
    held = act(client, finance, first["id"], "hold", {"note": "bank details unverified"}).json()
    assert (held["status"], held["hold_note"]) == ("held", "bank details unverified")
    assert act(client, finance, first["id"], "pay", {"method": "bank", "reference": "B1"}).status_code == 409
    assert act(client, finance, first["id"], "approve").json()["status"] == "approved"
    assert act(client, finance, first["id"], "reject").status_code == 409

    rejected = act(client, finance, second["id"], "reject", {"note": "duplicate traffic"}).json()
    assert rejected["status"] == "rejected"
    assert act(client, finance, second["id"], "approve").status_code == 409
    # the rejected payout's commission is not lost: the next period's run drafts it again
    later = run(client, finance, **period(1))
    assert [(p["affiliate_id"], p["amount"]) for p in later["payouts"]] == [(money.other_affiliate["id"], "70.00")]
    assert act(client, finance, 999999, "approve").status_code == 404


def test_a_large_payout_needs_two_different_finance_users(client, money, db):
    fran, gil = finance_key(db, "Fran"), finance_key(db, "Gil")
    earn(db, money, "1500.00")
    small_earner = earn(db, money, "900.00", other=True)
    assert small_earner
    big, small = run(client, fran)["payouts"]
    assert (big["approvals_needed"], small["approvals_needed"]) == (2, 1)

    once = act(client, fran, big["id"], "approve").json()
    assert (once["status"], once["approvals"]) == ("draft", 1)
    twice = act(client, fran, big["id"], "approve")
    assert twice.status_code == 409 and "another finance user" in twice.json()["detail"]
    assert act(client, fran, big["id"], "pay", {"method": "bank", "reference": "B1"}).status_code == 409
    done = act(client, gil, big["id"], "approve").json()
    assert (done["status"], done["approvals"]) == ("approved", 2)
    assert act(client, fran, small["id"], "approve").json()["status"] == "approved"
    with db() as session:
        approvals = [e for e in events_for(session, "payout", big["id"]) if e.action == "payout.approve"]
    assert [(e.actor_name, e.details["approved"]) for e in approvals] == [("Fran", False), ("Gil", True)]


def test_bank_batch_export_then_pay_moves_the_money_once(client, money, db):
    finance = finance_key(db, "Fran")
    earn(db, money, "60.00")
    earn(db, money, "75.25", other=True)
    payouts = run(client, finance)["payouts"]
    for payout in payouts:
        act(client, finance, payout["id"], "approve")

    export = client.get("/api/v1/finance/payouts/export.csv", headers=finance, params={"status": "approved"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    batch = export.headers["x-batch-reference"]
    assert [(int(r["payout_id"]), r["amount"], r["currency"], r["batch_reference"]) for r in rows] == [
        (p["id"], p["amount"], "USD", batch) for p in payouts]
    assert rows[0]["affiliate_name"] == "Bright Traffic"

    for payout in payouts:
        paid = act(client, finance, payout["id"], "pay", {"method": "bank", "reference": batch})
        assert paid.status_code == 200 and (paid.json()["status"], paid.json()["paid_reference"]) == ("paid", batch)
    again = act(client, finance, payouts[0]["id"], "pay", {"method": "bank", "reference": batch})
    assert again.status_code == 409

    balances = balances_by_kind(db)
    assert balances[("affiliate_payable", money.affiliate["id"])] == 0
    assert balances[("affiliate_payable", money.other_affiliate["id"])] == 0
    assert balances[("payouts_clearing", None)] == 6000 + 7525
    assert_ledger_consistent(db)
    assert client.get("/api/v1/finance/payouts/export.csv", headers=finance).text.count("\n") == 1  # header only
    with db() as session:
        actions = [e.action for e in events_for(session, "payout", payouts[0]["id"])]
        exported = events_for(session, "payout_batch", batch)
    assert actions == ["payout.draft", "payout.approve", "payout.pay"]
    assert exported[0].details["payout_ids"] == [p["id"] for p in payouts]


def test_an_affiliate_sees_only_its_own_payouts(client, money, db):
    finance = finance_key(db, "Fran")
    earn(db, money, "60.00")
    earn(db, money, "70.00", other=True)
    run(client, finance)

    own = client.get("/api/v1/payouts", headers=money.affiliate_headers()).json()["payouts"]
    assert [(p["affiliate_id"], p["amount"]) for p in own] == [(money.affiliate["id"], "60.00")]
    assert client.get("/api/v1/finance/payouts", headers=money.affiliate_headers()).status_code == 403
    listed = client.get("/api/v1/finance/payouts", headers=finance,
                        params={"affiliate_id": money.other_affiliate["id"], "status": "draft"}).json()
    assert [p["amount"] for p in listed["payouts"]] == ["70.00"] and listed["next_offset"] is None
    page = client.get("/api/v1/finance/payouts", headers=finance, params={"limit": 1}).json()
    assert len(page["payouts"]) == 1 and page["next_offset"] == 1


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    fake = StripeFake.start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe_client(settings: Settings, engine, db, stripe_fake: StripeFake) -> Iterator[TestClient]:
    """The app configured with a Stripe key and the fake as its API base."""
    from api.auth import ApiKeyAuthentication

    ApiKeyAuthentication._cache.clear()
    configured = dataclasses.replace(settings, stripe_api_key="sk_test_local", stripe_api_base=stripe_fake.url)
    try:
        with TestClient(create_app(configured, engine=engine), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        configure(settings)


def test_stripe_pay_makes_one_transfer_even_when_the_answer_is_lost_and_pay_is_retried(
        client, money, db, stripe_client, stripe_fake):
    finance = finance_key(db, "Fran")
    earn(db, money, "88.40")
    payout = run(stripe_client, finance)["payouts"][0]
    act(stripe_client, finance, payout["id"], "approve")

    no_account = act(stripe_client, finance, payout["id"], "pay", {"method": "stripe"})
    assert no_account.status_code == 409 and "no Stripe account" in no_account.json()["detail"]
    bad = stripe_client.put(f"/api/v1/affiliates/{money.affiliate['id']}/stripe-account",
                            headers=money.admin_headers, json={"stripe_account_id": "bank 123"})
    assert bad.status_code == 422
    assert stripe_client.put(f"/api/v1/affiliates/{money.affiliate['id']}/stripe-account", headers=finance,
                             json={"stripe_account_id": "acct_1Bright"}).status_code == 403
    assert stripe_client.put(f"/api/v1/affiliates/{money.affiliate['id']}/stripe-account",
                             headers=money.admin_headers, json={"stripe_account_id": "acct_1Bright"}).status_code == 200

    stripe_fake.fail_next = 1  # Stripe makes the transfer, but its answer is lost
    lost = act(stripe_client, finance, payout["id"], "pay", {"method": "stripe"})
    assert lost.status_code == 503
    assert stripe_client.get(f"/api/v1/finance/payouts/{payout['id']}", headers=finance).json()["status"] == "paying"
    assert balances_by_kind(db)[("affiliate_payable", money.affiliate["id"])] == 8840  # nothing moved yet

    paid = act(stripe_client, finance, payout["id"], "pay", {"method": "stripe"})
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["method"]) == ("paid", "stripe")
    assert act(stripe_client, finance, payout["id"], "pay", {"method": "stripe"}).status_code == 409
    assert act(stripe_client, finance, payout["id"], "pay", {"method": "bank", "reference": "B"}).status_code == 409

    [transfer] = stripe_fake.transfers.values()
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (8840, "usd", "acct_1Bright")
    assert paid.json()["paid_reference"] == transfer["id"]
    assert stripe_fake.keys_seen() == [f"leadmarket-payout-{payout['id']}"] * 2
    balances = balances_by_kind(db)
    assert balances[("affiliate_payable", money.affiliate["id"])] == 0
    assert balances[("stripe_clearing", None)] == 8840  # money left through Stripe (funds came by manual credit)
    assert_ledger_consistent(db)
    with db() as session:
        actions = [e.action for e in events_for(session, "payout", payout["id"])]
    assert actions == ["payout.draft", "payout.approve", "payout.pay_started", "payout.pay_started", "payout.pay"]


def test_paying_a_draft_or_paying_twice_concurrently_is_refused(client, money, db):
    """Two finance users press pay at once: one pays, the other gets 409, the money moves once."""
    finance = finance_key(db, "Fran")
    earn(db, money, "60.00")
    payout = run(client, finance)["payouts"][0]
    assert act(client, finance, payout["id"], "pay", {"method": "bank", "reference": "B1"}).status_code == 409
    act(client, finance, payout["id"], "approve")

    with db() as session:
        principal = authenticate(session, finance["X-API-Key"])

    def pay() -> str:
        with db() as session:
            try:
                return pay_payout(session, principal, payout["id"], PayoutPay(method="bank", reference="B1")).status
            except Conflict:
                return "refused"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(lambda _: pay(), range(4)))
    assert outcomes == ["paid", "refused", "refused", "refused"]
    assert balances_by_kind(db)[("payouts_clearing", None)] == 6000
    assert_ledger_consistent(db)


def test_a_flagged_affiliates_payout_is_held_until_an_admin_clears_or_forfeits_it(client, money, db):
    offer = money.cpl_offer["id"]
    for fake in [False] * 16 + [True] * 24:   # a placement full of made-up people
        post(client, money, person_lead(offer, contact=joker() if fake else {}, sub_ids={"sub1": "popunder"}))
    for _ in range(60):
        post(client, money, person_lead(offer), other=True)
    finance = finance_key(db, "Fran")
    earn(db, money, "90.00")
    earn(db, money, "60.00", other=True)

    flagged, honest = run(client, finance)["payouts"]
    assert (flagged["status"], flagged["hold_kind"]) == ("held", "fraud") and "rejection_rate" in flagged["hold_note"]
    assert honest["status"] == "draft"
    for action, body in (("approve", {}), ("hold", {"note": "x"}), ("reject", {}),
                         ("pay", {"method": "bank", "reference": "B1"})):
        refused = act(client, finance, flagged["id"], action, body)
        assert refused.status_code == 409, (action, refused.text)
    assert "fraud" in act(client, finance, flagged["id"], "pay", {"method": "bank", "reference": "B1"}).json()["detail"]
    assert client.post(f"/api/v1/admin/payouts/{flagged['id']}/forfeit", headers=finance,
                       json={"note": "fake leads"}).status_code == 403
    assert client.post(f"/api/v1/admin/payouts/{flagged['id']}/forfeit", headers=money.admin_headers,
                       json={}).status_code == 422

    forfeited = client.post(f"/api/v1/admin/payouts/{flagged['id']}/forfeit", headers=money.admin_headers,
                            json={"note": "popunder traffic was made-up people"})
    assert forfeited.status_code == 200 and forfeited.json()["status"] == "forfeited"
    assert act(client, finance, flagged["id"], "pay", {"method": "bank", "reference": "B1"}).status_code == 409
    balances = balances_by_kind(db)
    assert balances[("affiliate_payable", money.affiliate["id"])] == 0

    # new commission while still flagged: held again; this time an admin clears it and finance pays
    earn(db, money, "55.00")
    again = run(client, finance, **period(1))["payouts"][0]
    assert (again["amount"], again["status"]) == ("55.00", "held")
    cleared = client.post(f"/api/v1/admin/payouts/{again['id']}/clear-hold", headers=money.admin_headers, json={})
    assert cleared.json()["status"] == "draft"
    assert act(client, finance, again["id"], "approve").json()["status"] == "approved"
    assert act(client, finance, again["id"], "pay", {"method": "bank", "reference": "B2"}).json()["status"] == "paid"
    assert_ledger_consistent(db)
    with db() as session:
        actions = [e.action for e in events_for(session, "payout", flagged["id"])]
    assert actions == ["payout.draft", "payout.forfeit"]


def test_runs_and_approvals_racing_each_other_draft_once_and_count_both_approvers(client, money, db):
    earn(db, money, "1200.00")
    keys = [finance_key(db, name) for name in ("Fran", "Gil", "Hal")]
    with db() as session:
        fran, gil, hal = (authenticate(session, key["X-API-Key"]) for key in keys)
    body = PayoutRunCreate(period_start=datetime.fromisoformat(PERIOD["period_start"]),
                           period_end=datetime.fromisoformat(PERIOD["period_end"]))

    def draft(principal) -> int:
        with db() as session:
            return run_payouts(session, principal, body).drafted

    with ThreadPoolExecutor(3) as pool:
        drafted = list(pool.map(draft, (fran, gil, hal)))
    assert sorted(drafted) == [0, 0, 1]
    [payout] = client.get("/api/v1/finance/payouts", headers=keys[0]).json()["payouts"]
    assert payout["approvals_needed"] == 2

    def approve(principal) -> str:
        with db() as session:
            return approve_payout(session, principal, payout["id"]).status

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(approve, (fran, gil)))
    assert outcomes == ["approved", "draft"]   # whoever came second completed the approval


def test_a_real_sale_matures_after_its_own_verticals_return_window(client, network, db):
    """A sold lead's commission waits its vertical's window (2 days), not the longest of any vertical."""
    make_vertical(client, network.admin_headers, "slow-returns", CAR_INSURANCE_FIELDS)
    with db() as session, transaction(session):
        session.execute(update(Vertical).where(Vertical.slug == "slow-returns").values(return_window_days=30))
        session.execute(update(Vertical).where(Vertical.slug == "car-insurance").values(return_window_days=2))
    buyer = order_support.new_advertiser(client, network)
    order_support.place_order(client, buyer, price="80.00")
    answer = order_support.post(client, network, order_support.person_lead(network.cpl_offer["id"]))
    assert answer["status"] == "sold", answer
    with db() as session:
        sold_at = session.execute(select(LedgerTransaction.created_at).where(
            LedgerTransaction.reference.like("sale:%"))).scalar_one()
        finance = authenticate(session, finance_key(db, "Fran")["X-API-Key"])
        body = PayoutRunCreate(period_start=sold_at - timedelta(days=1), period_end=sold_at + timedelta(days=1),
                               minimum=Decimal("1.00"))
        early = run_payouts(session, finance, body, now=sold_at + timedelta(days=2) - timedelta(seconds=1))
        due = run_payouts(session, finance, body, now=sold_at + timedelta(days=2))
    assert early.payouts == []
    assert [(p.affiliate_id, p.amount) for p in due.payouts] == [(network.affiliate["id"], Decimal("12.50"))]
