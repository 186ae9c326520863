"""The stats answer (msgspec): one row per group, money as decimal strings, ratios as percents."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class StatsRow(msgspec.Struct, omit_defaults=True):
    """A group's numbers; the grouping fields present are the ones asked for. `cr` and
    `conversion_rate` are percents, `roi` a percent of traffic cost, None when undefined;
    `revenue` (what advertisers paid) is shown to staff only."""

    currency: str
    clicks: int
    unique_clicks: int
    leads: int
    accepted: int
    sold: int
    review: int
    rejected: int
    rejected_by_reason: dict[str, int]
    conversions: int
    approved_conversions: int
    commission: Decimal
    traffic_cost: Decimal
    profit: Decimal
    cr: Decimal | None
    conversion_rate: Decimal | None
    epc: Decimal | None
    roi: Decimal | None
    cost_per_lead: Decimal | None
    cost_per_conversion: Decimal | None
    revenue: Decimal | None = None
    day: str | None = None
    offer_id: int | None = None
    affiliate_id: int | None = None
    sub1: str | None = None
    sub2: str | None = None
    sub3: str | None = None
    sub4: str | None = None
    sub5: str | None = None
    country: str | None = None


class StatsReport(msgspec.Struct):
    start: str
    end: str
    group_by: list[str]
    rows: list[StatsRow]
    truncated: bool = False
