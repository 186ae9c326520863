"""Fuzzy dedupe at scale: intake's person lookup per lead with 10 thousand and with 1 million stored leads.

    python tests/bench/fuzzy_scale.py --small 10000 --large 1000000 --probes 400

On a throwaway PostgreSQL database migrated with Alembic (dropped at the end in all cases), it stores
`--small` generated people (tests/fuzzy_data.py: households, US name frequencies) as leads of one
vertical with their blocking keys, bulk-loaded with COPY, then times `fuzzy_dedupe.check_person` — the
whole intake step: advisory locks, the candidate query through the `person_key` primary key, reading and
judging the candidates, filing the new lead's keys — for `--probes` new leads, half of them typo'd
reposts of stored people and half new people, each in a transaction rolled back afterwards so the
store does not change. It then grows the store to `--large` leads and times the same probes again.
Flat means the two medians are close: the lookup reads the leads sharing a key, never the table.

For the big load the `person_key` indexes and foreign keys are dropped and rebuilt after COPY (the
foreign keys come back NOT VALID: checked for new rows, not re-read for the loaded ones); the schema
the probes meet is the migrated one. Not collected by pytest (the file name has no test_ prefix).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

PG_SERVER = os.environ.get("LEADMARKET_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
LEAD_COLUMNS = ("id", "offer_id", "affiliate_id", "vertical_id", "status", "first_name", "last_name", "email", "phone",
                "country", "region", "city", "postal_code", "address", "date_of_birth", "attributes", "meta",
                "payout_minor", "currency", "fraud_reasons", "created_at")
KEY_INDEXES_DOWN = ["ALTER TABLE person_key DROP CONSTRAINT pk_person_key",
                    "ALTER TABLE person_key DROP CONSTRAINT fk_person_key_lead_id_lead",
                    "ALTER TABLE person_key DROP CONSTRAINT fk_person_key_vertical_id_vertical",
                    "DROP INDEX ix_person_key_lead_id"]
KEY_INDEXES_UP = ["ALTER TABLE person_key ADD CONSTRAINT pk_person_key PRIMARY KEY (vertical_id, key_hash, lead_id)",
                  "CREATE INDEX ix_person_key_lead_id ON person_key (lead_id)",
                  "ALTER TABLE person_key ADD CONSTRAINT fk_person_key_lead_id_lead FOREIGN KEY (lead_id) "
                  "REFERENCES lead (id) NOT VALID",
                  "ALTER TABLE person_key ADD CONSTRAINT fk_person_key_vertical_id_vertical FOREIGN KEY (vertical_id) "
                  "REFERENCES vertical (id) NOT VALID"]


def seed_network(engine) -> dict[str, int]:
    """One vertical (30-day dedupe window), affiliate and offer, written with the columns of the
    foundation migration only, so the benchmark runs while other tables grow columns."""
    with engine.begin() as conn:
        vertical = conn.execute(text(
            "INSERT INTO vertical (slug, name, fields, dedupe_window_days, max_shared_sales, base_price_minor, "
            "currency, created_at) VALUES ('car-insurance', 'Car insurance', '[]', 30, 3, 1800, 'USD', now()) "
            "RETURNING id")).scalar_one()
        affiliate = conn.execute(text(
            "INSERT INTO affiliate (name, email, status, created_at) VALUES ('Bright Traffic', 'ops@bright.example', "
            "'active', now()) RETURNING id")).scalar_one()
        offer = conn.execute(text(
            "INSERT INTO offer (name, vertical_id, kind, payout_model, payout_minor, currency, landing_url, status, "
            "created_at) VALUES ('Car insurance quotes', :vertical, 'marketplace', 'cpl', 1250, 'USD', "
            "'https://quotes.example/?c={click_id}', 'active', now()) RETURNING id"),
            {"vertical": vertical}).scalar_one()
    return {"vertical": vertical, "affiliate": affiliate, "offer": offer}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def lead_fields(person: dict[str, str]) -> dict[str, object]:
    """A generated person as intake would store it: normalized phone, a real date or none."""
    from marketplace import normalize

    try:
        born = date.fromisoformat(person["date_of_birth"]) if person["date_of_birth"] else None
    except ValueError:
        born = None  # intake answers 422 to an impossible date; the lead would come without it
    try:
        phone = normalize.phone(person["phone"], "US") if person["phone"] else None
    except ValueError:
        phone = None
    email = person["email"] or None
    if phone is None and email is None:
        email = f"{secrets.token_hex(4)}@gmail.com"
    return {"first_name": person["first_name"] or "-", "last_name": person["last_name"] or "-", "email": email,
            "phone": phone, "country": "US", "region": person["region"] or None, "city": person["city"] or None,
            "postal_code": person["postal_code"] or None, "address": person["address"] or None,
            "date_of_birth": born}


def store(engine, ids: range, people: list[dict[str, str]], network: dict[str, int], *, rebuild: bool) -> int:
    """COPY leads `ids` (one per person) and their blocking keys; returns the number of keys."""
    from marketplace.fuzzy_dedupe import key_hash, person_of
    from marketplace.person_match import blocking_keys

    rng = random.Random(ids.start)
    now = time.time()
    raw = engine.raw_connection()
    keys = 0
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '512MB'")
            if rebuild:
                for statement in KEY_INDEXES_DOWN:
                    cur.execute(statement)
            for start in range(ids.start, ids.stop, 100_000):
                chunk = range(start, min(start + 100_000, ids.stop))
                rows = []
                for lead_id in chunk:
                    fields = lead_fields(people[lead_id - 1])
                    created = time.gmtime(now - rng.uniform(0, 20 * 86400))  # inside the 30-day window
                    rows.append((lead_id, fields, time.strftime("%Y-%m-%d %H:%M:%S+00", created)))
                with cur.copy(f"COPY lead ({', '.join(LEAD_COLUMNS)}) FROM STDIN") as copy:
                    for lead_id, fields, created_at in rows:
                        copy.write_row((lead_id, network["offer"], network["affiliate"], network["vertical"],
                                        "accepted", fields["first_name"], fields["last_name"], fields["email"],
                                        fields["phone"], "US", fields["region"], fields["city"],
                                        fields["postal_code"], fields["address"], fields["date_of_birth"], "{}", "{}",
                                        0, "USD", "[]", created_at))
                with cur.copy("COPY person_key (vertical_id, key_hash, lead_id) FROM STDIN") as copy:
                    for lead_id, fields, _ in rows:
                        person = person_of(_Row(fields))
                        for digest in sorted({key_hash(k) for k in blocking_keys(person)}):
                            copy.write_row((network["vertical"], digest, lead_id))
                            keys += 1
                log(f"  stored leads up to {chunk.stop - 1:,}")
            if rebuild:
                log("  rebuilding person_key indexes")
                for statement in KEY_INDEXES_UP:
                    cur.execute(statement)
            cur.execute(f"SELECT setval('lead_id_seq', {ids.stop})")
        conn.commit()
        with conn.cursor() as cur:
            conn.autocommit = True
            cur.execute("VACUUM ANALYZE lead")
            cur.execute("VACUUM ANALYZE person_key")
            conn.autocommit = False
    finally:
        raw.close()
    return keys


class _Row:
    def __init__(self, fields: dict[str, object]) -> None:
        self.__dict__.update(fields)


def measure(sessions, probes: list[dict[str, str]], network: dict[str, int]) -> dict[str, object]:
    """Time intake's fuzzy step for each probe lead; nothing is kept."""
    from leadmarket.clock import utcnow
    from marketplace.fuzzy_dedupe import _candidates, check_person, key_hash, person_of
    from marketplace.person_match import blocking_keys

    times, candidates, outcomes = [], [], Counter()
    now_at = utcnow()
    vertical = _Row({"id": network["vertical"], "dedupe_window_days": 30})
    insert = text(f"INSERT INTO lead ({', '.join(LEAD_COLUMNS[1:])}) VALUES "
                  f"({', '.join(':' + c for c in LEAD_COLUMNS[1:])}) RETURNING id")
    with sessions() as session:
        for person in probes:
            fields = lead_fields(person)
            lead_id = session.execute(insert, {
                **fields, "offer_id": network["offer"], "affiliate_id": network["affiliate"],
                "vertical_id": network["vertical"], "status": "accepted", "attributes": "{}", "meta": "{}",
                "payout_minor": 0, "currency": "USD", "fraud_reasons": "[]", "created_at": now_at}).scalar_one()
            lead = _Row({**fields, "id": lead_id})  # what intake's Lead carries, as far as this step reads
            started = time.perf_counter()
            outcome = check_person(session, lead, vertical, now_at)
            times.append((time.perf_counter() - started) * 1000)
            outcomes[outcome.reason if outcome else "new person"] += 1
            hashes = sorted({key_hash(k) for k in blocking_keys(person_of(lead))})
            window = now_at - timedelta(days=30)
            candidates.append(len(list(_candidates(session, vertical.id, hashes, window, lead_id))))
            session.rollback()
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(len(times) * 0.9)],
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
            "mean_candidates": statistics.mean(candidates),
            "max_candidates": max(candidates), "outcomes": dict(outcomes)}


