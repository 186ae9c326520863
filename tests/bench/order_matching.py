"""Order matching benchmark: one lead against 10,000 active orders of its vertical.

    python tests/bench/order_matching.py [--orders 10000] [--leads 2000] [--seed 7]

Builds a throwaway PostgreSQL database (Alembic), one vertical, 800 advertisers and N active
orders with a realistic mix of filters: countries (mostly US), regions, postal prefixes, ranges
and choices over the vertical's fields, minimum temperature, maximum fraud score, schedules in
six time zones. Orders are checked by the same validator the API uses, inserted in bulk, and
the order book stamp is bumped once. Then, on one session:
  * cold: the first `matching.match` (reads the stamp, loads and compiles the book),
  * warm: `matching.match` for `--leads` varied leads — the call intake makes per lead, i.e. the
    stamp query (one indexed row) plus the bitset match on the cached book,
  * book only: the same leads against the cached book without the stamp query,
  * worst case: a lead every order takes (all orders compiled without filters but the vertical).
It prints median / p95 / p99 per phase and how many orders matched. The database is dropped at
the end. Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from leadmarket.clock import utcnow  # noqa: E402
from leadmarket.db import transaction  # noqa: E402
from leadmarket.errors import FieldError  # noqa: E402
from leadmarket.migrate import upgrade  # noqa: E402
from leadmarket.settings import Settings, configure  # noqa: E402
from marketplace import matching, orders  # noqa: E402
from marketplace.models import Advertiser, Lead, Vertical  # noqa: E402
from marketplace.order_models import Order  # noqa: E402
from marketplace.order_schemas import FieldRange, OrderCaps, OrderFilters, OrderSchedule  # noqa: E402

PG_SERVER = os.environ.get("LEADMARKET_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
FIELDS = [
    {"name": "vehicle_year", "type": "integer", "required": True, "min": 1980, "max": 2027},
    {"name": "coverage", "type": "choice", "required": True, "choices": ["liability", "full"]},
    {"name": "annual_mileage", "type": "integer", "min": 0, "max": 200000},
    {"name": "homeowner", "type": "boolean"},
    {"name": "current_insurer", "type": "string", "max": 60},
]
ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix",
         "Europe/London"]
REGIONS = ["CA", "NY", "TX", "FL", "WA", "IL", "PA", "OH", "GA", "NC", "MA", "CO"]
PLACES = [("CA", "94107"), ("NY", "10001"), ("TX", "78701"), ("IL", "60601"), ("MA", "02108"), ("WA", "98101"),
          ("GA", "30303"), ("CO", "80202")]


def random_order(rng: random.Random) -> dict[str, Any]:
    """The sections of an order as the API takes them, with a realistic spread of filters."""
    filters = OrderFilters(
        countries=rng.choice([["US"]] * 6 + [["US", "CA"], [], ["GB"], ["CA"]]),
        regions=rng.sample(REGIONS, rng.randint(1, 5)) if rng.random() < 0.5 else [],
        postal_prefixes=[f"{rng.randint(0, 99):02d}" for _ in range(rng.randint(1, 6))] if rng.random() < 0.2 else [],
        ranges={"vehicle_year": FieldRange(min=rng.randint(1995, 2020))} if rng.random() < 0.5 else {},
        choices={"coverage": rng.choice([["full"], ["liability"], ["full", "liability"]])} if rng.random() < 0.4
        else {},
        min_temperature=rng.choice([None, None, "warm", "hot"]),
        max_fraud_score=rng.choice([None, 30, 50, 70]))
    if rng.random() < 0.3:
        filters.ranges["annual_mileage"] = FieldRange(max=rng.choice([10000, 20000, 50000]))
    schedule = None
    if rng.random() < 0.6:
        start = rng.randint(0, 10)
        schedule = OrderSchedule(days=rng.sample(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], rng.randint(4, 7)),
                                 hours=list(range(start, rng.randint(start + 6, 24))))
    caps = OrderCaps(daily=rng.choice([None, 20, 100]), monthly_budget=rng.choice([None, "5000.00"]))
    return {"name": "bench order", "status": "active", "price": f"{rng.randint(5, 60)}.{rng.randint(0, 99):02d}",
            "exclusive": rng.random() < 0.2, "filters": filters, "caps": caps, "time_zone": rng.choice(ZONES),
            "schedule": schedule, "delivery": None}


def random_lead(rng: random.Random, vertical_id: int) -> Lead:
    region, postal = rng.choice(PLACES)
    return Lead(vertical_id=vertical_id, country=rng.choice(["US"] * 9 + ["CA"]), region=region, postal_code=postal,
                temperature=rng.choice(["cold", "warm", "warm", "hot"]), fraud_score=rng.choice([0, 0, 5, 15, 35]),
                attributes={"vehicle_year": rng.randint(2000, 2026), "coverage": rng.choice(["full", "liability"]),
                            "annual_mileage": rng.randint(2000, 40000)},
                created_at=utcnow())


def seed(session: Session, count: int, rng: random.Random) -> int:
    now = utcnow()
    with transaction(session):
        vertical = Vertical(slug="car-insurance", name="Car insurance", fields=FIELDS, dedupe_window_days=30,
                            max_shared_sales=3, base_price_minor=1800, currency="USD", created_at=now)
        session.add(vertical)
        session.flush()
        session.execute(insert(Advertiser), [
            {"name": f"Buyer {i}", "email": f"buyer{i}@bench.example", "billing_mode": "prepaid",
             "credit_limit_minor": 10**7, "currency": "USD", "status": "active", "created_at": now}
            for i in range(800)])
        advertiser_ids = list(session.execute(text("SELECT id FROM advertiser")).scalars())
        rows = []
        for _ in range(count):
            errors: list[FieldError] = []
            columns = orders._columns(vertical, random_order(rng), errors)  # the API's own checks
            assert not errors, errors
            rows.append({**columns, "advertiser_id": rng.choice(advertiser_ids), "vertical_id": vertical.id,
                         "currency": "USD", "created_at": now, "updated_at": now})
        session.execute(insert(Order), rows)
        orders.bump_order_book(session, vertical.id)
        return vertical.id


def timed(fn: Any, items: list[Any]) -> tuple[list[float], list[int]]:
    latencies, sizes = [], []
    for item in items:
        start = time.perf_counter()
        result = fn(item)
        latencies.append(time.perf_counter() - start)
        sizes.append(len(result))
    return latencies, sizes


def report(name: str, latencies: list[float], sizes: list[int]) -> None:
    ms = sorted(x * 1000 for x in latencies)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    print(f"{name:<34} n={len(ms):<5} median {statistics.median(ms):7.3f} ms   p95 {pick(0.95):7.3f} ms   "
          f"p99 {pick(0.99):7.3f} ms   matched orders: median {statistics.median(sizes):.0f}, max {max(sizes)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    name = f"leadmarket_bench_orders_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    engine = None
    try:
        configure(Settings(database_url=url, secret_key="bench"))
        upgrade(url)
        engine = create_engine(url)
        with Session(engine) as session:
            started = time.perf_counter()
            vertical_id = seed(session, args.orders, rng)
            session.execute(text("ANALYZE"))  # as autovacuum would have by then
            session.commit()
            print(f"seeded {args.orders} active orders in {time.perf_counter() - started:.1f} s "
                  f"(PostgreSQL {session.execute(text('SHOW server_version')).scalar_one()})")
        leads = [random_lead(rng, vertical_id) for _ in range(args.leads)]
        with Session(engine) as session:
            cold, cold_sizes = timed(lambda lead: matching.match(session, lead, now=lead.created_at), leads[:1])
            report("cold (load + compile the book)", cold, cold_sizes)
            report("warm: matching.match (stamp + book)",
                   *timed(lambda lead: matching.match(session, lead, now=lead.created_at), leads))
            book = matching.current_book(session, vertical_id)
            now = datetime.now(UTC)
            report("book only (no stamp query)", *timed(lambda lead: book.match(lead, now), leads))
            everything = SimpleNamespace(id=1, advertiser_id=1, price_minor=100, exclusive=False, time_zone="UTC",
                                         countries=[], regions=[], postal_prefixes=[], ranges={}, choices={},
                                         min_temperature=None, max_fraud_score=None, schedule_slots=None)
            open_book = matching.compile_book(vertical_id, None, [
                SimpleNamespace(**{**everything.__dict__, "id": i + 1}) for i in range(args.orders)])
            report("worst case: every order matches", *timed(lambda lead: open_book.match(lead, now), leads[:200]))
        print(f"\ncommand: python tests/bench/order_matching.py --orders {args.orders} --leads {args.leads} "
              f"--seed {args.seed}")
    finally:
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
