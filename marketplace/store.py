"""The lead store: unsold leads as masked previews at a list price, bought shared or exclusive, and
leads past their vertical's shelf life expired.

In the store: a lead `accepted` (clean, not sold at intake), younger than its vertical's
`shelf_life_days`, not sold exclusively and below its most sales, not already bought by the
viewer, its personal data not erased (marketplace/privacy.py). A targeted offer's unsold lead is offered only to that offer's advertiser (it was
collected for them); everyone else never sees it.

A preview never carries contact data: no name, phone, e-mail, profile link, address or date of
birth, and the postal code only as its first POSTAL_PREFIX characters. The columns are chosen
here, so a contact column cannot leak into it by accident; the contact data itself is sealed
(`lead.contact_sealed`) and never opened here.

A purchase locks the lead row (FOR NO KEY UPDATE, only while `accepted`), so buyers of one lead
queue behind each other: the first one's sale decides whether the next still finds the lead
(an exclusive sale moves it to `sold`), and only the first sale books the affiliate's payout.
The sale itself goes through `sales.sell_lead`, with every guarantee of a sale at intake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from sqlalchemy import Select, and_, false, or_, select, true
from sqlalchemy.orm import Session

from affiliates import postbacks
from affiliates.models import Offer
from billing.pricing import StorePricing, store_price_minor
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal
from leadmarket.money import from_minor
from marketplace import consents, delivery, lifecycle, sales
from marketplace.models import Lead, Vertical
from marketplace.sale_models import LeadSaleCount, Sale
from marketplace.sales import AdvertiserCannotBuy, LeadAlreadySold

TEMPERATURES = ("cold", "warm", "hot")
SORTS = ("newest", "oldest", "price_asc", "price_desc")
# Price filters and price sorting are worked out on at most this many newest matching leads
# (a price depends on age, so it is not a column); narrow with the other filters beyond that.
PRICE_SCAN_LIMIT = 5000
EXPIRE_BATCH = 1000


class StoreLeadPreview(msgspec.Struct, kw_only=True):
    lead_id: int
    vertical: str
    country: str
    region: str | None
    city: str | None
    postal_prefix: str | None
    attributes: dict[str, Any]
    temperature: str | None
    targeted: bool | None
    fraud_score: int | None
    created_at: datetime
    age_hours: int
    expires_at: datetime
    times_sold: int
    max_sales: int
    exclusive_available: bool
    price: Decimal
    exclusive_price: Decimal
    currency: str


class StorePage(msgspec.Struct, kw_only=True):
    leads: list[StoreLeadPreview]
    limit: int
    offset: int
    next_offset: int | None


class StoreBuy(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    exclusive: bool = False


class StorePurchase(msgspec.Struct, kw_only=True):
    sale_id: int
    lead_id: int
    channel: str
    exclusive: bool
    price: Decimal
    currency: str
    sold_count: int
    max_sales: int
    sold_label: str  # "sold 2 of 3"; an exclusive purchase reads "sold 1 of 1"
    consent_certificate_id: str | None
    consent_hash: str | None
    created_at: datetime


@dataclass(frozen=True)
class StoreFilters:
    vertical: str | None = None
    country: str | None = None
    region: str | None = None
    temperature: str | None = None
    max_age_hours: int | None = None
    min_price: str | None = None
    max_price: str | None = None
    sort: str = "newest"
    limit: int = 50
    offset: int = 0


# ---------------------------------------------------------------- browsing


def list_store_leads(session: Session, buyer: Principal, filters: StoreFilters) -> StorePage:
    """One page of the store as `buyer` sees it: masked previews with list prices."""
    advertiser_id = _advertiser(buyer)
    now = utcnow()
    min_price, max_price = _check(filters)
    query = _store_query(session, advertiser_id, now, vertical_slug=filters.vertical)
    if filters.country:
        query = query.where(Lead.country == filters.country.upper())
    if filters.region:
        query = query.where(Lead.region == filters.region)
    if filters.temperature:
        query = query.where(Lead.temperature == filters.temperature)
    if filters.max_age_hours is not None:
        query = query.where(Lead.created_at >= now - timedelta(hours=filters.max_age_hours))
    by_price = filters.sort.startswith("price") or min_price is not None or max_price is not None
    if not by_price:
        order = Lead.created_at.asc() if filters.sort == "oldest" else Lead.created_at.desc()
        rows = session.execute(query.order_by(order, Lead.id).offset(filters.offset).limit(filters.limit + 1)).all()
        previews = [_preview(row, now) for row in rows]
        more = len(previews) > filters.limit
        return StorePage(leads=previews[:filters.limit], limit=filters.limit, offset=filters.offset,
                         next_offset=filters.offset + filters.limit if more else None)
    # Price every candidate from the few columns a price needs, then build only the page's previews.
    priced_columns = (Lead.id, Lead.country, Lead.region, Lead.temperature, Lead.created_at, Lead.currency,
                      Lead.vertical_id, Vertical.base_price_minor, Vertical.store_pricing)
    candidates = session.execute(query.with_only_columns(*priced_columns)
                                 .order_by(Lead.created_at.desc(), Lead.id).limit(PRICE_SCAN_LIMIT)).all()
    pricings: dict[int, StorePricing] = {}
    priced: list[tuple[Decimal, int]] = []
    for row in candidates:
        pricing = pricings.get(row.vertical_id) or pricings.setdefault(row.vertical_id,
                                                                       StorePricing.of(row.store_pricing))
        price = from_minor(pricing.price_minor(row.base_price_minor, country=row.country, region=row.region,
                                               temperature=row.temperature, age=now - row.created_at), row.currency)
        if (min_price is None or price >= min_price) and (max_price is None or price <= max_price):
            priced.append((price, row.id))
    if filters.sort.startswith("price"):
        priced.sort(reverse=filters.sort == "price_desc")
    elif filters.sort == "oldest":
        priced.reverse()
    page_ids = [lead_id for _, lead_id in priced[filters.offset:filters.offset + filters.limit]]
    rows = {row.id: row for row in session.execute(query.where(Lead.id.in_(page_ids))).all()} if page_ids else {}
    more = len(priced) > filters.offset + filters.limit
    return StorePage(leads=[_preview(rows[lead_id], now) for lead_id in page_ids if lead_id in rows],
                     limit=filters.limit, offset=filters.offset,
                     next_offset=filters.offset + filters.limit if more else None)


def _advertiser(buyer: Principal) -> int:
    if buyer.advertiser_id is None:
        raise PermissionDenied("only advertisers use the lead store")
    return buyer.advertiser_id


def _check(filters: StoreFilters) -> tuple[Decimal | None, Decimal | None]:
    errors: list[FieldError] = []
    if filters.temperature is not None and filters.temperature not in TEMPERATURES:
        errors.append(FieldError("temperature", f"must be one of {', '.join(TEMPERATURES)}"))
    if filters.sort not in SORTS:
        errors.append(FieldError("sort", f"must be one of {', '.join(SORTS)}"))
    if filters.max_age_hours is not None and filters.max_age_hours < 0:
        errors.append(FieldError("max_age_hours", "must not be negative"))
    prices: list[Decimal | None] = []
    for name in ("min_price", "max_price"):
        raw = getattr(filters, name)
        try:
            price = Decimal(raw) if raw is not None else None
            if price is not None and (not price.is_finite() or price < 0):
                raise InvalidOperation
        except InvalidOperation:
            errors.append(FieldError(name, "must be a non-negative amount, e.g. \"12.50\""))
            price = None
        prices.append(price)
    low, high = prices
    if low is not None and high is not None and low > high:
        errors.append(FieldError("min_price", "must not be above max_price"))
    if errors:
        raise InvalidInput(errors)
    return low, high


def _store_query(session: Session, advertiser_id: int, now: datetime, *, vertical_slug: str | None = None) -> Select:
    """The leads `advertiser_id` may buy from the store at `now`, with what a preview shows."""
    verticals = session.execute(select(Vertical.id, Vertical.shelf_life_days)
                                .where(Vertical.slug == vertical_slug if vertical_slug else true())).all()
    on_shelf = or_(false(), *(and_(Lead.vertical_id == v.id,
                                   Lead.created_at > now - timedelta(days=v.shelf_life_days)) for v in verticals))
    bought = select(Sale.id).where(Sale.lead_id == Lead.id, Sale.advertiser_id == advertiser_id).exists()
    return (
        select(Lead.id, Lead.country, Lead.region, Lead.city, Lead.postal_prefix, Lead.attributes, Lead.temperature,
               Lead.targeted, Lead.fraud_score, Lead.created_at, Lead.currency, Vertical.slug,
               Vertical.base_price_minor, Vertical.store_pricing, Vertical.shelf_life_days,
               Vertical.max_shared_sales, LeadSaleCount.sales, LeadSaleCount.max_sales)
        .join(Vertical, Vertical.id == Lead.vertical_id)
        .join(Offer, Offer.id == Lead.offer_id)
        .outerjoin(LeadSaleCount, LeadSaleCount.lead_id == Lead.id)
        .where(Lead.status == "accepted", Lead.erased_at.is_(None), on_shelf, ~bought,
               or_(Offer.kind != "targeted", Offer.advertiser_id == advertiser_id),
               or_(LeadSaleCount.lead_id.is_(None),
                   and_(LeadSaleCount.exclusive.is_(False), LeadSaleCount.sales < LeadSaleCount.max_sales)))
    )


def _preview(row: Any, now: datetime) -> StoreLeadPreview:
    price = {exclusive: store_price_minor(base_price_minor=row.base_price_minor, store_pricing=row.store_pricing,
                                          country=row.country, region=row.region, temperature=row.temperature,
                                          created_at=row.created_at, now=now, exclusive=exclusive)
             for exclusive in (False, True)}
    sold = row.sales or 0
    return StoreLeadPreview(
        lead_id=row.id, vertical=row.slug, country=row.country, region=row.region, city=row.city,
        postal_prefix=row.postal_prefix,
        attributes=dict(row.attributes or {}), temperature=row.temperature, targeted=row.targeted,
        fraud_score=row.fraud_score, created_at=row.created_at,
        age_hours=int((now - row.created_at).total_seconds() // 3600),
        expires_at=row.created_at + timedelta(days=row.shelf_life_days), times_sold=sold,
        max_sales=row.max_sales or row.max_shared_sales, exclusive_available=sold == 0,
        price=from_minor(price[False], row.currency), exclusive_price=from_minor(price[True], row.currency),
        currency=row.currency)


# ---------------------------------------------------------------- buying


def buy_lead(session: Session, buyer: Principal, lead_id: int, *, exclusive: bool) -> StorePurchase:
    """Buy a stored lead at its list price, charged through the ledger, all or nothing.

    NotFound when the lead is not in the store for this buyer; LeadAlreadySold (409) when it was
    sold exclusively or to its most buyers meanwhile, or has shared sales and an exclusive
    purchase is asked for; AdvertiserCannotBuy (409) when the buyer cannot pay or already has it."""
    advertiser_id = _advertiser(buyer)
    now = utcnow()
    with transaction(session):
        # Buyers of one lead queue here; the row is re-read after the wait, so a lead sold
        # exclusively meanwhile is no longer `accepted` and is not found.
        lead = session.execute(select(Lead).where(Lead.id == lead_id, Lead.status == "accepted")
                               .with_for_update(key_share=True)).scalar_one_or_none()
        row = (session.execute(_store_query(session, advertiser_id, now).where(Lead.id == lead_id)).one_or_none()
               if lead is not None else None)
        if row is None:
            _not_in_store(session, advertiser_id, lead_id)
        price_minor = store_price_minor(base_price_minor=row.base_price_minor, store_pricing=row.store_pricing,
                                        country=row.country, region=row.region, temperature=row.temperature,
                                        created_at=row.created_at, now=now, exclusive=exclusive)
        first_sale = row.sales is None
        offer = session.execute(select(Offer).where(Offer.id == lead.offer_id)).unique().scalar_one()
        # The affiliate's CPL payout was promised at intake and is booked with the lead's first sale.
        sale = sales.sell_lead(session, lead, offer, advertiser_id=advertiser_id, price_minor=price_minor,
                               exclusive=exclusive, channel="store", payout_minor=lead.payout_minor if first_sale else 0)
        count = session.execute(select(LeadSaleCount.sales, LeadSaleCount.max_sales)
                                .where(LeadSaleCount.lead_id == lead_id)).one()
        if count.sales >= count.max_sales:
            lifecycle.transition(session, lead_id, "sold", only_from={"accepted"})
            postbacks.queue_lead_event(session, lead)  # the affiliate hears its lead is sold
        certificate = consents.certificates_for(session, [lead_id]).get(lead_id)
        purchase = StorePurchase(
            sale_id=sale.id, lead_id=lead_id, channel=sale.channel, exclusive=sale.exclusive,
            price=from_minor(sale.price_minor, sale.currency), currency=sale.currency, sold_count=count.sales,
            max_sales=count.max_sales, sold_label=f"sold {count.sales} of {count.max_sales}",
            consent_certificate_id=certificate[0] if certificate else None,
            consent_hash=certificate[1] if certificate else None, created_at=sale.created_at)
    delivery.dispatch_pending(session)
    postbacks.dispatch_pending(session)
    return purchase


def _not_in_store(session: Session, advertiser_id: int, lead_id: int) -> None:
    """Raise why a lead cannot be bought: sold (409) if this buyer could have seen it, else 404."""
    row = session.execute(select(Lead.status, Offer.kind, Offer.advertiser_id)
                          .join(Offer, Offer.id == Lead.offer_id).where(Lead.id == lead_id)).one_or_none()
    if row is not None and (row.kind != "targeted" or row.advertiser_id == advertiser_id):
        if session.execute(select(Sale.id).where(Sale.lead_id == lead_id, Sale.advertiser_id == advertiser_id)
                           ).first() is not None:
            raise AdvertiserCannotBuy(advertiser_id, "already_bought_lead")
        full = session.execute(select(LeadSaleCount.lead_id).where(
            LeadSaleCount.lead_id == lead_id,
            or_(LeadSaleCount.exclusive.is_(True), LeadSaleCount.sales >= LeadSaleCount.max_sales))
        ).scalar_one_or_none()
        if row.status == "sold" or full is not None:
            raise LeadAlreadySold(lead_id)
    raise NotFound(f"lead {lead_id} is not in the store")


# ---------------------------------------------------------------- expiry


def expire_leads(session: Session, *, now: datetime | None = None, batch: int = EXPIRE_BATCH) -> int:
    """Take leads past their vertical's shelf life off the shelf; how many. An unsold lead becomes
    `expired`; one with shared store sales becomes `sold` (its selling is over). Each batch is
    its own transaction, so a big backlog never holds many row locks at once."""
    now = now or utcnow()
    verticals = session.execute(select(Vertical.id, Vertical.shelf_life_days)).all()
    session.rollback()
    total = 0
    for vertical in verticals:
        past_shelf = [Lead.vertical_id == vertical.id,
                      Lead.created_at <= now - timedelta(days=vertical.shelf_life_days)]
        has_sales = select(LeadSaleCount.lead_id).where(LeadSaleCount.lead_id == Lead.id).exists()
        for to, condition in (("expired", ~has_sales), ("sold", has_sales)):
            while True:
                with transaction(session):
                    moved = lifecycle.transition_many(session, to, only_from={"accepted"},
                                                      where=[*past_shelf, condition], limit=batch)
                total += len(moved)
                if len(moved) < batch:
                    break
    return total


__all__ = ["StoreBuy", "StoreFilters", "StoreLeadPreview", "StorePage", "StorePurchase", "buy_lead", "expire_leads",
           "list_store_leads"]
