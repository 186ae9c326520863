"""Ping-post request and response shapes (msgspec), shared by the API and the portal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from marketplace.schemas import LeadSubmission


class PingBuyerCreate(msgspec.Struct, forbid_unknown_fields=True):
    advertiser_id: int
    vertical: str
    ping_url: str
    post_url: str
    secret: str
    name: str | None = None
    timeout_ms: int = 1000
    status: str = "active"


class PingBuyerView(msgspec.Struct):
    id: int
    advertiser_id: int
    vertical: str
    name: str
    ping_url: str
    post_url: str
    has_secret: bool
    timeout_ms: int
    status: str
    created_at: datetime


class PingRequest(msgspec.Struct):
    """A lead without contact data: what buyers bid on."""

    offer_id: int | None = None
    country: str | None = None
    region: str | None = None
    postal_prefix: str | None = None
    attributes: dict[str, Any] = {}
    temperature: str | None = None


class PingAnswer(msgspec.Struct, omit_defaults=False):
    """`status` "bid" with the best bid, or "no_bid"; post the lead with `ping_id` before `expires_at`."""

    ping_id: str
    status: str
    best_bid: Decimal | None
    currency: str
    expires_at: datetime
    bids: int


class PostSubmission(LeadSubmission):
    """The full lead, as for POST /api/v1/leads, and the ping it answers."""

    ping_id: str | None = None


class PostDecision(msgspec.Struct, omit_defaults=False):
    lead_id: int
    ping_id: str
    status: str
    payout: Decimal
    currency: str
    sold_to_ping_buyer: bool
    reason: str | None = None
    duplicate_of: int | None = None


class PingBidView(msgspec.Struct):
    status: str
    bid: Decimal | None
    response_ms: int
    post_status: str | None
    post_ms: int | None
    buyer_id: int | None = None        # not shown to affiliates
    advertiser_id: int | None = None   # not shown to affiliates


class PingLogEntry(msgspec.Struct):
    ping_id: str
    offer_id: int
    vertical_id: int
    status: str
    best_bid: Decimal | None
    currency: str
    created_at: datetime
    expires_at: datetime
    duration_ms: int
    lead_id: int | None
    request: dict[str, Any]
    bids: list[PingBidView]


class PingBuyerHealth(msgspec.Struct):
    buyer_id: int
    name: str
    advertiser_id: int
    status: str
    pings: int
    bids: int
    timeouts: int
    errors: int
    posts: int
    post_rejects: int
    accept_rate: float | None
    timeout_rate: float | None
    post_reject_rate: float | None
    median_response_ms: float | None
