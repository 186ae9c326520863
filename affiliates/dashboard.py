"""An affiliate's dashboard figures for a period: the stats' totals (clicks, leads by outcome,
rejections by reason, earnings, traffic cost, EPC, ROI) and the daily series behind a chart.

Read from the same rollups and with the same definitions as `GET /api/v1/stats` (affiliates/stats.py):
days are UTC days; money is summed per currency and never mixed across currencies.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import msgspec
from sqlalchemy.orm import Session

from affiliates import stats
from affiliates.stats import (
    _ratio,  # the stats' own rounding (half to even), so both doors agree
)
from leadmarket.clock import utcnow
from leadmarket.identity import Principal

DEFAULT_DAYS = 30


class DailyFigures(msgspec.Struct):
    day: date
    clicks: int
    leads: int
    earnings: Decimal  # in the dashboard's main currency


class MoneyFigures(msgspec.Struct):
    """Money of one currency: `earnings` is commission (CPL payouts of leads + CPA payouts of
    approved conversions); `epc` = earnings / clicks; `roi` = profit / traffic cost, a percent."""

    currency: str
    clicks: int
    earnings: Decimal
    traffic_cost: Decimal
    profit: Decimal
    epc: Decimal | None
    roi: Decimal | None


class AffiliateDashboard(msgspec.Struct):
    start: date
    end: date
    days: int
    clicks: int
    unique_clicks: int
    leads: int
    accepted: int
    sold: int
    review: int
    rejected: int
    rejected_by_reason: list[tuple[str, int]]  # most frequent first
    conversions: int
    approved_conversions: int
    currency: str  # the main currency: the one earning most (then with most clicks)
    money: list[MoneyFigures]  # the main currency first
    daily: list[DailyFigures]


def affiliate_dashboard(session: Session, principal: Principal, *, start: date | None = None,
                        end: date | None = None) -> AffiliateDashboard:
    """The calling affiliate's figures for `start`..`end` (UTC days, inclusive; default the last
    30 days). A bad range is InvalidInput naming `from` (as the stats API does)."""
    end = end or utcnow().date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    report = stats.affiliate_stats(session, principal, start=start, end=end, group_by="day")
    start, end = date.fromisoformat(report.start), date.fromisoformat(report.end)
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    per_currency: dict[str, dict[str, Decimal | int]] = {}
    for row in report.rows:
        for name in ("clicks", "unique_clicks", "leads", "accepted", "sold", "review", "rejected", "conversions",
                     "approved_conversions"):
            counts[name] += getattr(row, name)
        reasons.update(row.rejected_by_reason)
        money = per_currency.setdefault(row.currency, {"clicks": 0, "earnings": Decimal(0), "cost": Decimal(0)})
        money["clicks"] += row.clicks
        money["earnings"] += row.commission
        money["cost"] += row.traffic_cost
    money_rows = []
    for currency, sums in per_currency.items():
        clicks, earnings, cost = int(sums["clicks"]), Decimal(sums["earnings"]), Decimal(sums["cost"])
        profit = earnings - cost
        money_rows.append(MoneyFigures(currency=currency, clicks=clicks, earnings=earnings, traffic_cost=cost,
                                       profit=profit, epc=_ratio(earnings, clicks),
                                       roi=_ratio(profit * 100, cost) if cost else None))
    money_rows.sort(key=lambda m: (-m.earnings, -m.clicks, m.currency))
    currency = money_rows[0].currency if money_rows else "USD"
    by_day: dict[str, list[Decimal | int]] = {}
    for row in report.rows:
        figures = by_day.setdefault(row.day or "", [0, 0, Decimal(0)])
        figures[0] += row.clicks
        figures[1] += row.leads
        if row.currency == currency:
            figures[2] += row.commission
    days = (end - start).days + 1
    daily = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        clicks, leads, earnings = by_day.get(day.isoformat(), [0, 0, Decimal(0)])
        daily.append(DailyFigures(day=day, clicks=int(clicks), leads=int(leads), earnings=Decimal(earnings)))
    return AffiliateDashboard(
        start=start, end=end, days=days, clicks=counts["clicks"], unique_clicks=counts["unique_clicks"],
        leads=counts["leads"], accepted=counts["accepted"], sold=counts["sold"], review=counts["review"],
        rejected=counts["rejected"], rejected_by_reason=sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])),
        conversions=counts["conversions"], approved_conversions=counts["approved_conversions"], currency=currency,
        money=money_rows, daily=daily)
