"""The embedded default: `leadmarket demo` on SQLite without Redis, run as a user would run it.

These tests start the real command in an empty directory with DATABASE_URL and REDIS_URL unset,
read the keys it prints, and use them over HTTP against the server it started.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadmarket.demo import ADVERTISERS, OPENING_BALANCE_NOTE
from leadmarket.identity import digest
from tests.support import lead_body
from tests.ports import free_port

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parent.parent
KEY_LINE = re.compile(r"^\s*(admin key|finance key|affiliate key \((.+?)\)|advertiser key \((.+?)\)): (lmk_\S+)$", re.M)
OFFER_LINE = re.compile(r"^\s*offer (\d+): (.+?) \[([a-z0-9-]+), (marketplace|targeted), (CPL|CPA) ([\d.]+) ([A-Z]{3})\]$",
                        re.M)
LEADS_LINE = re.compile(r"^Leads: (\d+) \((.*)\)$", re.M)
OPENING_BALANCES = {a["name"]: Decimal(a["opening_balance"]) for a in ADVERTISERS if "opening_balance" in a}


def embedded_env() -> dict[str, str]:
    """The caller's environment minus every setting that would point away from the embedded default."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "LEADMARKET_PUBLIC_URL")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def leadmarket(*args: str) -> list[str]:
    return [sys.executable, "-m", "leadmarket.cli", *args]


@dataclass
class Printed:
    """What `leadmarket demo` told the user."""

    text: str
    keys: dict[str, str]
    affiliate_keys: dict[str, str]
    advertiser_keys: dict[str, str]
    offers: list[dict[str, Any]]
    curl: list[str]
    leads: dict[str, int]  # the summary line: status -> count

    @classmethod
    def parse(cls, text: str) -> Printed:
        keys, affiliates, advertisers = {}, {}, {}
        for label, affiliate, advertiser, raw in KEY_LINE.findall(text):
            keys[label] = raw
            if affiliate:
                affiliates[affiliate] = raw
            if advertiser:
                advertisers[advertiser] = raw
        offers = [{"id": int(i), "name": name, "vertical": vertical, "kind": kind, "payout_model": model.lower(),
                   "payout": payout, "currency": currency}
                  for i, name, vertical, kind, model, payout, currency in OFFER_LINE.findall(text)]
        curl = re.search(r"^\s*(curl -s -X POST .*?)\n\s*\n", text, re.M | re.S)
        summary = LEADS_LINE.search(text)
        leads = {}
        if summary:
            leads = {"total": int(summary.group(1))}
            # "sold 199, accepted 73, review 8, rejected 20: duplicate 14, user_agent_bot 4"
            for status, count in re.findall(r"(?:^|, )(sold|accepted|review|rejected) (\d+)", summary.group(2)):
                leads[status] = int(count)
            rejected = summary.group(2).partition("rejected ")[2].partition(": ")[2]
            leads |= {f"rejected/{reason}": int(count) for reason, count in re.findall(r"(\w+) (\d+)", rejected)}
        return cls(text=text, keys=keys, affiliate_keys=affiliates, advertiser_keys=advertisers, offers=offers,
                   curl=shlex.split(curl.group(1).replace("\\\n", " ")) if curl else [], leads=leads)

    def offer(self, vertical: str, payout_model: str) -> dict[str, Any]:
        return next(o for o in self.offers if o["vertical"] == vertical and o["payout_model"] == payout_model)


def send_curl(argv: list[str]) -> httpx.Response:
    """Do what the printed `curl -s -X POST URL -H ... -d BODY` does."""
    assert argv[:4] == ["curl", "-s", "-X", "POST"], argv
    url, headers, body = argv[4], {}, None
    rest = iter(argv[5:])
    for flag in rest:
        value = next(rest)
        if flag == "-H":
            name, _, header_value = value.partition(":")
            headers[name.strip()] = header_value.strip()
        elif flag == "-d":
            body = value
        else:
            raise AssertionError(f"unexpected curl flag {flag}")
    return httpx.post(url, headers=headers, content=body, timeout=10)


