"""Affiliate-side request and response shapes (msgspec), shared by the API and the portal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec


class AffiliateCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    email: str


class AffiliateView(msgspec.Struct):
    id: int
    name: str
    email: str
    status: str
    created_at: datetime


class AffiliateCreated(AffiliateView):
    api_key: str = ""


class OfferCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    vertical: str
    kind: str
    payout_model: str
    payout: Decimal
    landing_url: str
    advertiser_id: int | None = None
    revenue: Decimal | None = None
    daily_conversion_cap: int | None = None
    min_call_seconds: int | None = None


class OfferView(msgspec.Struct):
    """An offer; `revenue` and `advertiser_id` are shown to staff only (None for affiliates)."""

    id: int
    name: str
    vertical: str
    kind: str
    payout_model: str
    payout: Decimal
    currency: str
    landing_url: str
    status: str
    created_at: datetime
    advertiser_id: int | None = None
    revenue: Decimal | None = None
    daily_conversion_cap: int | None = None
    min_call_seconds: int | None = None
