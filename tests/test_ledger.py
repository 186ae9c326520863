"""The ledger: money moves in balanced, append-only, once-only transactions; PostgreSQL refuses
what the code might get wrong; a prepaid advertiser never spends past their credit limit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from billing import charging, ledger
from billing.errors import (ChargeNotFound, CurrencyMismatch, InsufficientFunds, LedgerKeyReused,
                            UnbalancedTransaction)
from billing.ledger import Entry
from billing.models import (AFFILIATE_PAYABLE, MANUAL_ADJUSTMENTS, PAYOUTS_CLEARING, PLATFORM_REVENUE, LedgerAccount,
                            LedgerEntry, LedgerTransaction)
from billing.tasks import reconcile_balances
from leadmarket.db import transaction
from tests.billing_support import assert_ledger_consistent, balances_by_kind, cash_minor, fund, make_advertiser


def count(db, model) -> int:
    with db() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def sell(db, network, reference="sale:1", price=2000, payout=1250, advertiser_id=None, affiliate_id=None):
    with db() as session, transaction(session):
        return charging.charge_sale(session, reference=reference,
                                    advertiser_id=advertiser_id or network.advertiser["id"],
                                    affiliate_id=affiliate_id or network.affiliate["id"],
                                    price_minor=price, payout_minor=payout, currency="USD")


def platform_accounts(db, currency="USD"):
    with db() as session, transaction(session):
        adjustments = ledger.account(session, MANUAL_ADJUSTMENTS, currency)
        revenue = ledger.account(session, PLATFORM_REVENUE, currency)
    return adjustments, revenue


def test_a_sale_pays_the_affiliate_and_keeps_the_margin(db, network):
    advertiser, affiliate = network.advertiser["id"], network.affiliate["id"]
    fund(db, advertiser, "100.00")

    posted = sell(db, network, price=2000, payout=1250)

    assert not posted.replayed and posted.transaction.kind == "sale"
    balances = balances_by_kind(db)
    assert balances[("advertiser_cash", advertiser)] == 8000
    assert balances[(AFFILIATE_PAYABLE, affiliate)] == 1250
    assert balances[(PLATFORM_REVENUE, None)] == 750
    assert cash_minor(db, advertiser) == 8000
    with db() as session:
        assert [(t.reference, e.amount_minor) for t, e in ledger.entries_for(session, "sale:1")] == [
            ("sale:1", -2000), ("sale:1", 1250), ("sale:1", 750)]
    assert_ledger_consistent(db)


def test_entries_that_do_not_sum_to_zero_are_refused_before_the_database(db, network):
    adjustments, revenue = platform_accounts(db)
    with db() as session:
        for entries in ([Entry(adjustments.id, -100, "USD"), Entry(revenue.id, 99, "USD")],
                        [Entry(adjustments.id, -100, "USD"), Entry(revenue.id, 100, "EUR")],
                        [Entry(adjustments.id, 0, "USD")],
                        []):
            with pytest.raises(UnbalancedTransaction):
                ledger.post(session, "unbalanced", entries, kind="test")
        session.rollback()
    assert count(db, LedgerTransaction) == 0 and count(db, LedgerEntry) == 0


def test_the_database_refuses_to_commit_an_unbalanced_transaction(db, network):
    adjustments, revenue = platform_accounts(db)

    def raw_transaction(conn, key: str, *amounts: tuple[int, int]) -> None:
        transaction_id = conn.execute(text(
            "INSERT INTO ledger_transaction (idempotency_key, kind, created_at, created_by)"
            " VALUES (:key, 'raw', now(), 'test') RETURNING id"), {"key": key}).scalar_one()
        for account_id, amount in amounts:
            conn.execute(text("INSERT INTO ledger_entry (transaction_id, account_id, amount_minor, currency)"
                              " VALUES (:t, :a, :m, 'USD')"), {"t": transaction_id, "a": account_id, "m": amount})

    # The INSERTs pass (the check is deferred, so a transaction may be built entry by entry) ...
    with db() as session:
        conn = session.connection()
        raw_transaction(conn, "raw-unbalanced", (adjustments.id, -500), (revenue.id, 400))
        # ... and COMMIT fails.
        with pytest.raises(IntegrityError) as refused:
            session.commit()
    assert refused.value.orig.sqlstate == "23514"  # check_violation
    assert refused.value.orig.diag.constraint_name == "ledger_entry_zero_sum"

    with db() as session, pytest.raises(IntegrityError, match="has no entries"):
        raw_transaction(session.connection(), "raw-empty")
        session.commit()

    with db() as session:  # the same raw SQL, balanced, commits
        raw_transaction(session.connection(), "raw-balanced", (adjustments.id, -500), (revenue.id, 500))
        session.commit()
    with db() as session:
        keys = session.execute(select(LedgerTransaction.idempotency_key)).scalars().all()
    assert keys == ["raw-balanced"]


def test_a_zero_amount_entry_is_refused_by_a_check_constraint(db, network):
    adjustments, _ = platform_accounts(db)
    with db() as session, pytest.raises(IntegrityError) as refused:
        transaction_id = session.execute(text(
            "INSERT INTO ledger_transaction (idempotency_key, kind, created_at, created_by)"
            " VALUES ('zero', 'raw', now(), 'test') RETURNING id")).scalar_one()
        session.execute(text("INSERT INTO ledger_entry (transaction_id, account_id, amount_minor, currency)"
                             " VALUES (:t, :a, 0, 'USD')"), {"t": transaction_id, "a": adjustments.id})
    assert refused.value.orig.diag.constraint_name == "ck_ledger_entry_amount_not_zero"


def test_an_entry_in_another_currency_than_its_account_is_refused(db, network):
    adjustments, _ = platform_accounts(db, "USD")
    with db() as session, pytest.raises(IntegrityError) as refused:
        transaction_id = session.execute(text(
            "INSERT INTO ledger_transaction (idempotency_key, kind, created_at, created_by)"
            " VALUES ('eur', 'raw', now(), 'test') RETURNING id")).scalar_one()
        session.execute(text("INSERT INTO ledger_entry (transaction_id, account_id, amount_minor, currency)"
                             " VALUES (:t, :a, 5, 'EUR')"), {"t": transaction_id, "a": adjustments.id})
    assert refused.value.orig.diag.constraint_name == "fk_ledger_entry_account_id_ledger_account"


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_entry SET amount_minor = amount_minor * 2",
    "DELETE FROM ledger_entry",
    "UPDATE ledger_transaction SET memo = 'rewritten'",
    "DELETE FROM ledger_transaction",
])
def test_entries_and_transactions_are_append_only(db, network, statement):
    fund(db, network.advertiser["id"], "10.00")
    with db() as session, pytest.raises(DBAPIError, match="append-only") as refused:
        session.execute(text(statement))
    assert refused.value.orig.sqlstate == "23001"  # restrict_violation
    assert cash_minor(db, network.advertiser["id"]) == 1000
    assert count(db, LedgerEntry) == 2
    assert_ledger_consistent(db)


def test_posting_the_same_key_again_takes_effect_once(db, network):
    adjustments, revenue = platform_accounts(db)
    entries = [Entry(adjustments.id, -300, "USD"), Entry(revenue.id, 300, "USD")]
    with db() as session, transaction(session):
        first = ledger.post(session, "bonus:1", entries, kind="test")
    with db() as session, transaction(session):
        again = ledger.post(session, "bonus:1", list(reversed(entries)), kind="test")

    assert again.replayed and not first.replayed
    assert again.transaction.id == first.transaction.id
    assert balances_by_kind(db)[(PLATFORM_REVENUE, None)] == 300
    assert count(db, LedgerEntry) == 2

    with db() as session, pytest.raises(LedgerKeyReused):
        ledger.post(session, "bonus:1", [Entry(adjustments.id, -301, "USD"), Entry(revenue.id, 301, "USD")],
                    kind="test")
    assert_ledger_consistent(db)


def test_a_prepaid_advertiser_is_charged_down_to_minus_the_credit_limit_and_no_further(db, network):
    advertiser = network.advertiser["id"]  # prepaid, credit limit 500.00, no funds
    assert network.advertiser["credit_limit"] == "500.00"

    sell(db, network, reference="sale:1", price=30000, payout=0)
    sell(db, network, reference="sale:2", price=20000, payout=0)   # exactly at -500.00
    with pytest.raises(InsufficientFunds) as refused:
        sell(db, network, reference="sale:3", price=1, payout=0)

    assert refused.value.advertiser_id == advertiser
    assert cash_minor(db, advertiser) == -50000
    with db() as session:
        assert ledger.entries_for(session, "sale:3") == []
    fund(db, advertiser, "0.01")
    sell(db, network, reference="sale:3", price=1, payout=0)  # now it fits
    assert cash_minor(db, advertiser) == -50000
    assert_ledger_consistent(db)


def test_an_invoiced_advertiser_has_no_floor(db, client, network):
    invoiced = make_advertiser(client, network.admin_headers, "Postpaid Co", billing_mode="invoice")
    sell(db, network, price=900000, payout=0, advertiser_id=invoiced["id"])
    assert cash_minor(db, invoiced["id"]) == -900000


def test_a_refused_charge_leaves_the_callers_transaction_usable(db, client, network):
    """The marketplace may try the next buyer when one cannot pay: the failed charge is undone
    alone, the rest of the caller's transaction commits."""
    broke = network.advertiser["id"]
    rich = make_advertiser(client, network.admin_headers, "Rich Buyer")["id"]
    fund(db, rich, "50.00")
    with db() as session, transaction(session):
        with pytest.raises(InsufficientFunds):
            charging.charge_sale(session, reference="sale:7", advertiser_id=broke, affiliate_id=network.affiliate["id"],
                                 price_minor=60000, payout_minor=1000, currency="USD")
        charging.charge_sale(session, reference="sale:8", advertiser_id=rich, affiliate_id=network.affiliate["id"],
                             price_minor=2000, payout_minor=1000, currency="USD")

    assert cash_minor(db, broke) == 0 and cash_minor(db, rich) == 3000
    with db() as session:
        assert ledger.entries_for(session, "sale:7") == []
    assert_ledger_consistent(db)


