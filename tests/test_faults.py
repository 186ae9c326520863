"""Faults while traffic flows: Redis stopped during intake, PostgreSQL down behind the click
redirect, PostgreSQL unreachable for the API, a buyer's webhook hanging. Redis faults use our own
redis-server (never the shared one); PostgreSQL faults a TCP proxy between the app and the server."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from litestar.testing import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

import leadmarket.celery_app as celery_module
from affiliates import clicks, tracking
from api.app import create_app
from api.auth import ApiKeyAuthentication
from fraud.rules import velocity
from leadmarket.celery_app import configure_celery
from leadmarket.db import make_engine
from leadmarket.settings import Settings, configure
from tests.billing_support import assert_ledger_consistent
from tests.fault_proxy import AppProcess, FaultProxy, RedisServer
from tests.http_stubs import ScriptedServer
from tests.order_support import person_lead, place_order
from tests.support import count_rows, created, problem

pytestmark = pytest.mark.timeout(120)
SECRET = "buyer-webhook-secret-0001"


@contextmanager
def app_with(settings: Settings, variant: Settings, engine: Engine) -> Iterator[TestClient]:
    """The app as configured by `variant` (its own Redis, say), then the run's settings restored."""
    ApiKeyAuthentication._cache.clear()
    forget_broker_connections()
    try:
        with TestClient(create_app(variant, engine=engine), raise_server_exceptions=False) as client:
            yield client
    finally:
        forget_broker_connections()
        configure(settings)
        configure_celery(settings)
        velocity.reset_backoff()
        celery_module._broker_down_until = 0.0
        tracking.targets.clear()
        ApiKeyAuthentication._cache.clear()


def forget_broker_connections() -> None:
    """Celery keeps its broker connection pools across a change of broker URL (a server process
    sets it once); drop them, as Celery does after a fork, so the next task goes to the new one."""
    celery_module.celery_app._pool = None
    celery_module.celery_app.amqp._producer_pool = None


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_proxy(settings) -> Iterator[tuple[FaultProxy, Engine]]:
    """A proxy in front of the test database, and an engine that reaches it only through the proxy."""
    url = make_url(settings.database_url)
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432)
    engine = make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
                         pool_size=4)
    yield proxy, engine
    engine.dispose()
    proxy.close()


def queued_tasks(server: RedisServer) -> int:
    """Messages waiting in the broker, whatever queue they were routed to."""
    broker = redis.Redis.from_url(server.url)
    try:
        return sum(broker.llen(key) for key in broker.scan_iter() if broker.type(key) == b"list")
    finally:
        broker.close()


def affiliate(network) -> dict[str, str]:
    return network.affiliate_headers()


def click(app: TestClient, code: str, **params: str) -> str:
    """A visitor's click through link `code`; the click_id the landing page receives."""
    response = app.get(f"/r/{code}", params=params, follow_redirects=False)
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["cid"][0]


# ---------------------------------------------------------------- Redis stopped during intake


def test_leads_are_accepted_while_redis_is_stopped_and_velocity_degrades_with_one_log_line(
        db, client, network, settings, engine, own_redis, app_log):
    buyer = ScriptedServer("/leads")
    tracker = ScriptedServer("/postback")
    place_order(client, network.advertiser, price="20.00", delivery={"webhook_url": buyer.url, "secret": SECRET})
    assert client.put("/api/v1/postbacks/template", headers=affiliate(network),
                      json={"url": tracker.url + "?lead={lead_id}"}).status_code == 200
    # Redis is the broker too (tasks are queued, not run here), with a velocity pause longer than the test.
    variant = dataclasses.replace(settings, redis_url=own_redis.url, tasks_eager=False, velocity_retry_seconds=60)
    try:
        with app_with(settings, variant, engine) as app:
            before = app.post("/api/v1/leads", headers=affiliate(network), json=person_lead(network.cpl_offer["id"]))
            assert before.status_code == 201 and before.json()["status"] == "sold"
            assert queued_tasks(own_redis) == 2  # its delivery and its postback

            own_redis.stop()
            app_log.seek(0)
            app_log.truncate()
            answers, slowest = [], 0.0
            for _ in range(6):
                began = time.perf_counter()
                answers.append(app.post("/api/v1/leads", headers=affiliate(network),
                                        json=person_lead(network.cpl_offer["id"])))
                slowest = max(slowest, time.perf_counter() - began)
    finally:
        buyer.close()
        tracker.close()

    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert {a.json()["status"] for a in answers} == {"sold"}
    assert slowest < 3.0  # one broker timeout at most, then no Redis round trips per lead
    with db() as session:
        reasons = session.execute(text("SELECT fraud_reasons FROM lead WHERE id = ANY(:ids)"),
                                  {"ids": [a.json()["lead_id"] for a in answers]}).scalars().all()
        pending = session.execute(text("SELECT count(*) FROM delivery WHERE status = 'pending'")).scalar_one()
    assert all("velocity_unchecked" in r for r in reasons), reasons
    assert pending == 7  # no worker here; the 6 not queued wait for `marketplace.redeliver_stale`
    assert count_rows(db, "postback")["postback"] == 7
    # what the operator reads: the app's own log (our loggers do not propagate to the root)
    messages = app_log.getvalue().splitlines()
    assert sum("velocity unchecked" in m for m in messages) == 1, messages
    assert sum("broker unreachable" in m for m in messages) == 1, messages
    assert not any(" ERROR " in m for m in messages), messages
    assert_ledger_consistent(db)


