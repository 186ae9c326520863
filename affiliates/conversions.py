"""Conversions (CPA): advertisers report actions for a click or a lead, by API or by postback;
pending ones are approved or rejected by the advertiser; approved ones are charged.

Invariants kept by the database: one conversion per (advertiser, external_id) — a retried
report finds the first and changes nothing; an offer's daily cap is claimed by a conditional
upsert, so concurrent reports never exceed it (the rest are recorded as `over_cap`); a decision
is a conditional UPDATE from `pending`, so a conversion is charged at most once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from affiliates import clicks, postbacks
from affiliates.conversion_schemas import (
    ConversionReport,
    ConversionView,
    PostbackToken,
)
from affiliates.cpa_models import AdvertiserPostbackToken, Conversion, ConversionCapDay
from affiliates.models import Offer
from affiliates.rollups import mark_stale
from affiliates.tracking_models import SUB_COLUMNS
from affiliates.upserts import insert_for
from billing import charging
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)
from leadmarket.identity import Principal, Role
from leadmarket.money import from_minor, to_minor
from leadmarket.redis_client import redis_client
from leadmarket.settings import current_settings
from marketplace.models import Lead

EVENT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_ID = 2**62
TOKEN_PREFIX = "lmp_"


@dataclass(frozen=True)
class Subject:
    """What a conversion is about, with the dimensions the stats group it by."""

    offer: Offer
    affiliate_id: int
    lead_id: int | None
    click_id: str | None
    sub_ids: dict[str, str]
    country: str | None


# ---------------------------------------------------------------- reporting


def report_conversion(session: Session, principal: Principal, data: ConversionReport) -> ConversionView:
    """Record an advertiser's conversion once; a report with a known external_id returns the first."""
    if principal.advertiser_id is None:
        raise PermissionDenied("only advertisers report conversions")
    advertiser_id = principal.advertiser_id
    errors: list[FieldError] = []
    if data.event is None or not EVENT.match(data.event):
        errors.append(FieldError("event", "is required: 1 to 64 letters, digits, or _ . : -"))
    external_id = (data.external_id or "").strip()
    if not external_id or len(external_id) > 200 or not external_id.isprintable():
        errors.append(FieldError("external_id", "is required: your id of this action, 1 to 200 printable characters"))
    customer_id = (data.customer_id or "").strip() or None
    if customer_id is not None and (len(customer_id) > 200 or not customer_id.isprintable()):
        errors.append(FieldError("customer_id", "must be 1 to 200 printable characters"))
    if data.status not in (None, "pending", "approved"):
        errors.append(FieldError("status", "must be pending or approved"))
    if data.lead_id is None and not data.click_id:
        errors.append(FieldError("lead_id", "give the lead_id or the click_id the conversion belongs to"))
    if errors:
        raise InvalidInput(errors)
    replay = _existing(session, advertiser_id, external_id)
    if replay is not None:
        return conversion_view(replay, principal, replayed=True)
    subject = _subject(session, advertiser_id, data.lead_id, data.click_id)
    amount_minor = to_minor(data.amount, subject.offer.currency, field="amount") if data.amount else None
    now = utcnow()
    values = {"advertiser_id": advertiser_id, "offer_id": subject.offer.id, "affiliate_id": subject.affiliate_id,
              "lead_id": subject.lead_id, "click_id": subject.click_id, "country": subject.country,
              **{key: subject.sub_ids.get(key) for key in SUB_COLUMNS}, "event": data.event,
              "external_id": external_id, "external_customer_id": customer_id, "amount_minor": amount_minor,
              "currency": subject.offer.currency, "status": "pending", "payout_minor": 0, "revenue_minor": 0,
              "created_at": now}
    approved = False
    with transaction(session):
        stmt = insert_for(session, Conversion).values(**values).on_conflict_do_nothing(
            index_elements=["advertiser_id", "external_id"]).returning(Conversion.id)
        conversion_id = session.execute(stmt).scalar_one_or_none()
        if conversion_id is not None:
            conversion = session.get_one(Conversion, conversion_id)
            if not _claim_cap(session, subject.offer, now.date()):
                conversion.status = "over_cap"
            else:
                conversion.cap_day = now.date()
                if data.status == "approved":
                    approved = _decide(session, conversion, "approved")
            mark_stale(session, [now.date()])
    if conversion_id is None:  # the same external_id raced in from another request: it won
        return conversion_view(_existing(session, advertiser_id, external_id), principal, replayed=True)
    if approved:
        postbacks.dispatch_pending(session)
    return conversion_view(conversion, principal)


def _existing(session: Session, advertiser_id: int, external_id: str) -> Conversion | None:
    return session.execute(select(Conversion).where(Conversion.advertiser_id == advertiser_id,
                                                    Conversion.external_id == external_id)).scalar_one_or_none()


