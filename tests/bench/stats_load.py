"""Stats benchmark: GET /api/v1/stats's service over rollups that stand for 10 million clicks.

    python tests/bench/stats_load.py --clicks 10000000 --real-clicks 20000

Generating and flushing 10 million real clicks takes hours on a small machine, so the run has
two parts, on a throwaway PostgreSQL database migrated with Alembic:
  1. real clicks: `--real-clicks` clicks appended to the Redis stream as the redirect writes
     them (sub-ids, costs, countries, browsers varied), flushed by `clicks.flush_stream` (the
     worker's code) — it checks the click rollup equals the click table and reports the rate;
  2. volume: rollup rows generated in SQL for `--clicks` clicks over 30 days, 10 affiliates,
     10 offers, 30 sub1 values and 3 countries (270,000 click rows plus activity and rejection
     rows, and their sub-id-free twins), the shape the flush and the rollup task leave behind,
     then the stats queries an
     affiliate and an admin make, each timed several times (median and max).
The database is dropped and this run's Redis keys deleted in all cases.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text

PG_SERVER = os.environ.get("LEADMARKET_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("LEADMARKET_BENCH_REDIS", "redis://127.0.0.1:6379/11")
DAYS, AFFILIATES, OFFERS, SUBS, COUNTRIES = 30, 10, 10, 30, ("US", "DE", "GB")


def generate_rollups(engine, total_clicks: int, end: date) -> int:
    """Rollup rows for `total_clicks` clicks (and leads, conversions, costs, rejections)."""
    groups = DAYS * AFFILIATES * OFFERS * SUBS * len(COUNTRIES)
    per_group = max(1, total_clicks // groups)
    dims = f"""
        SELECT (CAST(:end AS date) - d) AS day, a AS affiliate_id, o AS offer_id, 'campaign-' || s AS sub1,
               '' AS sub2, '' AS sub3, '' AS sub4, '' AS sub5, c AS country
        FROM generate_series(0, {DAYS - 1}) d, generate_series(1, {AFFILIATES}) a, generate_series(1, {OFFERS}) o,
             generate_series(1, {SUBS}) s, unnest(ARRAY{list(COUNTRIES)}) c"""
    with engine.begin() as conn:
        conn.execute(text(f"""
            INSERT INTO stats_click_daily (day, affiliate_id, offer_id, sub1, sub2, sub3, sub4, sub5, country,
                                           currency, clicks, unique_clicks, cost_minor)
            SELECT g.*, 'USD', {per_group}, {per_group * 7 // 10}, {per_group} * 5 FROM ({dims}) g"""),
                     {"end": end})
        conn.execute(text(f"""
            INSERT INTO stats_activity_daily (day, affiliate_id, offer_id, sub1, sub2, sub3, sub4, sub5, country,
                currency, leads, accepted, sold, review, rejected, conversions, approved_conversions,
                commission_minor, revenue_minor, cost_minor)
            SELECT g.*, 'USD', {per_group // 20 + 1}, {per_group // 40}, {per_group // 50}, 0, {per_group // 100},
                   {per_group // 200}, {per_group // 250}, {per_group} * 60, {per_group} * 95, 1000
            FROM ({dims}) g"""), {"end": end})
        conn.execute(text(f"""
            INSERT INTO stats_rejection_daily (day, affiliate_id, offer_id, sub1, sub2, sub3, sub4, sub5, country,
                                               reason, rejected)
            SELECT g.*, r, 1 FROM ({dims}) g, unnest(ARRAY['duplicate', 'phone_fake']) r"""), {"end": end})
        # The sub-id-free twins, as the flush and the rollup task keep them.
        conn.execute(text("""
            INSERT INTO stats_click_offer_daily (day, affiliate_id, offer_id, country, currency, clicks,
                                                 unique_clicks, cost_minor)
            SELECT day, affiliate_id, offer_id, country, max(currency), sum(clicks), sum(unique_clicks),
                   sum(cost_minor) FROM stats_click_daily GROUP BY 1, 2, 3, 4"""))
        sums = ("leads, accepted, sold, review, rejected, conversions, approved_conversions, commission_minor, "
                "revenue_minor, cost_minor")
        conn.execute(text(f"""
            INSERT INTO stats_activity_offer_daily (day, affiliate_id, offer_id, country, currency, {sums})
            SELECT day, affiliate_id, offer_id, country, max(currency),
                   {", ".join(f"sum({c})" for c in sums.split(", "))}
            FROM stats_activity_daily GROUP BY 1, 2, 3, 4"""))
        conn.execute(text("""
            INSERT INTO stats_rejection_offer_daily (day, affiliate_id, offer_id, country, reason, rejected)
            SELECT day, affiliate_id, offer_id, country, reason, sum(rejected) FROM stats_rejection_daily
            GROUP BY 1, 2, 3, 4, 5"""))
        for table in ("stats_click_daily", "stats_activity_daily", "stats_rejection_daily", "stats_click_offer_daily",
                      "stats_activity_offer_daily", "stats_rejection_offer_daily"):
            conn.execute(text(f"ANALYZE {table}"))
        return int(conn.execute(text("SELECT sum(clicks) FROM stats_click_daily")).scalar_one())


