"""Traffic costs: what affiliates spent per day, offer and sub-ids, beside the per-click cost.

Posting the same day, offer and sub-ids again replaces the amount (a corrected report, not a
second spend); the stats of that day are recomputed by the next rollup run.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from affiliates.models import Offer
from affiliates.rollups import mark_stale
from affiliates.tracking import check_sub_ids
from affiliates.tracking_models import SUB_COLUMNS, TrafficCost
from affiliates.tracking_schemas import TrafficCostCreate, TrafficCostView
from affiliates.upserts import insert_for
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import FieldError, InvalidInput, PermissionDenied
from leadmarket.identity import Principal, Role
from leadmarket.money import MINOR_DIGITS, from_minor, to_minor
from leadmarket.paging import Page, PageRequest, paginate

OLDEST_DAYS = 400
MAX_ID = 2**31 - 1


def _day(raw: str | None, today: date, errors: list[FieldError]) -> date | None:
    if raw is None:
        errors.append(FieldError("date", "is required (YYYY-MM-DD, the UTC day of the spend)"))
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError("date", "must be a date as YYYY-MM-DD"))
        return None
    if day > today + timedelta(days=1):  # a day ahead: the affiliate's "today" east of UTC
        errors.append(FieldError("date", "must not be in the future"))
    elif day < today - timedelta(days=OLDEST_DAYS):
        errors.append(FieldError("date", f"must be within the last {OLDEST_DAYS} days"))
    return day


def record_traffic_cost(session: Session, principal: Principal, data: TrafficCostCreate) -> TrafficCostView:
    """Store (or replace) one day's spend for an offer and sub-id combination."""
    if principal.affiliate_id is None:
        raise PermissionDenied("only affiliates report traffic costs")
    now = utcnow()
    errors: list[FieldError] = []
    day = _day(data.date, now.date(), errors)
    sub_ids, sub_errors = check_sub_ids(data.sub_ids)
    errors += sub_errors
    offer = None
    if data.offer_id is None:
        errors.append(FieldError("offer_id", "is required"))
    else:
        offer = session.get(Offer, data.offer_id) if 0 < data.offer_id <= MAX_ID else None
        if offer is None:
            errors.append(FieldError("offer_id", "no offer with this id"))
    currency = (data.currency or "").upper()
    if not data.currency:
        errors.append(FieldError("currency", "is required"))
    elif currency not in MINOR_DIGITS:
        errors.append(FieldError("currency", f"must be one of {', '.join(sorted(MINOR_DIGITS))}"))
    elif offer is not None and currency != offer.currency:
        errors.append(FieldError("currency", f"must be {offer.currency}, the offer's currency"))
    amount_minor = None
    if data.amount is None:
        errors.append(FieldError("amount", "is required, as a decimal string such as \"120.50\""))
    elif currency in MINOR_DIGITS:
        try:
            amount_minor = to_minor(data.amount, currency, field="amount")
        except InvalidInput as exc:
            errors += exc.errors
    if errors:
        raise InvalidInput(errors)
    assert offer is not None and day is not None and amount_minor is not None
    values = {"affiliate_id": principal.affiliate_id, "offer_id": offer.id, "day": day, "amount_minor": amount_minor,
              "currency": currency, "created_at": now, "updated_at": now,
              **{key: sub_ids.get(key, "") for key in SUB_COLUMNS}}
    with transaction(session):
        stmt = insert_for(session, TrafficCost).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["affiliate_id", "offer_id", "day", *SUB_COLUMNS],
            set_={"amount_minor": stmt.excluded.amount_minor, "updated_at": stmt.excluded.updated_at})
        row = session.execute(stmt.returning(TrafficCost.id, TrafficCost.created_at)).one()
        mark_stale(session, [day])
    return TrafficCostView(id=row.id, date=day.isoformat(), offer_id=offer.id, sub_ids=sub_ids,
                           amount=from_minor(amount_minor, currency), currency=currency,
                           replaced=row.created_at != now)


def costs_visible_to(principal: Principal) -> object:
    """The one scoping query for traffic costs: an affiliate sees their own, staff see all."""
    query = select(TrafficCost)
    if principal.role in (Role.ADMIN, Role.FINANCE):
        return query
    if principal.affiliate_id is not None:
        return query.where(TrafficCost.affiliate_id == principal.affiliate_id)
    return query.where(False)


def list_traffic_costs(session: Session, principal: Principal, start: date, end: date) -> list[TrafficCostView]:
    query = costs_visible_to(principal).where(TrafficCost.day >= start, TrafficCost.day <= end)  # type: ignore[attr-defined]
    rows = session.execute(query.order_by(TrafficCost.day, TrafficCost.id).limit(5000)).scalars()
    return [TrafficCostView(id=c.id, date=c.day.isoformat(), offer_id=c.offer_id,
                            sub_ids={k: v for k in SUB_COLUMNS if (v := getattr(c, k))},
                            amount=from_minor(c.amount_minor, c.currency), currency=c.currency) for c in rows]


def traffic_costs_page(session: Session, principal: Principal, request: PageRequest) -> Page[TrafficCostView]:
    """One page of the caller's reported costs (staff: everyone's), latest day first unless sorted otherwise."""
    found = paginate(session, costs_visible_to(principal), request,  # type: ignore[arg-type]
                     {"day": TrafficCost.day, "offer": TrafficCost.offer_id, "amount": TrafficCost.amount_minor,
                      "updated": TrafficCost.updated_at}, "day")
    return Page(items=[TrafficCostView(id=c.id, date=c.day.isoformat(), offer_id=c.offer_id,
                                       sub_ids={k: v for k in SUB_COLUMNS if (v := getattr(c, k))},
                                       amount=from_minor(c.amount_minor, c.currency), currency=c.currency)
                       for c in found.items], request=found.request, total=found.total)
