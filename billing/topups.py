"""Prepaid top-ups through Stripe: a top-up row and its PaymentIntent, then the verified webhook
that credits the advertiser — each Stripe event applied once, never twice, never out of order.

The balance moves only on `payment_intent.succeeded`, in one transaction that first stores the
event id (a replayed event stops there) and posts under the key `topup:<id>` (a second event for
the same payment stops there too).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from billing import invoices, ledger, stripe_gateway
from billing.ledger import Entry
from billing.models import ADVERTISER_CASH, STRIPE_CLEARING, StripeEvent, Topup
from billing.schemas import TopupCreate, TopupView, WebhookReceipt
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import Conflict, InvalidInput, NotFound
from leadmarket.idempotency import check_key
from leadmarket.identity import STAFF_ROLES, Principal
from leadmarket.money import from_minor, to_minor
from leadmarket.paging import Page, PageRequest, paginate
from leadmarket.settings import current_settings
from leadmarket.upsert import insert_ignoring_conflict
from marketplace.models import Advertiser

log = logging.getLogger("leadmarket.billing.topups")

MIN_TOPUP = Decimal(1)
MAX_TOPUP = Decimal(1_000_000)
# The top-up states an event may still move from; "succeeded" is final.
OPEN_STATUSES = ("created", "pending", "failed")


def create_topup(session: Session, principal: Principal, data: TopupCreate, *,
                 idempotency_key: str | None = None) -> TopupView:
    """Start a top-up: our row first (its id keys the Stripe call), then the PaymentIntent.

    The answer's client_secret lets the advertiser's browser confirm the payment with Stripe.js.
    A retry with the same Idempotency-Key returns the same top-up and PaymentIntent.
    """
    settings = current_settings()
    advertiser = session.get(Advertiser, principal.advertiser_id) if principal.advertiser_id is not None else None
    if advertiser is None:
        raise NotFound("advertiser not found")
    if idempotency_key is not None:
        check_key(idempotency_key)
    amount_minor = _check_amount(data, advertiser.currency)
    stripe_gateway.client(settings)  # refuse before writing anything when payments are not configured
    now = utcnow()
    with transaction(session):
        topup_id = insert_ignoring_conflict(
            session, Topup, {"advertiser_id": advertiser.id, "amount_minor": amount_minor,
                             "currency": advertiser.currency, "status": "created", "client_key": idempotency_key,
                             "created_at": now, "updated_at": now},
            conflict_columns=["advertiser_id", "client_key"], returning=Topup.id)
        if topup_id is None:  # only a repeated Idempotency-Key gets here (NULL keys never clash)
            topup_id = session.execute(select(Topup.id).where(Topup.advertiser_id == advertiser.id,
                                                              Topup.client_key == idempotency_key)).scalar_one()
        topup = session.get_one(Topup, topup_id)
        if topup.amount_minor != amount_minor:
            raise Conflict("Idempotency-Key was already used for a top-up of another amount")
    if topup.stripe_payment_intent_id is not None:
        intent = stripe_gateway.retrieve_intent(settings, topup.stripe_payment_intent_id)
    else:
        intent = stripe_gateway.create_topup_intent(settings, topup_id=topup.id, advertiser_id=advertiser.id,
                                                    amount_minor=amount_minor, currency=advertiser.currency)
        with transaction(session):
            # The webhook may have beaten us here: keep whatever status it set.
            session.execute(update(Topup).where(Topup.id == topup.id).values(
                stripe_payment_intent_id=func.coalesce(Topup.stripe_payment_intent_id, intent.id),
                status=case((Topup.status == "created", "pending"), else_=Topup.status), updated_at=utcnow(),
            ).execution_options(synchronize_session=False))
        session.refresh(topup)
    return topup_view(topup, client_secret=intent.client_secret)


def get_topup(session: Session, principal: Principal, topup_id: int) -> TopupView:
    """A top-up as its advertiser (or staff) sees it; another advertiser's is NotFound."""
    query = select(Topup).where(Topup.id == topup_id)
    if principal.role not in STAFF_ROLES:
        query = query.where(Topup.advertiser_id == principal.advertiser_id)
    topup = session.execute(query).scalar_one_or_none()
    if topup is None:
        raise NotFound(f"top-up {topup_id} not found")
    return topup_view(topup)


class TopupListed(TopupView, kw_only=True):
    created_at: datetime
    updated_at: datetime
    failure_code: str | None


def topups_page(session: Session, principal: Principal, request: PageRequest) -> Page[TopupListed]:
    """The calling advertiser's own top-ups, newest first (no client secrets: those go to the starter once)."""
    if principal.advertiser_id is None:
        raise NotFound("advertiser not found")
    rows = paginate(session, select(Topup).where(Topup.advertiser_id == principal.advertiser_id), request,
                    {"created_at": Topup.id, "amount": Topup.amount_minor, "status": Topup.status}, "created_at")
    return Page(items=[TopupListed(topup_id=t.id, status=t.status, amount=from_minor(t.amount_minor, t.currency),
                                   currency=t.currency, created_at=t.created_at, updated_at=t.updated_at,
                                   failure_code=t.failure_code) for t in rows.items],
                request=rows.request, total=rows.total)