def _subject(session: Session, advertiser_id: int, lead_id: int | None, click_id: str | None) -> Subject:
    """The lead or click the conversion is about, if this advertiser may report on it: the
    advertiser owns its (targeted) offer, or bought its lead. Anything else is NotFound."""
    lead = None
    if lead_id is not None:
        lead = session.get(Lead, lead_id) if 0 < lead_id < MAX_ID else None
        if lead is None or (click_id and lead.click_id != click_id):
            raise NotFound(f"no lead {lead_id} of yours")
    click = None
    if click_id and (lead is None or clicks.parse_click_id(click_id) is not None):
        settings = current_settings()
        click = clicks.find_click(session, redis_client(settings), settings, click_id)
        if click is None and lead is None:
            raise NotFound(f"no click {click_id[:64]!r}")
    if lead is None and click is not None:  # the lead this click became, if any
        lead = session.execute(select(Lead).where(Lead.click_id == click.click_id, Lead.offer_id == click.offer_id)
                               .order_by(Lead.id).limit(1)).scalar_one_or_none()
    offer_id = lead.offer_id if lead is not None else click.offer_id  # type: ignore[union-attr]
    offer = session.get_one(Offer, offer_id)
    if offer.advertiser_id != advertiser_id and not (lead is not None and _bought(session, lead.id, advertiser_id)):
        raise NotFound(f"no {'lead ' + str(lead_id) if lead_id is not None else 'click'} of yours")
    source = click if click is not None else lead
    sub_ids = source.sub_ids if source is not None else {}
    return Subject(offer=offer, affiliate_id=lead.affiliate_id if lead is not None else click.affiliate_id,  # type: ignore[union-attr]
                   lead_id=lead.id if lead is not None else None,
                   click_id=click.click_id if click is not None else (lead.click_id if lead else None),
                   sub_ids=dict(sub_ids), country=(lead.country if lead is not None else click.country))  # type: ignore[union-attr]


def _bought(session: Session, lead_id: int, advertiser_id: int) -> bool:
    from marketplace.sale_models import Sale

    return session.execute(select(Sale.id).where(Sale.lead_id == lead_id, Sale.advertiser_id == advertiser_id,
                                                 Sale.status == "sold")).first() is not None


def _claim_cap(session: Session, offer: Offer, day: date) -> bool:
    """Take one of the offer's conversions for `day`; False when the cap is reached."""
    if offer.daily_conversion_cap is None:
        return True
    stmt = insert_for(session, ConversionCapDay).values(offer_id=offer.id, day=day, used=1)
    stmt = stmt.on_conflict_do_update(index_elements=["offer_id", "day"],
                                      set_={"used": ConversionCapDay.used + 1},
                                      where=ConversionCapDay.used < offer.daily_conversion_cap)
    return session.execute(stmt.returning(ConversionCapDay.used)).scalar_one_or_none() is not None


# ---------------------------------------------------------------- deciding and charging


def decide_conversion(session: Session, principal: Principal, conversion_id: int, status: str) -> ConversionView:
    """Approve (and charge) or reject a pending conversion; deciding again the same way is a no-op."""
    if principal.advertiser_id is None:
        raise PermissionDenied("only the advertiser decides on a conversion")
    with transaction(session):
        conversion = session.execute(
            select(Conversion).where(Conversion.id == conversion_id, Conversion.advertiser_id == principal.advertiser_id)
        ).scalar_one_or_none() if 0 < conversion_id < MAX_ID else None
        if conversion is None:
            raise NotFound(f"no conversion {conversion_id}")
        changed = _decide(session, conversion, status)
        if not changed and conversion.status != status:
            raise Conflict(f"conversion {conversion_id} is {conversion.status}; only a pending one can be {status}")
        if changed:
            mark_stale(session, [conversion.created_at.date()])
    if changed and status == "approved":
        postbacks.dispatch_pending(session)
    return conversion_view(conversion, principal)


def _decide(session: Session, conversion: Conversion, status: str) -> bool:
    """Move a pending conversion to `status` (a conditional UPDATE); False when it was not pending."""
    now = utcnow()
    moved = session.execute(update(Conversion).where(Conversion.id == conversion.id, Conversion.status == "pending")
                            .values(status=status, decided_at=now)).rowcount
    if not moved:
        session.refresh(conversion)
        return False
    session.refresh(conversion)
    if status == "approved":
        charge_conversion(session, conversion)
        postbacks.queue_conversion_event(session, conversion)
    elif conversion.cap_day is not None:  # a rejected conversion gives its cap slot back
        session.execute(update(ConversionCapDay).where(ConversionCapDay.offer_id == conversion.offer_id,
                                                       ConversionCapDay.day == conversion.cap_day)
                        .values(used=ConversionCapDay.used - 1))
    return True


