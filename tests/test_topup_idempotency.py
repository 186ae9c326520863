"""Top-ups send Stripe an idempotency key derived from our top-up id, so a retried request (the same
Idempotency-Key header) makes one PaymentIntent even when Stripe's first answer was lost.
localstripe ignores idempotency keys, so this runs against our fake, which honours them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from api.app import create_app
from billing.models import Topup
from leadmarket.settings import Settings, configure
from tests.stripe_fake import StripeFake
from tests.support import problem


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    fake = StripeFake.start()
    yield fake
    fake.stop()


@pytest.fixture
def app(settings: Settings, engine, db, client, stripe_fake: StripeFake) -> Iterator[TestClient]:
    from api.auth import ApiKeyAuthentication

    ApiKeyAuthentication._cache.clear()
    configured = dataclasses.replace(settings, stripe_api_key="sk_test_local", stripe_api_base=stripe_fake.url)
    try:
        with TestClient(create_app(configured, engine=engine), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        configure(settings)


def test_a_retried_topup_after_a_lost_stripe_answer_makes_one_payment_intent(app, network, db, stripe_fake):
    headers = {"X-API-Key": network.advertiser["api_key"], "Idempotency-Key": "topup-dec-1"}
    stripe_fake.fail_path, stripe_fake.fail_next = "/v1/payment_intents", 1  # made at Stripe, answer lost

    lost = app.post("/api/v1/topups", headers=headers, json={"amount": "80.00"})
    retried = app.post("/api/v1/topups", headers=headers, json={"amount": "80.00"})
    again = app.post("/api/v1/topups", headers=headers, json={"amount": "80.00"})

    problem(lost, 503)
    assert retried.status_code == again.status_code == 201, retried.text
    [intent] = stripe_fake.payment_intents.values()
    assert (intent["amount"], intent["currency"]) == (8000, "usd")
    assert retried.json()["client_secret"] == again.json()["client_secret"] == intent["client_secret"]
    with db() as session:
        [topup] = session.execute(select(Topup)).scalars().all()
    assert (topup.stripe_payment_intent_id, topup.status) == (intent["id"], "pending")
    assert intent["metadata"] == {"topup_id": str(topup.id), "advertiser_id": str(network.advertiser["id"])}
    # Both creating calls carried the key of our top-up; the third request only read the intent back.
    assert stripe_fake.keys_seen("/v1/payment_intents") == [f"leadmarket-topup-{topup.id}"] * 2
