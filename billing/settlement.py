"""Settlement: per offer, affiliate, advertiser or vertical, what was earned, refunded, paid out in
commission and spent on traffic over a range of UTC days, and the margin left.

Where the figures come from
- Revenue, returns and commission are read from the ledger's entries, so they reconcile with the
  trial balance: a sale's (`sale:<id>`) or approved conversion's (`conversion:<id>`) charge and
  its reversal, joined to the sale (its lead's offer, affiliate, vertical) or conversion for the
  grouping. Revenue = what the advertisers' cash accounts were charged by charges; returns = what
  reversals refunded to them; net revenue = revenue - returns; commission = the movement of the
  affiliates' payable accounts (payouts, net of claw-backs). So for every group and the total,
  net revenue - commission = the movement of the platform revenue account.
- Traffic cost = the affiliates' reported `traffic_cost` rows (by their day) plus per-click costs
  (`click.cost_minor`, by the click's UTC day), in the currency they were reported in.
- margin = net revenue - commission - traffic cost; margin % = margin / net revenue * 100, null
  when net revenue is 0.

Days: a figure belongs to the UTC date of its money movement (the ledger transaction's time, a
return on the day it was refunded, not the day of its sale); `from` and `to` are both included.

Rounding, once: every sum is taken in integer minor units of its currency (never mixed across
currencies: a row per group and currency); money leaves as Decimal of the currency's digits;
margin % is computed exactly (a fraction) and rounded once, ROUND_HALF_EVEN, to 2 decimals.

Advertisers: traffic cost belongs to offers and affiliates, not to buyers, and is not allocated
to them: with group_by=advertiser the rows' `traffic_cost` is null and their margin is before
traffic cost; the total row counts all traffic cost, shown as `unallocated_traffic_cost`. The
total row is therefore the same whatever the grouping.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import String, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from affiliates.cpa_models import Conversion
from affiliates.models import Affiliate, Offer
from affiliates.tracking_models import Click, TrafficCost
from billing.models import (
    ADVERTISER_CASH,
    AFFILIATE_PAYABLE,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from billing.settlement_schemas import (
    SettlementFigures,
    SettlementGroup,
    SettlementPoint,
    SettlementReport,
    SettlementRow,
    SettlementSeries,
)
from leadmarket.errors import FieldError, InvalidInput
from leadmarket.money import from_minor
from marketplace.models import Advertiser, Lead, Vertical
from marketplace.sale_models import Sale

GROUPINGS = ("offer", "affiliate", "advertiser", "vertical")
MAX_DAYS = 366
CENT = Decimal("0.01")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class _Sums:
    """One group's figures in one currency, in minor units."""

    revenue: int = 0
    returns: int = 0
    commission: int = 0
    traffic_cost: int = 0

    def add(self, other: _Sums) -> None:
        self.revenue += other.revenue
        self.returns += other.returns
        self.commission += other.commission
        self.traffic_cost += other.traffic_cost


def settlement(session: Session, start: str | None, end: str | None, group_by: str | None) -> SettlementReport:
    """The settlement report for the UTC days `start`..`end` (YYYY-MM-DD, both included), grouped
    by offer (the default), affiliate, advertiser or vertical. InvalidInput names every bad value."""
    first, last, grouping = _parse(start, end, group_by)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)

    sums: dict[tuple[int, str], _Sums] = defaultdict(_Sums)
    for row in _ledger_rows(session, grouping, since, until):
        figures = sums[(int(row.group_id), row.currency)]
        figures.revenue += int(row.revenue)
        figures.returns += int(row.returns)
        figures.commission += int(row.commission)
    unallocated: dict[str, int] = defaultdict(int)
    for group_id, currency, amount in _traffic_cost_rows(session, grouping, first, last, since, until):
        if grouping == "advertiser":
            unallocated[currency] += int(amount)
        else:
            sums[(int(group_id), currency)].traffic_cost += int(amount)

    names = _names(session, grouping, {group_id for group_id, _ in sums})
    totals: dict[str, _Sums] = defaultdict(_Sums)
    rows = []
    for (group_id, currency), figures in sorted(sums.items(), key=lambda item: (item[0][1], item[0][0])):
        totals[currency].add(figures)
        rows.append(SettlementRow(group=SettlementGroup(id=group_id, name=names.get(group_id, "")),
                                  **_figures(currency, figures, with_traffic=grouping != "advertiser")))
    for currency, amount in unallocated.items():
        totals[currency].traffic_cost += amount
    return SettlementReport(
        start=first, end=last, group_by=grouping, rows=rows,
        totals=[SettlementFigures(**_figures(currency, totals[currency], with_traffic=True))
                for currency in sorted(totals)],
        unallocated_traffic_cost={currency: from_minor(amount, currency)
                                  for currency, amount in sorted(unallocated.items())})