def test_a_return_reverses_the_sale_and_may_take_the_affiliate_negative(db, network):
    advertiser, affiliate = network.advertiser["id"], network.affiliate["id"]
    fund(db, advertiser, "100.00")
    sell(db, network, reference="sale:5", price=2000, payout=1250)
    # The affiliate was already paid what they earned ...
    with db() as session, transaction(session):
        payable = ledger.account(session, AFFILIATE_PAYABLE, "USD", affiliate_id=affiliate)
        paid = ledger.account(session, PAYOUTS_CLEARING, "USD")
        ledger.post(session, "payout:1", [Entry(payable.id, -1250, "USD"), Entry(paid.id, 1250, "USD")],
                    kind="payout")

    # ... so the return leaves them owing it, to be netted in their next payout.
    with db() as session, transaction(session):
        reversal = charging.reverse_sale(session, "sale:5", memo="lead returned: wrong number")
    with db() as session, transaction(session):
        again = charging.reverse_sale(session, "sale:5")

    assert reversal.transaction.kind == "sale_reversal" and again.replayed
    balances = balances_by_kind(db)
    assert balances[("advertiser_cash", advertiser)] == 10000
    assert balances[(AFFILIATE_PAYABLE, affiliate)] == -1250
    assert balances[(PLATFORM_REVENUE, None)] == 0
    with db() as session, pytest.raises(ChargeNotFound):
        charging.reverse_sale(session, "sale:404")
    assert_ledger_consistent(db)