# ---------------------------------------------------------------- PostgreSQL down behind the redirect


def test_clicks_redirect_from_cached_links_while_postgresql_is_down_and_are_stored_when_it_is_back(
        db, client, network, settings, pg_proxy, redis_db):
    proxy, proxied = pg_proxy
    codes = [created(client.post("/api/v1/tracking-links", headers=affiliate(network),
                                 json={"offer_id": network.cpl_offer["id"]}))["code"] for _ in range(3)]
    seen, in_redis_only, never_seen = codes
    acknowledged: list[str] = []
    with app_with(settings, settings, proxied) as app:
        acknowledged.append(click(app, seen))  # this process now knows the link
        proxy.down()
        problem(app.get("/healthz"), 503)

        acknowledged += [click(app, seen, sub1=f"n{n}") for n in range(20)]
        tracking.targets.clear()  # the in-process copies expired: the Redis copies serve
        acknowledged += [click(app, code) for code in (seen, in_redis_only) for _ in range(5)]
        # Redis lost the copy too (evicted, expired): the last copy this process saw still serves
        redis_db.delete(tracking.link_key(settings, seen))
        tracking.targets._entries[seen] = (0.0, tracking.targets._entries[seen][1])  # as if its 10 s were up
        acknowledged += [click(app, seen) for _ in range(5)]
        # A link nobody here has seen and Redis does not hold cannot be answered honestly.
        redis_db.delete(tracking.link_key(settings, never_seen))
        unknown = app.get(f"/r/{never_seen}", follow_redirects=False)
        assert unknown.status_code == 503 and unknown.headers["retry-after"] == "5"

        sessions = sessionmaker(proxied, expire_on_commit=False)
        with sessions() as session, pytest.raises(OperationalError):
            clicks.flush_stream(session, redis_db, settings, consumer="flusher-1")
        assert count_rows(db, "click")["click"] == 0

        proxy.up()
        with sessions() as session:  # the same flusher's next run, right away (no claim timeout)
            result = clicks.flush_stream(session, redis_db, settings, consumer="flusher-1")
    assert result.inserted == len(acknowledged) == 36
    with db() as session:
        stored = set(session.execute(text("SELECT click_id FROM click")).scalars())
    assert stored == set(acknowledged)


# ---------------------------------------------------------------- PostgreSQL unreachable for the API


