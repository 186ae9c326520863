"""Lead intake: validate, normalize, deduplicate, screen, distribute — committed before the answer.

`decide` is the seam where fraud screening and distribution plug in; everything else here is
the durable path every lead takes, whatever the decision.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from affiliates import attribution, postbacks
from affiliates.models import Affiliate, Offer
from fraud.screen import screen_lead
from leadmarket import idempotency
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal, Role
from leadmarket.money import from_minor
from marketplace import consents, dedupe, delivery, fuzzy_dedupe, lifecycle
from marketplace.distribution import Outcome, distribute
from marketplace.models import Lead
from marketplace.schemas import LeadDecision, LeadSubmission, LeadView
from marketplace.validation import ValidLead, validate_submission

MAX_ID = 2**31 - 1  # offer ids are 32-bit integer columns
CALLER_FIRST_NAME = "Caller"  # a call lead's name: the phone network tells us a number, not a name


# What sells a clean lead: `distribution.distribute` unless a caller (ping-post) brings its own.
Seller = Callable[[Session, Lead, Offer], Outcome]


def submit_lead(session: Session, principal: Principal, submission: LeadSubmission, *,
                idempotency_key: str | None = None, seller: Seller | None = None) -> LeadDecision:
    """Take one lead from an affiliate. When this returns, the lead and its outcome are committed."""
    if principal.affiliate_id is None:
        raise PermissionDenied("only affiliates post leads")
    offer = active_offer(session, submission.offer_id, principal.affiliate_id)
    now = utcnow()
    valid = validate_submission(submission, offer.vertical, now)
    valid = attribution.attach_click(session, principal, offer, valid)  # 422 for another's click
    body_hash = idempotency.request_hash(msgspec.json.encode(submission, order="sorted"))
    with transaction(session):
        record = None
        if idempotency_key is not None:
            claimed = idempotency.claim(session, principal.scope, idempotency_key, body_hash)
            if isinstance(claimed, idempotency.Replay):
                return msgspec.convert(claimed.body, LeadDecision)
            record = claimed
        lead = _new_lead(principal, offer, valid, now)
        outcome = _take(session, lead, offer, now, seller)
        decision = LeadDecision(lead_id=lead.id, status=outcome.status, reason=outcome.reason,
                                payout=from_minor(outcome.payout_minor, offer.currency), currency=offer.currency,
                                duplicate_of=outcome.duplicate_of)
        if record is not None:
            idempotency.complete(session, record, 201, msgspec.to_builtins(decision))
    postbacks.dispatch_pending(session)
    delivery.dispatch_pending(session)
    return decision


def file_call_lead(session: Session, *, affiliate_id: int, offer: Offer, phone: str, country: str,
                   consent: dict[str, Any], meta: dict[str, Any], now: datetime) -> Lead:
    """A phone call as a lead (`source` "call") of `offer` for `affiliate_id`, taken like any other:
    deduplicated (the caller's phone is the key), screened and distributed. Runs inside the
    caller's transaction (the call's service records the call in it); after the commit the
    caller runs `postbacks.dispatch_pending`.

    A call carries a number and nothing else, so the validator's name and the vertical's
    required attributes are waived: the name is the placeholder "Caller" (last name empty) and
    the attributes are empty; `phone` and `country` come normalized from the telephony webhook.
    """
    lead = Lead(
        offer_id=offer.id, affiliate_id=affiliate_id, vertical_id=offer.vertical_id, status="accepted",
        source="call", first_name=CALLER_FIRST_NAME, last_name="", phone=phone, country=country, attributes={},
        consent=consent, meta=meta, payout_minor=0, currency=offer.currency, fraud_reasons=[], created_at=now,
    )
    _take(session, lead, offer, now)
    return lead


def _take(session: Session, lead: Lead, offer: Offer, now: datetime, seller: Seller | None = None) -> Outcome:
    """Store a new lead and decide it: exact dedupe, fuzzy dedupe, then screen and distribute.
    Writes the outcome on the lead and queues the affiliate's postback, in the open transaction."""
    session.add(lead)
    session.flush()
    consents.record_certificate(session, lead, now)  # sealed as captured, whatever the outcome
    holder = dedupe.claim_contact_keys(session, lead, offer.vertical, now)
    if holder is not None:
        outcome = Outcome(status="rejected", payout_minor=0, reason="duplicate", duplicate_of=holder)
    elif (same_person := fuzzy_dedupe.check_person(session, lead, offer.vertical, now)) is not None:
        outcome = same_person  # the same person under a typo: duplicate, or review when weaker
    else:
        outcome = decide(session, lead, offer, seller)
    lead.status = lifecycle.initial_status(outcome.status)
    lead.reason, lead.payout_minor = outcome.reason, outcome.payout_minor
    lead.duplicate_of_id = outcome.duplicate_of
    postbacks.queue_lead_event(session, lead)  # the affiliate's postback, committed with the lead
    return outcome


