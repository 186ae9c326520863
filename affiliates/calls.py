"""Calls as leads: affiliates' tracking numbers, and the telephony webhook that turns a call to one
into a lead of the number's offer for the number's affiliate.

The webhook is the telephony provider's, authenticated with an admin API key the network gives
its provider (`leadmarket apikey create --role admin --name telephony`); an affiliate's key cannot
report calls, or they could invent callers. A call at or under the offer's `min_call_seconds`
(NULL: DEFAULT_MIN_CALL_SECONDS) is kept as `too_short` and makes no lead; a longer one goes
through intake (`intake.file_call_lead`): deduplicated on the caller's phone, screened,
distributed, in the same transaction that records the call. The provider's call id is unique,
so a retried webhook takes effect once and is answered from what the first one recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates import postbacks
from affiliates.call_models import CALL_CONTACT_PURPOSE, Call, TrackingNumber
from affiliates.call_schemas import (
    CallOutcome,
    CallReport,
    TrackingNumberCreate,
    TrackingNumberView,
)
from affiliates.models import Affiliate, Offer
from leadmarket import audit, crypto
from leadmarket.clock import utcnow
from leadmarket.db import transaction, violated_constraint
from leadmarket.errors import Conflict, FieldError, InvalidInput, PermissionDenied
from leadmarket.identity import Principal, Role
from leadmarket.upsert import insert_ignoring_conflict
from leadmarket.validators import check_http_url, nul_fields
from marketplace import delivery, intake, normalize
from marketplace.models import Lead

DEFAULT_MIN_CALL_SECONDS = 60
MAX_CALL_SECONDS = 24 * 3600
CLOCK_SKEW = timedelta(minutes=5)
MAX_ID = 2**31 - 1


def e164(value: str | None, field: str, default_region: str | None = None) -> tuple[str | None, FieldError | None]:
    """A phone number in E.164, read in `default_region` unless it starts with +."""
    if value is None or not value.strip():
        return None, FieldError(field, "is required")
    if not value.strip().startswith("+") and default_region is None:
        return None, FieldError(field, "must be in E.164 form, e.g. +14155550123")
    try:
        return normalize.phone(value, default_region), None
    except ValueError as exc:
        return None, FieldError(field, str(exc))


def min_call_seconds(offer: Offer) -> int:
    return DEFAULT_MIN_CALL_SECONDS if offer.min_call_seconds is None else offer.min_call_seconds


# ---------------------------------------------------------------- tracking numbers


def register_number(session: Session, principal: Principal, data: TrackingNumberCreate) -> TrackingNumberView:
    """A tracking number for an active offer: an affiliate registers for themself, an admin for the
    affiliate they name. A number someone holds already is a Conflict (409)."""
    errors = nul_fields(data)
    number, problem = e164(data.number, "number")
    if problem is not None:
        errors.append(problem)
    if principal.role == Role.ADMIN:
        affiliate_id = data.affiliate_id
        if affiliate_id is None:
            errors.append(FieldError("affiliate_id", "is required: the affiliate whose traffic calls this number"))
        elif not 0 < affiliate_id <= MAX_ID or session.get(Affiliate, affiliate_id) is None:
            errors.append(FieldError("affiliate_id", "no such affiliate"))
    elif principal.affiliate_id is not None:
        affiliate_id = principal.affiliate_id
        if data.affiliate_id not in (None, affiliate_id):
            errors.append(FieldError("affiliate_id", "an affiliate registers numbers for themself only"))
    else:
        raise PermissionDenied("only affiliates and admins register tracking numbers")
    offer = session.get(Offer, data.offer_id) if 0 < data.offer_id <= MAX_ID else None
    if offer is None or offer.status != "active":
        errors.append(FieldError("offer_id", "no active offer with this id"))
    if errors:
        raise InvalidInput(errors)
    tracking_number = TrackingNumber(number=number, affiliate_id=affiliate_id, offer_id=offer.id, status="active",
                                     created_at=utcnow())
    try:
        with transaction(session):
            session.add(tracking_number)
            session.flush()
            audit.record(session, principal, "tracking_number.register", "tracking_number", tracking_number.id,
                         {"affiliate_id": affiliate_id, "offer_id": offer.id})  # not the number: a phone
    except IntegrityError as exc:
        if violated_constraint(exc) == "uq_tracking_number_number":
            raise Conflict("this number is already registered as a tracking number") from exc
        raise
    return _number_view(tracking_number, offer)


def list_numbers(session: Session, principal: Principal) -> list[TrackingNumberView]:
    """An affiliate's own numbers; staff see all."""
    query = select(TrackingNumber, Offer).join(Offer, Offer.id == TrackingNumber.offer_id).order_by(TrackingNumber.id)
    if principal.role not in (Role.ADMIN, Role.FINANCE):
        if principal.affiliate_id is None:
            return []
        query = query.where(TrackingNumber.affiliate_id == principal.affiliate_id)
    return [_number_view(number, offer) for number, offer in session.execute(query)]


