"""Order request and response shapes (msgspec), shared by the API and the portal.

An update names only what changes: a section given (filters, caps, schedule, delivery)
replaces that section whole; a section left out stays as it is.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec
from msgspec import UNSET, UnsetType


class FieldRange(msgspec.Struct, forbid_unknown_fields=True):
    min: int | float | None = None
    max: int | float | None = None


class OrderFilters(msgspec.Struct, forbid_unknown_fields=True):
    """Which leads the order takes; an empty list or a missing value does not filter."""

    countries: list[str] = []
    regions: list[str] = []
    postal_prefixes: list[str] = []
    ranges: dict[str, FieldRange] = {}
    choices: dict[str, list[str | bool]] = {}
    min_temperature: str | None = None
    max_fraud_score: int | None = None


class OrderCaps(msgspec.Struct, forbid_unknown_fields=True):
    """Most leads per hour/day/month and most spend per day/month; periods start at the top of
    the hour, midnight and the 1st of the month in the order's time zone."""

    hourly: int | None = None
    daily: int | None = None
    monthly: int | None = None
    daily_budget: Decimal | None = None
    monthly_budget: Decimal | None = None


class OrderSchedule(msgspec.Struct, forbid_unknown_fields=True):
    """Open on these weekdays (mon..sun) during these hours (0-23, each the hour starting then),
    read in the order's time zone."""

    days: list[str] = msgspec.field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    hours: list[int] = msgspec.field(default_factory=lambda: list(range(24)))


class OrderDelivery(msgspec.Struct, forbid_unknown_fields=True):
    webhook_url: str | None = None
    secret: str | None = None


class OrderCreate(msgspec.Struct, forbid_unknown_fields=True):
    vertical: str
    price: Decimal
    exclusive: bool = False
    name: str | None = None
    filters: OrderFilters = msgspec.field(default_factory=OrderFilters)
    caps: OrderCaps = msgspec.field(default_factory=OrderCaps)
    time_zone: str = "UTC"
    schedule: OrderSchedule | None = None
    delivery: OrderDelivery | None = None
    status: str = "active"


class OrderUpdate(msgspec.Struct, forbid_unknown_fields=True):
    price: Decimal | UnsetType = UNSET
    exclusive: bool | UnsetType = UNSET
    name: str | UnsetType = UNSET
    filters: OrderFilters | UnsetType = UNSET
    caps: OrderCaps | UnsetType = UNSET
    time_zone: str | UnsetType = UNSET
    schedule: OrderSchedule | None | UnsetType = UNSET
    delivery: OrderDelivery | None | UnsetType = UNSET
    status: str | UnsetType = UNSET


class DeliveryView(msgspec.Struct):
    webhook_url: str | None
    has_secret: bool


class OrderView(msgspec.Struct, omit_defaults=False):
    id: int
    advertiser_id: int
    vertical: str
    name: str
    status: str
    price: Decimal
    currency: str
    exclusive: bool
    filters: OrderFilters
    caps: OrderCaps
    time_zone: str
    schedule: OrderSchedule | None
    delivery: DeliveryView
    created_at: datetime
    updated_at: datetime