def real_clicks(url: str, prefix: str, n: int) -> tuple[int, int, float]:
    """Append `n` clicks to the stream and flush them; (stored, in rollup, clicks/s of the flush)."""
    import redis

    from affiliates import clicks
    from leadmarket.db import make_engine, make_sessionmaker
    from leadmarket.settings import Settings, configure

    settings = configure(Settings(database_url=url, redis_url=REDIS_URL, redis_prefix=prefix))
    client = redis.Redis.from_url(REDIS_URL)
    key = clicks.stream_key(settings)
    for start in range(0, n, 1000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(n, start + 1000)):
            pipe.xadd(key, clicks.entry_fields(
                nonce=secrets.token_hex(6), link_id=1 + i % 50, affiliate_id=101 + i % 5, offer_id=201 + i % 7,
                currency="USD", sub_ids=(f"campaign-{i % 13}", f"ad-{i % 101}", None, None, None),
                ip=f"198.51.{(i >> 8) % 256}.{i % 256}", user_agent="Mozilla/5.0 (bench)",
                referrer="https://news.example/", country=COUNTRIES[i % 3], cost_minor=10 + i % 40))
        pipe.execute()
    engine = make_engine(url, pool_size=2)
    began = time.perf_counter()
    with make_sessionmaker(engine)() as session:
        while clicks.flush_stream(session, client, settings, consumer="bench", batch=5000).read:
            pass
    seconds = time.perf_counter() - began
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM click")).scalar_one()
        rolled = conn.execute(text("SELECT sum(clicks) FROM stats_click_daily")).scalar_one()
        conn.execute(text("DELETE FROM stats_click_daily"))   # part 2 generates its own
        conn.execute(text("DELETE FROM stats_click_offer_daily"))
        conn.commit()
    engine.dispose()
    for k in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(k)
    client.close()
    return int(stored), int(rolled), n / seconds


def time_queries(url: str, end: date, repeat: int) -> list[tuple[str, int, list[float]]]:
    from affiliates.stats import affiliate_stats
    from leadmarket.db import make_engine, make_sessionmaker
    from leadmarket.identity import Principal, Role

    engine = make_engine(url, pool_size=2)
    sessions = make_sessionmaker(engine)
    affiliate = Principal(role=Role.AFFILIATE, affiliate_id=3)
    admin = Principal(role=Role.ADMIN, api_key_id=1)
    start = end - timedelta(days=DAYS - 1)
    cases = [
        ("affiliate, 30 days, by day+offer", affiliate, {"group_by": "day,offer"}),
        ("affiliate, 30 days, by sub1", affiliate, {"group_by": "sub1"}),
        ("affiliate, 7 days, by day+offer+sub1+country", affiliate,
         {"group_by": "day,offer,sub1,country", "start": end - timedelta(days=6)}),
        ("admin, 30 days, by offer (all affiliates)", admin, {"group_by": "offer"}),
        ("admin, 30 days, by day+affiliate", admin, {"group_by": "day,affiliate"}),
    ]
    results = []
    for name, who, params in cases:
        times, rows = [], 0
        for _ in range(repeat):
            with sessions() as session:
                began = time.perf_counter()
                report = affiliate_stats(session, who, start=params.get("start", start), end=end,
                                         group_by=params["group_by"])
                times.append(time.perf_counter() - began)
                rows = len(report.rows)
        results.append((name, rows, times))
        print(f"  {name:<48} {rows:>6} rows  median {statistics.median(times) * 1000:7.1f} ms  "
              f"max {max(times) * 1000:7.1f} ms", flush=True)
    engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=10_000_000, help="clicks the generated rollups stand for")
    parser.add_argument("--real-clicks", type=int, default=20_000, help="clicks sent through stream and flush")
    parser.add_argument("--repeat", type=int, default=5, help="runs per query")
    args = parser.parse_args(argv)
    command = "python tests/bench/stats_load.py " + " ".join(sys.argv[1:] if argv is None else argv)

    from leadmarket.migrate import upgrade

    name = f"leadmarket_bench_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    prefix = f"lmbench:{secrets.token_hex(4)}:"
    try:
        upgrade(url)
        print(f"part 1: {args.real_clicks} clicks through the stream and the flush ...", flush=True)
        stored, rolled, rate = real_clicks(url, prefix, args.real_clicks)
        print(f"  stored {stored}, rollup counts {rolled}; flushed at {rate:.0f} clicks/s", flush=True)
        end = date.today()
        engine = create_engine(url)
        began = time.perf_counter()
        print(f"part 2: generating rollups for {args.clicks:,} clicks ...", flush=True)
        total = generate_rollups(engine, args.clicks, end)
        with engine.connect() as conn:
            row_count = conn.execute(text("SELECT count(*) FROM stats_click_daily")).scalar_one()
        engine.dispose()
        print(f"  {row_count:,} click rollup rows for {total:,} clicks in {time.perf_counter() - began:.0f}s",
              flush=True)
        results = time_queries(url, end, args.repeat)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    worst = max(max(t) for _, _, t in results)
    print()
    print("```")
    print(f"$ {command}")
    print(f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}; shared machine")
    print(f"flush: {args.real_clicks} stream clicks -> {stored} rows, rollup {rolled} "
          f"({'exact' if stored == rolled == args.real_clicks else 'MISMATCH'}), {rate:.0f} clicks/s")
    print(f"rollups: {row_count:,} click rows standing for {total:,} clicks (+ activity and rejection rows)")
    for name_, rows, times in results:
        print(f"{name_:<48} {rows:>6} rows  median {statistics.median(times) * 1000:7.1f} ms  "
              f"max {max(times) * 1000:7.1f} ms")
    print(f"slowest answer {worst * 1000:.0f} ms (target < 1000 ms: {'met' if worst < 1 else 'NOT met'})")
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