def _number_view(number: TrackingNumber, offer: Offer) -> TrackingNumberView:
    return TrackingNumberView(id=number.id, number=number.number, offer_id=number.offer_id,
                              affiliate_id=number.affiliate_id, status=number.status,
                              min_call_seconds=min_call_seconds(offer), created_at=number.created_at)


# ---------------------------------------------------------------- the telephony webhook


@dataclass(frozen=True)
class _CheckedCall:
    call_id: str
    caller: str
    country: str
    duration_seconds: int
    recording_url: str | None
    started_at: datetime


def receive_call(session: Session, principal: Principal, report: CallReport) -> CallOutcome:
    """Record one finished call and, when it is long enough, file its lead. When this returns,
    the call (and its lead) are committed; a call id seen before is answered as it was."""
    if principal.role != Role.ADMIN:
        raise PermissionDenied("calls are reported by the telephony integration (an admin key)")
    call_id = (report.call_id or "").strip()
    if not call_id or len(call_id) > 100 or not call_id.isprintable():
        raise InvalidInput.one("call_id", "must be 1 to 100 printable characters: the provider's call id")
    known = _outcome(session, call_id)
    if known is not None:
        return known
    now = utcnow()
    number, offer, checked = _check(session, report, call_id, now)
    minimum = min_call_seconds(offer)
    with transaction(session):
        values = {"provider_call_id": call_id, "tracking_number_id": number.id, "affiliate_id": number.affiliate_id,
                  "offer_id": offer.id, "duration_seconds": checked.duration_seconds, "min_call_seconds": minimum,
                  "contact_sealed": crypto.seal_json({"caller_number": checked.caller,
                                                      "recording_url": checked.recording_url}, CALL_CONTACT_PURPOSE),
                  "started_at": checked.started_at, "received_at": now,
                  "status": "pending" if checked.duration_seconds > minimum else "too_short"}
        # The unique call id decides between two deliveries of one call: the second waits for the
        # first to commit, inserts nothing, and answers what the first recorded.
        row_id = insert_ignoring_conflict(session, Call, values, conflict_columns=["provider_call_id"],
                                          returning=Call.id)
        if row_id is not None and values["status"] == "pending":
            lead = intake.file_call_lead(
                session, affiliate_id=number.affiliate_id, offer=offer, phone=checked.caller,
                country=checked.country, now=now,
                consent={"text": f"The person phoned {offer.name} at {number.number} and talked for "
                                 f"{checked.duration_seconds} seconds (an inbound call they made).",
                         "given_at": checked.started_at.isoformat()},
                meta={"call_id": call_id, "call_seconds": checked.duration_seconds,
                      "tracking_number": number.number, "recording_url": checked.recording_url})
            session.execute(update(Call).where(Call.id == row_id).values(status="lead", lead_id=lead.id))
    postbacks.dispatch_pending(session)
    delivery.dispatch_pending(session)
    outcome = _outcome(session, call_id)
    assert outcome is not None  # committed above, by this request or by the one it raced
    return outcome


