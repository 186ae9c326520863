"""Intake's deciding step alone: `intake.submit_leads` on batches of N posts, in this process.

    python tests/bench/intake_batch_cpu.py --batch 16 --rounds 120

No HTTP and no other thread: the CPU one batch costs the decider (thread CPU time, per lead) and
the wall time of each statement it sends, on a throwaway PostgreSQL database seeded as
`intake_load.py` seeds it, with the same generated leads (unique, valid, each with an
Idempotency-Key). The first third of the rounds warm up and are not counted. The database and
this run's Redis keys are removed in all cases. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import collections
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
PREFIX = f"lmbench:{secrets.token_hex(4)}:"
os.environ["LEADMARKET_REDIS_PREFIX"] = PREFIX

import msgspec  # noqa: E402
from sqlalchemy import event, select  # noqa: E402

import intake_load  # noqa: E402
from harness import REDIS_URL, delete_redis_keys, drop_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16, help="posts per batch")
    parser.add_argument("--rounds", type=int, default=120, help="batches (the first third warm up)")
    args = parser.parse_args()
    bench = intake_load.create_database()
    engine = None
    try:
        from affiliates.models import Affiliate
        from leadmarket.db import make_engine, make_sessionmaker
        from leadmarket.identity import Principal, Role
        from leadmarket.settings import Settings, configure
        from marketplace.intake import LeadPost, submit_leads
        from marketplace.schemas import LeadSubmission

        configure(Settings(database_url=bench.url, redis_url=REDIS_URL, redis_prefix=PREFIX, currency="USD"))
        engine = make_engine(bench.url)
        sessions = make_sessionmaker(engine)
        with sessions() as session:
            principal = Principal(role=Role.AFFILIATE, affiliate_id=session.execute(select(Affiliate.id)).scalar_one())
        leads = intake_load.LeadFactory(bench.offer_id, secrets.token_hex(3))
        counted, wall = collections.Counter(), collections.Counter()

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
            conn.info["statement"] = (statement.strip().split("\n")[0][:90], time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, *_args):  # type: ignore[no-untyped-def]
            name, began = conn.info.pop("statement")
            counted[name] += 1
            wall[name] += time.perf_counter() - began

        warmup = args.rounds // 3
        cpu = batch_wall = 0.0
        not_accepted = 0
        for n in range(args.rounds):
            if n == warmup:
                counted.clear()
                wall.clear()
            posts = [LeadPost(principal, msgspec.json.decode(leads(), type=LeadSubmission), secrets.token_hex(8))
                     for _ in range(args.batch)]
            began, began_cpu = time.perf_counter(), time.thread_time()
            with sessions() as session:
                answers = submit_leads(session, posts)
            if n >= warmup:
                cpu += time.thread_time() - began_cpu
                batch_wall += time.perf_counter() - began
                not_accepted += sum(isinstance(a, Exception) or a.status != "accepted" for a in answers)
        measured = args.rounds - warmup
        print(f"batch of {args.batch}, {measured} batches measured: decider CPU "
              f"{cpu / measured / args.batch * 1000:.3f} ms/lead, wall {batch_wall / measured * 1000:.1f} ms/batch, "
              f"{not_accepted} not accepted")
        print("statements per batch (count, wall ms per batch):")
        for name, count in counted.most_common():
            print(f"  {count / measured:4.1f}  {wall[name] / measured * 1000:6.2f}  {name}")
    finally:
        if engine is not None:
            engine.dispose()
        drop_database(bench.database)
        delete_redis_keys(PREFIX)
    return 0


if __name__ == "__main__":
    sys.exit(main())
