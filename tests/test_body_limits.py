"""Request bodies over LEADMARKET_MAX_BODY_BYTES: 413 with a problem body that names the limit, and
nothing written — declared by Content-Length or streamed in chunks alike."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from litestar.testing import TestClient

from api.app import create_app
from leadmarket.celery_app import configure_celery
from leadmarket.settings import Settings, configure
from tests.support import count_rows, problem, stranger

LIMIT = 4096
WRITTEN = ("lead", "idempotency_record", "dedupe_claim", "stripe_event", "tracking_link")


@pytest.fixture
def small(settings, engine, network) -> Iterator[TestClient]:
    """The app with a 4 KiB body limit (the run's settings are put back afterwards)."""
    try:
        with TestClient(create_app(replace(settings, max_body_bytes=LIMIT), engine=engine),
                        raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        configure(settings)
        configure_celery(settings)


def padded(body: dict, size: int) -> dict:
    """The same lead with a consent text long enough to make the JSON `size` bytes or more."""
    return {**body, "consent": {**body["consent"], "text": "I agree. " + "x" * size}}


def test_an_oversize_lead_is_413_and_nothing_is_written(small, network, db):
    body = stranger(network.cpl_offer["id"])
    answer = small.post("/api/v1/leads", headers={**network.affiliate_headers(), "Idempotency-Key": "big-1"},
                        json=padded(body, LIMIT))
    detail = problem(answer, 413)["detail"]
    assert detail == f"The request body is larger than the {LIMIT} bytes accepted."
    assert answer.headers["x-request-id"]
    assert count_rows(db, *WRITTEN) == dict.fromkeys(WRITTEN, 0)

    # the limit was the only thing wrong: the same lead at a normal size is taken
    taken = small.post("/api/v1/leads", headers={**network.affiliate_headers(), "Idempotency-Key": "big-1"},
                       json=body)
    assert taken.status_code == 201, taken.text
    assert count_rows(db, "lead", "idempotency_record") == {"lead": 1, "idempotency_record": 1}


def test_a_streamed_body_without_content_length_is_cut_off_too(small, network, db):
    def chunks() -> Iterator[bytes]:
        yield b'{"offer_id": 1, "contact": {"first_name": "'
        for _ in range(8):
            yield b"a" * 1024
        yield b'"}}'

    answer = small.post("/api/v1/leads", headers=network.affiliate_headers(), content=chunks())
    problem(answer, 413)
    assert count_rows(db, "lead") == {"lead": 0}


def test_admin_and_webhook_bodies_are_bounded_as_well(small, network, db):
    vertical = small.post("/api/v1/verticals", headers=network.admin_headers, json={
        "slug": "huge", "name": "Huge", "dedupe_window_days": 30, "max_shared_sales": 3, "base_price": "1.00",
        "fields": [{"name": f"field_{i}", "type": "string"} for i in range(200)]})
    problem(vertical, 413)
    stripe = small.post("/webhooks/stripe", content=b"{" + b" " * LIMIT + b"}",
                        headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"})
    problem(stripe, 413)
    assert count_rows(db, "vertical", "stripe_event") == {"vertical": 1, "stripe_event": 0}  # the network's own


def test_the_default_limit_is_one_mebibyte_and_configurable():
    assert Settings.from_env({}).max_body_bytes == 1_048_576
    assert Settings.from_env({"LEADMARKET_MAX_BODY_BYTES": "65536"}).max_body_bytes == 65536