def _check(session: Session, report: CallReport, call_id: str,
           now: datetime) -> tuple[TrackingNumber, Offer, _CheckedCall]:
    """The report's every bad field at once, else its tracking number, offer and clean values."""
    errors: list[FieldError] = []
    number = offer = None
    tracking, problem = e164(report.tracking_number, "tracking_number")
    if problem is not None:
        errors.append(problem)
    else:
        row = session.execute(
            select(TrackingNumber, Offer, Affiliate.status)
            .join(Offer, Offer.id == TrackingNumber.offer_id)
            .join(Affiliate, Affiliate.id == TrackingNumber.affiliate_id)
            .where(TrackingNumber.number == tracking)).one_or_none()
        if row is None:
            errors.append(FieldError("tracking_number", "is not a registered tracking number"))
        elif row[0].status != "active" or row[1].status != "active" or row[2] != "active":
            errors.append(FieldError("tracking_number", "is paused, or its offer or affiliate is"))
        else:
            number, offer = row[0], row[1]
    region = phonenumbers.region_code_for_number(phonenumbers.parse(tracking)) if tracking else None
    caller, problem = e164(report.caller_number, "caller_number", region)
    if problem is not None:
        errors.append(problem)
    country = None
    if caller is not None:
        country = phonenumbers.region_code_for_number(phonenumbers.parse(caller))
        if country not in normalize.COUNTRIES:
            country = region if region in normalize.COUNTRIES else None
        if country is None:
            errors.append(FieldError("caller_number", "has no country (a non-geographic number)"))
    if not 0 <= report.duration_seconds <= MAX_CALL_SECONDS:
        errors.append(FieldError("duration_seconds", f"must be between 0 and {MAX_CALL_SECONDS} seconds"))
    recording_url = report.recording_url.strip() if report.recording_url else None
    if recording_url is not None:
        if (problem := check_http_url(recording_url, "recording_url")) is not None:
            errors.append(problem)
        elif len(recording_url) > 2000:
            errors.append(FieldError("recording_url", "must be at most 2000 characters"))
    started_at = report.started_at
    if started_at is None:
        started_at = now - timedelta(seconds=max(0, min(report.duration_seconds, MAX_CALL_SECONDS)))
    elif started_at.tzinfo is None:
        errors.append(FieldError("started_at", "must carry a time zone, e.g. 2026-01-31T12:00:00Z"))
    elif started_at > now + CLOCK_SKEW:
        errors.append(FieldError("started_at", "must not be in the future"))
    named = {e.field for e in errors}
    errors += [e for e in nul_fields(report) if e.field not in named]
    if errors:
        raise InvalidInput(errors)
    assert number is not None and offer is not None and caller is not None and country is not None
    return number, offer, _CheckedCall(call_id=call_id, caller=caller, country=country,
                                       duration_seconds=report.duration_seconds, recording_url=recording_url,
                                       started_at=started_at.astimezone(now.tzinfo))


def _outcome(session: Session, call_id: str) -> CallOutcome | None:
    """The answer for a recorded call, from what was committed (None: not recorded)."""
    row = session.execute(
        select(Call.provider_call_id, Call.status, Call.duration_seconds, Call.min_call_seconds, Call.lead_id,
               Lead.status, Lead.reason, Lead.duplicate_of_id)
        .outerjoin(Lead, Lead.id == Call.lead_id)
        .where(Call.provider_call_id == call_id)).one_or_none()
    session.rollback()  # end the read: the caller's next step may open its own transaction
    if row is None:
        return None
    provider_call_id, call_status, duration, minimum, lead_id, lead_status, reason, duplicate_of = row
    if call_status == "too_short":
        status = "too_short"
    elif lead_status == "rejected" and reason == "duplicate":
        status = "duplicate"
    elif lead_status == "rejected":
        status = "rejected"
    else:
        status = "lead"
    return CallOutcome(call_id=provider_call_id, status=status, duration_seconds=duration, min_call_seconds=minimum,
                       lead_id=lead_id, lead_status=lead_status, reason=reason, duplicate_of=duplicate_of)
