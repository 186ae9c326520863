"""Sliding-window counters (leadmarket/counters.py) on Redis and in memory, and their degraded mode."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from leadmarket.counters import Windows


@pytest.fixture(params=["memory", "redis"])
def windows(request, settings):
    if request.param == "memory":
        return Windows(replace(settings, redis_url=None))
    request.getfixturevalue("redis_db")  # cleans this run's keys afterwards
    return Windows(settings)


def test_without_redis_url_counts_stay_in_the_process(settings, redis_db):
    key = f"local:{secrets.token_hex(4)}"

    assert Windows(replace(settings, redis_url=None)).hit(key, 60) == 1
    assert Windows(replace(settings, redis_url=None)).hit(key, 60) == 1  # another process would start over
    assert list(redis_db.scan_iter(match=f"*{key}")) == []


def test_counts_hits_inside_a_sliding_window(windows):
    key = f"velocity:ip:{secrets.token_hex(4)}"
    t0 = 1_800_000_000.0

    counts = [windows.hit(key, 60, t0 + dt) for dt in (0, 10, 20, 59.5)]
    assert counts == [1, 2, 3, 4]
    assert windows.hit(key, 60, t0 + 60) == 4      # the hit at t0 left the window (60 s ago exactly)
    assert windows.hit(key, 60, t0 + 75) == 4      # t0+10 left too; t0+20, t0+59.5, t0+60, t0+75 remain
    assert windows.hit(key, 60, t0 + 200) == 1     # everything before t0+140 is gone


def test_keys_and_windows_are_independent(windows):
    a, b = f"a:{secrets.token_hex(4)}", f"b:{secrets.token_hex(4)}"
    t0 = 1_800_000_000.0

    assert [windows.hit(a, 10, t0), windows.hit(a, 10, t0 + 1), windows.hit(b, 10, t0 + 1)] == [1, 2, 1]
    assert windows.hit(a, 0.5, t0 + 2) == 1         # a shorter window on the same key sees only the last hit


def test_hit_many_counts_each_window_like_single_hits(windows):
    a, b = f"many-a:{secrets.token_hex(4)}", f"many-b:{secrets.token_hex(4)}"
    t0 = 1_800_000_000.0

    assert windows.hit_many([(a, 60), (b, 10)], t0) == [1, 1]
    assert windows.hit_many([(a, 60), (b, 10), (a, 60)], t0 + 5) == [2, 2, 3]  # the same key twice: both count
    assert windows.hit_many([(a, 60), (b, 10)], t0 + 30) == [4, 1]             # b's hits left its 10 s window
    assert windows.hit(a, 60, t0 + 31) == 5
    assert windows.hit_many([], t0) == []


def test_same_instant_hits_are_all_counted(windows):
    key = f"burst:{secrets.token_hex(4)}"
    assert [windows.hit(key, 60, 1_800_000_000.0) for _ in range(3)] == [1, 2, 3]


def test_concurrent_hits_are_counted_once_each(windows):
    key = f"race:{secrets.token_hex(4)}"
    start = threading.Barrier(8)

    def burst(_: int) -> list[int]:
        start.wait()
        return [windows.hit(key, 60) for _ in range(25)]

    with ThreadPoolExecutor(8) as pool:
        counts = [c for batch in pool.map(burst, range(8)) for c in batch]

    assert sorted(counts) == list(range(1, 201))   # every hit saw a distinct running total
    assert windows.hit(key, 60) == 201


def test_redis_keys_live_under_the_prefix_and_expire(settings, redis_db):
    key = f"ttl:{secrets.token_hex(4)}"
    Windows(settings).hit(key, 30, time.time())

    names = [n.decode() for n in redis_db.scan_iter(match=settings.redis_prefix + "*" + key)]
    assert names == [settings.redis_prefix + "win:" + key]
    assert 0 < redis_db.ttl(names[0]) <= 31


def test_unreachable_redis_degrades_to_none_and_logs(settings):
    down = Windows(replace(settings, redis_url="redis://127.0.0.1:1/0"))
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("leadmarket.counters")
    logger.addHandler(handler)
    try:
        started = time.monotonic()
        assert down.hit("velocity:ip:x", 60) is None
        assert down.hit_many([("velocity:ip:x", 60), ("velocity:sub:y", 60)]) is None
        assert time.monotonic() - started < 3
    finally:
        logger.removeHandler(handler)

    assert len(records) == 2 and all(r.levelno == logging.WARNING for r in records)
    assert "degrading" in records[0].getMessage() and "ConnectionError" in records[0].getMessage()
