"""Stripe through the official SDK: PaymentIntents for top-ups, Connect transfers for payouts,
customers and invoices for postpaid advertisers, and verified webhook events.

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
    intent = _request(request)
    return PaymentIntent(id=intent.id, client_secret=getattr(intent, "client_secret", None), status=intent.status)


def _request(request: Any) -> Any:
    try:
        return request()
    except stripe.StripeError as exc:
        # The message may quote what we sent; the type and code are enough to find it in Stripe.
        log.warning("Stripe call failed: %s (code %s, HTTP %s)", type(exc).__name__, exc.code, exc.http_status)
        raise PaymentProviderFailed() from exc


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


# --- postpaid invoices ------------------------------------------------------------------------
# One key per step of one of our rows: a retried run (or the SDK's own retry of a lost answer)
# sends the same key with the same parameters, so Stripe answers with what it did the first time.

@dataclass(frozen=True)
class ProviderInvoice:
    id: str
    status: str
    number: str | None
    hosted_invoice_url: str | None
    amount_due: int
    currency: str


def customer_key(advertiser_id: int) -> str:
    return f"leadmarket-advertiser-{advertiser_id}-customer"


def invoice_key(invoice_id: int, step: str = "create") -> str:
    return f"leadmarket-invoice-{invoice_id}" if step == "create" else f"leadmarket-invoice-{invoice_id}-{step}"


def invoice_line_key(line_id: int) -> str:
    return f"leadmarket-invoice-line-{line_id}"


def create_customer(settings: Settings, *, advertiser_id: int, name: str, email: str) -> str:
    """The advertiser as a Stripe customer (the invoice is e-mailed to `email`); returns its id."""
    params: Any = {"name": name, "email": email, "metadata": {"advertiser_id": str(advertiser_id)}}
    customer = _request(lambda: client(settings).v1.customers.create(
        params=params, options={"idempotency_key": customer_key(advertiser_id)}))
    return str(customer.id)


def create_invoice(settings: Settings, *, invoice_id: int, customer_id: str, currency: str, period: str,
                   days_until_due: int = 30) -> ProviderInvoice:
    """An empty draft invoice sent for payment by e-mail; only the items we add go on it."""
    params: Any = {"customer": customer_id, "currency": currency.lower(), "collection_method": "send_invoice",
                   "days_until_due": days_until_due, "auto_advance": False,
                   "pending_invoice_items_behavior": "exclude", "description": f"Leads bought in {period}",
                   "metadata": {"invoice_id": str(invoice_id), "period": period}}
    return _invoice(_request(lambda: client(settings).v1.invoices.create(
        params=params, options={"idempotency_key": invoice_key(invoice_id)})))


def add_invoice_line(settings: Settings, *, line_id: int, invoice_id: int, stripe_invoice_id: str,
                     customer_id: str, amount_minor: int, currency: str, description: str) -> str:
    """One of our invoice lines as an invoice item on the draft invoice; returns the item's id."""
    params: Any = {"customer": customer_id, "invoice": stripe_invoice_id, "amount": amount_minor,
                   "currency": currency.lower(), "description": description,
                   "metadata": {"invoice_id": str(invoice_id), "invoice_line_id": str(line_id)}}
    item = _request(lambda: client(settings).v1.invoice_items.create(
        params=params, options={"idempotency_key": invoice_line_key(line_id)}))
    return str(item.id)


def finalize_invoice(settings: Settings, *, invoice_id: int, stripe_invoice_id: str) -> ProviderInvoice:
    return _invoice(_request(lambda: client(settings).v1.invoices.finalize_invoice(
        stripe_invoice_id, params={"auto_advance": False},
        options={"idempotency_key": invoice_key(invoice_id, "finalize")})))


def send_invoice(settings: Settings, *, invoice_id: int, stripe_invoice_id: str) -> ProviderInvoice:
    return _invoice(_request(lambda: client(settings).v1.invoices.send_invoice(
        stripe_invoice_id, options={"idempotency_key": invoice_key(invoice_id, "send")})))


def retrieve_invoice(settings: Settings, stripe_invoice_id: str) -> ProviderInvoice:
    return _invoice(_request(lambda: client(settings).v1.invoices.retrieve(stripe_invoice_id)))


def _invoice(invoice: Any) -> ProviderInvoice:
    return ProviderInvoice(id=str(invoice.id), status=str(invoice.status), number=getattr(invoice, "number", None),
                           hosted_invoice_url=getattr(invoice, "hosted_invoice_url", None),
                           amount_due=int(invoice.amount_due), currency=str(invoice.currency).upper())
