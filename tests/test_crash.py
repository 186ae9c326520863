"""Crash test: the server and a worker run as real processes (uvicorn; Celery on Redis, not eager),
leads and clicks arrive concurrently, both are SIGKILLed mid-load and restarted, and afterwards
nothing a client was told is missing or doubled, no sale is half-written and the books balance."""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from tests.billing_support import assert_ledger_consistent
from tests.fault_proxy import AppProcess, FaultProxy, RedisServer, free_port
from tests.order_support import new_advertiser, person_lead, place_order
from tests.support import created

pytestmark = pytest.mark.timeout(150)

KEY_PREFIX = f"crash-{secrets.token_hex(3)}-"


@dataclass
class Stack:
    base: str
    server: AppProcess
    worker: AppProcess

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.process is not None and self.server.process.poll() is not None:
                raise AssertionError("the server exited:\n" + self.server.log_text()[-3000:])
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the server did not come up:\n" + self.server.log_text()[-3000:])
        while time.monotonic() < deadline:
            if self.worker.log_text().count(" ready.") >= self.worker.starts:
                return
            if self.worker.process is not None and self.worker.process.poll() is not None:
                raise AssertionError("the worker exited:\n" + self.worker.log_text()[-3000:])
            time.sleep(0.1)
        raise AssertionError("the worker did not come up:\n" + self.worker.log_text()[-3000:])

    def logs(self) -> str:
        """The ends of both processes' logs, for a failure message."""
        return (f"\n--- server log\n{self.server.log_text()[-2500:]}"
                f"\n--- worker log\n{self.worker.log_text()[-2500:]}")


@pytest.fixture
def stack(settings, tmp_path) -> Iterator[Stack]:
    """Our own redis-server (the Celery queue names are not prefixed: no sharing a broker), the
    throwaway database, one server process and one worker process with embedded beat."""
    redis = RedisServer(tmp_path)
    redis.start()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": redis.url,
           "LEADMARKET_REDIS_PREFIX": f"lmcrash:{secrets.token_hex(4)}:", "LEADMARKET_SECRET_KEY": settings.secret_key,
           "LEADMARKET_PUBLIC_URL": f"http://127.0.0.1:{port}", "LEADMARKET_RATE_LIMITS": "off",
           "LEADMARKET_DB_POOL_SIZE": "8",
           # the restarted worker takes over the dead one's unflushed clicks after 2 s, not a minute
           "LEADMARKET_CLICK_CLAIM_IDLE_SECONDS": "2"}
    env.pop("LEADMARKET_TASKS_EAGER", None)
    server = AppProcess(["serve", "--port", str(port)], env, tmp_path / "server.log")
    worker = AppProcess(["worker", "-B", "-s", str(tmp_path / "beat-schedule"), "--concurrency=2",
                         "--without-gossip", "--without-mingle"], env, tmp_path / "worker.log")
    stack = Stack(f"http://127.0.0.1:{port}", server, worker)
    try:
        server.start()
        worker.start()
        stack.wait_ready()
        yield stack
    finally:
        server.kill()
        worker.kill()
        redis.stop()


