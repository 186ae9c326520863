"""Intake benchmark: POST /api/v1/leads against a bare one-INSERT ceiling on the same server.

    python tests/bench/intake_load.py --workers 1,2 --repeat 3

For each worker count it starts `leadmarket serve` as a real subprocess on a throwaway
PostgreSQL database (migrated with Alembic, seeded through the services), then per round:
  1. ceiling: closed-loop load on POST /bench/ceiling (mounted by LEADMARKET_BENCH_CEILING=1;
     it stores the posted JSON in one INSERT, nothing else),
  2. intake: closed-loop load on POST /api/v1/leads with unique, valid, realistic leads,
     — these two alternate in slices of --slice seconds (each slice after a short warm-up), so
     both see the machine as it is at the same moments: on a shared VM the CPU's speed drifts
     over tens of seconds, and a ceiling measured in one stretch and intake in the next made the
     ratio swing by ±10 points,
  3. intake at half the measured intake throughput, open loop (requests start on a fixed
     schedule; latency counts from the scheduled start, so queueing is not hidden).
It prints requests/s, p50, p99 and errors for each, the intake/ceiling ratio, and a summary
block for README. The server is stopped, the database dropped and this run's Redis keys
deleted in all cases. Not collected by pytest (the file name has no test_ prefix).

The load generator is one process, asyncio + aiohttp with keep-alive, and runs on the same
cores as the server and PostgreSQL: it takes a share of the CPU from both endpoints alike.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PG_SERVER, Server, delete_redis_keys, drop_database  # noqa: E402
import aiohttp  # noqa: E402
import msgspec  # noqa: E402
import phonenumbers  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402


FIELDS = [
    {"name": "vehicle_year", "type": "integer", "required": True, "min": 1980, "max": 2027},
    {"name": "coverage", "type": "choice", "required": True, "choices": ["liability", "full"]},
    {"name": "annual_mileage", "type": "integer", "min": 0, "max": 200000},
    {"name": "homeowner", "type": "boolean"},
    {"name": "current_insurer", "type": "string", "max": 60},
]
try:  # Faker's name lists give 690,000 distinct people, as varied as real traffic
    from faker.providers.person.en_US import Provider as _Names

    FIRST, LAST = list(_Names.first_names), list(_Names.last_names)
except ImportError:
    FIRST = ["Maria", "James", "Aisha", "Chen", "Olivia", "Mateo", "Priya", "Noah", "Fatima", "Liam", "Sofia"]
    LAST = ["Lopez", "Smith", "Okafor", "Wang", "Johnson", "García", "Patel", "Brown", "Kowalski", "Nguyen"]
# state, city, ZIP prefix (three digits), area code
PLACES = [("CA", "San Francisco", "941", "415"), ("NY", "New York", "100", "212"), ("TX", "Austin", "787", "512"),
          ("IL", "Chicago", "606", "312"), ("MA", "Boston", "021", "617"), ("WA", "Seattle", "981", "206"),
          ("GA", "Atlanta", "303", "404"), ("CO", "Denver", "802", "303"), ("AZ", "Phoenix", "850", "602"),
          ("FL", "Miami", "331", "305"), ("OR", "Portland", "972", "503"), ("MN", "Minneapolis", "554", "612")]
INSURERS = ["Acme Mutual", "Northwind", "Contoso Auto", None]
MAILBOXES = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "aol.com", "hotmail.com", "proton.me"]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
          "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"]


# ---------------------------------------------------------------- leads


def _valid_exchanges(area: str) -> list[str]:
    """Exchanges phonenumbers accepts in an area code, so every generated number is valid."""
    return [f"{x:03d}" for x in range(200, 1000)
            if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{area}{x:03d}4567"))]


class LeadFactory:
    """Unique, valid, varied car-insurance leads as ready-to-send JSON bytes (a few µs each).

    They are meant to pass the fraud screen clean, as most real traffic does: real mailbox
    domains, a public IP per lead, a recent consent, a browser user agent, a human form time,
    and sub1 spread wide enough to stay under the per-affiliate velocity limits.
    """

    def __init__(self, offer_id: int, run: str) -> None:
        self.offer_id, self.run = offer_id, run
        self.consent_at = ""
        self.exchanges = {area: _valid_exchanges(area) for *_, area in PLACES}
        self.serial = itertools.count()

    def __call__(self) -> bytes:
        n = next(self.serial)
        region, city, zip_prefix, area = PLACES[n % len(PLACES)]
        exchanges = self.exchanges[area]
        line = n // len(PLACES)
        exchange = exchanges[(line // 10000) % len(exchanges)]
        # A multiplicative hash spreads consecutive leads over all name pairs without repeating one
        # (the multiplier is prime to the number of pairs), so the fuzzy dedupe sees strangers.
        person = n * 2654435761 % (len(FIRST) * len(LAST))
        first, last = FIRST[person % len(FIRST)], LAST[person // len(FIRST)]
        postal = f"{zip_prefix}{person // 7 % 100:02d}"
        insurer = INSURERS[n % len(INSURERS)]
        if n % 1000 == 0:  # consent given a minute before the post, as a landing page would
            self.consent_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        body = {
            "offer_id": self.offer_id,
            "sub_ids": {"sub1": f"campaign-{n % 997}", "sub2": "search"},
            "contact": {"first_name": first, "last_name": last,
                        "email": f"{first.lower()}.{last.lower()}.{self.run}{n}@{MAILBOXES[n % len(MAILBOXES)]}",
                        "phone": f"({area}) {exchange}-{line % 10000:04d}",
                        "country": "US", "region": region, "city": city, "postal_code": postal},
            "attributes": {"vehicle_year": 2005 + n % 21, "coverage": ("full", "liability")[n % 2],
                           "annual_mileage": 4000 + (n * 37) % 30000, "homeowner": n % 3 == 0,
                           **({"current_insurer": insurer} if insurer else {})},
            "consent": {"text": "I agree to be contacted by phone and e-mail about car insurance quotes.",
                        "given_at": self.consent_at, "page_url": "https://quotes.example/car"},
            "meta": {"ip": f"{24 + (n >> 16) % 40}.{(n >> 8) % 256}.{n % 256}.{1 + n % 250}",
                     "user_agent": AGENTS[n % len(AGENTS)],
                     "form_seconds": 20 + n % 200},
        }
        return msgspec.json.encode(body)


# ---------------------------------------------------------------- load

SLICE_WARMUP = 0.5  # unmeasured seconds at the start of each slice after the first


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, requests inside the window
    errors: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # lead status -> count, when not "accepted"
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    offered_rate: float | None = None
    server_cpu: float = 0.0  # CPU seconds the server processes used in the window
    database_cpu: float = 0.0  # CPU seconds of the PostgreSQL backends serving the bench database
    client_cpu: float = 0.0  # CPU seconds this load generator used in the window

    @property
    def cpu_per_request(self) -> float:
        """Server CPU ms per answered request: steadier than req/s when other work shares the cores."""
        return self.server_cpu / len(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def database_cpu_per_request(self) -> float:
        return self.database_cpu / len(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def not_accepted(self) -> int:
        return sum(self.outcomes.values())

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        rate = f" (offered {self.offered_rate:.0f}/s, open loop)" if self.offered_rate else ""
        extra = "".join(f", {n} {status}" for status, n in sorted(self.outcomes.items()))
        return (f"{self.name:<18} {self.rps:6.0f} req/s  p50 {self.pct(0.50):6.1f} ms  p99 {self.pct(0.99):6.1f} ms  "
                f"errors {self.errors}{extra}  CPU ms/req: server {self.cpu_per_request:.2f}, "
                f"PostgreSQL {self.database_cpu_per_request:.2f}; "
                f"load generator {self.client_cpu / self.seconds:.0%} of a core{rate}")


def _process_ticks(pgid: int, database: str) -> tuple[int, dict[int, int]]:
    """CPU ticks of the server's process group (summed) and of each PostgreSQL backend connected
    to `database` (their titles name it), from Linux /proc."""
    server, backends = 0, {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])  # after "(comm)": state, ppid, pgrp, ..., utime, stime
            if int(fields[2]) == pgid:
                server += ticks
            elif database in (proc / "cmdline").read_bytes().decode(errors="replace"):
                backends[int(proc.name)] = ticks
        except (OSError, IndexError, ValueError):
            continue
    return server, backends


async def measure_window(phase: Phase, pgid: int, database: str, start: float, end: float) -> None:
    """Server, PostgreSQL and load-generator CPU over the window. Backends are sampled every
    0.2 s, since a pool may open and close connections inside the window; a backend's last
    0.2 s before it exits is missed."""
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    client = time.process_time()
    server, seen = _process_ticks(pgid, database)
    first = dict(seen)  # backends born later started at zero
    last, server_now = dict(seen), server
    while time.perf_counter() < end:
        await asyncio.sleep(min(0.2, max(0.0, end - time.perf_counter())))
        server_now, seen = _process_ticks(pgid, database)
        last.update(seen)
    tick = os.sysconf("SC_CLK_TCK")  # a phase measured in slices adds them up
    phase.server_cpu += (server_now - server) / tick
    phase.database_cpu += sum(ticks - first.get(pid, 0) for pid, ticks in last.items()) / tick
    phase.client_cpu += time.process_time() - client


async def _send(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
                phase: Phase, check_accepted: bool) -> bool:
    try:
        async with session.post(url, data=body, headers=headers) as response:
            payload = await response.read()
            if response.status != 201:
                phase.errors += 1
                if len(phase.error_samples) < 3:
                    phase.error_samples.append(f"{response.status} {payload[:300]!r}")
                return False
            if check_accepted and b'"status":"accepted"' not in payload:
                status = msgspec.json.decode(payload).get("status", "?")
                phase.outcomes[status] = phase.outcomes.get(status, 0) + 1
                if len(phase.error_samples) < 3:
                    phase.error_samples.append(f"201 {payload[:300]!r}")
            return True
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        phase.errors += 1
        if len(phase.error_samples) < 3:
            phase.error_samples.append(repr(exc))
        return False


def _headers(api_key: str | None, idempotency: bool) -> Callable[[], dict[str, str]]:
    base = {"Content-Type": "application/json"}
    if api_key:
        base["X-API-Key"] = api_key
    if not idempotency:
        return lambda: base
    serial = itertools.count()
    token = secrets.token_hex(4)
    return lambda: {**base, "Idempotency-Key": f"bench-{token}-{next(serial)}"}


async def closed_loop(url: str, phase: Phase, bodies: Callable[[], bytes], headers: Callable[[], dict[str, str]],
                      *, pgid: int, database: str, connections: int, warmup: float, duration: float,
                      max_requests: int,
                      check_accepted: bool) -> Phase:
    """`connections` clients each send their next request as soon as the last answer arrives."""
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=120)
    timeout = aiohttp.ClientTimeout(total=30)
    sent = itertools.count()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        start = time.perf_counter()
        window_start, window_end = start + warmup, start + warmup + duration

        async def client() -> None:
            while next(sent) < max_requests:
                began = time.perf_counter()
                if began >= window_end:
                    return
                ok = await _send(session, url, bodies(), headers(), phase, check_accepted)
                done = time.perf_counter()
                if ok and window_start <= began and done <= window_end:
                    phase.latencies.append(done - began)

        await asyncio.gather(measure_window(phase, pgid, database, window_start, window_end),
                             *(client() for _ in range(connections)))
        phase.seconds += min(time.perf_counter(), window_end) - window_start
    return phase


async def open_loop(url: str, phase: Phase, bodies: Callable[[], bytes], headers: Callable[[], dict[str, str]],
                    *, pgid: int, database: str, rate: float, warmup: float, duration: float,
                    connections: int) -> Phase:
    """Requests start on a fixed schedule whatever the answers do; latency counts from the schedule."""
    phase.offered_rate = rate
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=120)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        start = time.perf_counter()
        window_start = start + warmup
        total = int(rate * (warmup + duration))
        tasks = {asyncio.create_task(measure_window(phase, pgid, database, window_start, window_start + duration))}

        async def one(scheduled: float) -> None:
            ok = await _send(session, url, bodies(), headers(), phase, True)
            if ok and scheduled >= window_start:
                phase.latencies.append(time.perf_counter() - scheduled)

        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        await asyncio.sleep(max(0.0, window_start + duration - time.perf_counter()))
        phase.seconds += duration
    # Open loop: throughput is what was offered and answered in the window, not a maximum.
    return phase


# ---------------------------------------------------------------- server and database


@dataclass
class Bench:
    database: str
    url: str
    api_key: str
    offer_id: int


def create_database() -> Bench:
    from affiliates.accounts import create_affiliate
    from affiliates.offers import create_offer
    from affiliates.schemas import AffiliateCreate, OfferCreate
    from leadmarket.db import make_engine, make_sessionmaker
    from leadmarket.migrate import upgrade
    from leadmarket.settings import Settings, configure
    from marketplace.schemas import FieldSpec, VerticalCreate
    from marketplace.verticals import create_vertical

    name = f"leadmarket_bench_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = f"{PG_SERVER}/{name}"
    bench = Bench(database=name, url=url, api_key="", offer_id=0)
    try:
        upgrade(url)
        configure(Settings(database_url=url, currency="USD"))
        engine = make_engine(url, pool_size=2)
        with engine.begin() as conn:  # the ceiling's table: the benchmark's, not the product's
            conn.execute(text("CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, body jsonb NOT NULL)"))
        sessions = make_sessionmaker(engine)
        with sessions() as session:
            vertical = create_vertical(session, VerticalCreate(
                slug="car-insurance", name="Car insurance", fields=[FieldSpec(**f) for f in FIELDS],
                base_price=Decimal("18.00"), dedupe_window_days=30, max_shared_sales=3))
            affiliate = create_affiliate(session, AffiliateCreate(name="Bright Traffic",
                                                                  email="ops@brighttraffic.example"))
            offer = create_offer(session, OfferCreate(
                name="Car insurance quotes", vertical=vertical.slug, kind="marketplace", payout_model="cpl",
                payout=Decimal("12.50"), revenue=Decimal("20.00"),
                landing_url="https://quotes.example/car?cid={click_id}"))
            bench.api_key, bench.offer_id = affiliate.api_key, offer.id
        engine.dispose()
    except BaseException:
        drop_database(bench.database)
        raise
    return bench


# ---------------------------------------------------------------- the run


@dataclass
class Round:
    ceiling: Phase
    intake: Phase
    half: Phase

    @property
    def ratio(self) -> float:
        return self.intake.rps / self.ceiling.rps if self.ceiling.rps else 0.0


async def run_round(server: Server, bench: Bench, leads: LeadFactory, args: argparse.Namespace) -> Round:
    ceiling_bodies = itertools.cycle([leads() for _ in range(1000)]).__next__  # same JSON, no API work
    window = {"pgid": server.process.pid, "database": bench.database}
    headers = _headers(bench.api_key, args.idempotency_key)
    ceiling, intake = Phase("ceiling"), Phase("intake")
    slices = max(1, round(args.duration / args.slice))
    for n in range(slices):  # alternate: the two endpoints meet the same machine
        slice_window = {**window, "warmup": args.warmup if n == 0 else SLICE_WARMUP,
                        "duration": args.duration / slices}
        await closed_loop(server.base + "/bench/ceiling", ceiling, ceiling_bodies, _headers(None, False),
                          connections=args.connections, max_requests=args.max_requests, check_accepted=False,
                          **slice_window)
        await closed_loop(server.base + "/api/v1/leads", intake, leads, headers,
                          connections=args.connections, max_requests=args.max_requests, check_accepted=True,
                          **slice_window)
    print("   ", ceiling.line(), flush=True)
    print("   ", intake.line(), flush=True)
    half = await open_loop(server.base + "/api/v1/leads", Phase("intake @ half max"), leads, headers,
                           rate=max(1.0, intake.rps / 2), connections=max(64, args.connections * 4),
                           warmup=args.warmup, duration=args.duration, **window)
    print("   ", half.line(), flush=True)
    print(f"    ratio intake/ceiling: {intake.rps / ceiling.rps:.0%}" if ceiling.rps else "", flush=True)
    for phase in (ceiling, intake, half):
        for sample in phase.error_samples:
            print(f"    {phase.name} error: {sample}", flush=True)
    return Round(ceiling, intake, half)


def _spread(values: list[float], fmt: str) -> str:
    mid = statistics.median(values)
    if len(values) == 1:
        return format(mid, fmt)
    return f"{format(mid, fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def summary(results: dict[int, list[Round]], args: argparse.Namespace, command: str) -> str:
    """The figures as Markdown, ready to paste into README."""
    rounds = len(next(iter(results.values())))
    lines = [
        f"Command: `{command}` ({datetime.now(UTC):%Y-%m-%d})  ",
        f"Machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"{_pg_version()}, all local. The load generator (one asyncio process, {args.connections} keep-alive "
        f"connections) runs on the same cores. {args.warmup:g} s warm-up + {args.duration:g} s measured per phase, "
        f"ceiling and intake alternating in {args.slice:g} s slices ({SLICE_WARMUP:g} s warm-up each); "
        f"every lead is unique and carries {'an' if args.idempotency_key else 'no'} Idempotency-Key. "
        f"Each cell: median of {rounds} round(s) (min–max).",
        "",
        "| workers | endpoint | req/s | p50 ms | p99 ms | errors | server CPU ms/req | PostgreSQL CPU ms/req |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workers, rs in results.items():
        for label, pick in (("ceiling: one INSERT of the JSON", lambda r: r.ceiling),
                            ("POST /api/v1/leads, max", lambda r: r.intake),
                            ("POST /api/v1/leads at half that, open loop", lambda r: r.half)):
            phases = [pick(r) for r in rs]
            lines.append(f"| {workers} | {label} | {_spread([p.rps for p in phases], '.0f')} | "
                         f"{_spread([p.pct(0.5) for p in phases], '.1f')} | "
                         f"{_spread([p.pct(0.99) for p in phases], '.1f')} | "
                         f"{sum(p.errors + p.not_accepted for p in phases)} | "
                         f"{_spread([p.cpu_per_request for p in phases], '.2f')} | "
                         f"{_spread([p.database_cpu_per_request for p in phases], '.2f')} |")
    lines += ["", "| workers | intake / ceiling (target ≥ 40 %) | p99 at half load (target < 100 ms) |",
              "|---|---|---|"]
    for workers, rs in results.items():
        ratio, p99 = [r.ratio * 100 for r in rs], [r.half.pct(0.99) for r in rs]
        lines.append(f"| {workers} | {_spread(ratio, '.0f')} % — "
                     f"{'met' if statistics.median(ratio) >= 40 else 'not met'} | {_spread(p99, '.0f')} ms — "
                     f"{'met' if statistics.median(p99) < 100 else 'not met'} |")
    return "\n".join(lines)


def _pg_version() -> str:
    try:
        engine = create_engine(f"{PG_SERVER}/postgres")
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
        engine.dispose()
        return f"PostgreSQL {str(version).split()[0]}"
    except Exception:  # the version is decoration; the run goes on without it
        return "PostgreSQL"


async def main_async(args: argparse.Namespace, bench: Bench, log_dir: Path) -> dict[int, list[Round]]:
    leads = LeadFactory(bench.offer_id, secrets.token_hex(3))
    results: dict[int, list[Round]] = {}
    for workers in args.workers:
        prefix = f"lmbench:{secrets.token_hex(4)}:"
        server = Server(bench.url, workers, prefix, log_dir, "LEADMARKET_BENCH_CEILING")
        try:
            await server.wait_ready()
            print(f"== leadmarket serve --workers {workers} (pid {server.process.pid}, port {server.port})",
                  flush=True)
            if args.hold:
                print(f"   holding for {args.hold:g}s", flush=True)
                await asyncio.sleep(args.hold)
            results[workers] = []
            for n in range(args.repeat):
                print(f"  round {n + 1}/{args.repeat}", flush=True)
                results[workers].append(await run_round(server, bench, leads, args))
        finally:
            server.stop()
            delete_redis_keys(prefix)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="2", help="server processes, comma-separated to compare (e.g. 1,2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each phase")
    parser.add_argument("--slice", type=float, default=2.0,
                        help="ceiling and intake alternate in slices this long (measured seconds each)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap on requests per closed-loop phase")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per worker count (median and spread)")
    parser.add_argument("--no-idempotency-key", dest="idempotency_key", action="store_false",
                        help="post leads without an Idempotency-Key (default: every lead carries one)")
    parser.add_argument("--hold", type=float, default=0.0, help=argparse.SUPPRESS)  # time to attach a profiler
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python tests/bench/intake_load.py " + " ".join(sys.argv[1:] if argv is None else argv)
    # A SIGTERM (CI timeout, `kill`) must still stop the server and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print("creating and migrating a throwaway database ...", flush=True)
    bench = create_database()
    log_dir = Path(tempfile.mkdtemp(prefix="leadmarket-bench-"))
    try:
        results = asyncio.run(main_async(args, bench, log_dir))
    finally:
        drop_database(bench.database)
        print(f"dropped database {bench.database}; server logs in {log_dir}", flush=True)
    print("\n---- summary (Markdown, for README) ----\n")
    print(summary(results, args, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
