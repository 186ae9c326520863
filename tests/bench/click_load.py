"""Click benchmark: GET /r/{code} against a bare redirect endpoint on the same server, same run.

    python tests/bench/click_load.py --workers 1 --repeat 3

It starts `leadmarket serve` as a real subprocess (REDIS_URL set, LEADMARKET_BENCH_REDIRECT=1) on
a throwaway PostgreSQL database migrated with Alembic, with one affiliate, one offer and one
tracking link made through the services. Per round:
  1. bare: closed-loop load on GET /bench/redirect (a fixed 302 and nothing else, answered by the
     same raw ASGI front that answers /r/, after the same rate-limit step, inside the same request-id
     middleware and Litestar app: the ceiling of this server stack), and
  2. click: closed-loop load on GET /r/{code}?sub1=..&sub2=..&cost=.. (resolve the link from
     cache, XADD the click to the Redis stream, 302 with the macros filled), in alternating
     one-second slices, so that on a shared machine both meet the same neighbours,
  3. click at half the measured click throughput, open loop (requests start on a fixed
     schedule; latency counts from the scheduled start, so queueing is not hidden).
After the rounds it flushes the stream into PostgreSQL in this process and checks that every
302 the load generator received is exactly one stored click (nothing lost, nothing doubled).
It prints requests/s, p50, p99 and errors, the click/bare ratio, the server's and the load
generator's CPU per closed-loop request (which side limits the req/s, and what a click costs the
server against a bare redirect), and a summary block for README. The server is stopped, the
database dropped and this run's Redis keys deleted in all cases. Not collected by pytest (the
file name has no test_ prefix).

The load generator is one asyncio + aiohttp process with keep-alive connections, on the same
cores as the server, Redis and PostgreSQL: it takes a share of the CPU from both endpoints alike.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import platform
import secrets
import signal
import statistics
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PG_SERVER, REDIS_URL, Server, delete_redis_keys, drop_database  # noqa: E402
import aiohttp
from sqlalchemy import create_engine, text

AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
          "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"]


# ---------------------------------------------------------------- load


@dataclass
class Phase:
    name: str
    # seconds, requests inside the window; an array, which the garbage collector does not walk
    latencies: array[float] = field(default_factory=lambda: array("d"))
    redirected: int = 0       # every 302 received, in or out of the window (the flush check counts them)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    offered_rate: float | None = None
    server_cpu: float = 0.0   # CPU seconds of the server's processes over the closed-loop slices
    client_cpu: float = 0.0   # CPU seconds of this load generator over the same slices

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def server_us(self) -> float:
        """Server CPU µs per redirect: what the endpoint costs, whichever side limits the req/s."""
        return self.server_cpu / self.redirected * 1e6 if self.server_cpu and self.redirected else float("nan")

    @property
    def client_us(self) -> float:
        return self.client_cpu / self.redirected * 1e6 if self.client_cpu and self.redirected else float("nan")

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        rate = f" (offered {self.offered_rate:.0f}/s, open loop)" if self.offered_rate else ""
        cpu = (f"  CPU µs/req: server {self.server_us:.1f}, load generator {self.client_us:.1f}"
               if self.server_cpu else "")
        return (f"{self.name:<22} {self.rps:8.0f} req/s  p50 {self.pct(0.50):7.2f} ms  "
                f"p99 {self.pct(0.99):7.2f} ms  errors {self.errors}{rate}{cpu}")


async def _get(session: aiohttp.ClientSession, url: str, headers: dict[str, str], phase: Phase) -> bool:
    try:
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            await response.read()
            if response.status != 302 or "location" not in response.headers:
                phase.errors += 1
                if len(phase.error_samples) < 3:
                    phase.error_samples.append(f"{response.status}")
                return False
            phase.redirected += 1
            return True
    except (TimeoutError, aiohttp.ClientError) as exc:
        phase.errors += 1
        if len(phase.error_samples) < 3:
            phase.error_samples.append(repr(exc))
        return False


class Visits:
    """Varied clicks: sub-ids, a per-click cost and browsers, as real traffic sends them."""

    def __init__(self, base: str) -> None:
        self.base, self.serial = base, itertools.count()

    def __call__(self) -> tuple[str, dict[str, str]]:
        n = next(self.serial)
        url = f"{self.base}?sub1=campaign-{n % 17}&sub2=ad-{n % 101}&cost=0.{n % 90 + 10:02d}"
        return url, {"User-Agent": AGENTS[n % len(AGENTS)], "Referer": "https://news.example/article"}


async def closed_loop(phase: Phase, requests: Callable[[], tuple[str, dict[str, str]]], *, connections: int,
                      warmup: float, duration: float, max_requests: int) -> Phase:
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
                url, headers = requests()
                ok = await _get(session, url, headers, phase)
                done = time.perf_counter()
                if ok and window_start <= began and done <= window_end:
                    phase.latencies.append(done - began)

        await asyncio.gather(*(client() for _ in range(connections)))
        phase.seconds = min(time.perf_counter(), window_end) - window_start
    return phase


async def open_loop(phase: Phase, requests: Callable[[], tuple[str, dict[str, str]]], *, rate: float,
                    warmup: float, duration: float, connections: int) -> Phase:
    """Requests start on a fixed schedule whatever the answers do; latency counts from the schedule."""
    phase.offered_rate = rate
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=120)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        start = time.perf_counter()
        window_start = start + warmup
        total = int(rate * (warmup + duration))
        tasks = set()

        async def one(scheduled: float) -> None:
            url, headers = requests()
            ok = await _get(session, url, headers, phase)
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
        phase.seconds = duration
    return phase


# ---------------------------------------------------------------- server and database


@dataclass
class Bench:
    database: str
    url: str
    code: str = ""


def create_database() -> Bench:
    from affiliates.accounts import create_affiliate
    from affiliates.offers import create_offer
    from affiliates.schemas import AffiliateCreate, OfferCreate
    from affiliates.tracking import create_link
    from affiliates.tracking_schemas import TrackingLinkCreate
    from leadmarket.db import make_engine, make_sessionmaker
    from leadmarket.identity import Principal, Role
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
    bench = Bench(database=name, url=url)
    try:
        upgrade(url)
        configure(Settings(database_url=url, currency="USD"))  # no Redis: the server caches on first click
        engine = make_engine(url, pool_size=2)
        with make_sessionmaker(engine)() as session:
            vertical = create_vertical(session, VerticalCreate(
                slug="car-insurance", name="Car insurance", base_price=Decimal("18.00"),
                fields=[FieldSpec(name="vehicle_year", type="integer", required=True, min=1980, max=2027)]))
            affiliate = create_affiliate(session, AffiliateCreate(name="Bright Traffic",
                                                                  email="ops@brighttraffic.example"))
            offer = create_offer(session, OfferCreate(
                name="Car insurance quotes", vertical=vertical.slug, kind="marketplace", payout_model="cpl",
                payout=Decimal("12.50"), revenue=Decimal("20.00"),
                landing_url="https://quotes.example/car?cid={click_id}&s1={sub1}&s2={sub2}&aff={affiliate_id}"))
            link = create_link(session, Principal(role=Role.AFFILIATE, affiliate_id=affiliate.id),
                               TrackingLinkCreate(offer_id=offer.id, sub_ids={"sub3": "bench"}))
            bench.code = link.code
        engine.dispose()
    except BaseException:
        drop_database(bench.database)
        raise
    return bench


def flush_and_count(bench: Bench, prefix: str) -> tuple[int, float]:
    """Flush this run's click stream into the database; (clicks stored, seconds it took)."""
    import redis

    from affiliates import clicks
    from leadmarket.db import make_engine, make_sessionmaker
    from leadmarket.settings import Settings, configure

    settings = configure(Settings(database_url=bench.url, redis_url=REDIS_URL, redis_prefix=prefix))
    client = redis.Redis.from_url(REDIS_URL)
    engine = make_engine(bench.url, pool_size=2)
    began = time.perf_counter()
    with make_sessionmaker(engine)() as session:
        while clicks.flush_stream(session, client, settings, consumer="bench", batch=5000).read:
            pass
    seconds = time.perf_counter() - began
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM click")).scalar_one()
    engine.dispose()
    client.close()
    return int(stored), seconds