@dataclass
class LeadAttempt:
    key: str
    body: dict[str, Any]
    lead_id: int | None = None
    tries: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class Load:
    """Clients that keep posting: a lead without an answer is retried with its Idempotency-Key."""

    base: str
    affiliate_key: str
    offer_id: int
    link_codes: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    attempts: list[LeadAttempt] = field(default_factory=list)
    click_ids: list[str] = field(default_factory=list)
    click_errors: int = 0
    unexpected: list[str] = field(default_factory=list)
    serial: Iterator[int] = field(default_factory=itertools.count)

    def answered(self) -> int:
        return sum(1 for a in self.attempts if a.lead_id is not None)

    def post_until_answered(self, http: httpx.Client, attempt: LeadAttempt, deadline: float, base: str) -> None:
        while attempt.lead_id is None and time.monotonic() < deadline:
            attempt.tries += 1
            try:
                response = http.post(f"{base}/api/v1/leads", json=attempt.body,
                                     headers={"X-API-Key": self.affiliate_key, "Idempotency-Key": attempt.key})
            except httpx.TransportError as exc:  # refused, reset mid-request, timed out: no answer
                attempt.failures.append(type(exc).__name__)
                time.sleep(0.2)
                continue
            if response.status_code == 201:
                attempt.lead_id = response.json()["lead_id"]
            elif response.status_code in (409, 503) or response.status_code >= 500:
                attempt.failures.append(str(response.status_code))  # in progress elsewhere, or down
                time.sleep(0.2)
            else:
                self.unexpected.append(f"{response.status_code} {response.text[:300]}")
                return

    def post_leads(self, base: str | None = None) -> None:
        base = base or self.base
        with httpx.Client(timeout=15) as http:
            while not self.stop.is_set():
                attempt = LeadAttempt(f"{KEY_PREFIX}{next(self.serial)}", person_lead(self.offer_id))
                self.attempts.append(attempt)
                self.post_until_answered(http, attempt, time.monotonic() + 60, base)

    def click(self) -> None:
        with httpx.Client(timeout=5) as http:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                code = self.link_codes[n % len(self.link_codes)]
                try:
                    response = http.get(f"{self.base}/r/{code}", params={"sub1": f"c{n % 7}"})
                except httpx.TransportError:
                    self.click_errors += 1
                    time.sleep(0.1)
                    continue
                if response.status_code == 302:
                    self.click_ids.append(parse_qs(urlsplit(response.headers["location"]).query)["cid"][0])
                else:
                    self.unexpected.append(f"click {response.status_code}")
                time.sleep(0.01)


