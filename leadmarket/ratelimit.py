"""Rate limits: fixed-window request counters per API key and per client IP, and the pure ASGI
middleware that answers 429 with `Retry-After` and adds `RateLimit-*` headers to limited routes.

Which routes, per window (`settings.rate_limit_window_seconds`, 60 s by default):
`/api/` per API key and per IP; `/r/` and `/f/` (clicks, the hosted form) per IP; `/postback`
per IP. Webhooks, health and the portal are not limited here.

Counters live in Redis (one EVALSHA for all the counters of the requests waiting at once) or, without Redis, in
process memory (each web process then counts on its own). A counter is etiquette, not an
invariant: when Redis fails the limiter lets traffic through, logs once, and tries Redis again
after a short pause rather than paying a timeout on every request. Fixed windows (not sliding
logs like leadmarket/counters.py): one integer per key and window, a reset time the client can
be told, and rejected requests that cannot push the reset further away.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import msgspec
import redis
import redis.asyncio as aioredis
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from leadmarket.settings import Settings

log = logging.getLogger("leadmarket.ratelimit")

# After a Redis failure, limits are off for this long before Redis is tried again.
REDIS_RETRY_SECONDS = 5.0

# INCRBY every counter by its lease; the first reservation of a window sets the key's expiry.
_HIT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local step = tonumber(ARGV[i + 1])
  local n = redis.call('INCRBY', key, step)
  if n == step then redis.call('EXPIRE', key, ARGV[1]) end
  counts[i] = n
end
return counts
"""


@dataclass(frozen=True)
class Bucket:
    """One counter a request spends from: `name` says which policy (api-key, api-ip, ...)."""

    name: str
    key: str
    quota: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limiting: Bucket  # the policy closest to exhaustion (or the one exceeded)
    remaining: int
    reset_seconds: int
    policies: tuple[Bucket, ...]
    window_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        policy = ", ".join(f'{b.quota};w={self.window_seconds};name="{b.name}"' for b in self.policies)
        headers = [(b"ratelimit-limit", str(self.limiting.quota).encode()),
                   (b"ratelimit-remaining", str(self.remaining).encode()),
                   (b"ratelimit-reset", str(self.reset_seconds).encode()),
                   (b"ratelimit-policy", policy.encode())]
        if not self.allowed:
            headers.append((b"retry-after", str(self.reset_seconds).encode()))
        return headers


class MemoryCounters:
    """Per-process counters for the embedded default; old windows are dropped as time moves on."""

    def __init__(self) -> None:
        self._window = -1
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    async def hit(self, keys: list[str], steps: list[int], window_index: int, window_seconds: int) -> list[int]:
        with self._lock:
            if window_index != self._window:
                self._window, self._counts = window_index, {}
            counts = []
            for key, step in zip(keys, steps, strict=True):
                counts.append(self._counts.get(key, 0) + step)
                self._counts[key] = counts[-1]
            return counts


class RedisCounters:
    """INCR + EXPIRE in one Lua script. Requests that arrive while a script call is in flight wait
    for the next call, which carries all of their counters: one round trip per batch, so under
    load Redis costs a fraction of a round trip per request and one connection per event loop."""

    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        # an asyncio client's connections belong to the event loop that opened them
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = weakref.WeakKeyDictionary()

    async def hit(self, keys: list[str], steps: list[int], window_index: int, window_seconds: int) -> list[int]:
        loop = asyncio.get_running_loop()
        batcher = self._loops.get(loop)
        if batcher is None:
            client = aioredis.Redis.from_url(self._url, socket_timeout=0.5, socket_connect_timeout=0.5,
                                             max_connections=8)
            batcher = self._loops[loop] = _Batcher(client.register_script(_HIT_SCRIPT), window_seconds + 1)
        return await batcher.hit([f"{key}:{window_index}" for key in keys], steps)