# ---------------------------------------------------------------- the run


@dataclass
class Round:
    bare: Phase
    click: Phase
    half: Phase

    @property
    def ratio(self) -> float:
        return self.click.rps / self.bare.rps if self.bare.rps else 0.0


def server_ticks(pgid: int) -> int:
    """CPU ticks (user + system) of the server's process group, from Linux /proc."""
    ticks = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, pgrp
            if int(fields[2]) == pgid:
                ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks


async def interleaved(bare: Phase, click: Phase, bare_url: str, visits: Visits, pgid: int,
                      args: argparse.Namespace) -> None:
    """Closed-loop slices, bare and click alternating, so both endpoints meet the same neighbours
    on a shared machine (a slow second hurts both sides, not one). CPU is counted over whole
    slices and divided by every redirect in them, warm-up included."""
    tick = os.sysconf("SC_CLK_TCK")
    slices = max(1, round(args.duration / args.slice))
    for _ in range(slices):
        for phase, requests in ((bare, lambda: (bare_url, {"User-Agent": AGENTS[0]})), (click, visits)):
            server, client = server_ticks(pgid), time.process_time()
            part = await closed_loop(Phase(phase.name), requests, connections=args.connections,
                                     warmup=args.slice_warmup, duration=args.slice, max_requests=args.max_requests)
            phase.server_cpu += (server_ticks(pgid) - server) / tick
            phase.client_cpu += time.process_time() - client
            phase.latencies += part.latencies
            phase.seconds += part.seconds
            phase.errors += part.errors
            phase.redirected += part.redirected
            phase.error_samples += part.error_samples[: 3 - len(phase.error_samples)]


