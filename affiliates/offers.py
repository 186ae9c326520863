"""Offers: what affiliates promote, created by admins and listed per role."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from affiliates.models import Offer
from affiliates.schemas import OfferCreate, OfferView
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket import audit, pausing
from leadmarket.errors import FieldError, InvalidInput
from leadmarket.paging import Page, PageRequest, paginate
from leadmarket.identity import Principal, Role
from leadmarket.money import from_minor, to_minor
from leadmarket.validators import check_http_url, check_name, reject_nul
from marketplace.models import Advertiser, Vertical

KINDS = ("marketplace", "targeted")
PAYOUT_MODELS = ("cpl", "cpa")


def create_offer(session: Session, data: OfferCreate, principal: Principal | None = None) -> Offer:
    reject_nul(data)
    errors = [e for e in [check_name(data.name), check_http_url(data.landing_url, "landing_url")] if e]
    vertical = session.execute(select(Vertical).where(Vertical.slug == data.vertical)).scalar_one_or_none()
    if vertical is None:
        errors.append(FieldError("vertical", f"no vertical with slug {data.vertical!r}"))
    if data.kind not in KINDS:
        errors.append(FieldError("kind", "must be marketplace or targeted"))
    if data.payout_model not in PAYOUT_MODELS:
        errors.append(FieldError("payout_model", "must be cpl or cpa"))
    if data.kind == "targeted":
        if data.advertiser_id is None:
            errors.append(FieldError("advertiser_id", "a targeted offer needs the advertiser who buys its leads"))
        elif not 0 < data.advertiser_id <= 2**31 - 1 or session.get(Advertiser, data.advertiser_id) is None:
            errors.append(FieldError("advertiser_id", "no such advertiser"))
        if data.revenue is None:
            errors.append(FieldError("revenue", "a targeted offer needs the price its advertiser pays"))
    elif data.advertiser_id is not None:
        errors.append(FieldError("advertiser_id", "only a targeted offer has an advertiser"))
    if data.payout_model == "cpa" and data.revenue is None and data.kind != "targeted":
        errors.append(FieldError("revenue", "a CPA offer needs the revenue per conversion"))
    currency = vertical.currency if vertical else "USD"
    payout_minor = revenue_minor = None
    for field, amount in (("payout", data.payout), ("revenue", data.revenue)):
        if amount is None:
            continue
        try:
            minor = to_minor(amount, currency, field=field)
        except InvalidInput as exc:
            errors += exc.errors
            continue
        if field == "payout":
            payout_minor = minor
        else:
            revenue_minor = minor
    if payout_minor is not None and revenue_minor is not None and payout_minor > revenue_minor:
        errors.append(FieldError("payout", "must not exceed revenue"))
    if data.daily_conversion_cap is not None and not 1 <= data.daily_conversion_cap <= 1_000_000:
        errors.append(FieldError("daily_conversion_cap", "must be between 1 and 1000000 conversions a day"))
    if data.min_call_seconds is not None and not 0 <= data.min_call_seconds <= 3600:
        errors.append(FieldError("min_call_seconds", "must be between 0 and 3600 seconds"))
    if errors:
        raise InvalidInput(errors)
    offer = Offer(name=data.name.strip(), vertical_id=vertical.id, kind=data.kind, advertiser_id=data.advertiser_id,
                  payout_model=data.payout_model, payout_minor=payout_minor, revenue_minor=revenue_minor,
                  currency=currency, landing_url=data.landing_url, status="active", created_at=utcnow(),
                  daily_conversion_cap=data.daily_conversion_cap, min_call_seconds=data.min_call_seconds)
    offer.vertical = vertical
    with transaction(session):
        session.add(offer)
        session.flush()
        audit.record(session, principal, "offer.create", "offer", offer.id,
                     {"kind": offer.kind, "payout_model": offer.payout_model, "payout_minor": offer.payout_minor})
    return offer


def offers_visible_to(session: Session, principal: Principal) -> list[Offer]:
    """Staff see every offer; an affiliate sees the active ones."""
    query = select(Offer).order_by(Offer.id)
    if principal.role not in (Role.ADMIN, Role.FINANCE):
        query = query.where(Offer.status == "active")
    return list(session.execute(query).scalars())


def offer_view(offer: Offer, principal: Principal) -> OfferView:
    staff = principal.role in (Role.ADMIN, Role.FINANCE)
    revenue = from_minor(offer.revenue_minor, offer.currency) if staff and offer.revenue_minor is not None else None
    return OfferView(id=offer.id, name=offer.name, vertical=offer.vertical.slug, kind=offer.kind,
                     payout_model=offer.payout_model, payout=from_minor(offer.payout_minor, offer.currency),
                     currency=offer.currency, landing_url=offer.landing_url, status=offer.status,
                     created_at=offer.created_at, advertiser_id=offer.advertiser_id if staff else None,
                     revenue=revenue, daily_conversion_cap=offer.daily_conversion_cap,
                     min_call_seconds=offer.min_call_seconds)


def promotable_offers_page(session: Session, principal: Principal, request: PageRequest) -> Page[OfferView]:
    """One page of the offers the caller may promote (affiliates: the active ones), as they see them."""
    query = select(Offer).join(Vertical, Vertical.id == Offer.vertical_id)
    if principal.role not in (Role.ADMIN, Role.FINANCE):
        query = query.where(Offer.status == "active")
    found = paginate(session, query, request, {"id": Offer.id, "name": Offer.name, "payout": Offer.payout_minor,
                                               "vertical": Vertical.slug, "model": Offer.payout_model}, "id")
    return Page(items=[offer_view(offer, principal) for offer in found.items], request=found.request,
                total=found.total)


STATUSES = pausing.STATUSES


def offers_page(session: Session, request: PageRequest) -> Page[Offer]:
    return paginate(session, select(Offer), request,
                    {"id": Offer.id, "name": Offer.name, "status": Offer.status, "payout": Offer.payout_minor,
                     "kind": Offer.kind}, "id")


def set_offer_status(session: Session, principal: Principal, offer_id: int, status: str) -> Offer:
    """Pause an offer (its leads are refused at intake) or reactivate it; audited."""
    return pausing.set_status(session, principal, Offer, offer_id, status)
