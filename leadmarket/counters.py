"""Sliding-window counters (velocity checks, rate limits): Redis when configured, else in memory.

A counter is advisory, never an invariant: when Redis fails, `hit` logs it and answers None so
the caller degrades instead of losing or blocking the request.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import defaultdict, deque

import redis

from leadmarket.redis_client import redis_client
from leadmarket.settings import Settings

log = logging.getLogger("leadmarket.counters")


class MemoryWindows:
    """Per-process windows, for the embedded default (one process, no Redis)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str, window_seconds: float, now: float) -> int:
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - window_seconds:
                hits.popleft()
            hits.append(now)
            return len(hits)

    def hit_many(self, hits: list[tuple[str, float]], now: float) -> list[int]:
        return [self.hit(key, window_seconds, now) for key, window_seconds in hits]

    def count_many(self, keys: list[tuple[str, float]], now: float) -> list[int]:
        with self._lock:
            return [sum(1 for at in self._hits.get(key, ()) if at > now - window_seconds) for key, window_seconds in keys]


class RedisWindows:
    """A sorted set per key: members are hits, scores their times; old hits are trimmed."""

    # KEYS: the windows; ARGV: now, a member prefix unique to the call, then per key the oldest
    # time still inside its window and its expiry in seconds. Answers each key's count, hit included.
    HIT = """
    local counts = {}
    for i, key in ipairs(KEYS) do
        redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1 + 2 * i])
        redis.call('ZADD', key, ARGV[1], ARGV[2] .. i)
        counts[i] = redis.call('ZCARD', key)
        redis.call('EXPIRE', key, ARGV[2 + 2 * i])
    end
    return counts
    """

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix + "win:"
        self._hit_script = client.register_script(self.HIT)

    def hit(self, key: str, window_seconds: float, now: float) -> int:
        return self.hit_many([(key, window_seconds)], now)[0]

    def hit_many(self, hits: list[tuple[str, float]], now: float) -> list[int]:
        """All the hits in one script call: one round trip and one command to encode, whatever
        their number (a script runs atomically, as MULTI/EXEC would)."""
        member = f"{now:.6f}:{secrets.token_hex(4)}:"
        args: list[str | float] = [now, member]
        for _, window_seconds in hits:
            args += [now - window_seconds, int(window_seconds) + 1]
        return [int(n) for n in self._hit_script(keys=[self._prefix + key for key, _ in hits], args=args)]

    def count_many(self, keys: list[tuple[str, float]], now: float) -> list[int]:
        pipe = self._client.pipeline(transaction=False)
        for key, window_seconds in keys:
            pipe.zcount(self._prefix + key, f"({now - window_seconds}", "+inf")
        return [int(reply) for reply in pipe.execute()]


class Windows:
    def __init__(self, settings: Settings) -> None:
        client = redis_client(settings)
        self._backend: MemoryWindows | RedisWindows = RedisWindows(client, settings.redis_prefix) if client else MemoryWindows()

    def hit(self, key: str, window_seconds: float, now: float | None = None) -> int | None:
        """Count one hit on `key`; the hits inside the window including this one, or None if unknown."""
        try:
            return self._backend.hit(key, window_seconds, time.time() if now is None else now)
        except redis.RedisError as exc:
            log.warning("counter unavailable, degrading: %s", type(exc).__name__)
            return None

    def hit_many(self, hits: list[tuple[str, float]], now: float | None = None) -> list[int] | None:
        """Count one hit on each (key, window_seconds), in one Redis round trip; the counts in
        order, or None (logged) if they are unknown."""
        if not hits:
            return []
        try:
            return self._backend.hit_many(hits, time.time() if now is None else now)
        except redis.RedisError as exc:
            log.warning("counter unavailable, degrading: %s", type(exc).__name__)
            return None

    def count_many(self, keys: list[tuple[str, float]], now: float | None = None) -> list[int] | None:
        """The hits inside each (key, window_seconds) without adding one, or None if unknown."""
        if not keys:
            return []
        try:
            return self._backend.count_many(keys, time.time() if now is None else now)
        except redis.RedisError as exc:
            log.warning("counter unavailable, degrading: %s", type(exc).__name__)
            return None


_shared: dict[tuple[str | None, str], Windows] = {}


def shared_windows(settings: Settings) -> Windows:
    """One Windows per Redis target, so in-memory counts survive between requests of a process."""
    key = (settings.redis_url, settings.redis_prefix)
    windows = _shared.get(key)
    if windows is None:
        windows = _shared[key] = Windows(settings)
    return windows
