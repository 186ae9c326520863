"""Delivery: each sale sent to its buyer's webhook as signed JSON, every attempt recorded.

A sale's delivery row is written in the sale's transaction (`queue_delivery`); the use case
enqueues `marketplace.deliver_sale` after its commit (`dispatch_pending`). One attempt
(`deliver`) claims the row with a conditional UPDATE (so two workers never send one sale at
once), posts with no transaction open, then records the attempt. The task retries a failed
attempt with exponential backoff; after MAX_ATTEMPTS failures the delivery is `dead`. A beat
task re-enqueues deliveries whose enqueue or worker was lost (`stale`).

Signature: `X-Leadmarket-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
with the Unix time in `X-Leadmarket-Timestamp`; the buyer recomputes it over the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import msgspec
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from leadmarket import outbound
from leadmarket.celery_app import enqueue_swept
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal
from leadmarket.money import from_minor
from marketplace.delivery_models import Delivery, DeliveryAttempt
from marketplace.models import Lead, Vertical
from marketplace.order_models import Order
from marketplace.purchases import PurchasedLead, lead_document
from marketplace.sale_models import Sale

MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 5.0
LEASE = timedelta(seconds=60)        # longer than any attempt: a claimed row is not re-taken meanwhile
STALE_PENDING = timedelta(minutes=2)  # an enqueue lost between commit and broker
STALE_RETRYING = timedelta(minutes=20)  # longer than the task's largest backoff (15 min)
USER_AGENT = "Leadmarket-Delivery/1"
_QUEUED = "marketplace.deliveries"    # session.info key: sales whose delivery this session wrote


class DeliveryFailed(Exception):
    """An attempt failed and the delivery will be retried (the task's autoretry trigger)."""

    def __init__(self, sale_id: int, error: str) -> None:
        super().__init__(f"delivery of sale {sale_id} failed: {error}")


class DeliveryPayload(msgspec.Struct):
    event: str
    sale_id: int
    order_id: int | None
    price: Decimal
    currency: str
    exclusive: bool
    sold_at: datetime
    lead: PurchasedLead


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    sale_id: int
    number: int       # this attempt's number, 1-based
    url: str
    secret: str
    body: bytes


@dataclass(frozen=True)
class Response:
    status_code: int | None
    duration_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


# ---------------------------------------------------------------- queueing (inside the sale's transaction)


def queue_delivery(session: Session, sale: Sale) -> None:
    """Write the sale's delivery row: `pending` when its order has a webhook, else `no_endpoint`
    (targeted and store sales, orders without one: the buyer pulls `GET /api/v1/purchases`)."""
    url = None
    if sale.order_id is not None:
        url = session.execute(select(Order.webhook_url).where(Order.id == sale.order_id)).scalar_one_or_none()
    now = utcnow()
    session.add(Delivery(sale_id=sale.id, status="pending" if url else "no_endpoint", attempts=0,
                         created_at=now, updated_at=now))
    if url:
        session.info.setdefault(_QUEUED, []).append(sale.id)


def dispatch_pending(session: Session) -> None:
    """After the commit: enqueue the deliveries this session wrote (in-process mode sends them now).
    A sale whose savepoint was rolled back has no delivery row; its task finds nothing to do."""
    for sale_id in session.info.pop(_QUEUED, []):
        enqueue_swept("marketplace.deliver_sale", sale_id)  # a lost one is queued again by its beat sweeper


# ---------------------------------------------------------------- sending (the task's work)


def deliver(session: Session, sale_id: int, *, timeout: float = TIMEOUT_SECONDS,
            max_attempts: int = MAX_ATTEMPTS) -> str | None:
    """One attempt to send a sold lead; safe to call again for the same sale. Returns the
    delivery's new status (`delivered`, `dead`), or None when there was nothing to do
    (delivered, dead, or in flight elsewhere). Raises DeliveryFailed when it will be retried."""
    with transaction(session):
        claimed = claim_delivery(session, sale_id)
    if claimed is None:
        return None
    response = post_signed(claimed, timeout=timeout)  # no transaction open during the call
    with transaction(session):
        status = record_attempt(session, claimed, response, max_attempts=max_attempts)
    if status == "retrying":
        raise DeliveryFailed(sale_id, response.error or "")
    return status


def claim_delivery(session: Session, sale_id: int) -> Claimed | None:
    """Take the sale's delivery for one attempt, unless delivered, dead or leased to another worker."""
    now = utcnow()
    row = session.execute(
        update(Delivery)
        .where(Delivery.sale_id == sale_id,
               or_(Delivery.status.in_(("pending", "retrying")),
                   (Delivery.status == "sending") & (Delivery.lease_until < now)))
        .values(status="sending", attempts=Delivery.attempts + 1, lease_until=now + LEASE, updated_at=now)
        .returning(Delivery.id, Delivery.attempts)
        .execution_options(synchronize_session=False)).one_or_none()
    if row is None:
        return None
    sale, lead, slug, url, secret = session.execute(
        select(Sale, Lead, Vertical.slug, Order.webhook_url, Order.webhook_secret)
        .join(Lead, Lead.id == Sale.lead_id).join(Vertical, Vertical.id == Lead.vertical_id)
        .join(Order, Order.id == Sale.order_id).where(Sale.id == sale_id)).one()
    payload = DeliveryPayload(event="lead.sold", sale_id=sale.id, order_id=sale.order_id,
                              price=from_minor(sale.price_minor, sale.currency), currency=sale.currency,
                              exclusive=sale.exclusive, sold_at=sale.created_at, lead=lead_document(lead, slug))
    return Claimed(delivery_id=row.id, sale_id=sale_id, number=row.attempts, url=url, secret=secret or "",
                   body=msgspec.json.encode(payload))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Leadmarket-Signature` value for this body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def post_signed(claimed: Claimed, *, timeout: float = TIMEOUT_SECONDS, delivery_label: str | None = None) -> Response:
    """POST the body to the webhook, signed; never raises (the error is the outcome)."""
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "X-Leadmarket-Timestamp": timestamp, "X-Leadmarket-Signature": signature(claimed.secret, timestamp,
                                                                                         claimed.body),
               "X-Leadmarket-Delivery": delivery_label or f"{claimed.sale_id}.{claimed.number}"}
    began = time.perf_counter()
    status_code, error = None, None
    try:
        with outbound.client(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
            status_code = client.post(claimed.url, content=claimed.body, headers=headers).status_code
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    if error is None and not 200 <= (status_code or 0) < 300:
        error = f"HTTP {status_code}"
    return Response(status_code=status_code, duration_ms=int((time.perf_counter() - began) * 1000), error=error)


def record_attempt(session: Session, claimed: Claimed, response: Response, *, max_attempts: int = MAX_ATTEMPTS) -> str:
    """Log the attempt and move the delivery on: delivered, dead after `max_attempts`, else retrying."""
    now = utcnow()
    session.add(DeliveryAttempt(delivery_id=claimed.delivery_id, number=claimed.number, attempted_at=now,
                                status_code=response.status_code, duration_ms=response.duration_ms,
                                error=response.error))
    if response.ok:
        status = "delivered"
    elif claimed.number >= max_attempts:
        status = "dead"
    else:
        status = "retrying"
    # Only the worker holding this attempt's claim moves the row (a lease that ran out was re-taken).
    session.execute(
        update(Delivery).where(Delivery.id == claimed.delivery_id, Delivery.status == "sending",
                               Delivery.attempts == claimed.number)
        .values(status=status, lease_until=None, last_error=response.error, updated_at=now,
                delivered_at=now if response.ok else None)
        .execution_options(synchronize_session=False))
    return status


def stale(session: Session, *, limit: int = 1000) -> list[int]:
    """Sales whose delivery nobody is working on: pending or retrying for too long, or a lease run out."""
    now = utcnow()
    return list(session.execute(
        select(Delivery.sale_id).where(or_(
            (Delivery.status == "pending") & (Delivery.updated_at < now - STALE_PENDING),
            (Delivery.status == "retrying") & (Delivery.updated_at < now - STALE_RETRYING),
            (Delivery.status == "sending") & (Delivery.lease_until < now))).order_by(Delivery.id).limit(limit)
    ).scalars())


# ---------------------------------------------------------------- a test delivery (the portal's button)

TEST_EVENT = "lead.test"
SAMPLE_CONTACT = {"first_name": "Test", "last_name": "Lead", "email": "test.lead@example.com",
                  "phone": "+14155550100", "country": "US", "region": "CA", "city": "San Francisco",
                  "postal_code": "94107"}


class TestDeliveryResult(msgspec.Struct):
    __test__ = False  # not a pytest class

    order_id: int
    url: str
    sent_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    ok: bool


def send_test_delivery(session: Session, principal: Principal, order_id: int, *,
                       timeout: float = TIMEOUT_SECONDS) -> TestDeliveryResult:
    """POST a signed sample lead (event `lead.test`, sale_id 0, made-up person) to one of the
    caller's orders' webhook, exactly as a real delivery is signed, and say what came back.
    Nothing is stored and no sale is touched; another advertiser's order is NotFound."""
    if principal.advertiser_id is None:
        raise PermissionDenied("only advertisers have delivery webhooks")
    found = session.execute(select(Order, Vertical).join(Vertical, Vertical.id == Order.vertical_id)
                            .where(Order.id == order_id, Order.advertiser_id == principal.advertiser_id)
                            ).one_or_none()
    session.rollback()  # no transaction open during the call
    if found is None:
        raise NotFound(f"no order {order_id}")
    order, vertical = found
    if not order.webhook_url:
        raise InvalidInput.one("delivery.webhook_url", "this order has no webhook URL: set one first")
    now = utcnow()
    sample = PurchasedLead(lead_id=0, vertical=vertical.slug, contact=dict(SAMPLE_CONTACT),
                           attributes=_sample_attributes(vertical.fields), consent=None, temperature="warm",
                           created_at=now)
    payload = DeliveryPayload(event=TEST_EVENT, sale_id=0, order_id=order.id,
                              price=from_minor(order.price_minor, order.currency), currency=order.currency,
                              exclusive=order.exclusive, sold_at=now, lead=sample)
    claimed = Claimed(delivery_id=0, sale_id=0, number=0, url=order.webhook_url, secret=order.webhook_secret or "",
                      body=msgspec.json.encode(payload))
    response = post_signed(claimed, timeout=timeout, delivery_label=f"test.{int(now.timestamp())}")
    return TestDeliveryResult(order_id=order.id, url=order.webhook_url, sent_at=now,
                              status_code=response.status_code, duration_ms=response.duration_ms,
                              error=response.error, ok=response.ok)


def _sample_attributes(fields: list[dict[str, object]]) -> dict[str, object]:
    """A value of the right type for each of the vertical's fields."""
    sample: dict[str, object] = {}
    for spec in fields:
        kind, choices = spec.get("type"), spec.get("choices")
        if choices:
            sample[str(spec["name"])] = list(choices)[0]  # type: ignore[call-overload]
        elif kind in ("integer", "number"):
            sample[str(spec["name"])] = spec.get("min") if spec.get("min") is not None else 1
        elif kind == "boolean":
            sample[str(spec["name"])] = True
        elif kind == "date":
            sample[str(spec["name"])] = "2000-01-01"
        else:
            sample[str(spec["name"])] = "sample"
    return sample