def test_the_api_answers_503_with_retry_after_while_postgresql_is_unreachable_and_writes_nothing_half(
        db, client, network, settings, pg_proxy):
    proxy, proxied = pg_proxy
    place_order(client, network.advertiser, price="20.00")
    cut_at: list[str] = []

    @event.listens_for(proxied, "before_cursor_execute")
    def cut_before_the_ledger(conn, cursor, statement, parameters, context, executemany) -> None:
        # PostgreSQL goes away in the middle of intake's transaction: after the lead and its sale
        # rows were sent, before the ledger's entries are.
        if cut_at == ["armed"] and "INSERT INTO ledger_entry" in statement:
            cut_at[0] = "cut"
            proxy.down()

    with app_with(settings, settings, proxied) as app:
        warm = app.post("/api/v1/leads", headers=affiliate(network), json=person_lead(network.cpl_offer["id"]))
        assert warm.status_code == 201 and warm.json()["status"] == "sold"
        before = count_rows(db, "lead", "sale", "ledger_transaction", "ledger_entry", "idempotency_record")

        proxy.down()
        down = [app.post("/api/v1/leads", headers=affiliate(network), json=person_lead(network.cpl_offer["id"])),
                app.get("/api/v1/balance", headers={"X-API-Key": network.advertiser["api_key"]}),  # key not cached
                app.get("/healthz")]
        for answer in down:
            body = problem(answer, 503)
            assert answer.headers["retry-after"] == "5" and "unreachable" in body["detail"], body
        proxy.up()

        body = person_lead(network.cpl_offer["id"])
        headers = {**affiliate(network), "Idempotency-Key": "cut-mid-sale"}
        cut_at.append("armed")
        interrupted = app.post("/api/v1/leads", headers=headers, json=body)
        proxy.up()
        assert cut_at == ["cut"]
        problem(interrupted, 503)
        assert count_rows(db, "lead", "sale", "ledger_transaction", "ledger_entry", "idempotency_record") == before

        retried = app.post("/api/v1/leads", headers=headers, json=body)  # the client retries, as told
    assert retried.status_code == 201 and retried.json()["status"] == "sold"
    after = count_rows(db, "lead", "sale", "ledger_transaction")
    assert after == {"lead": before["lead"] + 1, "sale": before["sale"] + 1,
                     "ledger_transaction": before["ledger_transaction"] + 1}
    assert_ledger_consistent(db)


# ---------------------------------------------------------------- a buyer's webhook hanging


def test_a_hanging_buyer_webhook_times_out_and_is_retried_by_the_worker_while_intake_answers_promptly(
        db, client, network, settings, engine, own_redis, tmp_path):
    buyer = ScriptedServer("/leads", hang_seconds=8.0)  # longer than the delivery timeout (5 s)
    place_order(client, network.advertiser, price="20.00", delivery={"webhook_url": buyer.url, "secret": SECRET})
    variant = dataclasses.replace(settings, redis_url=own_redis.url, tasks_eager=False)
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": own_redis.url,
           "LEADMARKET_REDIS_PREFIX": settings.redis_prefix, "LEADMARKET_SECRET_KEY": settings.secret_key}
    worker = AppProcess(["worker", "--concurrency=2", "--without-gossip", "--without-mingle"], env,
                        tmp_path / "worker.log")
    worker.start()
    try:
        with app_with(settings, variant, engine) as app:
            first = app.post("/api/v1/leads", headers=affiliate(network), json=person_lead(network.cpl_offer["id"]))
            assert first.status_code == 201 and first.json()["status"] == "sold"
            assert wait_until(lambda: len(buyer.requests) >= 1, 30), worker.log_text()[-2000:]  # now hanging
            began = time.perf_counter()
            second = app.post("/api/v1/leads", headers=affiliate(network), json=person_lead(network.cpl_offer["id"]))
            answered_in = time.perf_counter() - began
            buyer.hang_seconds = 0.0  # the buyer recovers; the worker's retry gets through
        assert second.status_code == 201 and second.json()["status"] == "sold"
        assert answered_in < 1.5

        def delivered() -> list[tuple[Any, ...]]:
            with db() as session:
                return session.execute(text("SELECT status, attempts FROM delivery ORDER BY id")).all()

        assert wait_until(lambda: [s for s, _ in delivered()] == ["delivered", "delivered"], 40), delivered()
        with db() as session:
            first_attempts = session.execute(text(
                "SELECT a.number, a.error, a.duration_ms FROM delivery_attempt a "
                "JOIN delivery d ON d.id = a.delivery_id JOIN sale s ON s.id = d.sale_id "
                "WHERE s.lead_id = :lead ORDER BY a.number"),
                {"lead": first.json()["lead_id"]}).all()
    finally:
        worker.kill()
        buyer.close()
    assert first_attempts[0][1] == "timeout" and 4500 <= first_attempts[0][2] < 7000, first_attempts
    assert first_attempts[-1][1] is None and len(first_attempts) >= 2


def wait_until(condition, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()
