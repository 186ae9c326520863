"""Call tracking request and response shapes (msgspec): tracking numbers and the telephony webhook."""

from __future__ import annotations

from datetime import datetime

import msgspec


class TrackingNumberCreate(msgspec.Struct, forbid_unknown_fields=True):
    """`number` in E.164 (+14155550123). An affiliate registers for themself; an admin names the
    affiliate."""

    number: str
    offer_id: int
    affiliate_id: int | None = None


class TrackingNumberView(msgspec.Struct):
    id: int
    number: str
    offer_id: int
    affiliate_id: int
    status: str
    min_call_seconds: int
    created_at: datetime


class CallReport(msgspec.Struct, forbid_unknown_fields=True):
    """What the telephony provider posts when a call ends. `call_id` is the provider's own id:
    a retry with the same id takes effect once and gets the first answer."""

    call_id: str
    tracking_number: str
    caller_number: str
    duration_seconds: int
    recording_url: str | None = None
    started_at: datetime | None = None


class CallOutcome(msgspec.Struct, omit_defaults=False):
    """`status`: lead (a lead was filed: see lead_status), duplicate (the caller is already a lead:
    see duplicate_of), rejected (the fraud screen refused the lead: see reason), or too_short
    (at or under min_call_seconds; no lead)."""

    call_id: str
    status: str
    duration_seconds: int
    min_call_seconds: int
    lead_id: int | None = None
    lead_status: str | None = None
    reason: str | None = None
    duplicate_of: int | None = None
