"""Concurrency, against real PostgreSQL: many intakes (and store-style purchases) at the same
instant, each on its own connection, never overrun a cap, a budget or a balance, never sell a
lead exclusively twice or to one advertiser twice, and never deadlock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text

from affiliates.models import Offer
from leadmarket.db import transaction
from marketplace import intake, sales
from marketplace.models import Lead
from tests.order_support import headers, new_advertiser, person_lead, place_order
from tests.support import principal_for, submission


def post_at_once(db, network, bodies: list[dict[str, Any]]) -> list[Any]:
    """Every body posted through intake at the same moment, one thread and connection each."""
    affiliate = principal_for(db, network.affiliate["api_key"])
    start = threading.Barrier(len(bodies))

    def post_one(body: dict[str, Any]) -> Any:
        lead = submission(body)
        with db() as session:
            start.wait()
            return intake.submit_lead(session, affiliate, lead)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post_one, bodies))


def sold_per_order(db) -> dict[int, tuple[int, int]]:
    with db() as session:
        return {row.order_id: (row.sales, row.spent) for row in session.execute(text(
            "SELECT order_id, count(*) AS sales, sum(price_minor) AS spent FROM sale GROUP BY order_id"))}


def assert_every_lead_sold_within_its_rules(db) -> None:
    with db() as session:
        per_lead = session.execute(text(
            "SELECT s.lead_id, count(*) AS sales, bool_or(s.exclusive) AS any_exclusive,"
            " bool_and(s.exclusive) AS all_exclusive, count(DISTINCT s.advertiser_id) AS advertisers,"
            " max(c.sales) AS counted, max(c.max_sales) AS most, bool_or(c.exclusive) AS counted_exclusive"
            " FROM sale s JOIN lead_sale_count c ON c.lead_id = s.lead_id GROUP BY s.lead_id")).all()
        statuses = dict(session.execute(text("SELECT id, status FROM lead")).all())
    for row in per_lead:
        assert row.advertisers == row.sales, f"lead {row.lead_id} sold twice to one advertiser"
        assert row.sales == row.counted and row.sales <= row.most <= 3
        if row.any_exclusive:
            assert row.sales == 1 and row.all_exclusive and row.counted_exclusive, f"lead {row.lead_id}"
        assert statuses[row.lead_id] == "sold"
    assert sum(status == "sold" for status in statuses.values()) == len(per_lead)


def test_caps_and_budgets_hold_exactly_under_concurrent_intake(client, network, db, redis_db):
    by_count, by_budget, by_both = (new_advertiser(client, network) for _ in range(3))
    count_order = place_order(client, by_count, price="20.00", caps={"daily": 5})
    budget_order = place_order(client, by_budget, price="25.00", caps={"daily_budget": "60.00"})
    both_order = place_order(client, by_both, price="15.00", caps={"hourly": 4, "monthly_budget": "45.00"},
                             time_zone="Asia/Kolkata")

    answers = post_at_once(db, network, [person_lead(network.cpl_offer["id"]) for _ in range(24)])

    assert sorted({a.status for a in answers}) == ["accepted", "sold"]
    assert sold_per_order(db) == {count_order["id"]: (5, 10000), budget_order["id"]: (2, 5000),
                                  both_order["id"]: (3, 4500)}
    with db() as session:
        usage = {(u.order_id, u.period): (u.used, u.spent_minor) for u in session.execute(
            text("SELECT order_id, period, used, spent_minor FROM order_usage"))}
    assert usage == {(count_order["id"], "day"): (5, 10000), (budget_order["id"], "day"): (2, 5000),
                     (both_order["id"], "hour"): (3, 4500), (both_order["id"], "month"): (3, 4500)}
    assert_every_lead_sold_within_its_rules(db)
    assert [client.get("/api/v1/balance", headers=headers(b)).json()["balance"]
            for b in (by_count, by_budget, by_both)] == ["-100.00", "-50.00", "-45.00"]


def test_exclusive_and_shared_orders_racing_sell_each_lead_by_the_rules(client, network, db, redis_db):
    exclusive_buyer = new_advertiser(client, network)
    shared_buyers = [new_advertiser(client, network) for _ in range(3)]
    exclusive = place_order(client, exclusive_buyer, price="70.00", exclusive=True, caps={"daily": 3})
    shared = [place_order(client, b, price="20.00", caps={"daily": 6}) for b in shared_buyers]

    answers = post_at_once(db, network, [person_lead(network.cpl_offer["id"]) for _ in range(20)])

    # 70 beats 3 x 20 while the exclusive order has room; then leads go to all three shared orders
    assert sold_per_order(db) == {exclusive["id"]: (3, 21000), **{o["id"]: (6, 12000) for o in shared}}
    assert sum(a.status == "sold" for a in answers) == 3 + 6
    assert_every_lead_sold_within_its_rules(db)


def test_a_prepaid_balance_never_goes_below_minus_the_credit_limit(client, network, db, redis_db):
    short = new_advertiser(client, network, credit_limit="100.00")
    backup = new_advertiser(client, network)
    place_order(client, short, price="30.00", exclusive=True)
    backup_order = place_order(client, backup, price="1.00", exclusive=True)

    answers = post_at_once(db, network, [person_lead(network.cpl_offer["id"]) for _ in range(12)])

    assert all(a.status == "sold" for a in answers)
    assert sold_per_order(db) == {1: (3, 9000), backup_order["id"]: (9, 900)}
    assert client.get("/api/v1/balance", headers=headers(short)).json()["balance"] == "-90.00"
    trial = client.get("/api/v1/finance/trial-balance", headers=network.admin_headers).json()
    assert trial["balanced"] is True


def test_buyers_racing_for_one_kept_lead_respect_exclusivity(client, network, db, redis_db):
    buyers = [new_advertiser(client, network) for _ in range(6)]
    leads = [client.post("/api/v1/leads", headers=network.affiliate_headers(),
                         json=person_lead(network.cpl_offer["id"])).json() for _ in range(4)]
    assert {lead["status"] for lead in leads} == {"accepted"}  # no orders: kept for the store

    outcomes: list[str] = []
    for lead in leads:
        start = threading.Barrier(len(buyers))

        def buy(args: tuple[int, dict[str, Any]]) -> str:
            i, buyer = args
            with db() as session:
                stored = session.get(Lead, lead["lead_id"])
                offer = session.execute(select(Offer).where(Offer.id == stored.offer_id)).scalar_one()
                start.wait()
                try:
                    with transaction(session):
                        sales.sell_lead(session, stored, offer, advertiser_id=buyer["id"], price_minor=1500,
                                        exclusive=i % 2 == 0)
                    return "exclusive" if i % 2 == 0 else "shared"
                except sales.LeadAlreadySold:
                    return "refused"

        with ThreadPoolExecutor(len(buyers)) as pool:
            got = list(pool.map(buy, enumerate(buyers)))
        # one exclusive buyer alone, or up to three shared buyers: never both kinds
        assert got.count("exclusive") == 1 and got.count("shared") == 0 or \
            got.count("exclusive") == 0 and 1 <= got.count("shared") <= 3, got
        outcomes.append("exclusive" if "exclusive" in got else "shared")

    with db() as session:
        sold = session.execute(text("SELECT lead_id, count(*), bool_or(exclusive) FROM sale GROUP BY lead_id")).all()
    assert len(sold) == 4
    for lead_id, count, any_exclusive in sold:
        assert (count == 1) if any_exclusive else (count <= 3)
    total = sum(Decimal(client.get("/api/v1/balance", headers=headers(b)).json()["balance"]) for b in buyers)
    with db() as session:
        assert total == -Decimal(session.execute(text("SELECT count(*) FROM sale")).scalar_one()) * 15


def test_leads_spread_over_overlapping_buyers_never_deadlock(client, network, db, redis_db):
    """Each region's leads go to another subset of six shared buyers (prices differ per region, so
    the plans overlap in every order); budgets run out mid-way and push leads to the next buyer."""
    buyers = [new_advertiser(client, network) for _ in range(6)]
    regions = {"CA": (0, 1, 2, 3), "NY": (3, 4, 5, 0), "TX": (5, 2, 4, 1)}
    for region, chosen in regions.items():
        for rank, index in enumerate(chosen):
            place_order(client, buyers[index], price=f"{30 - rank * 4}.00", filters={"regions": [region]},
                        caps={"daily_budget": "60.00"})
    bodies = [person_lead(network.cpl_offer["id"], contact={"region": region})
              for region in list(regions) * 10]

    answers = post_at_once(db, network, bodies)

    assert len(answers) == 30 and {a.status for a in answers} <= {"sold", "accepted"}
    assert_every_lead_sold_within_its_rules(db)
    with db() as session:
        overspent = session.execute(text(
            "SELECT o.id FROM advertiser_order o JOIN sale s ON s.order_id = o.id GROUP BY o.id"
            " HAVING sum(s.price_minor) > 6000")).all()
        sold = session.execute(text("SELECT count(*) FROM sale")).scalar_one()
    assert overspent == [] and sold > 0