def test_an_approved_conversion_is_charged_once(db, network):
    advertiser, affiliate = network.advertiser["id"], network.affiliate["id"]
    fund(db, advertiser, "100.00")
    for _ in range(2):
        with db() as session, transaction(session):
            posted = charging.charge_conversion(session, reference="conversion:45", advertiser_id=advertiser,
                                                affiliate_id=affiliate, revenue_minor=6000, payout_minor=4000,
                                                currency="USD")
    assert posted.replayed and posted.transaction.kind == "conversion"
    balances = balances_by_kind(db)
    assert (balances[("advertiser_cash", advertiser)], balances[(AFFILIATE_PAYABLE, affiliate)],
            balances[(PLATFORM_REVENUE, None)]) == (4000, 4000, 2000)
    with db() as session, transaction(session):
        charging.reverse_conversion(session, "conversion:45")
    assert cash_minor(db, advertiser) == 10000
    assert_ledger_consistent(db)


def test_a_charge_in_another_currency_than_the_advertisers_is_refused(db, network):
    with db() as session, pytest.raises(CurrencyMismatch):
        charging.charge_sale(session, reference="sale:9", advertiser_id=network.advertiser["id"],
                             affiliate_id=network.affiliate["id"], price_minor=100, payout_minor=50, currency="EUR")
    assert count(db, LedgerTransaction) == 0