def decide(session: Session, lead: Lead, offer: Offer, seller: Seller | None = None) -> Outcome:
    """Screen a unique lead, then sell or store it. Runs inside intake's transaction."""
    screening = screen_lead(session, lead, offer)
    lead.fraud_score, lead.fraud_reasons = screening.score, list(screening.reasons)
    if screening.verdict == "reject":
        return Outcome(status="rejected", payout_minor=0, reason=screening.reasons[0] if screening.reasons else "fraud")
    if screening.verdict == "review":
        return Outcome(status="review", payout_minor=0, reason="review")
    return (seller or distribute)(session, lead, offer)


def active_offer(session: Session, offer_id: int | None, affiliate_id: int) -> Offer:
    """The offer a lead is posted to, read with the posting affiliate's status in one statement:
    a paused offer is a 422 on `offer_id`, a paused affiliate is refused (403)."""
    if offer_id is None:
        raise InvalidInput.one("offer_id", "is required")
    row = session.execute(select(Offer, Affiliate.status).join(Affiliate, Affiliate.id == affiliate_id)
                          .where(Offer.id == offer_id)).first() if 0 < offer_id <= MAX_ID else None
    if row is not None and row[1] != "active":
        raise PermissionDenied("this affiliate account is paused: leads are not accepted; ask the network")
    if row is None or row[0].status != "active":
        raise InvalidInput.one("offer_id", "no active offer with this id")
    return row[0]


def _new_lead(principal: Principal, offer: Offer, valid: ValidLead, now: datetime) -> Lead:
    contact = valid.contact
    return Lead(
        offer_id=offer.id, affiliate_id=principal.affiliate_id, vertical_id=offer.vertical_id, status="accepted",
        click_id=valid.click_id, **{key: valid.sub_ids.get(key) for key in ("sub1", "sub2", "sub3", "sub4", "sub5")},
        first_name=contact["first_name"], last_name=contact["last_name"], email=contact.get("email"),
        phone=contact.get("phone"), profile_url=contact.get("profile_url"), country=contact["country"],
        region=contact.get("region"), city=contact.get("city"), postal_code=contact.get("postal_code"),
        address=contact.get("address"), date_of_birth=contact.get("date_of_birth"), attributes=valid.attributes,
        consent=valid.consent, meta=valid.meta, payout_minor=0, currency=offer.currency, fraud_reasons=[],
        created_at=now,
    )


def leads_visible_to(principal: Principal) -> Select[tuple[Lead]]:
    """The one scoping query for leads: an affiliate sees their own, staff see all."""
    query = select(Lead)
    if principal.role in (Role.ADMIN, Role.FINANCE):
        return query
    if principal.affiliate_id is not None:
        return query.where(Lead.affiliate_id == principal.affiliate_id)
    return query.where(False)


def get_lead(session: Session, principal: Principal, lead_id: int) -> LeadView:
    lead = session.execute(leads_visible_to(principal).where(Lead.id == lead_id)).scalar_one_or_none()
    if lead is None:
        raise NotFound(f"no lead {lead_id}")
    contact = {k: getattr(lead, k) for k in ("first_name", "last_name", "email", "phone", "profile_url", "country",
                                             "region", "city", "postal_code", "address")}
    contact["date_of_birth"] = lead.date_of_birth.isoformat() if lead.date_of_birth else None
    return LeadView(lead_id=lead.id, offer_id=lead.offer_id, status=lead.status, reason=lead.reason,
                    duplicate_of=lead.duplicate_of_id, payout=from_minor(lead.payout_minor, lead.currency),
                    currency=lead.currency, click_id=lead.click_id, sub_ids=lead.sub_ids,
                    contact={k: v for k, v in contact.items() if v is not None}, attributes=lead.attributes,
                    fraud_score=lead.fraud_score, fraud_reasons=lead.fraud_reasons, temperature=lead.temperature,
                    created_at=lead.created_at, targeted=lead.targeted, source=lead.source,
                    personal_data="erased" if lead.erased_at is not None else "present")
