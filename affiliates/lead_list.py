"""The leads an affiliate posted, as people read them page by page: outcome, rejection reason,
payout, offer and sub-ids, filtered by status, offer and day, never another affiliate's.

No contact data here: the list says what happened to a lead, `GET /api/v1/leads/{id}` shows one
lead whole. Days are the reader's own calendar days (their time zone).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import msgspec
from sqlalchemy import Select
from sqlalchemy.orm import Session

from affiliates.models import Offer
from leadmarket.accounts import zone
from leadmarket.errors import FieldError, InvalidInput
from leadmarket.identity import Principal
from leadmarket.money import from_minor
from leadmarket.paging import Page, PageRequest, paginate
from marketplace.intake import leads_visible_to
from marketplace.models import Lead

STATUSES = ("accepted", "sold", "review", "rejected", "expired", "returned", "converted")
SORT_COLUMNS = {"id": Lead.id, "created": Lead.created_at, "status": Lead.status, "payout": Lead.payout_minor,
                "offer": Lead.offer_id}


class PostedLead(msgspec.Struct):
    lead_id: int
    created_at: datetime
    offer_id: int
    offer_name: str
    status: str
    reason: str | None  # why it was rejected or held for review ("duplicate", a fraud reason, ...)
    fraud_reasons: list[str]
    payout: Decimal
    currency: str
    country: str
    region: str | None
    sub_ids: dict[str, str]
    click_id: str | None
    source: str


def posted_leads_query(principal: Principal, *, status: str | None = None, offer_id: int | None = None,
                       start: date | None = None, end: date | None = None) -> Select[tuple[Lead, str]]:
    """The caller's leads (staff: everyone's) with their offer's name, filtered; `start`..`end`
    are inclusive days in the caller's time zone. Bad filters are InvalidInput naming each."""
    errors = []
    if status is not None and status not in STATUSES:
        errors.append(FieldError("status", f"must be one of {', '.join(STATUSES)}"))
    if offer_id is not None and not 0 < offer_id < 2**31:
        errors.append(FieldError("offer_id", "no offer with this id"))
    if start is not None and end is not None and start > end:
        errors.append(FieldError("from", "must not be after to"))
    if errors:
        raise InvalidInput(errors)
    query = leads_visible_to(principal).add_columns(Offer.name).join(Offer, Offer.id == Lead.offer_id)
    if status is not None:
        query = query.where(Lead.status == status)
    if offer_id is not None:
        query = query.where(Lead.offer_id == offer_id)
    tz = zone(principal.time_zone)
    if start is not None:
        query = query.where(Lead.created_at >= datetime.combine(start, time(0), tzinfo=tz))
    if end is not None:
        query = query.where(Lead.created_at < datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz))
    return query


def posted_leads_page(session: Session, principal: Principal, request: PageRequest, *, status: str | None = None,
                      offer_id: int | None = None, start: date | None = None, end: date | None = None
                      ) -> Page[PostedLead]:
    """One page of the caller's leads, newest first unless sorted otherwise."""
    query = posted_leads_query(principal, status=status, offer_id=offer_id, start=start, end=end)
    found = paginate(session, query, request, SORT_COLUMNS, "id", scalars=False)
    return Page(items=[posted_lead(lead, offer_name) for lead, offer_name in found.items], request=found.request,
                total=found.total)


def posted_lead(lead: Lead, offer_name: str) -> PostedLead:
    return PostedLead(lead_id=lead.id, created_at=lead.created_at, offer_id=lead.offer_id, offer_name=offer_name,
                      status=lead.status, reason=lead.reason, fraud_reasons=list(lead.fraud_reasons or []),
                      payout=from_minor(lead.payout_minor, lead.currency), currency=lead.currency,
                      country=lead.country, region=lead.region, sub_ids=lead.sub_ids, click_id=lead.click_id,
                      source=lead.source)