def explain(sessions, vertical_id: int, probe: dict[str, str]) -> str:
    from sqlalchemy.dialects import postgresql

    from marketplace.fuzzy_dedupe import key_hash, person_of
    from marketplace.models import PersonKey
    from marketplace.person_match import blocking_keys
    from sqlalchemy import select

    digest = sorted({key_hash(k) for k in blocking_keys(person_of(_Row(lead_fields(probe))))})[0]
    query = (select(PersonKey.lead_id).where(PersonKey.vertical_id == vertical_id, PersonKey.key_hash == digest)
             .order_by(PersonKey.lead_id.desc()).limit(50))
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with sessions() as session:
        plan = session.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}")).scalars()
        return "\n".join(f"    {line}" for line in plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=400)
    args = parser.parse_args()

    from leadmarket.db import make_engine, make_sessionmaker
    from leadmarket.migrate import upgrade
    from leadmarket.settings import Settings, configure
    from tests.fuzzy_data import damage, make_people

    name = f"leadmarket_bench_fuzzy_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    began = time.time()
    try:
        upgrade(url, "0003")  # the foundation and the person keys: all this step reads and writes
        configure(Settings(database_url=url, currency="USD", secret_key=secrets.token_hex(32)))
        engine = make_engine(url, pool_size=2)
        sessions = make_sessionmaker(engine)
        network = seed_network(engine)
        log(f"generating {args.large:,} people")
        people = make_people(args.large, seed=2026)
        rng = random.Random(5)
        reposts = [damage(rng, rng.choice(people[:args.small]), rng.choice((1, 2, 3))) for _ in range(args.probes // 2)]
        newcomers = make_people(args.probes - len(reposts), seed=99)
        probes = reposts + newcomers
        rng.shuffle(probes)

        results = []
        log(f"storing {args.small:,} leads")
        keys = store(engine, range(1, args.small + 1), people, network, rebuild=False)
        measure(sessions, probes[:50], network)  # warm caches and the matcher's memo tables
        results.append((args.small, keys, measure(sessions, probes, network)))
        log(f"storing {args.large - args.small:,} more leads")
        keys += store(engine, range(args.small + 1, args.large + 1), people, network, rebuild=True)
        measure(sessions, probes[:50], network)
        results.append((args.large, keys, measure(sessions, probes, network)))
        plan = explain(sessions, network["vertical"], probes[0])
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    print(f"fuzzy dedupe lookup per lead ({args.probes} probe leads: half typo'd reposts, half new people)")
    print(f"{'stored leads':>14} {'person keys':>12} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8} "
          f"{'candidates':>11}  outcomes")
    for stored, key_count, r in results:
        print(f"{stored:>14,} {key_count:>12,} {r['median_ms']:>10.2f} {r['p90_ms']:>8.2f} {r['p99_ms']:>8.2f} "
              f"{r['mean_candidates']:>6.1f} /{r['max_candidates']:>3}  {r['outcomes']}")
    ratio = results[1][2]["median_ms"] / results[0][2]["median_ms"]
    print(f"median at {args.large:,} / median at {args.small:,}: {ratio:.2f}x "
          f"(candidates: mean / max per probe lead; run took {time.time() - began:.0f} s)")
    print("one key's candidate lookup at the large size:")
    print(plan)


if __name__ == "__main__":
    main()