@dataclass
class RunningDemo:
    url: str
    workdir: Path
    printed: Printed
    process: subprocess.Popen[bytes]


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[RunningDemo]:
    port = free_port()
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(leadmarket("demo", "--port", str(port)), cwd=tmp_path, env=embedded_env(),
                                   stdout=stdout, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"demo exited with {process.returncode}:\n{err.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"demo did not answer /healthz within 60 s:\n{err.read_text()[-3000:]}")
            time.sleep(0.25)
        yield RunningDemo(url=url, workdir=tmp_path, printed=Printed.parse(out.read_text()), process=process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_demo_serves_the_embedded_network_and_takes_a_lead(running_demo: RunningDemo):
    demo, printed = running_demo, running_demo.printed
    health = httpx.get(f"{demo.url}/healthz").json()
    assert health == {"status": "ok", "database": "ok", "redis": "disabled"}
    assert (demo.workdir / "leadmarket.sqlite3").is_file()
    assert f"Leadmarket demo: {demo.url}" in printed.text

    # The copy-paste example from the welcome text works, and works as promised when run twice.
    first = send_curl(printed.curl)
    assert first.status_code == 201, first.text
    # Sold when it fits a car insurer's order (its region, cover and car), else kept for the store.
    assert first.json()["status"] in ("sold", "accepted") and first.json()["payout"] == "12.50"
    again = send_curl(printed.curl)
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "rejected" and again.json()["reason"] == "duplicate"
    assert again.json()["duplicate_of"] == first.json()["lead_id"]

    # Any printed affiliate key posts a lead to a printed offer, then reads it back; others cannot.
    # A Californian wanting full cover for a 2019 car fits two insurers' shared orders: it sells to
    # both, and each one's balance pays for it.
    insurers = [printed.advertiser_keys[name] for name in ("Harbor Mutual Insurance", "Crestline Auto & Home")]
    before = [balance(demo, key) for key in insurers]
    offer = printed.offer("car-insurance", "cpl")
    key = printed.affiliate_keys["Wanderlust Deals"]
    answer = httpx.post(f"{demo.url}/api/v1/leads", headers={"X-API-Key": key},
                        json=lead_body(offer["id"], contact={"phone": "+1 512 867 5309"}))
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "sold" and answer.json()["payout"] == offer["payout"]
    for key_, was in zip(insurers, before, strict=True):
        assert Decimal(balance(demo, key_)["balance"]) < Decimal(was["balance"])
    lead = httpx.get(f"{demo.url}/api/v1/leads/{answer.json()['lead_id']}", headers={"X-API-Key": key})
    assert lead.status_code == 200, lead.text
    assert lead.json()["contact"]["phone"] == "+15128675309" and lead.json()["offer_id"] == offer["id"]
    stranger = printed.affiliate_keys["CompareWise"]
    assert httpx.get(f"{demo.url}/api/v1/leads/{answer.json()['lead_id']}",
                     headers={"X-API-Key": stranger}).status_code == 404

    listed = httpx.get(f"{demo.url}/api/v1/offers", headers={"X-API-Key": key})
    assert listed.status_code == 200, listed.text
    assert {(o["id"], o["name"], o["payout"]) for o in listed.json()} == {
        (o["id"], o["name"], o["payout"]) for o in printed.offers}
    verticals = httpx.get(f"{demo.url}/api/v1/verticals", headers={"X-API-Key": printed.keys["admin key"]})
    assert verticals.status_code == 200
    assert {v["slug"] for v in verticals.json()} == {"car-insurance", "personal-loans", "travel", "online-courses"}
    assert httpx.get(f"{demo.url}/schema/openapi.json").status_code == 200

    check_orders_and_spend(demo)

    demo.process.terminate()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended.
    assert demo.process.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "Finished server process" in (demo.workdir / "demo.err").read_text()


def balance(demo: RunningDemo, key: str) -> dict[str, Any]:
    answer = httpx.get(f"{demo.url}/api/v1/balance", headers={"X-API-Key": key})
    assert answer.status_code == 200, answer.text
    return answer.json()


def check_orders_and_spend(demo: RunningDemo) -> None:
    """Every demo advertiser reads its own orders (2-4, priced above what the affiliate earns per
    lead) and a balance that shows what the seeded leads cost it."""
    printed = demo.printed
    assert set(printed.advertiser_keys) == {a["name"] for a in ADVERTISERS}
    floor = {o["vertical"]: Decimal(o["payout"]) for o in printed.offers
             if o["kind"] == "marketplace" and o["payout_model"] == "cpl"}
    orders: list[dict[str, Any]] = []
    for name, key in printed.advertiser_keys.items():
        answer = httpx.get(f"{demo.url}/api/v1/orders", headers={"X-API-Key": key})
        assert answer.status_code == 200, answer.text
        own = answer.json()
        assert 2 <= len(own) <= 4, (name, own)
        assert {o["advertiser_id"] for o in own} == {balance(demo, key)["advertiser_id"]}
        for order in own:
            assert Decimal(order["price"]) > floor[order["vertical"]], order
        orders += own
        money = balance(demo, key)
        if name in OPENING_BALANCES:  # prepaid: the opening credit, less what the leads cost
            assert money["billing_mode"] == "prepaid"
            assert 0 < Decimal(money["balance"]) < OPENING_BALANCES[name], (name, money)
        else:  # invoiced monthly: what the leads cost is owed
            assert money["billing_mode"] == "invoice" and Decimal(money["balance"]) < 0, (name, money)
    assert {o["vertical"] for o in orders} == set(floor)
    assert {o["exclusive"] for o in orders} == {True, False}
    assert [o["status"] for o in orders].count("paused") == 1
    assert any(o["filters"]["countries"] for o in orders) and any(o["filters"]["regions"] for o in orders)
    assert any(o["filters"]["ranges"] for o in orders) and any(o["filters"]["choices"] for o in orders)
    assert any(o["filters"]["min_temperature"] for o in orders)
    assert any(o["caps"]["daily"] for o in orders) and any(o["caps"]["daily_budget"] for o in orders)
    scheduled = [o for o in orders if o["schedule"] is not None]
    assert len(scheduled) == 1 and len(scheduled[0]["schedule"]["hours"]) >= 12
    assert scheduled[0]["time_zone"] != "UTC"

    # The summary line counts what the seeded leads became.
    leads = printed.leads
    assert leads["sold"] > leads["accepted"] > 0 and leads["rejected"] > 0 and leads["rejected/duplicate"] > 0
    assert leads["total"] >= 300


LOGIN_LINE = re.compile(r"^\s*(admin|finance|advertiser|affiliate) login: (\S+) / (\S+)$", re.M)


def test_demo_prints_portal_logins_that_work(running_demo: RunningDemo):
    logins = {role: (email, password) for role, email, password in LOGIN_LINE.findall(running_demo.printed.text)}
    assert set(logins) == {"admin", "finance", "advertiser", "affiliate"}
    for role, (email, password) in logins.items():
        page = httpx.get(f"{running_demo.url}/login")
        token = re.search(r"lm_csrf=([^;]+)", page.headers["set-cookie"]).group(1)
        answer = httpx.post(f"{running_demo.url}/login", cookies={"lm_csrf": token},
                            data={"email": email, "password": password, "_csrf_token": token})
        assert answer.status_code == 303 and answer.headers["location"] == f"/{role}", (role, answer.text[:300])
        session = re.search(r"lm_session=([^;]+)", answer.headers["set-cookie"]).group(1)
        home = httpx.get(f"{running_demo.url}/{role}", cookies={"lm_session": session})
        assert home.status_code == 200 and "Log out" in home.text, role


def test_demo_without_serving_seeds_once_and_prints_fresh_keys(tmp_path: Path):
    def run() -> tuple[Printed, str]:
        done = subprocess.run(leadmarket("demo", "--no-serve", "--leads", "120"), cwd=tmp_path, env=embedded_env(),
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        return Printed.parse(done.stdout), done.stderr

    first, _ = run()
    assert set(first.keys) >= {"admin key", "finance key"}
    assert len(first.affiliate_keys) == 4 and len(first.advertiser_keys) == len(ADVERTISERS) == 6
    assert len(first.offers) >= 6 and {o["kind"] for o in first.offers} == {"marketplace", "targeted"}
    assert {o["payout_model"] for o in first.offers} == {"cpl", "cpa"}
    assert first.leads["total"] == 120, first.text
    assert first.leads["sold"] > 0 and first.leads["accepted"] > 0 and first.leads["rejected/duplicate"] > 0

    second, log = run()
    assert "not seeding again" in log
    assert second.offers == first.offers
    assert not set(first.keys.values()) & set(second.keys.values())  # new keys, each shown once

    with sqlite3.connect(tmp_path / "leadmarket.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM vertical").fetchone() == (4,)
        assert conn.execute("SELECT count(*) FROM lead").fetchone() == (120,)
        duplicates = conn.execute("SELECT count(*) FROM lead WHERE status = 'rejected' AND reason = 'duplicate'"
                                  " AND duplicate_of_id IS NOT NULL").fetchone()[0]
        assert 0 < duplicates < 20
        stored = {row[0] for row in conn.execute("SELECT key_digest FROM api_key")}
        # Every printed key is a real key, stored only as its digest.
        for raw in [*first.keys.values(), *second.keys.values()]:
            assert digest(raw) in stored and raw not in stored
        countries = {row[0] for row in conn.execute("SELECT DISTINCT country FROM lead")}
        assert countries >= {"US", "GB", "DE", "CA"}

        # Orders were placed once, before the leads, and the leads sold through them.
        per_advertiser = dict(conn.execute("SELECT advertiser_id, count(*) FROM advertiser_order GROUP BY 1"))
        assert len(per_advertiser) == 6 and all(2 <= n <= 4 for n in per_advertiser.values())
        last_order_at, first_lead_at = conn.execute(
            "SELECT (SELECT max(created_at) FROM advertiser_order), (SELECT min(created_at) FROM lead)").fetchone()
        assert last_order_at <= first_lead_at
        sold = conn.execute("SELECT count(*) FROM lead WHERE status = 'sold'").fetchone()[0]
        assert sold == first.leads["sold"]
        assert conn.execute("SELECT count(DISTINCT lead_id) FROM sale").fetchone()[0] == sold
        assert conn.execute("SELECT count(*) FROM sale WHERE channel = 'order'").fetchone()[0] > 0
        # Each prepaid advertiser got its opening balance once, as a manual credit with a note.
        credits = conn.execute("SELECT count(*) FROM ledger_transaction WHERE kind = 'manual_credit' AND memo = ?",
                               (OPENING_BALANCE_NOTE,)).fetchone()[0]
        assert credits == len(OPENING_BALANCES) == 4
        assert conn.execute("SELECT coalesce(sum(amount_minor), 0) FROM ledger_entry").fetchone() == (0,)