def topup_view(topup: Topup, *, client_secret: str | None = None) -> TopupView:
    return TopupView(topup_id=topup.id, status=topup.status, amount=from_minor(topup.amount_minor, topup.currency),
                     currency=topup.currency, client_secret=client_secret)


def _check_amount(data: TopupCreate, currency: str) -> int:
    if data.amount is None:
        raise InvalidInput.one("amount", "is required")
    if not MIN_TOPUP <= data.amount <= MAX_TOPUP:
        raise InvalidInput.one("amount", f"must be between {MIN_TOPUP} and {MAX_TOPUP} {currency}")
    return to_minor(data.amount, currency, field="amount")


def apply_stripe_event(session: Session, payload: bytes, signature: str | None) -> WebhookReceipt:
    """Verify a Stripe webhook and apply it once. Events we do not act on are acknowledged."""
    event = stripe_gateway.verify_event(current_settings(), payload, signature)
    intent = (event.get("data") or {}).get("object") or {}
    if event["type"] == "payment_intent.succeeded":
        return WebhookReceipt(received=True, applied=_credit_topup(session, event, intent))
    if event["type"] == "invoice.paid":
        return WebhookReceipt(received=True, applied=invoices.apply_invoice_paid(session, event))
    if event["type"] in ("payment_intent.payment_failed", "payment_intent.canceled"):
        status = "failed" if event["type"] == "payment_intent.payment_failed" else "canceled"
        return WebhookReceipt(received=True, applied=_close_topup(session, event, intent, status))
    return WebhookReceipt(received=True, applied=False)


def _claim_event(session: Session, event: dict[str, Any], intent: dict[str, Any]) -> bool:
    """Record the event id in the caller's transaction; False when it was applied before. A twin
    delivered concurrently waits on the primary key until this transaction ends."""
    return insert_ignoring_conflict(
        session, StripeEvent, {"id": event["id"], "type": event["type"], "object_id": _text(intent.get("id")),
                               "received_at": utcnow()},
        conflict_columns=["id"], returning=StripeEvent.id) is not None


def _topup_for(session: Session, intent: dict[str, Any]) -> Topup | None:
    """Our top-up for a PaymentIntent: by the id in its metadata (set by us, so it is there even
    when the event beats our own write of the intent id), checked against the intent id."""
    intent_id = _text(intent.get("id"))
    topup_id = _text((intent.get("metadata") or {}).get("topup_id"))
    if topup_id is not None and topup_id.isdigit():
        topup = session.get(Topup, int(topup_id), with_for_update=True)
        if topup is not None and topup.stripe_payment_intent_id in (None, intent_id):
            return topup
    if intent_id is None:
        return None
    return session.execute(select(Topup).where(Topup.stripe_payment_intent_id == intent_id).with_for_update()
                           ).scalar_one_or_none()


def _credit_topup(session: Session, event: dict[str, Any], intent: dict[str, Any]) -> bool:
    with transaction(session):
        if not _claim_event(session, event, intent):
            return False
        topup = _topup_for(session, intent)
        if topup is None:
            log.warning("Stripe event %s: PaymentIntent %s is not one of our top-ups", event["id"], intent.get("id"))
            return False
        received = intent.get("amount_received") or intent.get("amount")
        if str(intent.get("currency", "")).upper() != topup.currency or type(received) is not int or received <= 0:
            log.error("Stripe event %s: top-up %s expected %s %s, the intent says %r %r", event["id"], topup.id,
                      topup.amount_minor, topup.currency, received, intent.get("currency"))
            return False
        if received != topup.amount_minor:
            log.warning("Stripe event %s: top-up %s asked %s, received %s; crediting what was received",
                        event["id"], topup.id, topup.amount_minor, received)
        cash = ledger.account(session, ADVERTISER_CASH, topup.currency, advertiser_id=topup.advertiser_id)
        clearing = ledger.account(session, STRIPE_CLEARING, topup.currency)
        posted = ledger.post(session, f"topup:{topup.id}", [Entry(clearing.id, -received, topup.currency),
                                                            Entry(cash.id, received, topup.currency)],
                             kind="topup", reference=f"topup:{topup.id}", memo=f"Stripe {intent.get('id')}",
                             created_by="stripe")
        topup.status = "succeeded"
        topup.failure_code = None
        topup.stripe_payment_intent_id = topup.stripe_payment_intent_id or _text(intent.get("id"))
        topup.ledger_transaction_id = posted.transaction.id
        topup.updated_at = utcnow()
        return not posted.replayed


def _close_topup(session: Session, event: dict[str, Any], intent: dict[str, Any], status: str) -> bool:
    """A failed or canceled payment: no money moves; a success that came first stays a success."""
    with transaction(session):
        if not _claim_event(session, event, intent):
            return False
        topup = _topup_for(session, intent)
        if topup is None or topup.status not in OPEN_STATUSES:
            return False
        topup.status = status
        error = intent.get("last_payment_error") or {}
        topup.failure_code = _text(error.get("code") if isinstance(error, dict) else None)
        topup.stripe_payment_intent_id = topup.stripe_payment_intent_id or _text(intent.get("id"))
        topup.updated_at = utcnow()
        return True


def _text(value: Any) -> str | None:
    return value[:255] if isinstance(value, str) and value else None
