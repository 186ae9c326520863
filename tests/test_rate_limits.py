"""Rate limits: per API key and per IP on /api/, per IP on clicks and postbacks; 429 with
Retry-After and RateLimit-* headers; exact under concurrency; Redis down lets traffic through."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient

from affiliates import clicks
from api.app import create_app
from leadmarket.celery_app import configure_celery
from leadmarket.ratelimit import RateLimiter
from leadmarket.settings import Settings, configure
from tests.support import problem
from tests.test_fraud_velocity import closed_port

LIMITED = {"rate_limit_api_key": 5, "rate_limit_api_ip": 8, "rate_limit_click_ip": 3, "rate_limit_postback_ip": 3}


@pytest.fixture
def limited(settings, engine, db) -> Iterator[Callable[..., tuple[TestClient, Settings]]]:
    """An app of its own with small limits and a Redis key space of its own (under the run's
    prefix, which the db fixture cleans); the run's settings are put back afterwards."""
    clients: list[TestClient] = []

    def make(**changes: Any) -> tuple[TestClient, Settings]:
        changed = replace(settings, **{"redis_prefix": f"{settings.redis_prefix}rl{secrets.token_hex(3)}:",
                                       **LIMITED, **changes})
        test_client = TestClient(create_app(changed, engine=engine), raise_server_exceptions=False)
        test_client.__enter__()
        clients.append(test_client)
        return test_client, changed

    try:
        yield make
    finally:
        for test_client in clients:
            test_client.__exit__(None, None, None)
        configure(settings)
        configure_celery(settings)


def limits(answer: Any) -> tuple[int, int, int]:
    headers = answer.headers
    return int(headers["ratelimit-limit"]), int(headers["ratelimit-remaining"]), int(headers["ratelimit-reset"])


def test_an_api_key_gets_its_quota_then_429_with_retry_after(limited, network):
    client, _ = limited()
    answers = [client.get("/api/v1/offers", headers=network.affiliate_headers()) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [limits(a)[:2] for a in answers] == [(5, 4), (5, 3), (5, 2), (5, 1), (5, 0), (5, 0)]
    assert all(1 <= limits(a)[2] <= 60 for a in answers)
    assert answers[0].headers["ratelimit-policy"] == '5;w=60;name="api-key", 8;w=60;name="api-ip"'

    refused = answers[-1]
    body = problem(refused, 429)
    assert body["title"] == "TooManyRequests" and "this API key" in body["detail"]
    assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])
    # another partner's key from the same address still has its own quota
    assert client.get("/api/v1/offers", headers=network.affiliate_headers(other=True)).status_code == 200


def test_one_address_cannot_dodge_the_limit_with_made_up_keys(limited, network):
    client, _ = limited()
    statuses = [client.get("/api/v1/offers", headers={"X-API-Key": f"lmk_guess{i}"}).status_code for i in range(10)]
    assert statuses == [401] * 8 + [429] * 2
    refused = client.get("/api/v1/offers", headers=network.affiliate_headers())
    assert "this IP address" in problem(refused, 429)["detail"]


def test_clicks_are_limited_per_address_and_a_refused_click_is_not_recorded(limited, client, network, redis_db):
    code = client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                       json={"offer_id": network.cpl_offer["id"]}).json()["code"]
    limited_client, changed = limited()
    answers = [limited_client.get(f"/r/{code}", follow_redirects=False) for _ in range(4)]
    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    assert [limits(a)[:2] for a in answers] == [(3, 2), (3, 1), (3, 0), (3, 0)]
    assert answers[0].headers["ratelimit-policy"] == '3;w=60;name="click-ip"'
    assert "location" not in answers[-1].headers
    assert redis_db.xlen(clicks.stream_key(changed)) == 3


def test_postbacks_are_limited_per_address(limited):
    client, _ = limited()
    statuses = [client.get("/postback", params={"token": "lmp_nope"}).status_code for _ in range(4)]
    assert statuses[-1] == 429 and all(s != 429 for s in statuses[:3])


def test_routes_without_limits_say_nothing_about_them(limited):
    client, _ = limited()
    for answer in (client.get("/healthz"), client.post("/webhooks/stripe", content=b"{}"), client.get("/nowhere")):
        assert not any(name.startswith("ratelimit") for name in answer.headers), answer.headers


