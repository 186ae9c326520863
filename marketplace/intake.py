"""Lead intake: validate, normalize, deduplicate, screen, distribute — committed before the answer.

`decide_many` is the seam where fraud screening and distribution plug in; everything else here is
the durable path every lead takes, whatever the decision. Every step takes a batch of leads (one
post is a batch of one), so concurrent posts gathered by `marketplace.batching` share a transaction
and one statement per step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import msgspec
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from affiliates import attribution, postbacks
from affiliates.models import Affiliate, Offer
from fraud.screen import screen_leads
from leadmarket import idempotency
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal, Role
from leadmarket.money import from_minor
from marketplace import consents, dedupe, delivery, fuzzy_dedupe, lead_rows, lifecycle
from marketplace.distribution import Outcome, distribute
from marketplace.models import Lead
from marketplace.schemas import LeadDecision, LeadSubmission, LeadView
from marketplace.validation import ValidLead, validate_submission

MAX_ID = 2**31 - 1  # offer ids are 32-bit integer columns
CALLER_FIRST_NAME = "Caller"  # a call lead's name: the phone network tells us a number, not a name

log = logging.getLogger("leadmarket.intake")

# What sells a clean lead: `distribution.distribute` unless a caller (ping-post) brings its own.
Seller = Callable[[Session, Lead, Offer], Outcome]


@dataclass(frozen=True)
class LeadPost:
    """One affiliate's post of a lead, as intake takes it."""

    principal: Principal
    submission: LeadSubmission
    idempotency_key: str | None = None
    seller: Seller | None = None


# Each post's answer: its decision, or the error to answer it with.
Answer = LeadDecision | Exception


@dataclass
class _Checked:
    """A post that passed every check made before the transaction."""

    index: int
    post: LeadPost
    offer: Offer
    valid: ValidLead
    body_hash: str
    keys: frozenset[tuple[Any, ...]]  # what no other post of its batch may share (see `_independent`)


def submit_lead(session: Session, principal: Principal, submission: LeadSubmission, *,
                idempotency_key: str | None = None, seller: Seller | None = None) -> LeadDecision:
    """Take one lead from an affiliate. When this returns, the lead and its outcome are committed."""
    answer = submit_leads(session, [LeadPost(principal, submission, idempotency_key, seller)])[0]
    if isinstance(answer, Exception):
        raise answer
    return answer


def submit_leads(session: Session, posts: list[LeadPost]) -> list[Answer]:
    """Take several posts at once (`marketplace.batching` gathers concurrent ones): each answered
    in order, a decision committed before this returns, or the error to answer it with.

    Posts share one transaction and one statement per step, which is what makes intake fast under
    load. Posts that could meet on a claim — the same Idempotency-Key or contact key — go in
    successive transactions, so each sees the one before it committed exactly as if they had come
    one at a time (the fuzzy dedupe judges leads of one batch against each other in order). If a shared transaction fails, its posts are taken again
    one by one, so one bad lead costs the others nothing.
    """
    now = utcnow()
    answers: list[Answer | None] = [None] * len(posts)
    offers = active_offers(session, [(post.submission.offer_id, post.principal.affiliate_id) for post in posts])
    checked: list[_Checked] = []
    for index, (post, offer) in enumerate(zip(posts, offers, strict=True)):
        if post.principal.affiliate_id is None:
            answers[index] = PermissionDenied("only affiliates post leads")
            continue
        if isinstance(offer, Exception):
            answers[index] = offer
            continue
        try:
            checked.append(_check(session, index, post, offer, now))
        except Exception as exc:  # this post's answer (a 422, a 503), not the others'
            answers[index] = exc
    while checked:
        batch, checked = _independent(checked)
        for item, answer in zip(batch, _decide_batch(session, batch, now), strict=True):
            answers[item.index] = answer
    postbacks.dispatch_pending(session)
    delivery.dispatch_pending(session)
    return _every(answers)


