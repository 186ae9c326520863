"""Postpaid invoices: one Stripe invoice per advertiser and month with a line per offer, issued once
however often the run is repeated or Stripe's answer is lost, and paid once from the verified
`invoice.paid` webhook. Stripe is our HTTP fake (tests/stripe_fake.py), driven through the SDK."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from billing.invoice_models import Invoice, InvoiceLine
from billing.invoices import month_bounds, previous_period
from billing.models import StripeEvent
from leadmarket.audit import events_for
from leadmarket.celery_app import celery_app
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.identity import Role, create_api_key
from leadmarket.settings import Settings, configure
from tests.billing_support import assert_ledger_consistent, balances_by_kind, fund, make_advertiser
from tests.order_support import person_lead
from tests.stripe_fake import StripeFake
from tests.support import CAR_INSURANCE_FIELDS, Network, created, error_fields, make_vertical, problem

WEBHOOK_SECRET = "whsec_invoice_test"
LAST_MONTH = previous_period(utcnow())


# --- fixtures and helpers -------------------------------------------------------------------------

@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    fake = StripeFake.start()
    yield fake
    fake.stop()


@pytest.fixture
def app(settings: Settings, engine, db, client, stripe_fake: StripeFake) -> Iterator[TestClient]:
    """The app with Stripe pointed at the fake and a webhook secret (made after `client`, whose app
    would otherwise configure the plain settings over these)."""
    from api.auth import ApiKeyAuthentication

    ApiKeyAuthentication._cache.clear()
    configured = dataclasses.replace(settings, stripe_api_key="sk_test_local", stripe_api_base=stripe_fake.url,
                                     stripe_webhook_secret=WEBHOOK_SECRET)
    try:
        with TestClient(create_app(configured, engine=engine), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        configure(settings)


def staff_key(db: sessionmaker[Session], role: Role = Role.FINANCE) -> dict[str, str]:
    with db() as session, transaction(session):
        _, raw = create_api_key(session, role=role, name=f"test {role.value}")
    return {"X-API-Key": raw}


def targeted(client: TestClient, network: Network, advertiser: dict[str, Any], vertical: str, name: str, *,
             model: str = "cpl", payout: str, revenue: str) -> dict[str, Any]:
    return created(client.post("/api/v1/offers", headers=network.admin_headers, json={
        "name": name, "vertical": vertical, "kind": "targeted", "advertiser_id": advertiser["id"],
        "payout_model": model, "payout": payout, "revenue": revenue,
        "landing_url": "https://buyer.example/landing?cid={click_id}"}))


def sell(client: TestClient, network: Network, offer: dict[str, Any]) -> int:
    """An affiliate posts a clean lead to a targeted offer; returns the lead id."""
    answer = created(client.post("/api/v1/leads", headers=network.affiliate_headers(), json=person_lead(offer["id"])))
    assert answer["status"] == "sold", answer
    return answer["lead_id"]


def headers(advertiser: dict[str, Any]) -> dict[str, str]:
    return {"X-API-Key": advertiser["api_key"]}


def into_last_month(db: sessionmaker[Session]) -> None:
    """Everything the ledger holds so far happened last month (mid-month, in posting order). The
    ledger is append-only; only a test may step around its trigger, for its own transaction."""
    start, _ = month_bounds(LAST_MONTH)
    with db() as session, transaction(session):
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(text("UPDATE ledger_transaction SET created_at = :at + id * interval '1 second'"),
                        {"at": start + timedelta(days=14)})


def run(client: TestClient, key: dict[str, str], period: str = LAST_MONTH) -> dict[str, Any]:
    return created(client.post("/api/v1/finance/invoices/run", headers=key, json={"period": period}))


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    payload = json.dumps(event).encode()
    timestamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={mac}"}


def deliver(client: TestClient, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> Any:
    return client.post("/webhooks/stripe", content=json.dumps(event).encode(), headers=signed(event, secret))


def rows(db: sessionmaker[Session], model: Any) -> int:
    with db() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def month(app: TestClient, network: Network, db: sessionmaker[Session]) -> dict[str, Any]:
    """Last month, a postpaid advertiser bought on three targeted offers in two verticals:
    - car insurance CPL at 20.00: three leads, one returned (60.00 - 20.00 = 40.00);
    - personal loans CPL at 35.50: two leads (71.00);
    - car insurance CPA at 60.00: one approved conversion (60.00).
    A prepaid advertiser bought a lead too (never invoiced). Then, this month, one more lead."""
    postpaid = make_advertiser(app, network.admin_headers, "Postpaid Motors", billing_mode="invoice")
    make_vertical(app, network.admin_headers, "personal-loans", CAR_INSURANCE_FIELDS, name="Personal loans")
    car = targeted(app, network, postpaid, "car-insurance", "Car quotes", payout="12.50", revenue="20.00")
    loans = targeted(app, network, postpaid, "personal-loans", "Loan leads", payout="20.00", revenue="35.50")
    policies = targeted(app, network, postpaid, "car-insurance", "Policies sold", model="cpa", payout="40.00",
                        revenue="60.00")
    car_leads = [sell(app, network, car) for _ in range(3)]
    for _ in range(2):
        sell(app, network, loans)
    purchases = app.get("/api/v1/purchases", headers=headers(postpaid)).json()
    returned = next(p for p in purchases if p["lead"]["lead_id"] == car_leads[0])
    refund = app.post(f"/api/v1/purchases/{returned['sale_id']}/return", headers=headers(postpaid),
                      json={"reason": "bad_phone"})
    assert refund.status_code == 201 and refund.json()["status"] == "approved", refund.text
    policy_lead = created(app.post("/api/v1/leads", headers=network.affiliate_headers(),
                                   json=person_lead(policies["id"])))["lead_id"]
    reported = app.post("/api/v1/conversions", headers=headers(postpaid),
                        json={"lead_id": policy_lead, "event": "policy_sold", "external_id": "POL-1"})
    assert reported.status_code == 201, reported.text
    approved = app.post(f"/api/v1/conversions/{reported.json()['id']}/approve", headers=headers(postpaid))
    assert approved.status_code == 200 and approved.json()["revenue"] == "60.00", approved.text

    fund(db, network.advertiser["id"], "100.00")
    sell(app, network, targeted(app, network, network.advertiser, "car-insurance", "Acme quotes", payout="5.00",
                                revenue="9.00"))
    into_last_month(db)
    sell(app, network, car)  # this month: on next month's invoice, not this one
    return {"advertiser": postpaid, "car": car, "loans": loans, "policies": policies}


# --- tests ------------------------------------------------------------------------------------------

def test_a_month_is_invoiced_with_one_line_per_offer_to_the_cent(app, network, db, month, stripe_fake):
    finance = staff_key(db)
    postpaid = month["advertiser"]

    result = run(app, finance)

    assert (result["period"], result["created"], result["issued"], result["failed"]) == (LAST_MONTH, 1, 1, 0)
    [invoice] = result["invoices"]
    assert (invoice["advertiser_id"], invoice["currency"], invoice["amount"], invoice["status"]) == (
        postpaid["id"], "USD", "171.00", "open")
    assert [(line["offer_id"], line["sales"], line["conversions"], line["returns"], line["charged"], line["refunded"],
             line["amount"]) for line in invoice["lines"]] == [
        (month["car"]["id"], 3, 0, 1, "60.00", "20.00", "40.00"),
        (month["loans"]["id"], 2, 0, 0, "71.00", "0.00", "71.00"),
        (month["policies"]["id"], 0, 1, 0, "60.00", "0.00", "60.00")]
    assert [line["description"] for line in invoice["lines"]] == [
        "Car insurance — Car quotes: 3 leads, 1 return", "Personal loans — Loan leads: 2 leads",
        "Car insurance — Policies sold: 1 conversion"]

    # At Stripe: one customer, one finalized and sent invoice carrying exactly our lines.
    [customer] = stripe_fake.customers.values()
    assert (customer["email"], customer["metadata"]) == (postpaid["email"], {"advertiser_id": str(postpaid["id"])})
    [at_stripe] = stripe_fake.invoices.values()
    assert at_stripe["id"] == invoice["stripe_invoice_id"] and at_stripe["customer"] == customer["id"]
    assert (at_stripe["status"], at_stripe["sent"], at_stripe["amount_due"], at_stripe["currency"]) == (
        "open", 1, 17100, "usd")
    assert at_stripe["collection_method"] == "send_invoice" and at_stripe["metadata"]["invoice_id"] == str(invoice["id"])
    assert [(item["amount"], item["description"]) for item in at_stripe["lines"]["data"]] == [
        (line["amount_minor"], line["description"]) for line in _lines(db, invoice["id"])]
    assert invoice["number"] == at_stripe["number"] and invoice["hosted_invoice_url"] == at_stripe["hosted_invoice_url"]

    # Every Stripe call carried a key derived from our ids.
    line_ids = [line["id"] for line in invoice["lines"]]
    assert [key for method, _, key in stripe_fake.requests if method == "POST"] == [
        f"leadmarket-advertiser-{postpaid['id']}-customer", f"leadmarket-invoice-{invoice['id']}",
        *[f"leadmarket-invoice-line-{line_id}" for line_id in line_ids],
        f"leadmarket-invoice-{invoice['id']}-finalize", f"leadmarket-invoice-{invoice['id']}-send"]
    # The invoiced advertiser owes what was charged; the prepaid one has no invoice.
    assert balances_by_kind(db)[("advertiser_cash", postpaid["id"])] == -17100 - 2000  # this month's lead too
    with db() as session:
        assert [e.action for e in events_for(session, "invoice", invoice["id"])] == ["invoice.draft", "invoice.issue"]
    assert_ledger_consistent(db)


def _lines(db: sessionmaker[Session], invoice_id: int) -> list[dict[str, Any]]:
    with db() as session:
        return [{"amount_minor": line.amount_minor, "description": line.description} for line in session.execute(
            select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id).order_by(InvoiceLine.id)).scalars()]


def test_running_the_month_again_issues_nothing_new(app, network, db, month, stripe_fake):
    finance = staff_key(db)
    first = run(app, finance)
    posts_before = len([r for r in stripe_fake.requests if r[0] == "POST"])

    again = run(app, finance)
    from billing.tasks import issue_monthly_invoices
    by_beat = issue_monthly_invoices()  # the beat task: last month, in-process

    assert (again["created"], again["issued"], again["failed"]) == (0, 0, 0)
    assert again["invoices"] == first["invoices"]
    assert by_beat == {"period": LAST_MONTH, "created": 0, "issued": 0, "failed": 0}
    assert len([r for r in stripe_fake.requests if r[0] == "POST"]) == posts_before
    assert len(stripe_fake.invoices) == 1 and len(stripe_fake.invoice_items) == 3
    assert rows(db, Invoice) == 1 and rows(db, InvoiceLine) == 3


def test_the_beat_task_issues_last_months_invoices(app, network, db, month, stripe_fake):
    from billing.tasks import issue_monthly_invoices

    assert celery_app.conf.beat_schedule["billing-issue-monthly-invoices"]["task"] == "billing.issue_monthly_invoices"
    assert issue_monthly_invoices() == {"period": LAST_MONTH, "created": 1, "issued": 1, "failed": 0}
    assert len(stripe_fake.invoices) == 1
    [invoice] = app.get("/api/v1/invoices", headers=staff_key(db)).json()["invoices"]
    assert (invoice["amount"], invoice["status"]) == ("171.00", "open")


def test_a_lost_stripe_answer_then_a_rerun_makes_one_invoice_at_stripe(app, network, db, month, stripe_fake):
    finance = staff_key(db)
    stripe_fake.fail_path, stripe_fake.fail_next = "/v1/invoices", 1  # Stripe makes the invoice; the answer is lost

    lost = run(app, finance)
    assert (lost["created"], lost["issued"], lost["failed"]) == (1, 0, 1)
    [draft] = lost["invoices"]
    assert (draft["status"], draft["stripe_invoice_id"]) == ("draft", None)
    assert len(stripe_fake.invoices) == 1  # it exists at Stripe, though we never heard of it

    retried = run(app, finance)

    assert (retried["created"], retried["issued"], retried["failed"]) == (0, 1, 0)
    [issued] = retried["invoices"]
    [at_stripe] = stripe_fake.invoices.values()
    assert issued["stripe_invoice_id"] == at_stripe["id"] and issued["status"] == "open"
    assert at_stripe["amount_due"] == 17100 and len(at_stripe["lines"]["data"]) == 3
    assert stripe_fake.keys_seen("/v1/invoices") == [f"leadmarket-invoice-{issued['id']}"] * 2
    assert len(stripe_fake.customers) == 1


def test_a_lost_answer_for_an_invoice_line_does_not_bill_it_twice(app, network, db, month, stripe_fake):
    finance = staff_key(db)
    stripe_fake.fail_path, stripe_fake.fail_next = "/v1/invoiceitems", 1

    assert run(app, finance)["failed"] == 1
    retried = run(app, finance)

    assert retried["issued"] == 1
    [at_stripe] = stripe_fake.invoices.values()
    assert at_stripe["amount_due"] == 17100 and len(stripe_fake.invoice_items) == 3


def test_invoice_paid_settles_the_invoice_once(app, network, db, month, stripe_fake):
    finance = staff_key(db)
    [invoice] = run(app, finance)["invoices"]
    postpaid = month["advertiser"]
    owed = balances_by_kind(db)[("advertiser_cash", postpaid["id"])]
    paid_at_stripe = stripe_fake.handle_post(f"/v1/invoices/{invoice['stripe_invoice_id']}/pay", [], None)
    assert paid_at_stripe[0] == 200
    [event] = stripe_fake.events
    second_report = {**event, "id": "evt_same_payment_reported_again"}

    first = deliver(app, event)
    repeated = [deliver(app, event) for _ in range(3)] + [deliver(app, second_report)]

    assert first.status_code == 200 and first.json() == {"received": True, "applied": True}
    assert all(r.status_code == 200 and r.json() == {"received": True, "applied": False} for r in repeated)
    read = app.get(f"/api/v1/invoices/{invoice['id']}", headers=headers(postpaid)).json()
    assert (read["status"], read["amount_paid"]) == ("paid", "171.00") and read["paid_at"] is not None
    balances = balances_by_kind(db)
    assert balances[("advertiser_cash", postpaid["id"])] == owed + 17100
    assert rows(db, StripeEvent) == 2
    # A rerun after payment leaves the paid invoice alone.
    assert run(app, finance)["invoices"][0]["status"] == "paid"
    with db() as session:
        assert [e.action for e in events_for(session, "invoice", invoice["id"])][-1] == "invoice.paid"
    assert_ledger_consistent(db)


def test_a_webhook_with_a_bad_signature_is_refused_and_settles_nothing(app, network, db, month, stripe_fake):
    [invoice] = run(app, staff_key(db))["invoices"]
    stripe_fake.handle_post(f"/v1/invoices/{invoice['stripe_invoice_id']}/pay", [], None)
    [event] = stripe_fake.events
    owed = balances_by_kind(db)[("advertiser_cash", month["advertiser"]["id"])]

    problem(deliver(app, event, secret="whsec_someone_else"), 400)
    problem(app.post("/webhooks/stripe", content=json.dumps(event).encode()), 400)  # unsigned

    assert rows(db, StripeEvent) == 0
    assert app.get(f"/api/v1/invoices/{invoice['id']}", headers=headers(month["advertiser"])).json()["status"] == "open"
    assert balances_by_kind(db)[("advertiser_cash", month["advertiser"]["id"])] == owed
    assert deliver(app, event).json()["applied"] is True  # the genuine event still applies


def test_each_role_sees_what_it_may(app, network, db, month):
    finance, admin = staff_key(db), staff_key(db, Role.ADMIN)
    postpaid = month["advertiser"]
    [invoice] = run(app, finance)["invoices"]
    stranger = make_advertiser(app, network.admin_headers, "Other Postpaid", billing_mode="invoice")

    own = app.get("/api/v1/invoices", headers=headers(postpaid)).json()
    assert [i["id"] for i in own["invoices"]] == [invoice["id"]] and own["next_offset"] is None
    assert app.get("/api/v1/invoices", headers=headers(stranger)).json()["invoices"] == []
    assert app.get("/api/v1/invoices", headers=headers(stranger),
                   params={"advertiser_id": postpaid["id"]}).json()["invoices"] == []
    problem(app.get(f"/api/v1/invoices/{invoice['id']}", headers=headers(stranger)), 404)
    problem(app.get("/api/v1/invoices/999999", headers=headers(postpaid)), 404)
    for key in (finance, admin):
        assert [i["id"] for i in app.get("/api/v1/invoices", headers=key).json()["invoices"]] == [invoice["id"]]
        assert app.get("/api/v1/invoices", headers=key, params={"advertiser_id": stranger["id"]}).json()[
            "invoices"] == []
        assert app.get(f"/api/v1/invoices/{invoice['id']}", headers=key).json()["lines"] == invoice["lines"]
    problem(app.get("/api/v1/invoices", headers=network.affiliate_headers()), 403)
    problem(app.get("/api/v1/invoices"), 401)
    problem(app.post("/api/v1/finance/invoices/run", headers=headers(postpaid), json={"period": LAST_MONTH}), 403)
    problem(app.post("/api/v1/finance/invoices/run", json={"period": LAST_MONTH}), 401)
    assert error_fields(app.get("/api/v1/invoices", headers=finance, params={"status": "lost"})) == {
        "status": "must be one of draft, open, paid"}


def test_a_bad_period_is_refused_naming_the_field_and_writes_nothing(app, network, db, month):
    finance = staff_key(db)
    this_month = utcnow().strftime("%Y-%m")
    for body, reason in (({}, "is required (YYYY-MM, a calendar month in UTC)"),
                         ({"period": "2026-13"}, "must be a month as YYYY-MM"),
                         ({"period": "Oct 2026"}, "must be a month as YYYY-MM"),
                         ({"period": this_month}, "must be a month that has ended (UTC)")):
        response = app.post("/api/v1/finance/invoices/run", headers=finance, json=body)
        assert error_fields(response) == {"period": reason}, body
    assert set(error_fields(app.post("/api/v1/finance/invoices/run", headers=finance, json={"period": 202610}))) == {
        "period"}
    assert rows(db, Invoice) == 0


def test_without_stripe_settings_the_run_is_unavailable_and_writes_nothing(client, network, db):
    problem(client.post("/api/v1/finance/invoices/run", headers=staff_key(db), json={"period": LAST_MONTH}), 503)
    assert rows(db, Invoice) == 0


def test_a_month_with_nothing_billable_makes_no_invoice(app, network, db, stripe_fake):
    make_advertiser(app, network.admin_headers, "Quiet Postpaid", billing_mode="invoice")
    result = run(app, staff_key(db))
    assert (result["created"], result["invoices"]) == (0, [])
    assert stripe_fake.requests == []


def test_month_bounds_are_calendar_months_in_utc():
    assert month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert previous_period(datetime(2027, 1, 1, 0, 0, tzinfo=UTC)) == "2026-12"
    assert previous_period(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == "2026-10"