def margin_percent(margin_minor: int, net_revenue_minor: int) -> Decimal | None:
    """margin / net revenue * 100, rounded once (exactly, ROUND_HALF_EVEN) to 2 decimals; None
    when there is no net revenue to divide by."""
    if net_revenue_minor == 0:
        return None
    hundredths = round(Fraction(margin_minor * 10_000, net_revenue_minor))  # round() on a Fraction: half-even
    return Decimal(hundredths).scaleb(-2).quantize(CENT)  # exact: it has two decimals already


def _figures(currency: str, sums: _Sums, *, with_traffic: bool) -> dict[str, object]:
    net = sums.revenue - sums.returns
    traffic = sums.traffic_cost if with_traffic else 0
    margin = net - sums.commission - traffic

    def money(minor: int) -> Decimal:
        return from_minor(minor, currency)

    return {"currency": currency, "revenue": money(sums.revenue), "returns": money(sums.returns),
            "net_revenue": money(net), "commission": money(sums.commission),
            "traffic_cost": money(traffic) if with_traffic else None, "margin": money(margin),
            "margin_percent": margin_percent(margin, net)}


def _parse(start: str | None, end: str | None, group_by: str | None) -> tuple[date, date, str]:
    errors: list[FieldError] = []
    first, last = _day("from", start, errors), _day("to", end, errors)
    grouping = group_by or "offer"
    if grouping not in GROUPINGS:
        errors.append(FieldError("group_by", f"must be one of {', '.join(GROUPINGS)}"))
    if first is not None and last is not None:
        if last < first:
            errors.append(FieldError("to", "must not be before from"))
        elif (last - first).days + 1 > MAX_DAYS:
            errors.append(FieldError("to", f"the range is at most {MAX_DAYS} days"))
    if errors:
        raise InvalidInput(errors)
    assert first is not None and last is not None
    return first, last, grouping


def _day(field: str, raw: str | None, errors: list[FieldError]) -> date | None:
    if raw is None or raw == "":
        errors.append(FieldError(field, "is required (YYYY-MM-DD, a UTC day)"))
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
        if day == date.max:
            raise ValueError(raw)  # the report runs to the next midnight, which does not exist
        return day
    except ValueError:
        errors.append(FieldError(field, "must be a date as YYYY-MM-DD"))
        return None


def _ledger_rows(session: Session, grouping: str, since: datetime, until: datetime, *, by_day: bool = False) -> list:
    """(group_id, currency, revenue, returns, commission) in minor units, from the
    entries of sale and conversion charges and reversals posted in [since, until); with `by_day`
    the group is the UTC day the money moved."""

    def summed(condition):
        return func.coalesce(func.sum(case((condition, LedgerEntry.amount_minor), else_=0)), 0)

    def query(charge_kind: str, group_id, *joins):
        charged = LedgerTransaction.kind == charge_kind
        reversed_ = LedgerTransaction.kind == f"{charge_kind}_reversal"
        cash = LedgerAccount.kind == ADVERTISER_CASH
        statement = (
            select(group_id.label("group_id"), LedgerEntry.currency,
                   (-summed(and_(charged, cash))).label("revenue"),
                   summed(and_(reversed_, cash)).label("returns"),
                   summed(LedgerAccount.kind == AFFILIATE_PAYABLE).label("commission"))
            .select_from(LedgerTransaction)
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id))
        for target, on in joins:
            statement = statement.join(target, on)
        return session.execute(
            statement.where(LedgerTransaction.kind.in_([charge_kind, f"{charge_kind}_reversal"]),
                            LedgerTransaction.created_at >= since, LedgerTransaction.created_at < until)
            .group_by(group_id, LedgerEntry.currency)).all()

    # The reference is "sale:<id>" / "conversion:<id>" (billing.charging); the join compares strings.
    sale_reference = literal("sale:") + cast(Sale.id, String)
    sale_group = {"offer": Lead.offer_id, "affiliate": Lead.affiliate_id, "advertiser": Sale.advertiser_id,
                  "vertical": Lead.vertical_id}[grouping]
    day = _utc_day(session, LedgerTransaction.created_at)
    if by_day:
        sale_group = day
    sales = query("sale", sale_group,
                  (Sale, LedgerTransaction.reference == sale_reference), (Lead, Lead.id == Sale.lead_id))
    conversion_reference = literal("conversion:") + cast(Conversion.id, String)
    conversion_group = {"offer": Conversion.offer_id, "affiliate": Conversion.affiliate_id,
                        "advertiser": Conversion.advertiser_id, "vertical": Offer.vertical_id}[grouping]
    if by_day:
        conversion_group = day
    conversions = query("conversion", conversion_group,
                        (Conversion, LedgerTransaction.reference == conversion_reference),
                        (Offer, Offer.id == Conversion.offer_id))
    return [*sales, *conversions]


