"""Manual credits by finance (or admins) and advertisers reading their own balance."""

from __future__ import annotations

from sqlalchemy import func, select

from billing.models import LedgerEntry
from leadmarket.audit import AuditEvent, events_for
from leadmarket.db import transaction
from leadmarket.identity import Role, create_api_key
from tests.billing_support import assert_ledger_consistent, cash_minor, make_advertiser
from tests.support import error_fields, problem


def staff_key(db, role: Role) -> str:
    with db() as session, transaction(session):
        _, raw = create_api_key(session, role=role, name=f"test {role.value}")
    return raw


def credit(client, key: str, advertiser_id: int, body: dict, **headers: str):
    return client.post(f"/api/v1/advertisers/{advertiser_id}/credits", headers={"X-API-Key": key, **headers},
                       json=body)


def balance(client, advertiser: dict) -> dict:
    response = client.get("/api/v1/balance", headers={"X-API-Key": advertiser["api_key"]})
    assert response.status_code == 200, response.text
    return response.json()


def rows(db, model) -> int:
    with db() as session:
        query = select(func.count()).select_from(model)
        if model is AuditEvent:  # credits' audit rows, not the network's creation
            query = query.where(AuditEvent.action == "advertiser.credit")
        return session.execute(query).scalar_one()


def test_finance_credits_an_advertiser_with_a_reason_and_it_is_audited(db, client, network):
    key = staff_key(db, Role.FINANCE)
    advertiser = network.advertiser

    response = credit(client, key, advertiser["id"], {"amount": "75.50", "note": "goodwill: March outage"})

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["amount"], body["currency"], body["balance"], body["note"]) == (
        "75.50", "USD", "75.50", "goodwill: March outage")
    assert balance(client, advertiser) == {"advertiser_id": advertiser["id"], "billing_mode": "prepaid",
                                           "currency": "USD", "balance": "75.50", "credit_limit": "500.00",
                                           "available": "575.50"}
    with db() as session:
        [event] = [e for e in events_for(session, "advertiser", advertiser["id"]) if e.action == "advertiser.credit"]
    assert (event.action, event.actor_role, event.actor_name) == ("advertiser.credit", "finance", "test finance")
    assert event.details == {"amount": "75.50", "currency": "USD", "note": "goodwill: March outage",
                             "ledger_transaction_id": body["transaction_id"]}
    assert_ledger_consistent(db)


def test_an_admin_may_credit_too(client, db, network):
    response = credit(client, network.admin_key, network.advertiser["id"], {"amount": "10", "note": "trial"})
    assert response.status_code == 201, response.text
    assert balance(client, network.advertiser)["balance"] == "10.00"


def test_a_credit_without_a_note_or_with_a_bad_amount_names_every_field_and_writes_nothing(db, client, network):
    key = staff_key(db, Role.FINANCE)
    advertiser_id = network.advertiser["id"]

    assert error_fields(credit(client, key, advertiser_id, {"amount": "5.00"})) == {
        "note": "is required: say why this credit is given"}
    assert error_fields(credit(client, key, advertiser_id, {"amount": "5.00", "note": "   "})) == {
        "note": "is required: say why this credit is given"}
    assert set(error_fields(credit(client, key, advertiser_id, {"amount": "-5.00"}))) == {"amount", "note"}
    assert set(error_fields(credit(client, key, advertiser_id, {"amount": "0", "note": "x"}))) == {"amount"}
    assert error_fields(credit(client, key, advertiser_id, {"amount": "1.005", "note": "x"}))["amount"] == (
        "has more than 2 decimal places for USD")
    assert set(error_fields(credit(client, key, advertiser_id, {"note": "x"}))) == {"amount"}

    assert rows(db, LedgerEntry) == 0 and rows(db, AuditEvent) == 0
    assert balance(client, network.advertiser)["balance"] == "0.00"


def test_only_staff_may_credit(db, client, network):
    other = make_advertiser(client, network.admin_headers, "Other Buyer")
    body = {"amount": "1000.00", "note": "I deserve it"}

    for key, advertiser_id in [(network.advertiser["api_key"], network.advertiser["id"]),  # itself
                               (network.advertiser["api_key"], other["id"]),                # another advertiser
                               (network.affiliate["api_key"], network.advertiser["id"])]:
        problem(credit(client, key, advertiser_id, body), 403)
    problem(client.post(f"/api/v1/advertisers/{other['id']}/credits", json=body), 401)

    problem(credit(client, staff_key(db, Role.FINANCE), 999_999, body), 404)
    assert rows(db, LedgerEntry) == 0
    assert balance(client, network.advertiser)["balance"] == "0.00" and balance(client, other)["balance"] == "0.00"


def test_a_retried_credit_with_the_same_idempotency_key_credits_once(db, client, network):
    key = staff_key(db, Role.FINANCE)
    advertiser_id = network.advertiser["id"]
    body = {"amount": "20.00", "note": "refund for returned leads"}

    first = credit(client, key, advertiser_id, body, **{"Idempotency-Key": "credit-2026-11-1"})
    again = credit(client, key, advertiser_id, body, **{"Idempotency-Key": "credit-2026-11-1"})
    other_amount = credit(client, key, advertiser_id, {**body, "amount": "21.00"},
                          **{"Idempotency-Key": "credit-2026-11-1"})

    assert first.status_code == again.status_code == 201
    assert first.json()["transaction_id"] == again.json()["transaction_id"]
    problem(other_amount, 409)
    assert cash_minor(db, advertiser_id) == 2000
    assert rows(db, AuditEvent) == 1


def test_an_advertiser_sees_only_its_own_balance(db, client, network):
    invoiced = make_advertiser(client, network.admin_headers, "Invoiced Buyer", billing_mode="invoice",
                               credit_limit="1000.00")
    credit(client, network.admin_key, network.advertiser["id"], {"amount": "30.00", "note": "welcome"})

    assert balance(client, invoiced) == {"advertiser_id": invoiced["id"], "billing_mode": "invoice",
                                         "currency": "USD", "balance": "0.00", "credit_limit": "1000.00",
                                         "available": None}
    assert balance(client, network.advertiser)["balance"] == "30.00"
    for key in (network.admin_key, network.affiliate["api_key"]):
        problem(client.get("/api/v1/balance", headers={"X-API-Key": key}), 403)