def _check(session: Session, index: int, post: LeadPost, offer: Offer, now: datetime) -> _Checked:
    principal, submission = post.principal, post.submission
    valid = validate_submission(submission, offer.vertical, now)
    valid = attribution.attach_click(session, principal, offer, valid)  # 422 for another's click
    if post.idempotency_key is not None:
        idempotency.check_key(post.idempotency_key)
    body_hash = idempotency.request_hash(msgspec.json.encode(submission, order="sorted"))
    contact = SimpleNamespace(email=valid.contact.get("email"), phone=valid.contact.get("phone"))
    keys: set[tuple[Any, ...]] = {("contact", offer.vertical_id, *key) for key in dedupe.contact_keys(contact)}
    if post.idempotency_key is not None:
        keys.add(("idempotency", principal.scope, post.idempotency_key))
    return _Checked(index, post, offer, valid, body_hash, frozenset(keys))


def _independent(checked: list[_Checked]) -> tuple[list[_Checked], list[_Checked]]:
    """The posts, in order, that share no key with an earlier one; and the rest, for a later
    transaction. Real traffic almost never has two such posts in the same few milliseconds."""
    taken: set[tuple[Any, ...]] = set()
    batch, later = [], []
    for item in checked:
        if item.keys & taken:
            later.append(item)
        else:
            taken |= item.keys
            batch.append(item)
    return batch, later


def _decide_batch(session: Session, batch: list[_Checked], now: datetime) -> list[Answer]:
    try:
        with transaction(session):
            return _decide_in_transaction(session, batch, now)
    except Exception as exc:
        if len(batch) == 1:
            return [exc]
        log.warning("a batch of %d leads failed (%s); taking them one by one", len(batch), type(exc).__name__)
        return [answer for item in batch for answer in _decide_batch(session, [item], now)]


def _decide_in_transaction(session: Session, batch: list[_Checked], now: datetime) -> list[Answer]:
    answers: list[Answer | None] = [None] * len(batch)
    keyed = [i for i, item in enumerate(batch) if item.post.idempotency_key is not None]
    claims: dict[int, idempotency.Claim] = {}
    for i, claimed in zip(keyed, idempotency.claim_many(session, [
            (batch[i].post.principal.scope, batch[i].post.idempotency_key or "", batch[i].body_hash)
            for i in keyed]), strict=True):
        if isinstance(claimed, idempotency.Claim):
            claims[i] = claimed
        elif isinstance(claimed, idempotency.Replay):
            answers[i] = msgspec.convert(claimed.body, LeadDecision)
        else:
            answers[i] = claimed
    work = [i for i in range(len(batch)) if answers[i] is None]
    leads = [_new_lead(batch[i].post.principal, batch[i].offer, batch[i].valid, now) for i in work]
    outcomes = _take_many(session, [(lead, batch[i].offer, batch[i].post.seller) for lead, i in zip(leads, work)],
                          now)
    completed = []
    for i, lead, outcome in zip(work, leads, outcomes, strict=True):
        offer = batch[i].offer
        decision = LeadDecision(lead_id=lead.id, status=outcome.status, reason=outcome.reason,
                                payout=from_minor(outcome.payout_minor, offer.currency), currency=offer.currency,
                                duplicate_of=outcome.duplicate_of)
        answers[i] = decision
        if i in claims:
            completed.append((claims[i], 201, msgspec.to_builtins(decision)))
    idempotency.complete_many(session, completed)
    return _every(answers)


def _every(answers: list[Answer | None]) -> list[Answer]:
    """The answers, once every post has one (a post left unanswered is a bug, not a 2xx)."""
    if any(answer is None for answer in answers):
        raise RuntimeError("a lead post was left without an answer")
    return [answer for answer in answers if answer is not None]


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
    _take_many(session, [(lead, offer, None)], now)
    return lead