def _traffic_cost_rows(session: Session, grouping: str, first: date, last: date, since: datetime,
                       until: datetime) -> list[tuple[int, str, int]]:
    """(group_id, currency, amount_minor): reported traffic costs by day, plus per-click costs by
    the click's time. With group_by=advertiser the group is the offer, which the caller leaves unallocated."""

    def group_of(table):
        return {"offer": table.offer_id, "affiliate": table.affiliate_id, "advertiser": table.offer_id,
                "vertical": Offer.vertical_id}[grouping]

    reported = group_of(TrafficCost)
    clicked = group_of(Click)
    rows = session.execute(
        select(reported, TrafficCost.currency, func.sum(TrafficCost.amount_minor))
        .join(Offer, Offer.id == TrafficCost.offer_id)
        .where(TrafficCost.day >= first, TrafficCost.day <= last)
        .group_by(reported, TrafficCost.currency)).all()
    rows += session.execute(
        select(clicked, Click.currency, func.sum(Click.cost_minor))
        .join(Offer, Offer.id == Click.offer_id)
        .where(Click.clicked_at >= since, Click.clicked_at < until, Click.cost_minor.is_not(None))
        .group_by(clicked, Click.currency)).all()
    return [(group_id, currency, int(amount)) for group_id, currency, amount in rows if amount]


def _names(session: Session, grouping: str, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    model = {"offer": Offer, "affiliate": Affiliate, "advertiser": Advertiser, "vertical": Vertical}[grouping]
    return dict(session.execute(select(model.id, model.name).where(model.id.in_(ids))).all())


def settlement_series(session: Session, start: str | None, end: str | None) -> list[SettlementSeries]:
    """Day by day over the same range and rules as the report (every UTC day, zeros included), one
    series per currency: net revenue, commission, traffic cost and margin. Summed over the days,
    each figure equals the report's total row."""
    first, last, _ = _parse(start, end, None)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    sums: dict[tuple[date, str], _Sums] = defaultdict(_Sums)
    for row in _ledger_rows(session, "offer", since, until, by_day=True):
        figures = sums[(_as_date(row.group_id), row.currency)]
        figures.revenue += int(row.revenue)
        figures.returns += int(row.returns)
        figures.commission += int(row.commission)
    for day, currency, amount in _traffic_cost_by_day(session, first, last, since, until):
        sums[(day, currency)].traffic_cost += amount
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    series = []
    for currency in sorted({currency for _, currency in sums}):
        points = []
        for day in days:
            figures = _figures(currency, sums.get((day, currency), _Sums()), with_traffic=True)
            points.append(SettlementPoint(day=day, net_revenue=figures["net_revenue"],  # type: ignore[arg-type]
                                          commission=figures["commission"],  # type: ignore[arg-type]
                                          traffic_cost=figures["traffic_cost"],  # type: ignore[arg-type]
                                          margin=figures["margin"]))  # type: ignore[arg-type]
        series.append(SettlementSeries(currency=currency, points=points))
    return series


def _utc_day(session: Session, column):  # noqa: ANN001, ANN202 - SQL expressions
    """The UTC calendar day of an aware timestamp column (PostgreSQL would otherwise use the
    session's time zone; SQLite stores UTC already)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _traffic_cost_by_day(session: Session, first: date, last: date, since: datetime,
                         until: datetime) -> list[tuple[date, str, int]]:
    """(day, currency, amount_minor): reported traffic costs by their day, per-click costs by the click's UTC day."""
    clicked_day = _utc_day(session, Click.clicked_at)
    rows = session.execute(
        select(TrafficCost.day, TrafficCost.currency, func.sum(TrafficCost.amount_minor))
        .where(TrafficCost.day >= first, TrafficCost.day <= last)
        .group_by(TrafficCost.day, TrafficCost.currency)).all()
    rows += session.execute(
        select(clicked_day, Click.currency, func.sum(Click.cost_minor))
        .where(Click.clicked_at >= since, Click.clicked_at < until, Click.cost_minor.is_not(None))
        .group_by(clicked_day, Click.currency)).all()
    return [(_as_date(day), currency, int(amount)) for day, currency, amount in rows if amount]