def wait_until(condition, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def scalar_set(db, sql: str, **params: Any) -> set[Any]:
    with db() as session:
        return set(session.execute(text(sql), params).scalars())


def test_nothing_answered_is_lost_or_doubled_when_server_and_worker_are_killed(db, client, network, stack):
    exclusive_buyer = new_advertiser(client, network, name="Exclusive buyer")
    place_order(client, exclusive_buyer, price="70.00", exclusive=True, caps={"hourly": 25})
    for n in range(2):
        place_order(client, new_advertiser(client, network, name=f"Shared buyer {n}"), price=f"{20 + n}.00")
    offer_id = network.cpl_offer["id"]
    codes = [created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                                 json={"offer_id": offer_id, "sub_ids": {"sub2": f"link{n}"}}))["code"]
             for n in range(3)]
    load = Load(stack.base, network.affiliate["api_key"], offer_id, codes)
    # Two of the lead clients reach the server through a proxy that, just before the kill, loses
    # the answers: those leads are committed and their clients never hear of it.
    proxy = FaultProxy("127.0.0.1", urlsplit(stack.base).port or 80)
    proxied = f"http://127.0.0.1:{proxy.port}"
    threads = ([threading.Thread(target=load.post_leads) for _ in range(4)]
               + [threading.Thread(target=load.post_leads, args=(proxied,)) for _ in range(2)]
               + [threading.Thread(target=load.click) for _ in range(2)])
    for thread in threads:
        thread.start()
    try:
        assert wait_until(lambda: load.answered() >= 25 and len(load.click_ids) >= 100, 30), \
            "no load got through" + stack.logs()
        proxy.lose_answers()
        assert wait_until(lambda: proxy.lost >= 2, 10), "no answer went through the proxy to be lost"
        before_kill = load.answered()
        killed_at = datetime.now(UTC)
        stack.server.kill()
        stack.worker.kill()
        proxy.deliver_answers()
        time.sleep(0.5)  # clients meet a dead port meanwhile
        stack.server.start()
        stack.worker.start()
        stack.wait_ready()
        assert wait_until(lambda: load.answered() >= before_kill + 25, 30), \
            "no leads answered after the restart" + stack.logs()
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=70)
        proxy.close()

    assert not load.unexpected, load.unexpected[:5] + [stack.logs()]
    unanswered = [a.key for a in load.attempts if a.lead_id is None]
    assert not unanswered, f"{len(unanswered)} leads never answered"
    interrupted = [a for a in load.attempts if a.failures]
    assert interrupted, "the kill interrupted no lead request: the test proved nothing"
    answers = {a.key: a.lead_id for a in load.attempts}

    # Every answered lead is in the database exactly once: each key bound to the lead it answered,
    # and no lead beside those (a retry after a lost answer replayed instead of creating another).
    with db() as session:
        records = dict(session.execute(text(
            "SELECT key, (response_body->>'lead_id')::bigint FROM idempotency_record WHERE key LIKE :prefix"),
            {"prefix": KEY_PREFIX + "%"}).all())
    assert records == answers
    assert scalar_set(db, "SELECT id FROM lead") == set(answers.values())
    assert len(set(answers.values())) == len(answers)

    # Every click acknowledged by a 302 gets to the click table once the restarted worker flushed
    # (including what the killed worker had read but not acknowledged).
    acknowledged = set(load.click_ids)
    stored = lambda: scalar_set(db, "SELECT click_id FROM click WHERE click_id = ANY(:ids)", ids=list(acknowledged))
    assert wait_until(lambda: stored() == acknowledged, 40, step=0.5), \
        f"{len(acknowledged - stored())} of {len(acknowledged)} acknowledged clicks missing" + stack.logs()
    with db() as session:
        rows, distinct = session.execute(text("SELECT count(*), count(DISTINCT click_id) FROM click")).one()
    assert rows == distinct

    # No sale half-written: each has its charge in the ledger, its delivery row and its count; a
    # lead is `sold` exactly when it has sales; the books balance.
    with db() as session:
        uncharged = session.execute(text(
            "SELECT s.id FROM sale s LEFT JOIN ledger_transaction t ON t.idempotency_key = 'charge:sale:' || s.id "
            "WHERE t.id IS NULL")).scalars().all()
        undelivered = session.execute(text(
            "SELECT s.id FROM sale s LEFT JOIN delivery d ON d.sale_id = s.id WHERE d.id IS NULL")).scalars().all()
        miscounted = session.execute(text(
            "SELECT l.id FROM lead l LEFT JOIN lead_sale_count c ON c.lead_id = l.id "
            "LEFT JOIN (SELECT lead_id, count(*) n, bool_or(exclusive) x FROM sale GROUP BY lead_id) s "
            "ON s.lead_id = l.id WHERE coalesce(c.sales, 0) <> coalesce(s.n, 0) "
            "OR (s.x AND s.n <> 1) OR (l.status = 'sold') <> (s.n IS NOT NULL)")).scalars().all()
        sold = session.execute(text("SELECT count(*) FROM lead WHERE status = 'sold'")).scalar_one()
    assert not uncharged and not undelivered and not miscounted, (uncharged, undelivered, miscounted)
    assert sold > 0
    assert_ledger_consistent(db)
    in_flight = sum(1 for a in interrupted if a.failures[0] != "ConnectError")  # sent, then the server died
    # committed before the kill but never answered: the retry was answered from the idempotency record
    replayed = len(scalar_set(db, "SELECT id FROM lead WHERE id = ANY(:ids) AND created_at < :killed",
                              ids=[a.lead_id for a in interrupted], killed=killed_at))
    assert replayed >= 1  # the lost answers: their retries were answered from the idempotency records
    print(f"\nleads {len(answers)} ({len(interrupted)} retried, {in_flight} of them cut mid-request, {replayed} "
          f"committed before the kill; {sold} sold), "
          f"clicks {len(acknowledged)} acknowledged ({load.click_errors} refused while down)")
