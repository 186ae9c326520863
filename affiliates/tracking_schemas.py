"""Request and response shapes of tracking links, traffic costs and stats (msgspec)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec


class TrackingLinkCreate(msgspec.Struct, forbid_unknown_fields=True):
    offer_id: int | None = None
    sub_ids: dict[str, str] | None = None


class TrackingLinkView(msgspec.Struct):
    code: str
    url: str
    offer_id: int
    sub_ids: dict[str, str]
    status: str
    created_at: datetime
    form_url: str = ""


class TrackingLinkStatus(msgspec.Struct, forbid_unknown_fields=True):
    status: str


class TrafficCostCreate(msgspec.Struct, forbid_unknown_fields=True):
    """`date` is the UTC day of the spend (YYYY-MM-DD); `amount` a decimal string in `currency`."""

    date: str | None = None
    offer_id: int | None = None
    amount: str | None = None
    currency: str | None = None
    sub_ids: dict[str, str] | None = None


class TrafficCostView(msgspec.Struct):
    id: int
    date: str
    offer_id: int
    sub_ids: dict[str, str]
    amount: Decimal
    currency: str
    replaced: bool = False