async def run_round(server: Server, bench: Bench, args: argparse.Namespace) -> Round:
    bare, click = Phase("bare redirect"), Phase("click /r/{code}")
    visits = Visits(f"{server.base}/r/{bench.code}")
    await interleaved(bare, click, server.base + "/bench/redirect", visits, server.process.pid, args)
    print("   ", bare.line(), flush=True)
    print("   ", click.line(), flush=True)
    half = await open_loop(Phase("click @ half max"), visits, rate=max(1.0, click.rps / 2), warmup=args.warmup,
                           duration=args.duration, connections=max(64, args.connections * 4))
    print("   ", half.line(), flush=True)
    print(f"    ratio click/bare: {click.rps / bare.rps:.0%}" if bare.rps else "", flush=True)
    for phase in (bare, click, half):
        for sample in phase.error_samples:
            print(f"    {phase.name} error: {sample}", flush=True)
    return Round(bare, click, half)


def _spread(values: list[float], fmt: str) -> str:
    mid = statistics.median(values)
    if len(values) == 1:
        return format(mid, fmt)
    return f"{format(mid, fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def summary(results: dict[int, list[Round]], checks: dict[int, tuple[int, int, float]],
            args: argparse.Namespace, command: str) -> str:
    rounds = len(next(iter(results.values())))
    lines = [
        "```",
        f"$ {command}",
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}; server, Redis, "
        "PostgreSQL and the load generator share the cores",
        f"load: {args.connections} keep-alive connections (one asyncio process); bare and click alternate in "
        f"{args.slice:g}s slices ({args.slice_warmup:g}s warm-up each), {args.duration:g}s measured each; "
        f"open loop {args.warmup:g}s warm-up + {args.duration:g}s; median of {rounds} round(s), (min–max)",
        "",
        f"{'workers':<8} {'endpoint':<22} {'req/s':>20} {'p50 ms':>18} {'p99 ms':>20} {'errors':>7} "
        f"{'server µs/req':>19} {'loadgen µs/req':>19}",
    ]
    for workers, rs in results.items():
        for label, pick in (("bare redirect", lambda r: r.bare), ("click /r/{code}", lambda r: r.click),
                            ("click @ half, open", lambda r: r.half)):
            phases = [pick(r) for r in rs]
            measured = all(p.server_cpu for p in phases)  # the closed-loop slices, not the open loop
            lines.append(f"{workers:<8} {label:<22} {_spread([p.rps for p in phases], '.0f'):>20} "
                         f"{_spread([p.pct(0.5) for p in phases], '.2f'):>18} "
                         f"{_spread([p.pct(0.99) for p in phases], '.2f'):>20} "
                         f"{sum(p.errors for p in phases):>7} "
                         f"{_spread([p.server_us for p in phases], '.1f') if measured else '-':>19} "
                         f"{_spread([p.client_us for p in phases], '.1f') if measured else '-':>19}")
        ratio = [r.ratio for r in rs]
        p99 = [r.half.pct(0.99) for r in rs]
        lines.append(f"{'':<8} click/bare {_spread([x * 100 for x in ratio], '.0f')} % (target >= 50 %: "
                     f"{'met' if statistics.median(ratio) >= 0.50 else 'NOT met'}); p99 at half load "
                     f"{_spread(p99, '.2f')} ms (target < 25 ms: "
                     f"{'met' if statistics.median(p99) < 25 else 'NOT met'})")
        cost = [r.click.server_us / r.bare.server_us for r in rs]
        lines.append(f"{'':<8} server CPU per request: click {_spread(cost, '.2f')} x the bare redirect's")
        redirected, stored, seconds = checks[workers]
        lines.append(f"{'':<8} flush: {redirected} clicks redirected, {stored} stored "
                     f"({'none lost, none doubled' if redirected == stored else 'MISMATCH'}); "
                     f"flushed in {seconds:.1f}s ({stored / seconds if seconds else 0:.0f} clicks/s)")
    lines.append("```")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace, bench: Bench, log_dir: Path) -> tuple[dict, dict]:
    results: dict[int, list[Round]] = {}
    checks: dict[int, tuple[int, int, float]] = {}
    for workers in args.workers:
        prefix = f"lmbench:{secrets.token_hex(4)}:"
        server = Server(bench.url, workers, prefix, log_dir, "LEADMARKET_BENCH_REDIRECT")
        try:
            await server.wait_ready()
            print(f"== leadmarket serve --workers {workers} (pid {server.process.pid}, port {server.port})",
                  flush=True)
            results[workers] = []
            for n in range(args.repeat):
                print(f"  round {n + 1}/{args.repeat}", flush=True)
                results[workers].append(await run_round(server, bench, args))
            server.stop()
            with create_engine(bench.url).begin() as conn:
                before = conn.execute(text("SELECT count(*) FROM click")).scalar_one()
            stored, seconds = await asyncio.to_thread(flush_and_count, bench, prefix)
            redirected = sum(p.redirected for r in results[workers] for p in (r.click, r.half))
            checks[workers] = (redirected, stored - before, seconds)
            print(f"   flush: {redirected} redirected, {stored - before} stored in {seconds:.1f}s", flush=True)
        finally:
            server.stop()
            delete_redis_keys(prefix)
    return results, checks


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1", help="server processes, comma-separated to compare (e.g. 1,2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before the open-loop phase")
    parser.add_argument("--slice", type=float, default=1.0, help="seconds per closed-loop slice (bare and click alternate)")
    parser.add_argument("--slice-warmup", type=float, default=0.25, help="unmeasured seconds before each slice")
    parser.add_argument("--max-requests", type=int, default=500_000, help="cap on requests per closed-loop phase")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per worker count (median and spread)")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python tests/bench/click_load.py " + " ".join(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print("creating and migrating a throwaway database ...", flush=True)
    bench = create_database()
    # The setup imported the whole app: without this, each full collection of the load generator
    # walks those objects (0.1-1 s, growing with the requests in flight), and the open loop, whose
    # latency counts from the schedule, charges the generator's pause to the server.
    gc.collect()
    gc.freeze()
    log_dir = Path(tempfile.mkdtemp(prefix="leadmarket-bench-"))
    try:
        results, checks = asyncio.run(main_async(args, bench, log_dir))
    finally:
        drop_database(bench.database)
        print(f"dropped database {bench.database}; server logs in {log_dir}", flush=True)
    print()
    print(summary(results, checks, args, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
