"""Purchases: an advertiser's sales with the full lead, delivery and return status (`GET /api/v1/purchases`).

The same lead document is what delivery POSTs to the buyer's webhook, so a CRM that pulls
reads exactly what a pushed delivery carries.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from leadmarket.errors import InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal
from leadmarket.money import from_minor
from leadmarket.paging import Page, PageRequest, paginate
from marketplace.delivery_models import Delivery, SaleReturn
from marketplace.models import ConsentCertificate, Lead, Vertical
from marketplace.sale_models import LeadSaleCount, Sale

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "profile_url", "country", "region", "city",
                  "postal_code", "address")


class PurchasedLead(msgspec.Struct):
    lead_id: int
    vertical: str
    contact: dict[str, Any]
    attributes: dict[str, Any]
    consent: dict[str, Any] | None
    temperature: str | None
    created_at: datetime
    # "erased" once the person's data was erased on request (marketplace/privacy.py): the contact
    # then holds only country, region and city, and the sale itself stands.
    personal_data: str = "present"
    erased_at: datetime | None = None


class DeliveryStatusView(msgspec.Struct):
    status: str  # pending, sending, retrying, delivered, dead, no_endpoint
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


class ReturnStatusView(msgspec.Struct):
    id: int
    status: str  # pending, approved, rejected
    reason: str
    created_at: datetime
    refund: Decimal | None = None  # what an approved return gave back (in the sale's currency)
    decided_at: datetime | None = None


class ConsentCertificateRef(msgspec.Struct):
    """Where the buyer verifies the consent: GET /api/v1/consents/{certificate_id} gives the record
    and its SHA-256 over the canonical serialization, which must equal `sha256` here."""

    certificate_id: str
    sha256: str


class PurchaseView(msgspec.Struct):
    sale_id: int
    status: str  # sold, returned
    channel: str
    order_id: int | None
    price: Decimal
    currency: str
    exclusive: bool
    sold_at: datetime
    times_sold: int
    max_sales: int
    lead: PurchasedLead
    delivery: DeliveryStatusView | None
    return_: ReturnStatusView | None = msgspec.field(name="return")
    consent_certificate: ConsentCertificateRef | None = None


def lead_document(lead: Lead, vertical_slug: str) -> PurchasedLead:
    """The full lead as its buyer gets it: contact data, fields, consent (opened from the sealed data)."""
    contact = {k: v for k in CONTACT_FIELDS if (v := getattr(lead, k)) is not None}
    if lead.date_of_birth is not None:
        contact["date_of_birth"] = lead.date_of_birth.isoformat()
    return PurchasedLead(lead_id=lead.id, vertical=vertical_slug, contact=contact, attributes=dict(lead.attributes),
                         consent=lead.consent, temperature=lead.temperature, created_at=lead.created_at,
                         personal_data="erased" if lead.erased_at is not None else "present",
                         erased_at=lead.erased_at)


def purchases_of(principal: Principal) -> Select[Any]:
    """The one scoping query for purchases: an advertiser's own sales, nothing else."""
    if principal.advertiser_id is None:
        raise PermissionDenied("purchases are an advertiser's")
    return (select(Sale, Lead, Vertical.slug, Delivery, SaleReturn, LeadSaleCount, ConsentCertificate)
            .join(Lead, Lead.id == Sale.lead_id).join(Vertical, Vertical.id == Lead.vertical_id)
            .outerjoin(Delivery, Delivery.sale_id == Sale.id).outerjoin(SaleReturn, SaleReturn.sale_id == Sale.id)
            .outerjoin(LeadSaleCount, LeadSaleCount.lead_id == Sale.lead_id)
            .outerjoin(ConsentCertificate, ConsentCertificate.lead_id == Sale.lead_id)
            .where(Sale.advertiser_id == principal.advertiser_id))


def list_purchases(session: Session, principal: Principal, *, limit: int = 50, offset: int = 0) -> list[PurchaseView]:
    """The advertiser's purchases, newest first."""
    rows = session.execute(purchases_of(principal).order_by(Sale.created_at.desc(), Sale.id.desc())
                           .limit(limit).offset(offset)).all()
    return [_view(*row) for row in rows]


PURCHASE_SORTS = {"sold_at": Sale.created_at, "price": Sale.price_minor, "id": Sale.id, "status": Sale.status}
SALE_STATUSES = ("sold", "returned")


def purchases_page(session: Session, principal: Principal, request: PageRequest, *,
                   status: str | None = None) -> Page[PurchaseView]:
    """One page of the advertiser's purchases (portal tables), sorted by a known column."""
    query = purchases_of(principal)
    if status is not None:
        if status not in SALE_STATUSES:
            raise InvalidInput.one("status", "must be sold or returned")
        query = query.where(Sale.status == status)
    rows = paginate(session, query, request, PURCHASE_SORTS, "sold_at", scalars=False)
    return Page(items=[_view(*row) for row in rows.items], request=rows.request, total=rows.total)


def get_purchase(session: Session, principal: Principal, sale_id: int) -> PurchaseView:
    row = session.execute(purchases_of(principal).where(Sale.id == sale_id)).one_or_none()
    if row is None:
        raise NotFound(f"no purchase {sale_id}")
    return _view(*row)


def purchase_view(row: Any) -> PurchaseView:
    """A row of `purchases_of(...)` as the buyer reads it."""
    return _view(*row)


def _view(sale: Sale, lead: Lead, slug: str, delivery: Delivery | None, sale_return: SaleReturn | None,
          count: LeadSaleCount | None, certificate: ConsentCertificate | None) -> PurchaseView:
    return PurchaseView(
        sale_id=sale.id, status=sale.status, channel=sale.channel, order_id=sale.order_id,
        price=from_minor(sale.price_minor, sale.currency), currency=sale.currency, exclusive=sale.exclusive,
        sold_at=sale.created_at, times_sold=count.sales if count else 1, max_sales=count.max_sales if count else 1,
        lead=lead_document(lead, slug),
        delivery=None if delivery is None else DeliveryStatusView(
            status=delivery.status, attempts=delivery.attempts, last_error=delivery.last_error,
            delivered_at=delivery.delivered_at),
        return_=None if sale_return is None else ReturnStatusView(
            id=sale_return.id, status=sale_return.status, reason=sale_return.reason,
            created_at=sale_return.created_at, decided_at=sale_return.decided_at,
            refund=from_minor(sale_return.refund_minor, sale_return.currency)
            if sale_return.status == "approved" else None),
        consent_certificate=None if certificate is None else ConsentCertificateRef(
            certificate_id=certificate.certificate_id, sha256=certificate.sha256))
