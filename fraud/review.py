"""The review queue: leads the screen sent to `review`, approved into distribution or rejected by an
admin. A decision is one conditional UPDATE (`... WHERE status = 'review'`), so when two admins
decide at once one wins and the other gets a Conflict; every decision is audited.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from affiliates import postbacks
from affiliates.models import Offer
from fraud.schemas import ReviewLeadView, ReviewOutcome
from leadmarket import audit
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import Conflict, InvalidInput
from leadmarket.identity import Principal
from leadmarket.money import from_minor
from marketplace import delivery, lifecycle
from marketplace.distribution import distribute
from marketplace.models import Lead

REJECTED_IN_REVIEW = "review_rejected"
MAX_NOTE = 1000


def review_queue(session: Session, *, limit: int = 50, after_id: int | None = None,
                 vertical_id: int | None = None) -> list[ReviewLeadView]:
    """Leads waiting for a decision, oldest first; page with `after_id` = the last id seen."""
    query = select(Lead).where(Lead.status == "review").order_by(Lead.id).limit(limit)
    if after_id is not None:
        query = query.where(Lead.id > after_id)
    if vertical_id is not None:
        query = query.where(Lead.vertical_id == vertical_id)
    return [ReviewLeadView(lead_id=lead.id, offer_id=lead.offer_id, affiliate_id=lead.affiliate_id,
                           vertical_id=lead.vertical_id, sub_ids=lead.sub_ids, country=lead.country,
                           fraud_score=lead.fraud_score, fraud_reasons=list(lead.fraud_reasons or []),
                           temperature=lead.temperature, targeted=lead.targeted, created_at=lead.created_at)
            for lead in session.execute(query).scalars()]


def _claim(session: Session, lead_id: int, to: str, values: dict[str, object]) -> Lead:
    """Move a lead out of review through the lifecycle, or raise: NotFound if there is no such
    lead, TransitionRefused (409) if it was decided already or never was in review."""
    try:
        lifecycle.transition(session, lead_id, to, only_from=["review"], values=values)
    except lifecycle.TransitionRefused as exc:
        raise Conflict(f"lead {lead_id} is not waiting for review (it is {exc.status})") from exc
    query = select(Lead).where(Lead.id == lead_id).execution_options(populate_existing=True)
    return session.execute(query).scalar_one()


def _note(note: str | None, *, required: bool) -> str | None:
    text = (note or "").strip()
    if required and not text:
        raise InvalidInput.one("note", "say why the lead is rejected")
    if len(text) > MAX_NOTE:
        raise InvalidInput.one("note", f"must be at most {MAX_NOTE} characters")
    return text or None


def _outcome(lead: Lead, note: str | None) -> ReviewOutcome:
    return ReviewOutcome(lead_id=lead.id, status=lead.status, reason=lead.reason,
                         payout=from_minor(lead.payout_minor, lead.currency), currency=lead.currency,
                         reviewed_by=lead.reviewed_by or "", reviewed_at=lead.reviewed_at, note=note)


def approve(session: Session, principal: Principal, lead_id: int, note: str | None = None) -> ReviewOutcome:
    """Send a reviewed lead on to distribution, as if the screen had accepted it."""
    note = _note(note, required=False)
    now = utcnow()
    with transaction(session):
        lead = _claim(session, lead_id, "accepted", {"reason": None, "reviewed_at": now,
                                                     "reviewed_by": audit.actor_label(principal)})
        offer = session.get(Offer, lead.offer_id)
        outcome = distribute(session, lead, offer)
        if outcome.status != lead.status:
            lifecycle.transition(session, lead.id, outcome.status, only_from=["accepted"])
        lead.reason, lead.payout_minor = outcome.reason, outcome.payout_minor
        session.flush()
        session.refresh(lead)
        audit.record(session, principal, "review.approve", "lead", lead.id,
                     {"note": note, "fraud_score": lead.fraud_score, "fraud_reasons": list(lead.fraud_reasons or []),
                      "status": outcome.status}, at=now)
        postbacks.queue_lead_event(session, lead)  # the affiliate hears the final outcome
    postbacks.dispatch_pending(session)
    delivery.dispatch_pending(session)  # a sale made on approval goes to its buyer like any other
    return _outcome(lead, note)


def reject(session: Session, principal: Principal, lead_id: int, note: str | None) -> ReviewOutcome:
    note = _note(note, required=True)
    now = utcnow()
    with transaction(session):
        lead = _claim(session, lead_id, "rejected", {"reason": REJECTED_IN_REVIEW, "payout_minor": 0,
                                                     "reviewed_at": now, "reviewed_by": audit.actor_label(principal)})
        audit.record(session, principal, "review.reject", "lead", lead.id,
                     {"note": note, "fraud_score": lead.fraud_score, "fraud_reasons": list(lead.fraud_reasons or [])},
                     at=now)
        postbacks.queue_lead_event(session, lead)
    postbacks.dispatch_pending(session)
    return _outcome(lead, note)


def review_count(session: Session) -> int:
    return session.execute(select(func.count(Lead.id)).where(Lead.status == "review")).scalar_one()
