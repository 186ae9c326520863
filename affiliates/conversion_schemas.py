"""Request and response shapes of conversions, postback tokens and affiliate postbacks (msgspec)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec


class ConversionReport(msgspec.Struct, forbid_unknown_fields=True):
    """An action the advertiser saw: name the lead or the click, the event, and your own id of
    the action (`external_id`; the same one again takes effect once). `customer_id` is your
    record of the new customer; `status` "approved" approves at once (default "pending")."""

    event: str | None = None
    external_id: str | None = None
    lead_id: int | None = None
    click_id: str | None = None
    amount: str | None = None
    customer_id: str | None = None
    status: str | None = None


class ConversionView(msgspec.Struct):
    """A conversion as its reader may see it: `payout` (the affiliate's) is shown to the affiliate
    and staff, `revenue` (the advertiser's price) to the advertiser and staff; None otherwise."""

    id: int
    offer_id: int
    lead_id: int | None
    click_id: str | None
    event: str
    external_id: str
    customer_id: str | None
    amount: Decimal | None
    currency: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    payout: Decimal | None = None
    revenue: Decimal | None = None
    replayed: bool = False


class PostbackToken(msgspec.Struct):
    token: str
    postback_url: str


class PostbackTemplateSet(msgspec.Struct, forbid_unknown_fields=True):
    url: str | None = None
    events: list[str] | None = None


class PostbackTemplateView(msgspec.Struct):
    url: str
    events: list[str]
    macros: list[str]


class PostbackAttemptView(msgspec.Struct):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class PostbackView(msgspec.Struct):
    id: int
    event: str
    lead_id: int | None
    conversion_id: int | None
    url: str
    status: str
    attempts: list[PostbackAttemptView]
    created_at: datetime
    sent_at: datetime | None
