"""Ping-post against real HTTP buyers started here: one refuses every post (and bids highest), one
bids high, one bids low, one times out. The auction picks the best bid, the post falls back to
the next bid when the winner refuses, every answer is logged and scoped, buyers' health adds up."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
import pytest
from sqlalchemy import text

from leadmarket.clock import utcnow
from leadmarket.errors import Conflict
from marketplace import ping_post
from marketplace.ping_schemas import PostSubmission
from tests.order_support import headers, new_advertiser, person_lead, place_order
from tests.support import created, error_fields, principal_for, problem, submission

SECRET = "buyer-shared-secret-0123456789"
TIMEOUT_MS = 800  # generous: a loaded 2-core CI box must not turn live buyers into timeouts


class BuyerStub:
    """An external buyer: answers pings with `bid` (None: no bid) after `delay` seconds, and posts
    with accept = `accept_post`. Keeps every request it got, body and headers."""

    def __init__(self, bid: str | None, *, delay: float = 0.0, accept_post: bool = True) -> None:
        self.bid, self.delay, self.accept_post = bid, delay, accept_post
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                stub.requests.append((self.path, dict(self.headers), json.loads(raw)))
                stub.raw_bodies.append(raw)
                if self.path == "/ping":
                    time.sleep(stub.delay)
                    answer = {"accept": stub.bid is not None, "bid": stub.bid}
                else:
                    answer = {"accept": stub.accept_post}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.raw_bodies: list[bytes] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None  # the timed-out buyer writes to a closed socket
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def market(client, network):
    """Four advertisers, each with an external buyer on the car-insurance vertical."""
    stubs = {"refuser": BuyerStub("40.00", accept_post=False), "high": BuyerStub("30.00"),
             "low": BuyerStub("12.50"), "slow": BuyerStub("50.00", delay=3.0)}
    buyers = {}
    for name, stub in stubs.items():
        advertiser = new_advertiser(client, network, name=f"{name} buyer")
        buyer = created(client.post("/api/v1/ping-buyers", headers=network.admin_headers, json={
            "advertiser_id": advertiser["id"], "vertical": "car-insurance", "ping_url": stub.url + "/ping",
            "post_url": stub.url + "/post", "secret": SECRET, "timeout_ms": TIMEOUT_MS}))
        buyers[name] = {"stub": stub, "advertiser": advertiser, "buyer": buyer}
    yield buyers
    for stub in stubs.values():
        stub.close()


def ping_body(offer_id: int, **overrides: Any) -> dict[str, Any]:
    return {"offer_id": offer_id, "country": "US", "region": "CA", "postal_prefix": "941",
            "attributes": {"vehicle_year": 2019, "coverage": "full"}, "temperature": "warm", **overrides}


def do_ping(client, network, **overrides: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/ping", headers=network.affiliate_headers(),
                         json=ping_body(network.cpl_offer["id"], **overrides))
    assert answer.status_code == 200, answer.text
    return answer.json()


def do_post(client, network, ping_id: str, body: dict[str, Any] | None = None, *, other: bool = False):
    body = body or person_lead(network.cpl_offer["id"])
    return client.post("/api/v1/post", headers=network.affiliate_headers(other=other), json={**body, "ping_id": ping_id})


def verify(stub: BuyerStub, index: int) -> bool:
    _, sent, _ = stub.requests[index]
    body = stub.raw_bodies[index]
    expected = hmac.new(SECRET.encode(), sent["X-Leadmarket-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(sent["X-Leadmarket-Signature"], "sha256=" + expected)


def test_the_auction_picks_the_best_bid_and_logs_the_timeout(client, network, market):
    started = time.monotonic()
    answer = do_ping(client, network)
    took = time.monotonic() - started

    assert answer["status"] == "bid" and answer["best_bid"] == "40.00" and answer["currency"] == "USD"
    assert answer["bids"] == 3 and answer["ping_id"].startswith("png_")
    assert took < 2.5, "the slow buyer (3 s) is not waited for past its timeout"
    for name in market:  # every buyer got the same signed ping, with no contact data in it
        stub = market[name]["stub"]
        assert stub.paths() == ["/ping"] and verify(stub, 0)
        sent = stub.requests[0][2]
        assert sent["ping_id"] == answer["ping_id"] and sent["postal_prefix"] == "941"
        assert not {"contact", "first_name", "email", "phone"} & set(sent)

    log = client.get("/api/v1/pings", headers=network.admin_headers).json()
    assert len(log) == 1 and log[0]["ping_id"] == answer["ping_id"] and log[0]["best_bid"] == "40.00"
    by_buyer = {bid["buyer_id"]: bid for bid in log[0]["bids"]}
    slow = by_buyer[market["slow"]["buyer"]["id"]]
    assert slow["status"] == "timeout" and slow["bid"] is None and TIMEOUT_MS <= slow["response_ms"] < 2500
    assert by_buyer[market["low"]["buyer"]["id"]] | {"response_ms": 0} == {
        "status": "bid", "bid": "12.50", "response_ms": 0, "post_status": None, "post_ms": None,
        "buyer_id": market["low"]["buyer"]["id"], "advertiser_id": market["low"]["advertiser"]["id"]}


def test_the_post_falls_back_to_the_next_bid_when_the_winner_refuses(client, network, market, db):
    ping = do_ping(client, network)
    body = person_lead(network.cpl_offer["id"])

    answer = do_post(client, network, ping["ping_id"], body)

    assert answer.status_code == 201, answer.text
    decision = answer.json()
    assert decision["status"] == "sold" and decision["sold_to_ping_buyer"] is True and decision["payout"] == "12.50"
    # the refuser (best bid) got the full lead first and said no; the high bidder took it; low never saw it
    refused, taken = market["refuser"]["stub"].requests[-1], market["high"]["stub"].requests[-1]
    assert refused[0] == "/post" and taken[0] == "/post" and verify(market["high"]["stub"], -1)
    assert taken[2]["contact"]["email"] == body["contact"]["email"] and taken[2]["price"] == "30.00"
    assert market["low"]["stub"].paths() == ["/ping"] and market["slow"]["stub"].paths() == ["/ping"]

    with db() as session:
        sales = session.execute(text("SELECT advertiser_id, channel, price_minor, exclusive FROM sale")).all()
    assert [tuple(s) for s in sales] == [(market["high"]["advertiser"]["id"], "ping_post", 3000, True)]
    balance = client.get("/api/v1/balance", headers=headers(market["high"]["advertiser"])).json()
    assert balance["balance"] == "-30.00"
    lead = client.get(f"/api/v1/leads/{decision['lead_id']}", headers=network.affiliate_headers()).json()
    assert lead["status"] == "sold"

    log = client.get("/api/v1/pings", headers=network.admin_headers).json()[0]
    posts = {bid["buyer_id"]: bid["post_status"] for bid in log["bids"]}
    assert posts == {market["refuser"]["buyer"]["id"]: "rejected", market["high"]["buyer"]["id"]: "accepted",
                     market["low"]["buyer"]["id"]: None, market["slow"]["buyer"]["id"]: None}
    assert log["status"] == "posted" and log["lead_id"] == decision["lead_id"]


def test_no_buyer_accepting_sends_the_lead_to_normal_distribution(client, network, market, db):
    for name in market:
        market[name]["stub"].accept_post = False
    place_order(client, network.advertiser, price="20.00")
    ping = do_ping(client, network)

    decision = created(do_post(client, network, ping["ping_id"]))

    assert decision["status"] == "sold" and decision["sold_to_ping_buyer"] is False
    assert [p for name in ("refuser", "high", "low") for p in market[name]["stub"].paths()].count("/post") == 3
    with db() as session:
        sales = session.execute(text("SELECT advertiser_id, channel FROM sale")).all()
    assert [tuple(s) for s in sales] == [(network.advertiser["id"], "order")]


def test_a_duplicate_lead_is_not_posted_to_any_buyer(client, network, market):
    body = person_lead(network.cpl_offer["id"])
    first = created(client.post("/api/v1/leads", headers=network.affiliate_headers(), json=body))
    ping = do_ping(client, network)

    decision = created(do_post(client, network, ping["ping_id"], body))

    assert decision["status"] == "rejected" and decision["reason"] == "duplicate"
    assert decision["duplicate_of"] == first["lead_id"] and decision["sold_to_ping_buyer"] is False
    assert all(market[name]["stub"].paths() == ["/ping"] for name in market)


def test_buyer_health_counts_bids_timeouts_rejects_and_response_times(client, network, market):
    for _ in range(2):
        ping = do_ping(client, network)
        created(do_post(client, network, ping["ping_id"]))
    market["low"]["stub"].bid = None  # the low bidder passes on the third ping
    do_ping(client, network)

    answer = client.get("/api/v1/ping-buyers/health", headers=network.admin_headers)

    assert answer.status_code == 200, answer.text
    health = {row["buyer_id"]: row for row in answer.json()}
    refuser, high = health[market["refuser"]["buyer"]["id"]], health[market["high"]["buyer"]["id"]]
    low, slow = health[market["low"]["buyer"]["id"]], health[market["slow"]["buyer"]["id"]]
    assert (refuser["pings"], refuser["accept_rate"], refuser["posts"], refuser["post_reject_rate"]) == (3, 1.0, 2, 1.0)
    assert (high["accept_rate"], high["posts"], high["post_reject_rate"], high["timeout_rate"]) == (1.0, 2, 0.0, 0.0)
    assert (low["bids"], low["accept_rate"], low["posts"], low["post_reject_rate"]) == (2, 0.6667, 0, None)
    assert (slow["timeouts"], slow["timeout_rate"], slow["accept_rate"]) == (3, 1.0, 0.0)
    assert slow["median_response_ms"] >= TIMEOUT_MS and high["median_response_ms"] < TIMEOUT_MS
    assert client.get("/api/v1/ping-buyers/health", headers=network.affiliate_headers()).status_code == 403


def test_logs_show_each_caller_only_their_own(client, network, market):
    ping = do_ping(client, network)
    created(do_post(client, network, ping["ping_id"]))

    mine = client.get("/api/v1/pings", headers=network.affiliate_headers()).json()
    theirs = client.get("/api/v1/pings", headers=network.affiliate_headers(other=True)).json()
    low = client.get("/api/v1/pings", headers=headers(market["low"]["advertiser"])).json()
    outsider = client.get("/api/v1/pings", headers=headers(network.advertiser)).json()

    assert [p["ping_id"] for p in mine] == [ping["ping_id"]] and len(mine[0]["bids"]) == 4
    assert all(bid["buyer_id"] is None and bid["advertiser_id"] is None for bid in mine[0]["bids"])
    assert theirs == [] and outsider == []
    assert [(b["advertiser_id"], b["bid"]) for b in low[0]["bids"]] == [(market["low"]["advertiser"]["id"], "12.50")]


def test_expired_foreign_and_reused_pings_are_refused_with_a_reason(client, network, market, db):
    expired, foreign, reused = (do_ping(client, network) for _ in range(3))
    with db() as session, session.begin():
        session.execute(text("UPDATE ping SET expires_at = :at WHERE token = :token"),
                        {"at": utcnow() - timedelta(seconds=1), "token": expired["ping_id"]})

    assert "expired" in problem(do_post(client, network, expired["ping_id"]), 409)["detail"]
    problem(do_post(client, network, foreign["ping_id"], other=True), 404)
    problem(do_post(client, network, "png_never_issued"), 404)
    lead_id = created(do_post(client, network, reused["ping_id"]))["lead_id"]
    assert f"already posted as lead {lead_id}" in problem(do_post(client, network, reused["ping_id"]), 409)["detail"]
    # the foreign ping is still the owner's to post
    assert created(do_post(client, network, foreign["ping_id"]))["sold_to_ping_buyer"] is True


def test_bad_pings_and_buyers_get_every_field_named_and_write_nothing(client, network, market, db):
    answer = client.post("/api/v1/ping", headers=network.affiliate_headers(), json=ping_body(
        network.cpl_offer["id"], country=None, temperature="boiling", postal_prefix="9410777",
        attributes={"vehicle_year": 1900, "pets": 2}))
    assert error_fields(answer).keys() == {"country", "temperature", "postal_prefix", "attributes.vehicle_year",
                                           "attributes.coverage", "attributes.pets"}
    bad_buyer = client.post("/api/v1/ping-buyers", headers=network.admin_headers, json={
        "advertiser_id": 999999, "vertical": "boats", "ping_url": "ftp://x", "post_url": "http://ok.example/post",
        "secret": "short", "timeout_ms": 5})
    assert error_fields(bad_buyer).keys() == {"advertiser_id", "vertical", "ping_url", "secret", "timeout_ms"}
    with db() as session:
        assert session.execute(text("SELECT count(*) FROM ping")).scalar_one() == 0
    ping = do_ping(client, network)
    wrong = do_post(client, network, ping["ping_id"], person_lead(network.cpl_offer["id"], contact={"country": "CA"}))
    assert "contact.country" in error_fields(wrong)
    bad_phone = do_post(client, network, ping["ping_id"], person_lead(network.cpl_offer["id"], contact={"phone": "12"}))
    assert "contact.phone" in error_fields(bad_phone)
    assert created(do_post(client, network, ping["ping_id"]))["status"] == "sold"  # a 422 does not use the ping up
    listed = client.get("/api/v1/ping-buyers", headers=network.admin_headers).json()
    assert len(listed) == 4 and all(b["has_secret"] and "secret" not in b for b in listed)


def test_a_ping_racing_posts_sells_one_lead_once(client, network, market, db):
    ping = do_ping(client, network)
    affiliate = principal_for(db, network.affiliate["api_key"])
    bodies = [person_lead(network.cpl_offer["id"]) for _ in range(4)]
    start = threading.Barrier(len(bodies))

    def post(body: dict[str, Any]) -> str:
        start.wait()  # the affiliate's retries all land at once
        with db() as session:
            try:
                data = msgspec.convert(msgspec.to_builtins(submission(body)) | {"ping_id": ping["ping_id"]},
                                       PostSubmission)
                return ping_post.post_lead(session, affiliate, data).status
            except Conflict:
                return "conflict"

    with ThreadPoolExecutor(len(bodies)) as pool:
        outcomes = sorted(pool.map(post, bodies))

    assert outcomes == ["conflict"] * 3 + ["sold"]
    with db() as session:
        assert session.execute(text("SELECT count(*) FROM lead")).scalar_one() == 1
        assert session.execute(text("SELECT count(*) FROM sale WHERE channel = 'ping_post'")).scalar_one() == 1
    assert market["high"]["stub"].paths().count("/post") == 1
