"""The ledger under concurrent postings on many connections: the credit limit holds exactly, one
key moves money once, and afterwards every cached balance equals the sum of its entries."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from billing import charging, ledger
from billing.errors import InsufficientFunds
from billing.ledger import Entry
from billing.models import MANUAL_ADJUSTMENTS, PLATFORM_REVENUE, LedgerTransaction
from leadmarket.db import transaction
from tests.billing_support import assert_ledger_consistent, balances_by_kind, cash_minor, fund, make_advertiser

THREADS = 16


def race(calls):
    """Run every call at once (a barrier releases them together); return their results."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_concurrent_charges_never_take_a_prepaid_advertiser_below_the_credit_limit(db, network):
    advertiser, affiliate = network.advertiser["id"], network.affiliate["id"]  # credit limit 500.00
    fund(db, advertiser, "100.00")                       # 600.00 to spend: 20 charges of 30.00

    def charge(n: int):
        def call() -> bool:
            with db() as session:
                try:
                    with transaction(session):
                        charging.charge_sale(session, reference=f"sale:{n}", advertiser_id=advertiser,
                                             affiliate_id=affiliate, price_minor=3000, payout_minor=1800,
                                             currency="USD")
                    return True
                except InsufficientFunds:
                    return False
        return call

    attempts = 0
    successes = 0
    while attempts < 32:  # two waves of 16 buyers clicking at once
        successes += sum(race([charge(attempts + i) for i in range(THREADS)]))
        attempts += THREADS

    assert successes == 20
    assert cash_minor(db, advertiser) == -50000
    balances = balances_by_kind(db)
    assert balances[("affiliate_payable", affiliate)] == 20 * 1800
    assert balances[(PLATFORM_REVENUE, None)] == 20 * 1200
    assert_ledger_consistent(db)


def test_the_same_key_posted_from_many_connections_at_once_moves_money_once(db, network):
    advertiser = network.advertiser["id"]
    fund(db, advertiser, "100.00")

    def charge() -> bool:
        with db() as session, transaction(session):
            return charging.charge_sale(session, reference="sale:77", advertiser_id=advertiser,
                                        affiliate_id=network.affiliate["id"], price_minor=2500, payout_minor=1000,
                                        currency="USD").replayed

    replayed = race([charge] * THREADS)

    assert sorted(replayed) == [False] + [True] * (THREADS - 1)
    assert cash_minor(db, advertiser) == 7500
    with db() as session:
        assert session.execute(select(func.count()).select_from(LedgerTransaction)
                               .where(LedgerTransaction.reference == "sale:77")).scalar_one() == 1
    assert_ledger_consistent(db)


def test_cached_balances_equal_their_entries_after_a_burst_of_mixed_postings(db, client, network):
    """Sales, returns, conversions, credits and platform transfers from many threads, across
    several advertisers and affiliates, some refused for lack of funds; then finance reconciles."""
    advertisers = [network.advertiser["id"]] + [
        make_advertiser(client, network.admin_headers, f"Buyer {n}", credit_limit="20.00")["id"] for n in range(3)]
    affiliates = [network.affiliate["id"], network.other_affiliate["id"]]
    for advertiser in advertisers:
        fund(db, advertiser, "40.00")
    with db() as session, transaction(session):
        adjustments = ledger.account(session, MANUAL_ADJUSTMENTS, "USD").id
        revenue = ledger.account(session, PLATFORM_REVENUE, "USD").id
    rng = random.Random(5)
    sold: list[str] = []

    def operation(n: int):
        kind = rng.choice(["sale", "sale", "sale", "conversion", "return", "credit", "transfer"])
        advertiser, affiliate = rng.choice(advertisers), rng.choice(affiliates)
        price = rng.randrange(100, 2500)
        payout = rng.randrange(0, price)
        returned = rng.choice(sold) if sold and kind == "return" else None
        if kind in ("sale", "conversion"):
            sold.append(f"{kind}:{n}")

        def call() -> str:
            with db() as session:
                try:
                    with transaction(session):
                        if kind == "sale":
                            charging.charge_sale(session, reference=f"sale:{n}", advertiser_id=advertiser,
                                                 affiliate_id=affiliate, price_minor=price, payout_minor=payout,
                                                 currency="USD")
                        elif kind == "conversion":
                            charging.charge_conversion(session, reference=f"conversion:{n}", advertiser_id=advertiser,
                                                       affiliate_id=affiliate, revenue_minor=price,
                                                       payout_minor=payout, currency="USD")
                        elif kind == "return" and returned is not None:
                            charging.reverse_sale(session, returned)
                        elif kind == "credit":
                            cash = ledger.account(session, "advertiser_cash", "USD", advertiser_id=advertiser)
                            ledger.post(session, f"credit:{n}", [Entry(adjustments, -price, "USD"),
                                                                 Entry(cash.id, price, "USD")], kind="manual_credit")
                        else:
                            ledger.post(session, f"transfer:{n}", [Entry(revenue, -price, "USD"),
                                                                   Entry(adjustments, price, "USD")], kind="test")
                    return "posted"
                except InsufficientFunds:
                    return "refused"
                except Exception as exc:  # a reversal of a sale that was itself refused
                    return type(exc).__name__
        return call

    outcomes: list[str] = []
    for wave in range(6):
        outcomes += race([operation(wave * THREADS + i) for i in range(THREADS)])

    assert outcomes.count("posted") > 40, outcomes
    assert set(outcomes) <= {"posted", "refused", "ChargeNotFound"}, outcomes
    for advertiser in advertisers:
        assert cash_minor(db, advertiser) >= -(50000 if advertiser == network.advertiser["id"] else 2000)
    assert_ledger_consistent(db)