def _take_many(session: Session, items: list[tuple[Lead, Offer, Seller | None]], now: datetime) -> list[Outcome]:
    """Store new leads and decide each: exact dedupe, fuzzy dedupe, then screen and distribute.
    Writes the outcomes on the leads and queues the affiliates' postbacks, in the open transaction.
    The leads must share no contact key (`_independent`)."""
    leads = [lead for lead, _, _ in items]
    lead_rows.insert_leads(session, leads)
    consents.record_certificates(session, leads, now)  # sealed as captured, whatever the outcome
    outcomes: list[Outcome | None] = [None] * len(items)
    holders = dedupe.claim_contact_keys_many(session, [(lead, offer.vertical) for lead, offer, _ in items], now)
    unique = []
    for i, holder in enumerate(holders):
        if holder is None:
            unique.append(i)
        else:
            outcomes[i] = Outcome(status="rejected", payout_minor=0, reason="duplicate", duplicate_of=holder)
    # the same person under a typo: duplicate, or review when weaker
    people = fuzzy_dedupe.check_people(session, [(leads[i], items[i][1].vertical) for i in unique], now)
    clean = [i for i, same_person in zip(unique, people, strict=True) if same_person is None]
    for i, same_person in zip(unique, people, strict=True):
        outcomes[i] = same_person
    for i, outcome in zip(clean, decide_many(session, [items[i] for i in clean]), strict=True):
        outcomes[i] = outcome
    decided = [outcome for outcome in outcomes if outcome is not None]
    for lead, outcome in zip(leads, decided, strict=True):
        lead.status = lifecycle.initial_status(outcome.status)
        lead.reason, lead.payout_minor = outcome.reason, outcome.payout_minor
        lead.duplicate_of_id = outcome.duplicate_of
    lead_rows.write_outcomes(session, leads)
    postbacks.queue_lead_events(session, leads)  # the affiliates' postbacks, committed with the leads
    return decided


def decide_many(session: Session, items: list[tuple[Lead, Offer, Seller | None]]) -> list[Outcome]:
    """`decide` for several unique leads: screened together, then each sold or stored in turn."""
    screenings = screen_leads(session, [(lead, offer) for lead, offer, _ in items])
    outcomes = []
    for (lead, offer, seller), screening in zip(items, screenings, strict=True):
        if screening.verdict == "reject":
            reason = screening.reasons[0] if screening.reasons else "fraud"
            outcomes.append(Outcome(status="rejected", payout_minor=0, reason=reason))
        elif screening.verdict == "review":
            outcomes.append(Outcome(status="review", payout_minor=0, reason="review"))
        else:
            outcomes.append((seller or distribute)(session, lead, offer))
    return outcomes


def active_offer(session: Session, offer_id: int | None, affiliate_id: int) -> Offer:
    """The offer a lead is posted to, read with the posting affiliate's status: a paused offer is a
    422 on `offer_id`, a paused affiliate is refused (403)."""
    offer = active_offers(session, [(offer_id, affiliate_id)])[0]
    if isinstance(offer, Exception):
        raise offer
    return offer


def active_offers(session: Session, wanted: list[tuple[int | None, int | None]]) -> list[Offer | DomainError]:
    """`active_offer` for several (offer id, affiliate id): each the offer, or the error to answer."""
    offer_ids = sorted({offer_id for offer_id, _ in wanted if offer_id is not None and 0 < offer_id <= MAX_ID})
    affiliate_ids = sorted({affiliate_id for _, affiliate_id in wanted if affiliate_id is not None})
    offers = {offer.id: offer for offer in session.execute(
        select(Offer).where(Offer.id.in_(offer_ids))).scalars()} if offer_ids else {}
    statuses = dict(session.execute(select(Affiliate.id, Affiliate.status)
                                    .where(Affiliate.id.in_(affiliate_ids))).all()) if affiliate_ids else {}
    found: list[Offer | DomainError] = []
    for offer_id, affiliate_id in wanted:
        offer = offers.get(offer_id) if offer_id is not None else None
        status = statuses.get(affiliate_id) if affiliate_id is not None else None
        if offer_id is None:
            found.append(InvalidInput.one("offer_id", "is required"))
        elif offer is not None and status is not None and status != "active":
            found.append(PermissionDenied("this affiliate account is paused: leads are not accepted; ask the network"))
        elif offer is None or status is None or offer.status != "active":
            found.append(InvalidInput.one("offer_id", "no active offer with this id"))
        else:
            found.append(offer)
    return found


def _new_lead(principal: Principal, offer: Offer, valid: ValidLead, now: datetime) -> Lead:
    contact = valid.contact
    return Lead.new(
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
