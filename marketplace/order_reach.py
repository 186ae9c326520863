"""An order's reach before it is saved: how many recent leads of its vertical its filters and
schedule would have matched (the live count beside the order form).

The leads are judged by the same compiled matcher distribution uses (marketplace/matching.py),
built for this one order, each lead at the moment it came in (so the schedule counts too). Only
leads that passed the screen count (not those held for review or rejected). Caps, budgets and
competing bids are left out: this says what the filters let through, not what would be bought.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from leadmarket import crypto
from leadmarket.clock import utcnow
from leadmarket.errors import InvalidInput, PermissionDenied
from leadmarket.identity import Principal
from marketplace import orders
from marketplace.matching import TEMPERATURE_RANK, OrderRow, compile_book
from marketplace.models import LEAD_CONTACT_PURPOSE, POSTAL_PREFIX, Lead, Vertical
from marketplace.order_schemas import OrderFilters, OrderSchedule

DEFAULT_DAYS = 7
MAX_DAYS = 31
# Leads judged per count, newest first; a vertical busier than this gets "at least N".
SCAN_LIMIT = 50_000
SCREENED = ("accepted", "sold", "returned", "converted", "expired")


class OrderReach(msgspec.Struct):
    vertical: str
    days: int
    since: datetime
    matched: int
    recent: int  # leads of the vertical in the window that passed the screen
    at_least: bool  # more than SCAN_LIMIT candidates: `matched` counts the newest SCAN_LIMIT only


@dataclass(frozen=True, slots=True)
class _LeadShape:
    country: str
    region: str | None
    postal_code: str | None
    temperature: str | None
    fraud_score: int | None
    attributes: dict[str, Any]


def count_recent_matches(session: Session, principal: Principal, vertical_slug: str, filters: OrderFilters, *,
                         schedule: OrderSchedule | None = None, time_zone: str = "UTC", days: int = DEFAULT_DAYS,
                         now: datetime | None = None) -> OrderReach:
    """How many leads of the last `days` days these filters (and schedule) would have matched.
    Bad filters raise InvalidInput with the same fields create_order names."""
    if principal.advertiser_id is None:
        raise PermissionDenied("only advertisers place orders")
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput.one("days", f"must be between 1 and {MAX_DAYS}")
    vertical = session.execute(select(Vertical).where(Vertical.slug == vertical_slug)).scalar_one_or_none()
    if vertical is None:
        raise InvalidInput.one("vertical", f"no vertical with slug {vertical_slug!r}")
    columns = orders.check_targeting(vertical, filters, schedule, time_zone)
    shape = OrderRow(id=0, advertiser_id=principal.advertiser_id, price_minor=0, exclusive=False,
                        time_zone=columns["time_zone"], min_temperature=columns["min_temperature"],
                        max_fraud_score=columns["max_fraud_score"], countries=columns["countries"],
                        regions=columns["regions"], postal_prefixes=columns["postal_prefixes"],
                        ranges=columns["ranges"], choices=columns["choices"],
                        schedule_slots=columns["schedule_slots"])
    book = compile_book(vertical.id, None, [shape])
    since = (now or utcnow()) - timedelta(days=days)
    # Only a postal prefix longer than the plain one needs the sealed postal code opened.
    needs_postal = any(len(p) > POSTAL_PREFIX for p in shape.postal_prefixes)
    in_window = (Lead.vertical_id == vertical.id, Lead.created_at >= since, Lead.status.in_(SCREENED))
    recent = session.execute(select(func.count()).select_from(Lead).where(*in_window)).scalar_one()
    query = (select(Lead.country, Lead.region, Lead.postal_prefix, Lead.temperature, Lead.fraud_score,
                    Lead.attributes, Lead.created_at, *([Lead.contact_sealed] if needs_postal else []))
             .where(*in_window))
    # Narrow in SQL with what the matcher would refuse anyway; the matcher decides the rest.
    if shape.countries:
        query = query.where(Lead.country.in_(shape.countries))
    if shape.min_temperature is not None and TEMPERATURE_RANK[shape.min_temperature] > 0:
        rank = TEMPERATURE_RANK[shape.min_temperature]  # a lead without a temperature counts as cold
        query = query.where(Lead.temperature.in_([t for t, r in TEMPERATURE_RANK.items() if r >= rank]))
    if shape.max_fraud_score is not None:
        query = query.where(or_(Lead.fraud_score.is_(None), Lead.fraud_score <= shape.max_fraud_score))
    rows = session.execute(query.order_by(Lead.created_at.desc()).limit(SCAN_LIMIT + 1)).all()
    at_least = len(rows) > SCAN_LIMIT
    matched = 0
    for row in rows[:SCAN_LIMIT]:
        postal = row.postal_prefix
        if needs_postal and row.contact_sealed is not None:
            postal = crypto.open_json(row.contact_sealed, LEAD_CONTACT_PURPOSE).get("postal_code") or postal
        lead = _LeadShape(country=row.country, region=row.region, postal_code=postal, temperature=row.temperature,
                          fraud_score=row.fraud_score, attributes=row.attributes or {})
        if book.match(lead, row.created_at):  # type: ignore[arg-type]  # the matcher reads only these
            matched += 1
    session.rollback()  # end the read transaction
    return OrderReach(vertical=vertical.slug, days=days, since=since, matched=matched,
                      recent=recent, at_least=at_least)