def charge_conversion(session: Session, conversion: Conversion) -> None:
    """THE MONEY SEAM of CPA: an approved conversion earns the affiliate the offer's payout and
    costs the advertiser the offer's revenue (a CPL offer's conversion moves no money).

    The amounts go on the conversion row and, in the caller's same transaction, into the ledger
    as one balanced transaction under the reference "conversion:<id>": the advertiser's cash
    -revenue, the affiliate's payable +payout, platform revenue +(revenue - payout). The ledger
    posts a reference once, so even a second call here would not move money twice.

    An advertiser who cannot pay (a prepaid balance plus credit limit below the revenue) gets
    billing's InsufficientFunds, a Conflict: the approval fails with a 409 and nothing is written
    — the caller's transaction rolls back, so the conversion stays `pending` (approved through
    `/approve`) or is not recorded at all (reported as approved); once topped up, the advertiser
    approves it, or reports the same external_id, again. We refuse rather than book an `unpaid`
    conversion: a prepaid advertiser's balance never goes below its floor (DESIGN invariant 4),
    and an affiliate is never promised a payout nobody has paid for.
    """
    offer = session.get_one(Offer, conversion.offer_id)
    cpa = offer.payout_model == "cpa"
    conversion.payout_minor = offer.payout_minor if cpa else 0
    conversion.revenue_minor = (offer.revenue_minor or 0) if cpa else 0
    conversion.charged_at = utcnow()
    session.flush()
    charging.charge_conversion(session, reference=conversion_reference(conversion.id),
                               advertiser_id=conversion.advertiser_id, affiliate_id=conversion.affiliate_id,
                               revenue_minor=conversion.revenue_minor, payout_minor=conversion.payout_minor,
                               currency=conversion.currency)


def conversion_reference(conversion_id: int) -> str:
    """The ledger reference of a conversion's charge."""
    return f"conversion:{conversion_id}"


# ---------------------------------------------------------------- reading


def conversions_visible_to(principal: Principal) -> object:
    """The one scoping query for conversions: advertisers and affiliates see their own."""
    query = select(Conversion)
    if principal.role in (Role.ADMIN, Role.FINANCE):
        return query
    if principal.advertiser_id is not None:
        return query.where(Conversion.advertiser_id == principal.advertiser_id)
    if principal.affiliate_id is not None:
        return query.where(Conversion.affiliate_id == principal.affiliate_id)
    return query.where(False)


def list_conversions(session: Session, principal: Principal, *, limit: int = 100) -> list[ConversionView]:
    query = conversions_visible_to(principal).order_by(Conversion.id.desc()).limit(limit)  # type: ignore[attr-defined]
    return [conversion_view(c, principal) for c in session.execute(query).scalars()]


def conversion_view(conversion: Conversion, principal: Principal, *, replayed: bool = False) -> ConversionView:
    staff = principal.role in (Role.ADMIN, Role.FINANCE)
    money = lambda minor: from_minor(minor, conversion.currency)
    return ConversionView(
        id=conversion.id, offer_id=conversion.offer_id, lead_id=conversion.lead_id, click_id=conversion.click_id,
        event=conversion.event, external_id=conversion.external_id, customer_id=conversion.external_customer_id,
        amount=money(conversion.amount_minor) if conversion.amount_minor is not None else None,
        currency=conversion.currency, status=conversion.status, created_at=conversion.created_at,
        decided_at=conversion.decided_at, replayed=replayed,
        payout=money(conversion.payout_minor) if staff or principal.affiliate_id is not None else None,
        revenue=money(conversion.revenue_minor) if staff or principal.advertiser_id is not None else None)


# ---------------------------------------------------------------- the server-to-server postback


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_postback_token(session: Session, principal: Principal) -> PostbackToken:
    """A new postback secret for the advertiser (the previous one stops working); shown once."""
    if principal.advertiser_id is None:
        raise PermissionDenied("only advertisers have postback tokens")
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    with transaction(session):
        stmt = insert_for(session, AdvertiserPostbackToken).values(
            advertiser_id=principal.advertiser_id, token_digest=_token_digest(token), display_prefix=token[:10],
            created_at=utcnow())
        session.execute(stmt.on_conflict_do_update(index_elements=["advertiser_id"], set_={
            "token_digest": stmt.excluded.token_digest, "display_prefix": stmt.excluded.display_prefix,
            "created_at": stmt.excluded.created_at}))
    base = current_settings().public_base_url
    return PostbackToken(token=token, postback_url=(f"{base}/postback?token={token}&click_id={{click_id}}"
                                                    "&event=sale&external_id={order_id}&amount={amount}"))


def postback_principal(session: Session, token: str | None) -> Principal:
    """The advertiser a postback token belongs to; NotAuthenticated for a missing or unknown one."""
    if not token:
        raise NotAuthenticated("missing token parameter")
    advertiser_id = session.execute(select(AdvertiserPostbackToken.advertiser_id).where(
        AdvertiserPostbackToken.token_digest == _token_digest(token.strip()))).scalar_one_or_none()
    if advertiser_id is None:
        raise NotAuthenticated("unknown postback token")
    return Principal(role=Role.ADVERTISER, advertiser_id=advertiser_id, name="postback")


def receive_postback(session: Session, token: str | None, report: ConversionReport) -> ConversionView:
    """`GET|POST /postback`: a conversion reported server to server, authenticated by token."""
    principal = postback_principal(session, token)
    if not report.click_id and report.lead_id is None:
        raise InvalidInput.one("click_id", "is required")
    return report_conversion(session, principal, report)
