"""Stripe through the official SDK: PaymentIntents for top-ups and verified webhook events.

Every call that can move money carries an idempotency key derived from our own row id: the SDK
retries a failed request with the key we pass, and a retried task reuses it, so Stripe acts once.
No transaction is open while these calls run.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

import stripe

from billing.errors import PaymentProviderFailed, PaymentsNotConfigured, WebhookRejected
from leadmarket.settings import Settings

log = logging.getLogger("leadmarket.billing.stripe")


@dataclass(frozen=True)
class PaymentIntent:
    id: str
    client_secret: str | None
    status: str


@functools.lru_cache(maxsize=8)
def _cached_client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": api_base} if api_base else {},
                               max_network_retries=2)


def client(settings: Settings) -> stripe.StripeClient:
    if not settings.stripe_api_key:
        raise PaymentsNotConfigured()
    return _cached_client(settings.stripe_api_key, settings.stripe_api_base)


def topup_intent_key(topup_id: int) -> str:
    return f"leadmarket-topup-{topup_id}"


def create_topup_intent(settings: Settings, *, topup_id: int, advertiser_id: int, amount_minor: int,
                        currency: str) -> PaymentIntent:
    """A PaymentIntent for one top-up; the same top-up always sends the same idempotency key."""
    params: Any = {"amount": amount_minor, "currency": currency.lower(), "payment_method_types": ["card"],
                   "metadata": {"topup_id": str(topup_id), "advertiser_id": str(advertiser_id)}}
    return _call(lambda: client(settings).v1.payment_intents.create(
        params=params, options={"idempotency_key": topup_intent_key(topup_id)}))


def retrieve_intent(settings: Settings, intent_id: str) -> PaymentIntent:
    return _call(lambda: client(settings).v1.payment_intents.retrieve(intent_id))


def _call(request: Any) -> PaymentIntent:
    try:
        intent = request()
    except stripe.StripeError as exc:
        # The message may quote what we sent; the type and code are enough to find it in Stripe.
        log.warning("Stripe call failed: %s (code %s, HTTP %s)", type(exc).__name__, exc.code, exc.http_status)
        raise PaymentProviderFailed() from exc
    return PaymentIntent(id=intent.id, client_secret=getattr(intent, "client_secret", None), status=intent.status)


def verify_event(settings: Settings, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event Stripe signed, as plain JSON; raises WebhookRejected for a bad or stale signature.

    Uses the SDK's default tolerance (300 s): a captured request cannot be replayed later.
    """
    if not settings.stripe_webhook_secret:
        raise PaymentsNotConfigured()
    try:
        stripe.Webhook.construct_event(payload, signature, settings.stripe_webhook_secret)
    except stripe.SignatureVerificationError:
        raise WebhookRejected("the Stripe-Signature header does not verify") from None
    except ValueError:
        raise WebhookRejected("the body is not a Stripe event") from None
    event = json.loads(payload)
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise WebhookRejected("the body is not a Stripe event")
    return event


@dataclass(frozen=True)
class Transfer:
    id: str
    amount_minor: int
    currency: str
    destination: str


def payout_transfer_key(payout_id: int) -> str:
    return f"leadmarket-payout-{payout_id}"


def create_payout_transfer(settings: Settings, *, payout_id: int, amount_minor: int, currency: str,
                           destination: str) -> Transfer:
    """A Connect transfer paying one payout; every attempt for the payout sends the same idempotency
    key, so a retried pay moves the money once."""
    params: Any = {"amount": amount_minor, "currency": currency.lower(), "destination": destination,
                   "transfer_group": f"payout-{payout_id}", "metadata": {"payout_id": str(payout_id)}}
    try:
        transfer = client(settings).v1.transfers.create(
            params=params, options={"idempotency_key": payout_transfer_key(payout_id)})
    except stripe.StripeError as exc:
        log.warning("Stripe transfer failed: %s (code %s, HTTP %s)", type(exc).__name__, exc.code, exc.http_status)
        raise PaymentProviderFailed() from exc
    return Transfer(id=transfer.id, amount_minor=transfer.amount, currency=str(transfer.currency).upper(),
                    destination=str(transfer.destination))