def test_the_quota_comes_back_when_the_window_turns(limited, network):
    client, _ = limited(rate_limit_window_seconds=2, rate_limit_api_key=2)
    for _ in range(5):  # two requests in one window, a third refused (one more if a window turned)
        refused = client.get("/api/v1/offers", headers=network.affiliate_headers())
        if refused.status_code == 429:
            break
    assert refused.status_code == 429 and refused.headers["retry-after"] in ("1", "2")
    time.sleep(int(refused.headers["retry-after"]) + 0.05)
    again = client.get("/api/v1/offers", headers=network.affiliate_headers())
    assert again.status_code == 200 and limits(again)[:2] == (2, 1)


def test_limits_are_exact_when_requests_race(settings, redis_db):
    limiter = RateLimiter(replace(settings, redis_prefix=f"{settings.redis_prefix}race:", rate_limit_click_ip=20))
    scope = {"type": "http", "path": "/r/abc", "headers": [], "client": ("198.51.100.7", 40000)}

    async def burst() -> list[bool]:
        verdicts = await asyncio.gather(*(limiter.hit(limiter.buckets(scope)) for _ in range(60)))
        return [v.allowed for v in verdicts if v is not None]

    allowed = asyncio.run(burst())
    assert len(allowed) == 60 and allowed.count(True) == 20
    other = {**scope, "client": ("198.51.100.8", 40000)}
    assert asyncio.run(limiter.hit(limiter.buckets(other))).allowed  # another address, another count


def test_counters_live_under_the_prefix_and_expire(settings, redis_db):
    changed = replace(settings, redis_prefix=f"{settings.redis_prefix}ttl:")
    limiter = RateLimiter(changed)
    scope = {"type": "http", "path": "/api/v1/offers", "headers": [(b"x-api-key", b"lmk_secret")],
             "client": ("203.0.113.9", 1)}
    asyncio.run(limiter.hit(limiter.buckets(scope)))
    names = sorted(n.decode() for n in redis_db.scan_iter(match=changed.redis_prefix + "*"))
    assert len(names) == 2 and all(n.startswith(changed.redis_prefix + "rl:") for n in names)
    assert not any("lmk_secret" in n for n in names)  # the key is hashed, never stored
    assert all(0 < redis_db.ttl(n) <= 61 for n in names)


def test_without_redis_each_process_counts_in_memory(limited, network):
    client, _ = limited(redis_url=None)
    statuses = [client.get("/api/v1/offers", headers=network.affiliate_headers()).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_redis_down_lets_traffic_through_and_logs_once(limited, network, app_log):
    client, _ = limited(redis_url=f"redis://127.0.0.1:{closed_port()}/0", rate_limit_api_key=2)
    started = time.monotonic()
    answers = [client.get("/api/v1/offers", headers={**network.affiliate_headers(), "X-Request-ID": f"rq-{i}"})
               for i in range(6)]
    assert [a.status_code for a in answers] == [200] * 6
    assert not any("ratelimit-limit" in a.headers for a in answers)
    assert time.monotonic() - started < 3
    lines = [line for line in app_log.getvalue().splitlines() if "leadmarket.ratelimit" in line]
    assert len(lines) == 1 and "[rq-0] rate limits off: Redis unavailable" in lines[0], lines


def test_limits_come_from_the_environment():
    settings = Settings.from_env({"LEADMARKET_RATE_LIMIT_API_KEY": "100", "LEADMARKET_RATE_LIMIT_API_IP": "0",
                                  "LEADMARKET_RATE_LIMIT_CLICK_IP": "50", "LEADMARKET_RATE_LIMIT_POSTBACK_IP": "7",
                                  "LEADMARKET_RATE_LIMIT_WINDOW_SECONDS": "10"})
    assert (settings.rate_limit_api_key, settings.rate_limit_api_ip, settings.rate_limit_click_ip,
            settings.rate_limit_postback_ip, settings.rate_limit_window_seconds) == (100, 0, 50, 7, 10)
    assert settings.rate_limits and not Settings.from_env({"LEADMARKET_RATE_LIMITS": "off"}).rate_limits
    defaults = Settings.from_env({})
    assert (defaults.rate_limit_api_key, defaults.rate_limit_click_ip) == (6000, 1200)
    limiter = RateLimiter(settings)
    scope = {"type": "http", "path": "/api/v1/leads", "headers": [(b"x-api-key", b"k")], "client": ("192.0.2.1", 1)}
    assert [b.name for b in limiter.buckets(scope)] == ["api-key"]  # 0 turns the per-IP limit off
    assert RateLimiter(replace(settings, rate_limits=False)).buckets(scope) == []

