"""Delivery of sold leads to the buyer's webhook: a real HTTP server started by the test receives
the signed JSON; failures are retried and every attempt is recorded; a dead letter after N."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from leadmarket.celery_app import enqueue
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from marketplace import delivery
from tests.http_stubs import ScriptedServer
from tests.order_support import headers, new_advertiser, person_lead, place_order, post

SECRET = "a-long-signing-secret-123"


class BuyerServer(ScriptedServer):
    """A buyer's CRM endpoint: answers with the scripted statuses (then 200), or hangs."""

    def __init__(self, statuses: list[int] | None = None, *, hang_seconds: float = 0.0) -> None:
        super().__init__("/leads", statuses, hang_seconds=hang_seconds)


@pytest.fixture
def buyer_server():
    servers: list[BuyerServer] = []

    def start(statuses: list[int] | None = None, **kwargs: Any) -> BuyerServer:
        servers.append(BuyerServer(statuses, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def buyer_with_webhook(client, network, url: str) -> dict:
    advertiser = new_advertiser(client, network)
    place_order(client, advertiser, price="30.00", exclusive=True,
                delivery={"webhook_url": url, "secret": SECRET})
    return advertiser


def purchases(client, advertiser) -> list[dict]:
    answer = client.get("/api/v1/purchases", headers=headers(advertiser))
    assert answer.status_code == 200, answer.text
    return answer.json()


def attempts(db, sale_id: int) -> list[tuple[int, int | None, str | None]]:
    with db() as session:
        return [tuple(r) for r in session.execute(text(
            "SELECT a.number, a.status_code, a.error FROM delivery_attempt a JOIN delivery d ON d.id = a.delivery_id"
            " WHERE d.sale_id = :sale ORDER BY a.number"), {"sale": sale_id})]


def test_a_sold_lead_arrives_signed_with_the_full_lead(client, network, db, buyer_server):
    server = buyer_server()
    advertiser = buyer_with_webhook(client, network, server.url)
    body = person_lead(network.cpl_offer["id"])
    assert post(client, network, body)["status"] == "sold"

    assert len(server.requests) == 1
    request = server.requests[0]
    timestamp, sent = request["headers"]["X-Leadmarket-Timestamp"], request["body"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + sent, hashlib.sha256).hexdigest()
    assert request["headers"]["X-Leadmarket-Signature"] == f"sha256={expected}"
    assert abs(int(timestamp) - time.time()) < 60
    payload = json.loads(sent)
    assert payload["event"] == "lead.sold" and payload["price"] == "30.00" and payload["exclusive"] is True
    assert payload["lead"]["contact"]["email"] == body["contact"]["email"]
    assert payload["lead"]["contact"]["phone"].startswith("+1415")
    assert payload["lead"]["attributes"]["coverage"] == "full"
    assert payload["lead"]["consent"]["page_url"] == "https://quotes.example/car"

    [purchase] = purchases(client, advertiser)
    assert purchase["delivery"]["status"] == "delivered" and purchase["delivery"]["attempts"] == 1
    assert attempts(db, purchase["sale_id"]) == [(1, 200, None)]


def test_a_500_is_retried_and_delivered_on_the_second_attempt(client, network, db, buyer_server):
    server = buyer_server([500])
    advertiser = buyer_with_webhook(client, network, server.url)
    assert post(client, network, person_lead(network.cpl_offer["id"]))["status"] == "sold"

    [purchase] = purchases(client, advertiser)
    assert purchase["delivery"]["status"] == "delivered" and purchase["delivery"]["attempts"] == 2
    assert attempts(db, purchase["sale_id"]) == [(1, 500, "HTTP 500"), (2, 200, None)]
    assert len(server.requests) == 2
    # Both attempts carried the same lead, each signed over its own timestamp.
    assert server.requests[0]["body"] == server.requests[1]["body"]


def test_a_hanging_endpoint_times_out_and_is_recorded(client, network, db, buyer_server):
    server = buyer_server(hang_seconds=3.0)
    advertiser = new_advertiser(client, network)
    place_order(client, advertiser, price="30.00", delivery={"webhook_url": server.url, "secret": SECRET})
    server_down = buyer_server([500] * 20)  # the intake-time delivery goes nowhere useful
    with db() as session, transaction(session):
        session.execute(text("UPDATE advertiser_order SET webhook_url = :url"), {"url": server_down.url})
    post(client, network, person_lead(network.cpl_offer["id"]))
    [purchase] = purchases(client, advertiser)
    sale_id = purchase["sale_id"]
    with db() as session, transaction(session):  # a fresh delivery to the hanging endpoint
        session.execute(text("UPDATE advertiser_order SET webhook_url = :url"), {"url": server.url})
        session.execute(text("DELETE FROM delivery_attempt"))
        session.execute(text("UPDATE delivery SET status = 'pending', attempts = 0"))

    began = time.perf_counter()
    with db() as session, pytest.raises(delivery.DeliveryFailed):
        delivery.deliver(session, sale_id, timeout=0.5)
    assert time.perf_counter() - began < 2.5
    assert attempts(db, sale_id) == [(1, None, "timeout")]
    [purchase] = purchases(client, advertiser)
    assert purchase["delivery"]["status"] == "retrying" and purchase["delivery"]["last_error"] == "timeout"


def test_a_dead_endpoint_is_given_up_after_the_last_attempt_and_the_lead_stays_sold(client, network, db,
                                                                                       buyer_server):
    server = buyer_server([503] * 50)
    advertiser = buyer_with_webhook(client, network, server.url)
    answer = post(client, network, person_lead(network.cpl_offer["id"]))
    assert answer["status"] == "sold"  # delivery failing never fails the affiliate's post

    [purchase] = purchases(client, advertiser)
    assert purchase["delivery"]["status"] == "dead"
    assert purchase["delivery"]["attempts"] == delivery.MAX_ATTEMPTS == len(server.requests)
    assert [a[0] for a in attempts(db, purchase["sale_id"])] == list(range(1, delivery.MAX_ATTEMPTS + 1))
    # A dead delivery is not sent again, however often the task runs.
    enqueue("marketplace.deliver_sale", purchase["sale_id"])
    assert len(server.requests) == delivery.MAX_ATTEMPTS


def test_delivering_twice_sends_once_and_a_claimed_delivery_is_not_taken_by_a_second_worker(client, network, db,
                                                                                           buyer_server):
    server = buyer_server()
    advertiser = buyer_with_webhook(client, network, server.url)
    post(client, network, person_lead(network.cpl_offer["id"]))
    [purchase] = purchases(client, advertiser)
    sale_id = purchase["sale_id"]
    enqueue("marketplace.deliver_sale", sale_id)  # a duplicate task: the sale is delivered already
    assert len(server.requests) == 1

    with db() as session, transaction(session):
        session.execute(text("UPDATE delivery SET status = 'pending'"))
    with db() as first, transaction(first):
        claimed = delivery.claim_delivery(first, sale_id)
    with db() as second, transaction(second):
        assert delivery.claim_delivery(second, sale_id) is None  # leased to the first worker
    assert claimed is not None and claimed.number == 2


def test_the_beat_task_redelivers_a_delivery_whose_enqueue_was_lost(client, network, db, buyer_server):
    server = buyer_server()
    advertiser = buyer_with_webhook(client, network, server.url)
    post(client, network, person_lead(network.cpl_offer["id"]))
    with db() as session, transaction(session):  # as if the broker lost the task after the commit
        session.execute(text("DELETE FROM delivery_attempt"))
        session.execute(text("UPDATE delivery SET status = 'pending', attempts = 0, updated_at = :then"),
                        {"then": utcnow() - timedelta(minutes=5)})

    from marketplace.tasks import redeliver_stale
    assert redeliver_stale.delay().get() == 1
    assert len(server.requests) == 2
    [purchase] = purchases(client, advertiser)
    assert purchase["delivery"] == {**purchase["delivery"], "status": "delivered", "attempts": 1}


def test_a_sale_without_a_webhook_is_marked_no_endpoint_and_pulled_from_purchases(client, network):
    advertiser = new_advertiser(client, network)
    place_order(client, advertiser, price="30.00")
    post(client, network, person_lead(network.cpl_offer["id"]))
    [purchase] = purchases(client, advertiser)
    assert purchase["delivery"] == {"status": "no_endpoint", "attempts": 0, "last_error": None,
                                    "delivered_at": None}
    assert purchase["lead"]["contact"]["email"]