class _Batcher:
    def __init__(self, script: Any, ttl_seconds: int) -> None:
        self._script, self._ttl = script, ttl_seconds
        self._waiting: list[tuple[list[str], list[int], asyncio.Future[list[int]]]] = []
        self._running = False

    async def hit(self, names: list[str], steps: list[int]) -> list[int]:
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((names, steps, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    counts = await self._script(keys=[n for names, _, _ in batch for n in names],
                                                args=[self._ttl, *(step for _, steps, _ in batch for step in steps)])
                except Exception as exc:  # each waiting request decides what a failure means
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                at = 0
                for names, _, future in batch:
                    if not future.done():
                        future.set_result([int(n) for n in counts[at:at + len(names)]])
                    at += len(names)
        finally:
            self._running = False


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.window_seconds = max(1, settings.rate_limit_window_seconds)
        self.enabled = settings.rate_limits
        self._api_key, self._api_ip = settings.rate_limit_api_key, settings.rate_limit_api_ip
        self._click_ip, self._postback_ip = settings.rate_limit_click_ip, settings.rate_limit_postback_ip
        self._prefix = settings.redis_prefix + "rl:"
        self._counters: MemoryCounters | RedisCounters = (
            RedisCounters(settings.redis_url) if settings.redis_url else MemoryCounters())
        self._redis_down_until = 0.0
        self._lease_window = -1
        self._leases: dict[str, _Lease] = {}

    def buckets(self, scope: Scope) -> list[Bucket]:
        """The counters this request spends from; empty when its route is not limited."""
        if not self.enabled:
            return []
        path: str = scope["path"]
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if path.startswith("/api/"):
            found = []
            if self._api_key > 0:
                raw = _header(scope, b"x-api-key")
                if raw:
                    key = hashlib.sha256(raw.strip()).hexdigest()[:32]
                    found.append(Bucket("api-key", f"{self._prefix}key:{key}", self._api_key))
            if self._api_ip > 0:
                found.append(Bucket("api-ip", f"{self._prefix}api-ip:{ip}", self._api_ip))
            return found
        if path.startswith(("/r/", "/f/")) and self._click_ip > 0:
            return [Bucket("click-ip", f"{self._prefix}click-ip:{ip}", self._click_ip)]
        if path == "/postback" and self._postback_ip > 0:
            return [Bucket("postback-ip", f"{self._prefix}postback-ip:{ip}", self._postback_ip)]
        return []

    async def hit(self, buckets: list[Bucket], now: float | None = None) -> Verdict | None:
        """Spend one request from each bucket; None (traffic let through) when Redis is failing.

        Each process leases a bucket's requests from its shared counter a few at a time (`lease_size`)
        and spends them locally, so a busy route pays one Redis round trip per lease, not per request.
        A lease is granted only up to the quota, so all processes together never exceed it; a process
        may refuse a little early while another still holds unspent requests of the window.
        """
        now = time.time() if now is None else now
        window_index = int(now // self.window_seconds)
        if self._redis_down_until and time.monotonic() < self._redis_down_until:
            return None
        if window_index != self._lease_window:
            self._lease_window, self._leases = window_index, {}
        leases = [self._leases.setdefault(b.key, _Lease()) for b in buckets]
        try:
            while True:
                short = [(b, lease) for b, lease in zip(buckets, leases) if not lease.left and not lease.spent]
                if not short:
                    break
                await self._reserve(short, window_index)
        except (redis.RedisError, OSError) as exc:
            if not self._redis_down_until:
                log.warning("rate limits off: Redis unavailable (%s); retrying every %.0f s",
                            type(exc).__name__, REDIS_RETRY_SECONDS)
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            return None
        if self._redis_down_until:
            self._redis_down_until = 0.0
            log.warning("rate limits back on: Redis answers again")
        allowed = all(lease.left for lease in leases)
        if allowed:
            for lease in leases:
                lease.left -= 1
        remaining = [b.quota - lease.reserved + lease.left for b, lease in zip(buckets, leases, strict=True)]
        if allowed:
            tightest = min(range(len(buckets)), key=remaining.__getitem__)
        else:
            tightest = next(i for i, lease in enumerate(leases) if not lease.left)
        reset = max(1, math.ceil((window_index + 1) * self.window_seconds - now))
        return Verdict(allowed=allowed, limiting=buckets[tightest], remaining=max(0, remaining[tightest]),
                       reset_seconds=reset, policies=tuple(buckets), window_seconds=self.window_seconds)

    async def _reserve(self, short: list[tuple[Bucket, _Lease]], window_index: int) -> None:
        """Lease more requests for buckets that have none left; one flight per bucket at a time,
        so requests arriving together share a lease instead of each taking one."""
        flights = []
        fresh = [(b, lease) for b, lease in short if lease.flight is None]
        if fresh:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            for _, lease in fresh:
                lease.flight = future
            try:
                steps = [lease_size(b.quota) for b, _ in fresh]
                counts = await self._counters.hit([b.key for b, _ in fresh], steps, window_index, self.window_seconds)
                for (b, lease), step, count in zip(fresh, steps, counts, strict=True):
                    granted = max(0, min(step, b.quota - (count - step)))
                    lease.left += granted
                    lease.reserved = count - step + granted
                    lease.spent = granted < step  # the window's quota is gone: no more round trips
                future.set_result(None)
            except BaseException as exc:
                future.set_exception(exc)
                future.exception()  # retrieved: the waiters below re-raise it
                raise
            finally:
                for _, lease in fresh:
                    lease.flight = None
        flights = [lease.flight for _, lease in short if lease.flight is not None]
        for flight in flights:
            await asyncio.shield(flight)


def lease_size(quota: int) -> int:
    """Requests leased per round trip: 1 for small quotas (exact per request), up to 100 for big ones,
    so at most ~2 % of a quota sits unspent in any one process."""
    return max(1, min(100, quota // 50))


@dataclass
class _Lease:
    left: int = 0  # leased and not yet spent, in this process
    reserved: int = 0  # the shared counter's value counted as granted, after our last lease
    spent: bool = False  # the quota is exhausted for this window
    flight: asyncio.Future[None] | None = None


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


_WHO = {"api-key": "this API key", "api-ip": "this IP address", "click-ip": "this IP address",
        "postback-ip": "this IP address"}


def _too_many(verdict: Verdict) -> bytes:
    detail = (f"Too many requests from {_WHO[verdict.limiting.name]}: {verdict.limiting.quota} per "
              f"{verdict.window_seconds} s; retry in {verdict.reset_seconds} s.")
    return msgspec.json.encode({"title": "TooManyRequests", "status": 429, "detail": detail})


async def admit(limiter: RateLimiter, scope: Scope, send: Send) -> list[tuple[bytes, bytes]] | None:
    """Spend one request of `scope` from its buckets. The `RateLimit-*` headers its answer carries
    ([] for a route that is not limited, or while Redis fails); None when it was over a limit and
    has been answered 429 here. The middleware and the click front (api/tracking.py) share it."""
    buckets = limiter.buckets(scope)
    verdict = await limiter.hit(buckets) if buckets else None
    if verdict is None:
        return []
    headers = verdict.headers()
    if verdict.allowed:
        return headers
    body = _too_many(verdict)
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})
    return None


class RateLimitMiddleware:
    """Pure ASGI, registered before authentication, so a flood of bad keys never reaches the
    database; a limited route's every answer carries `RateLimit-*` headers."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = await admit(self.limiter, scope, send)
        if headers is None:
            return
        if not headers:
            await self.app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_limits)
