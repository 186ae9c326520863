"""Stripe webhooks delayed, repeated, concurrent and out of order: each event applies once and the
top-ups end where the payments did (localstripe through the official SDK; see test_topups.py)."""

from __future__ import annotations

import copy
import json
import random
import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from billing import topups
from billing.models import StripeEvent
from tests.billing_support import assert_ledger_consistent
from tests.test_topups import WEBHOOK_SECRET, balance, localstripe, payments, signature, topup_row  # noqa: F401

pytestmark = pytest.mark.timeout(120)


def paid_topup(payments, db, advertiser: dict[str, Any], amount: str) -> tuple[int, dict[str, Any]]:
    started = payments.topup(advertiser, amount).json()
    intent_id = topup_row(db, started["topup_id"]).stripe_payment_intent_id
    assert payments.pay(intent_id) == "succeeded"
    return started["topup_id"], payments.event("payment_intent.succeeded", intent_id)


def variant(event: dict[str, Any], event_id: str, event_type: str, **intent: Any) -> dict[str, Any]:
    other = copy.deepcopy(event)
    other.update(id=event_id, type=event_type)
    other["data"]["object"].update(intent)
    return other


def test_webhooks_delayed_repeated_concurrent_and_out_of_order_apply_once(db, network, payments):
    advertiser = network.advertiser
    first_id, first_paid = paid_topup(payments, db, advertiser, "60.00")
    second_id, second_paid = paid_topup(payments, db, advertiser, "35.00")
    open_id = payments.topup(advertiser, "15.00").json()["topup_id"]  # never paid: the customer gave up
    open_intent = topup_row(db, open_id).stripe_payment_intent_id

    # Stripe retried a slow delivery: the first payment's event arrives hours late (signed now).
    delayed = {**first_paid, "created": first_paid["created"] - 3 * 3600}
    # An earlier failed attempt of the same payment, delivered after its success.
    late_failure = variant(first_paid, "evt_fault_late_failure", "payment_intent.payment_failed",
                           status="requires_payment_method", last_payment_error={"code": "card_declined"})
    late_cancel = variant(second_paid, "evt_fault_late_cancel", "payment_intent.canceled", status="canceled")
    unknown = variant(first_paid, "evt_fault_unknown_intent", "payment_intent.succeeded",
                      id="pi_not_ours_at_all", metadata={})
    gave_up = variant(first_paid, "evt_fault_open_canceled", "payment_intent.canceled",
                      id=open_intent, status="canceled", metadata={"topup_id": str(open_id)}, amount=1500)
    batch = [delayed, delayed, delayed, second_paid, second_paid, late_failure, late_cancel, unknown, gave_up,
             first_paid]
    random.Random(7).shuffle(batch)

    start = threading.Barrier(len(batch))
    applied: list[tuple[str, bool]] = []

    def deliver(event: dict[str, Any]) -> None:
        payload = json.dumps(event).encode()
        with db() as session:
            start.wait()  # every delivery at once, as Stripe's retries and a slow endpoint can line up
            receipt = topups.apply_stripe_event(session, payload, signature(payload, WEBHOOK_SECRET))
        applied.append((event["id"], receipt.applied))

    threads = [threading.Thread(target=deliver, args=(event,)) for event in batch]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    by_event: dict[str, list[bool]] = {}
    for event_id, was_applied in applied:
        by_event.setdefault(event_id, []).append(was_applied)
    assert len(applied) == len(batch)
    assert sorted(by_event[first_paid["id"]]) == [False, False, False, True]  # four copies, one credit
    assert sorted(by_event[second_paid["id"]]) == [False, True]
    assert by_event["evt_fault_unknown_intent"] == [False]
    # Whichever of a failure/cancel and its success came first, the payment ends succeeded.
    assert topup_row(db, first_id).status == "succeeded"
    assert topup_row(db, second_id).status == "succeeded"
    assert topup_row(db, open_id).status == "canceled"
    assert balance(payments, advertiser) == "95.00"
    with db() as session:
        stored = session.execute(select(func.count()).select_from(StripeEvent)).scalar_one()
    assert stored == len({e["id"] for e in batch})
    # A redelivery days later changes nothing.
    for event in (first_paid, late_failure, unknown):
        assert payments.deliver(event).json() == {"received": True, "applied": False}
    assert balance(payments, advertiser) == "95.00"
    assert_ledger_consistent(db)