def test_trial_balance_lists_every_account_and_a_zero_total(db, client, network):
    euro = make_advertiser(client, network.admin_headers, "Euro Buyer", currency="EUR")
    fund(db, network.advertiser["id"], "100.00")
    fund(db, euro["id"], "70.00")
    sell(db, network, price=2000, payout=1250)

    for key in (network.admin_key, _finance_key(db)):
        response = client.get("/api/v1/finance/trial-balance", headers={"X-API-Key": key})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["balanced"] is True
        assert body["totals"] == [{"currency": "EUR", "total": "0.00"}, {"currency": "USD", "total": "0.00"}]
        listed = {(a["kind"], a["currency"], a["advertiser_id"] or a["affiliate_id"]): a["balance"]
                  for a in body["accounts"]}
        assert listed == {
            ("advertiser_cash", "USD", network.advertiser["id"]): "80.00",
            ("manual_adjustments", "USD", None): "-100.00",
            ("affiliate_payable", "USD", network.affiliate["id"]): "12.50",
            ("platform_revenue", "USD", None): "7.50",
            ("advertiser_cash", "EUR", euro["id"]): "70.00",
            ("manual_adjustments", "EUR", None): "-70.00",
        }

    for key in (network.advertiser["api_key"], network.affiliate["api_key"]):
        assert client.get("/api/v1/finance/trial-balance", headers={"X-API-Key": key}).status_code == 403
    assert client.get("/api/v1/finance/trial-balance").status_code == 401


def test_reconciliation_finds_a_cached_balance_that_drifted_from_its_entries(db, network):
    fund(db, network.advertiser["id"], "25.00")
    assert reconcile_balances.apply().get() == {"ok": True, "accounts_checked": 2, "mismatches": [],
                                                "unbalanced_currencies": {}}

    with db() as session, transaction(session):  # what a bug writing balance_minor by hand would do
        session.execute(text("UPDATE ledger_account SET balance_minor = balance_minor + 7 WHERE advertiser_id = :a"),
                        {"a": network.advertiser["id"]})
    report = reconcile_balances.apply().get()

    with db() as session:
        account_id = session.execute(select(LedgerAccount.id).where(
            LedgerAccount.advertiser_id == network.advertiser["id"])).scalar_one()
    assert report["ok"] is False
    assert report["mismatches"] == [{"account_id": account_id, "kind": "advertiser_cash", "currency": "USD",
                                     "cached_minor": 2507, "entries_minor": 2500}]


def _finance_key(db) -> str:
    from leadmarket.identity import Role, create_api_key

    with db() as session, transaction(session):
        _, raw = create_api_key(session, role=Role.FINANCE, name="test finance")
    return raw
