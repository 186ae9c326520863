"""Affiliate stats: clicks, leads, conversions, money and traffic cost, grouped as the reader
asks, read from the daily rollup tables (never from the click or lead tables).

Definitions (README): leads = every lead posted; valid leads = accepted + sold; cr = valid leads
/ clicks; conversion_rate = approved conversions / clicks; epc = commission / clicks; commission
= CPL payouts of leads + CPA payouts of approved conversions; traffic_cost = per-click costs +
reported spend; profit = commission − traffic_cost; roi = profit / traffic_cost; cost per lead
and per conversion = traffic_cost / valid leads and / approved conversions. Money is exact
(integer minor units summed, divided once, rounded half to even). Days are UTC days.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.orm import Session

from affiliates import rollups
from affiliates import tracking_models as rollup
from affiliates.stats_schemas import StatsReport, StatsRow

# Reads without a sub-id dimension use the sub-id-free twins (fewer rows by the sub-ids' cardinality).
FINE = (rollup.ClickRollup, rollup.ActivityRollup, rollup.RejectionRollup)
COARSE = (rollup.OfferClickRollup, rollup.OfferActivityRollup, rollup.OfferRejectionRollup)
from leadmarket.clock import utcnow
from leadmarket.errors import FieldError, InvalidInput, PermissionDenied
from leadmarket.identity import Principal, Role
from leadmarket.money import MINOR_DIGITS, from_minor
from leadmarket.settings import current_settings

DIMENSIONS = {"day": "day", "offer": "offer_id", "affiliate": "affiliate_id", "country": "country",
              **{f"sub{i}": f"sub{i}" for i in range(1, 6)}}
ACTIVITY_SUMS = ("leads", "accepted", "sold", "review", "rejected", "conversions", "approved_conversions",
                 "commission_minor", "revenue_minor")
MAX_DAYS = 400
MAX_ROWS = 10_000


def _ratio(numerator: Decimal, denominator: Decimal | int, places: int = 2) -> Decimal | None:
    if not denominator:
        return None
    return (numerator / Decimal(denominator)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def _parse(principal: Principal, start: date | None, end: date | None, group_by: str | None,
           affiliate_id: int | None) -> tuple[date, date, list[str], int | None]:
    if principal.role not in (Role.ADMIN, Role.FINANCE) and principal.affiliate_id is None:
        raise PermissionDenied("stats are for affiliates and staff")
    staff = principal.role in (Role.ADMIN, Role.FINANCE)
    errors: list[FieldError] = []
    end = end or utcnow().date()
    start = start or max(end, date.min + timedelta(days=6)) - timedelta(days=6)  # `to=0001-01-01` is no overflow
    if start > end:
        errors.append(FieldError("from", "must not be after to"))
    elif (end - start).days >= MAX_DAYS:
        errors.append(FieldError("from", f"the range may span at most {MAX_DAYS} days"))
    names = [n.strip() for n in (group_by or "day,offer").split(",") if n.strip()]
    allowed = [n for n in DIMENSIONS if staff or n != "affiliate"]
    bad = [n for n in names if n not in allowed]
    if bad or len(set(names)) != len(names):
        errors.append(FieldError("group_by", f"comma-separated, each once, from: {', '.join(allowed)}"))
    if affiliate_id is not None and not staff:
        errors.append(FieldError("affiliate_id", "only staff choose an affiliate; you see your own"))
    if errors:
        raise InvalidInput(errors)
    return start, end, names, (affiliate_id if staff else principal.affiliate_id)


def _filtered(query: Select[Any], table: Any, start: date, end: date, affiliate_id: int | None,
              offer_id: int | None) -> Select[Any]:
    query = query.where(table.day >= start, table.day <= end)
    if affiliate_id is not None:
        query = query.where(table.affiliate_id == affiliate_id)
    if offer_id is not None:
        query = query.where(table.offer_id == offer_id)
    return query


def affiliate_stats(session: Session, principal: Principal, *, start: date | None = None, end: date | None = None,
                    group_by: str | None = None, affiliate_id: int | None = None,
                    offer_id: int | None = None) -> StatsReport:
    start, end, names, affiliate_id = _parse(principal, start, end, group_by, affiliate_id)
    if not current_settings().redis_url:
        # The embedded default has no workers: the rollups of recent and changed days are brought
        # up to date by the read itself (with workers, `affiliates.refresh_stats` does it).
        rollups.refresh(session)
    columns = [DIMENSIONS[n] for n in names]
    fine = any(c.startswith("sub") for c in columns)
    ClickRollup, ActivityRollup, RejectionRollup = FINE if fine else COARSE
    click_part = _filtered(select(
        *(getattr(ClickRollup, c).label(c) for c in columns), ClickRollup.currency.label("currency"),
        ClickRollup.clicks.label("clicks"), ClickRollup.unique_clicks.label("unique_clicks"),
        ClickRollup.cost_minor.label("cost_minor"), *(literal(0).label(s) for s in ACTIVITY_SUMS)),
        ClickRollup, start, end, affiliate_id, offer_id)
    activity_part = _filtered(select(
        *(getattr(ActivityRollup, c).label(c) for c in columns), ActivityRollup.currency.label("currency"),
        literal(0).label("clicks"), literal(0).label("unique_clicks"), ActivityRollup.cost_minor.label("cost_minor"),
        *(getattr(ActivityRollup, s).label(s) for s in ACTIVITY_SUMS)),
        ActivityRollup, start, end, affiliate_id, offer_id)
    both = union_all(click_part, activity_part).subquery()
    keys = [both.c[c] for c in columns] + [both.c.currency]
    totals = select(*keys, *(func.sum(both.c[s]).label(s) for s in
                             ("clicks", "unique_clicks", "cost_minor", *ACTIVITY_SUMS)))
    totals = totals.group_by(*keys).order_by(*keys).limit(MAX_ROWS + 1)
    rows = list(session.execute(totals))
    reasons = _rejections(session, RejectionRollup, columns, start, end, affiliate_id, offer_id)
    staff = principal.role in (Role.ADMIN, Role.FINANCE)
    report_rows = [_row(row, columns, reasons, staff) for row in rows[:MAX_ROWS]]
    return StatsReport(start=start.isoformat(), end=end.isoformat(), group_by=names, rows=report_rows,
                       truncated=len(rows) > MAX_ROWS)


def _rejections(session: Session, RejectionRollup: Any, columns: list[str], start: date, end: date,
                affiliate_id: int | None, offer_id: int | None) -> dict[tuple[Any, ...], dict[str, int]]:
    keys = [getattr(RejectionRollup, c) for c in columns]
    query = _filtered(select(*keys, RejectionRollup.reason, func.sum(RejectionRollup.rejected))
                      .group_by(*keys, RejectionRollup.reason), RejectionRollup, start, end, affiliate_id, offer_id)
    reasons: dict[tuple[Any, ...], dict[str, int]] = defaultdict(dict)
    for *key, reason, count in session.execute(query):
        reasons[tuple(key)][reason] = int(count)
    return reasons


def _row(row: Any, columns: list[str], reasons: dict[tuple[Any, ...], dict[str, int]], staff: bool) -> StatsRow:
    currency = row.currency if row.currency in MINOR_DIGITS else "USD"
    money = lambda minor: from_minor(int(minor), currency)
    clicks, valid = int(row.clicks), int(row.accepted) + int(row.sold)
    approved = int(row.approved_conversions)
    commission, cost = money(row.commission_minor), money(row.cost_minor)
    profit = commission - cost
    dims = {c: getattr(row, c) for c in columns}
    return StatsRow(
        day=dims["day"].isoformat() if "day" in dims else None, offer_id=dims.get("offer_id"),
        affiliate_id=dims.get("affiliate_id"),
        **{f"sub{i}": dims[f"sub{i}"] for i in range(1, 6) if f"sub{i}" in dims},
        country=dims.get("country"), currency=currency, clicks=clicks, unique_clicks=int(row.unique_clicks),
        leads=int(row.leads), accepted=int(row.accepted), sold=int(row.sold), review=int(row.review),
        rejected=int(row.rejected), rejected_by_reason=reasons.get(tuple(dims.values()), {}),
        conversions=int(row.conversions), approved_conversions=approved,
        cr=_ratio(Decimal(valid * 100), clicks), conversion_rate=_ratio(Decimal(approved * 100), clicks),
        epc=_ratio(commission, clicks), commission=commission, traffic_cost=cost, profit=profit,
        roi=_ratio(profit * 100, cost) if cost else None,
        cost_per_lead=_ratio(cost, valid), cost_per_conversion=_ratio(cost, approved),
        revenue=money(row.revenue_minor) if staff else None)
