"""Settlement report shapes (msgspec): money as Decimal (a JSON string), margin % as a Decimal or null."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec


class SettlementGroup(msgspec.Struct):
    """What a row is about: an offer, affiliate, advertiser or vertical, by id and name."""

    id: int
    name: str


class SettlementFigures(msgspec.Struct):
    """One row's money in one currency. `traffic_cost` is null on advertiser rows: traffic cost
    belongs to offers and affiliates, and is counted in the total row instead (their margin is
    then before traffic cost)."""

    currency: str
    revenue: Decimal
    returns: Decimal
    net_revenue: Decimal
    commission: Decimal
    traffic_cost: Decimal | None
    margin: Decimal
    margin_percent: Decimal | None


class SettlementRow(SettlementFigures):
    group: SettlementGroup


class SettlementReport(msgspec.Struct):
    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")
    group_by: str
    rows: list[SettlementRow]
    # One per currency; what all rows add up to, plus any traffic cost no row carries.
    totals: list[SettlementFigures]
    # Per currency, the traffic cost left out of the rows (only for group_by=advertiser).
    unallocated_traffic_cost: dict[str, Decimal]


class SettlementPoint(msgspec.Struct):
    """One UTC day of one currency's series (margin after traffic cost)."""

    day: date
    net_revenue: Decimal
    commission: Decimal
    traffic_cost: Decimal
    margin: Decimal


class SettlementSeries(msgspec.Struct):
    currency: str
    points: list[SettlementPoint]
