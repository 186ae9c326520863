"""Stripe top-ups against localstripe (a stateful Stripe fake on PyPI) through the official SDK:
the balance grows only from a verified `payment_intent.succeeded`, once per event and per payment."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe
import uvicorn
from litestar.testing import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.auth import ApiKeyAuthentication
from billing.models import LedgerEntry, StripeEvent, Topup
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.settings import Settings, configure
from tests.billing_support import assert_ledger_consistent, make_advertiser
from tests.ports import free_port, wait_for_port
from tests.support import error_fields, problem

WEBHOOK_SECRET = "whsec_leadmarket_test"

# localstripe writes its state to a pickle in a fixed /tmp path; this run keeps it in its own TMPDIR.
LOCALSTRIPE_BOOT = """
import os, pickle, sys, tempfile
import localstripe.resources as resources
path = os.path.join(tempfile.gettempdir(), "localstripe.pickle")
def dump_to_disk(self):
    with open(path, "wb") as f:
        pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
resources.Store.dump_to_disk = dump_to_disk
from aiohttp import web
from localstripe.server import app
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""




@pytest.fixture(scope="module")
def localstripe(tmp_path_factory) -> Iterator[str]:
    port = free_port()
    tmp = tmp_path_factory.mktemp("localstripe")
    process = subprocess.Popen([sys.executable, "-c", LOCALSTRIPE_BOOT, str(port)],
                               env={**os.environ, "TMPDIR": str(tmp)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Payments:
    """Our app configured for Stripe, and what the advertiser's browser and Stripe would do."""

    client: TestClient
    settings: Settings
    stripe_base: str
    sdk: stripe.StripeClient

    def topup(self, advertiser: dict[str, Any], amount: str, **headers: str) -> httpx.Response:
        return self.client.post("/api/v1/topups", headers={"X-API-Key": advertiser["api_key"], **headers},
                                json={"amount": amount})

    def pay(self, intent_id: str, payment_method: str = "pm_card_visa") -> str:
        """What Stripe.js does in the browser: attach a card and confirm. Returns the intent status."""
        self.sdk.v1.payment_intents.update(intent_id, params={"payment_method": payment_method})
        return self.sdk.v1.payment_intents.confirm(intent_id).status

    def event(self, event_type: str, intent_id: str) -> dict[str, Any]:
        """The event localstripe recorded, as the JSON Stripe would send."""
        listed = httpx.get(f"{self.stripe_base}/v1/events", params={"type": event_type},
                           headers={"Authorization": f"Bearer {self.settings.stripe_api_key}"}).json()["data"]
        [event] = [e for e in listed if e["data"]["object"]["id"] == intent_id]
        return event

    def deliver(self, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None,
                body: bytes | None = None) -> httpx.Response:
        """POST the event as Stripe does, signed with Stripe's documented scheme."""
        payload = json.dumps(event).encode()
        return self.client.post("/webhooks/stripe", content=body if body is not None else payload,
                                headers={"Content-Type": "application/json",
                                         "Stripe-Signature": signature(payload, secret, timestamp)})


def signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<payload>">`, as in Stripe's webhook docs."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@pytest.fixture
def payments(settings, engine, network, localstripe) -> Iterator[Payments]:
    stripe_settings = dataclasses.replace(settings, stripe_api_key="sk_test_local", stripe_api_base=localstripe,
                                          stripe_webhook_secret=WEBHOOK_SECRET)
    ApiKeyAuthentication._cache.clear()
    try:
        with TestClient(create_app(stripe_settings, engine=engine), raise_server_exceptions=False) as client:
            yield Payments(client, stripe_settings, localstripe,
                           stripe.StripeClient("sk_test_local", base_addresses={"api": localstripe}))
    finally:
        configure(settings)
        httpx.delete(f"{localstripe}/_config/data")  # the next test's top-up ids start at 1 again


def rows(db, model) -> int:
    with db() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def topup_row(db, topup_id: int) -> Topup:
    with db() as session:
        return session.get_one(Topup, topup_id)


def balance(payments: Payments, advertiser: dict[str, Any]) -> str:
    return payments.client.get("/api/v1/balance", headers={"X-API-Key": advertiser["api_key"]}).json()["balance"]


def test_a_paid_topup_credits_the_balance_once_however_often_stripe_sends_the_event(db, network, payments):
    advertiser = network.advertiser

    response = payments.topup(advertiser, "50.00")
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["status"] == "pending" and started["amount"] == "50.00" and started["currency"] == "USD"
    intent_id = topup_row(db, started["topup_id"]).stripe_payment_intent_id
    assert started["client_secret"].startswith(intent_id + "_secret_")
    assert balance(payments, advertiser) == "0.00"  # nothing before Stripe says the money is there

    assert payments.pay(intent_id) == "succeeded"
    event = payments.event("payment_intent.succeeded", intent_id)
    first = payments.deliver(event)
    replayed = [payments.deliver(event) for _ in range(3)]

    assert first.status_code == 200 and first.json() == {"received": True, "applied": True}
    assert all(r.status_code == 200 and r.json() == {"received": True, "applied": False} for r in replayed)
    assert balance(payments, advertiser) == "50.00"
    read = payments.client.get(f"/api/v1/topups/{started['topup_id']}", headers={"X-API-Key": advertiser["api_key"]})
    assert read.json() == {"topup_id": started["topup_id"], "status": "succeeded", "amount": "50.00",
                           "currency": "USD", "client_secret": None}
    assert rows(db, StripeEvent) == 1
    assert_ledger_consistent(db)


def test_localstripe_delivers_the_signed_webhook_to_our_running_server(db, network, payments, localstripe):
    """No hand-made signature: localstripe signs and POSTs the event to the app on a real port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(payments.settings, engine=payments.client.app.state.engine),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    base = f"http://127.0.0.1:{port}"
    httpx.post(f"{localstripe}/_config/webhooks/leadmarket",
               data={"url": f"{base}/webhooks/stripe", "secret": WEBHOOK_SECRET}).raise_for_status()
    try:
        headers = {"X-API-Key": network.advertiser["api_key"]}
        started = httpx.post(f"{base}/api/v1/topups", headers=headers, json={"amount": "120.00"}).json()
        assert payments.pay(topup_row(db, started["topup_id"]).stripe_payment_intent_id) == "succeeded"

        def current_balance() -> str:
            return httpx.get(f"{base}/api/v1/balance", headers=headers).json()["balance"]

        deadline = time.monotonic() + 20  # localstripe waits a second before it sends
        while time.monotonic() < deadline and current_balance() != "120.00":
            time.sleep(0.2)
        assert current_balance() == "120.00"
        assert topup_row(db, started["topup_id"]).status == "succeeded"
    finally:
        # Later tests deliver their events by hand: point this endpoint at a closed port.
        httpx.post(f"{localstripe}/_config/webhooks/leadmarket",
                   data={"url": "http://127.0.0.1:9/", "secret": WEBHOOK_SECRET})
        server.should_exit = True
        thread.join(timeout=10)


def test_a_webhook_that_does_not_verify_is_refused_and_credits_nothing(db, network, payments):
    started = payments.topup(network.advertiser, "40.00").json()
    intent_id = topup_row(db, started["topup_id"]).stripe_payment_intent_id
    payments.pay(intent_id)
    event = payments.event("payment_intent.succeeded", intent_id)
    tampered = json.dumps({**event, "data": {"object": {**event["data"]["object"], "amount": 400000}}}).encode()

    refused = [
        payments.deliver(event, secret="whsec_someone_else"),
        payments.deliver(event, timestamp=int(time.time()) - 3600),  # a captured request, replayed later
        payments.deliver(event, body=tampered),
        payments.client.post("/webhooks/stripe", content=json.dumps(event).encode()),  # no signature at all
        payments.client.post("/webhooks/stripe", content=b"not json",
                             headers={"Stripe-Signature": signature(b"not json", WEBHOOK_SECRET)}),
    ]

    for response in refused:
        problem(response, 400)
    assert balance(payments, network.advertiser) == "0.00"
    assert rows(db, StripeEvent) == 0 and rows(db, LedgerEntry) == 0
    assert topup_row(db, started["topup_id"]).status == "pending"
    assert payments.deliver(event).json()["applied"] is True  # the genuine event still applies


def test_a_declined_card_credits_nothing(db, network, payments):
    started = payments.topup(network.advertiser, "75.00").json()
    intent_id = topup_row(db, started["topup_id"]).stripe_payment_intent_id

    with pytest.raises(stripe.CardError):
        payments.pay(intent_id, "pm_card_chargeCustomerFail")
    response = payments.deliver(payments.event("payment_intent.payment_failed", intent_id))

    assert response.status_code == 200 and response.json()["applied"] is True
    failed = topup_row(db, started["topup_id"])
    assert failed.status == "failed" and failed.failure_code == "card_declined"
    assert balance(payments, network.advertiser) == "0.00"
    assert rows(db, LedgerEntry) == 0


def test_events_out_of_order_never_undo_a_payment_or_pay_twice(db, network, payments):
    started = payments.topup(network.advertiser, "60.00").json()
    intent_id = topup_row(db, started["topup_id"]).stripe_payment_intent_id
    payments.pay(intent_id)
    succeeded = payments.event("payment_intent.succeeded", intent_id)
    # An earlier attempt's failure, delivered late; and the same payment reported under a new event id.
    earlier_failure = copy.deepcopy(succeeded)
    earlier_failure.update(id="evt_earlier_attempt_failed", type="payment_intent.payment_failed",
                           created=succeeded["created"] - 30)
    earlier_failure["data"]["object"].update(status="requires_payment_method",
                                             last_payment_error={"code": "card_declined"})
    second_report = {**succeeded, "id": "evt_second_report_of_the_same_payment"}

    applied = [payments.deliver(e).json()["applied"] for e in (succeeded, earlier_failure, second_report)]

    assert applied == [True, False, False]
    assert topup_row(db, started["topup_id"]).status == "succeeded"
    assert balance(payments, network.advertiser) == "60.00"
    assert rows(db, StripeEvent) == 3
    assert_ledger_consistent(db)


def test_a_failure_then_a_success_on_the_same_payment_credits_once(db, network, payments):
    started = payments.topup(network.advertiser, "25.00").json()
    intent_id = topup_row(db, started["topup_id"]).stripe_payment_intent_id
    payments.pay(intent_id)
    succeeded = payments.event("payment_intent.succeeded", intent_id)
    failed_first = copy.deepcopy(succeeded)
    failed_first.update(id="evt_first_card_declined", type="payment_intent.payment_failed")
    failed_first["data"]["object"].update(status="requires_payment_method",
                                          last_payment_error={"code": "card_declined"})

    assert payments.deliver(failed_first).json()["applied"] is True
    assert topup_row(db, started["topup_id"]).status == "failed"
    assert payments.deliver(succeeded).json()["applied"] is True
    assert topup_row(db, started["topup_id"]).status == "succeeded"
    assert balance(payments, network.advertiser) == "25.00"


def test_the_webhook_finds_a_topup_whose_intent_id_we_never_stored(db, network, payments):
    """Our process died between creating the PaymentIntent and saving its id: the event still
    finds the top-up by the id we put in the intent's metadata."""
    now = utcnow()
    with db() as session, transaction(session):
        orphan = Topup(advertiser_id=network.advertiser["id"], amount_minor=3000, currency="USD", status="created",
                       created_at=now, updated_at=now)
        session.add(orphan)
    intent = payments.sdk.v1.payment_intents.create(params={
        "amount": 3000, "currency": "usd", "metadata": {"topup_id": str(orphan.id)}})
    payments.pay(intent.id)

    assert payments.deliver(payments.event("payment_intent.succeeded", intent.id)).json()["applied"] is True
    found = topup_row(db, orphan.id)
    assert (found.status, found.stripe_payment_intent_id) == ("succeeded", intent.id)
    assert balance(payments, network.advertiser) == "30.00"


def test_a_payment_that_is_not_a_topup_of_ours_is_acknowledged_and_ignored(db, network, payments):
    intent = payments.sdk.v1.payment_intents.create(params={"amount": 999, "currency": "usd"})
    payments.pay(intent.id)

    response = payments.deliver(payments.event("payment_intent.succeeded", intent.id))

    assert response.status_code == 200 and response.json()["applied"] is False
    assert rows(db, LedgerEntry) == 0


def test_a_retried_topup_request_reuses_the_same_topup_and_payment_intent(db, network, payments):
    first = payments.topup(network.advertiser, "10.00", **{"Idempotency-Key": "topup-nov-1"})
    again = payments.topup(network.advertiser, "10.00", **{"Idempotency-Key": "topup-nov-1"})
    other = payments.topup(network.advertiser, "11.00", **{"Idempotency-Key": "topup-nov-1"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    problem(other, 409)
    assert rows(db, Topup) == 1


def test_topup_input_and_roles(db, client, network, payments):
    advertiser = network.advertiser
    assert error_fields(payments.client.post("/api/v1/topups", headers={"X-API-Key": advertiser["api_key"]},
                                             json={})) == {"amount": "is required"}
    for amount in ("0", "-5", "2000000"):
        assert set(error_fields(payments.topup(advertiser, amount))) == {"amount"}
    assert error_fields(payments.topup(advertiser, "1.001")) == {"amount": "has more than 2 decimal places for USD"}
    for key in (network.affiliate["api_key"], network.admin_key):
        problem(payments.client.post("/api/v1/topups", headers={"X-API-Key": key}, json={"amount": "5"}), 403)

    mine = payments.topup(advertiser, "5.00").json()["topup_id"]
    other = make_advertiser(payments.client, network.admin_headers, "Nosy Buyer")
    problem(payments.client.get(f"/api/v1/topups/{mine}", headers={"X-API-Key": other["api_key"]}), 404)
    assert rows(db, Topup) == 1


def test_without_stripe_settings_topups_and_webhooks_are_unavailable(db, client, network):
    problem(client.post("/api/v1/topups", headers={"X-API-Key": network.advertiser["api_key"]},
                        json={"amount": "5.00"}), 503)
    payload = b'{"id": "evt_1", "type": "payment_intent.succeeded"}'
    problem(client.post("/webhooks/stripe", content=payload,
                        headers={"Stripe-Signature": signature(payload, WEBHOOK_SECRET)}), 503)
    assert rows(db, Topup) == 0
