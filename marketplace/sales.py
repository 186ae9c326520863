"""Selling a lead: taking an order's cap and budget, one person per advertiser, the sale rows, the charge.

Everything here adds to the caller's transaction (intake's, so a 201 means the sales are
committed) and decides with the database, never read-then-write:
  * caps and budgets: one conditional UPDATE on the order's usage rows per period bucket
    (`used < cap AND spent + price <= budget`), judged by its row count;
  * one person per advertiser within the vertical's dedupe window: an INSERT ... ON CONFLICT
    take-over on `person_sale`, per contact key;
  * an exclusive sale is the lead's only one, a shared lead has at most `max_shared_sales`:
    the ON CONFLICT on `lead_sale_count`; never two sales to one advertiser: `sale`'s unique pair;
  * a prepaid advertiser never below minus their credit limit: billing.charging (ledger).

A plan (one exclusive sale, or up to `max_shared_sales` shared ones) is taken whole inside a
SAVEPOINT. When one part fails — a cap is spent, a balance is short — the savepoint is rolled
back, which also releases every row lock the attempt took, and the next best plan is tried.

Lock order, so concurrent sales never wait on each other in a cycle: within an attempt the
plan's advertisers are taken in ascending id, each starting with its advertiser row (FOR NO KEY
UPDATE), then its order's usage rows and its person rows; the ledger (whose affiliate and
platform accounts all sales share) is charged only after every part is taken. Whoever posts to
an advertiser's cash account holds that advertiser's row, so a wait on a ledger row is never on
a transaction still taking its first-phase locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from affiliates.models import Offer
from billing import charging
from billing.errors import CurrencyMismatch, InsufficientFunds
from leadmarket.clock import utcnow
from leadmarket.db import violated_constraint
from leadmarket.errors import Conflict
from leadmarket.upsert import insert_ignoring_conflict, insert_or_take_over
from marketplace import delivery, matching
from marketplace.dedupe import contact_keys
from marketplace.matching import OrderTerms
from marketplace.models import Advertiser, Lead, Vertical
from marketplace.order_models import Order, OrderUsage
from marketplace.sale_models import LeadSaleCount, PersonSale, Sale

# Plans tried per lead before it goes to the store: each failed attempt rules out one order or
# advertiser, and the matching book learns spent caps, so real leads rarely need more than two.
MAX_ATTEMPTS = 25


@dataclass(frozen=True)
class _Offerable:
    """One part of a plan: sell to this advertiser, through this order or (targeted) none."""

    advertiser_id: int
    price_minor: int
    order_id: int | None = None


class LeadAlreadySold(Conflict):
    def __init__(self, lead_id: int) -> None:
        super().__init__(f"lead {lead_id} is sold exclusively, or as many times as its vertical allows")


class AdvertiserCannotBuy(Conflict):
    REASONS = {"advertiser_inactive": "the advertiser account is paused",
               "already_bought_person": "the advertiser bought this person within the vertical's dedupe window",
               "already_bought_lead": "the advertiser already bought this lead",
               "insufficient_funds": "the advertiser's balance and credit do not cover the price"}

    def __init__(self, advertiser_id: int, reason: str) -> None:
        self.reason = reason
        super().__init__(f"advertiser {advertiser_id} cannot buy this lead: {self.REASONS[reason]}")


class _Refused(Exception):
    """One part of a plan cannot be sold now; `order_id` or `advertiser_id` says what to rule out."""

    def __init__(self, *, order_id: int | None = None, advertiser_id: int | None = None, reason: str = "",
                 capped_until: datetime | None = None, lead_closed: bool = False) -> None:
        self.order_id, self.advertiser_id, self.reason = order_id, advertiser_id, reason
        self.capped_until, self.lead_closed = capped_until, lead_closed
        super().__init__("refused")


def sell_to_orders(session: Session, lead: Lead, offer: Offer, matches: Sequence[OrderTerms], *,
                   now: datetime) -> list[Sale]:
    """Sell a marketplace lead to the best of its matching orders; [] when none can buy it now."""
    vertical: Vertical = offer.vertical
    ruled_out_orders: set[int] = set()
    ruled_out_advertisers: set[int] = set()
    for _ in range(MAX_ATTEMPTS):
        plan, exclusive = choose_plan(matches, vertical.max_shared_sales, ruled_out_orders, ruled_out_advertisers)
        if not plan:
            return []
        parts = [_Offerable(advertiser_id=t.advertiser_id, price_minor=t.price_minor, order_id=t.id) for t in plan]
        try:
            return _take(session, lead, offer, parts, exclusive=exclusive, channel="order", now=now)
        except _Refused as refused:
            if refused.lead_closed:
                return []
            if refused.order_id is not None:
                ruled_out_orders.add(refused.order_id)
                if refused.capped_until is not None:
                    matching.note_capped(session, lead.vertical_id, refused.order_id, refused.capped_until)
            if refused.advertiser_id is not None:
                ruled_out_advertisers.add(refused.advertiser_id)
    return []


def sell_targeted(session: Session, lead: Lead, offer: Offer, *, now: datetime) -> Sale | None:
    """Sell a targeted offer's lead to the offer's advertiser, exclusively: a CPL offer at the
    offer's revenue, a CPA offer at 0 (its advertiser pays the revenue per conversion instead).

    No order is needed (the offer is the standing agreement), so no order filters, caps or
    schedule apply; the advertiser must be active, not have bought this person within the
    window, and (when prepaid) have the balance and credit. Otherwise None: the lead is kept.
    """
    if offer.advertiser_id is None or offer.revenue_minor is None:
        return None
    price_minor = offer.revenue_minor if offer.payout_model == "cpl" else 0
    part = _Offerable(advertiser_id=offer.advertiser_id, price_minor=price_minor)
    try:
        return _take(session, lead, offer, [part], exclusive=True, channel="targeted", now=now)[0]
    except _Refused:
        return None


def sell_lead(session: Session, lead: Lead, offer: Offer, *, advertiser_id: int, price_minor: int, exclusive: bool,
              channel: str = "store", payout_minor: int = 0) -> Sale:
    """Sell one lead to one advertiser at one price, outside any order (a lead store purchase),
    in the caller's transaction, with the same guarantees as a sale at intake. The lead's status
    is the caller's to set.

    Raises LeadAlreadySold when the lead is sold exclusively, is full, or (for an exclusive sale)
    has any sale; AdvertiserCannotBuy when the advertiser is paused, bought this person within the
    window, or cannot pay. Either way nothing of this call stays in the transaction.
    """
    part = _Offerable(advertiser_id=advertiser_id, price_minor=price_minor)
    try:
        return _take(session, lead, offer, [part], exclusive=exclusive, channel=channel, payout_minor=payout_minor,
                     now=utcnow())[0]
    except _Refused as refused:
        if refused.lead_closed:
            raise LeadAlreadySold(lead.id) from None
        raise AdvertiserCannotBuy(advertiser_id, refused.reason) from None


def choose_plan(matches: Sequence[OrderTerms], max_shared: int, ruled_out_orders: set[int],
                ruled_out_advertisers: set[int]) -> tuple[list[OrderTerms], bool]:
    """The best exclusive order against the best `max_shared` shared orders of distinct advertisers
    (`matches` is best price first); whichever earns more, the exclusive sale on a tie.
    Returns (orders, exclusive)."""
    best_exclusive: OrderTerms | None = None
    shared: list[OrderTerms] = []
    advertisers: set[int] = set()
    for terms in matches:
        if terms.id in ruled_out_orders or terms.advertiser_id in ruled_out_advertisers:
            continue
        if terms.exclusive:
            if best_exclusive is None:
                best_exclusive = terms
        elif len(shared) < max_shared and terms.advertiser_id not in advertisers:
            shared.append(terms)
            advertisers.add(terms.advertiser_id)
        if best_exclusive is not None and len(shared) >= max_shared:
            break
    if best_exclusive is not None and best_exclusive.price_minor >= sum(t.price_minor for t in shared):
        return [best_exclusive], True
    return shared, False


def _take(session: Session, lead: Lead, offer: Offer, parts: list[_Offerable], *, exclusive: bool,
          channel: str, now: datetime, payout_minor: int | None = None) -> list[Sale]:
    """Take a whole plan at `now`, or nothing: raises _Refused with the savepoint rolled back.

    The affiliate's payout booked with the sales is the offer's CPL payout unless given."""
    vertical: Vertical = offer.vertical
    parts = sorted(parts, key=lambda p: p.advertiser_id)
    savepoint = _begin_savepoint(session)
    try:
        sales = [_sell_one(session, lead, vertical, part, exclusive=exclusive, channel=channel, now=now)
                 for part in parts]
        if payout_minor is None:
            payout_minor = offer.payout_minor if offer.payout_model == "cpl" else 0
        payouts = split_payout(payout_minor, [sale.price_minor for sale in sales])
        for sale, share in zip(sales, payouts, strict=True):
            try:
                charging.charge_sale(session, reference=f"sale:{sale.id}", advertiser_id=sale.advertiser_id,
                                     affiliate_id=lead.affiliate_id, price_minor=sale.price_minor,
                                     payout_minor=share, currency=sale.currency)
            except (InsufficientFunds, CurrencyMismatch):
                raise _Refused(advertiser_id=sale.advertiser_id, reason="insufficient_funds") from None
    except _Refused:
        _roll_back(savepoint)
        raise
    except IntegrityError as exc:
        # A sale row clashed with one committed meanwhile (a concurrent purchase of the lead).
        _roll_back(savepoint)
        if violated_constraint(exc) == "uq_sale_lead_id_advertiser_id" and len(parts) == 1:
            raise _Refused(advertiser_id=parts[0].advertiser_id, reason="already_bought_lead") from None
        raise _Refused(lead_closed=True) from None
    except BaseException:
        _roll_back(savepoint)
        raise
    savepoint.commit()
    return sales


def _begin_savepoint(session: Session) -> SessionTransaction:
    """A SAVEPOINT in the caller's transaction. pysqlite begins a transaction only before DML, so
    on SQLite a SAVEPOINT sent first would be the transaction itself: begin one first."""
    if session.get_bind().dialect.name == "sqlite":
        if not session.connection().connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            session.execute(text("BEGIN"))
    return session.begin_nested()


def _roll_back(savepoint: SessionTransaction) -> None:
    if savepoint.is_active:
        savepoint.rollback()


def _sell_one(session: Session, lead: Lead, vertical: Vertical, part: _Offerable, *, exclusive: bool, channel: str,
              now: datetime) -> Sale:
    advertiser_status = session.execute(
        select(Advertiser.status).where(Advertiser.id == part.advertiser_id).with_for_update(key_share=True)
    ).scalar_one_or_none()
    if advertiser_status != "active":
        raise _Refused(advertiser_id=part.advertiser_id, reason="advertiser_inactive")
    price_minor = part.price_minor
    if part.order_id is not None:
        price_minor = _spend_order(session, part.order_id, now)
    if not _claim_person(session, part.advertiser_id, lead, vertical, now):
        raise _Refused(advertiser_id=part.advertiser_id, reason="already_bought_person")
    if not _count_sale(session, lead, vertical, exclusive=exclusive):
        raise _Refused(lead_closed=True)
    sale = Sale(lead_id=lead.id, advertiser_id=part.advertiser_id, order_id=part.order_id, channel=channel,
                price_minor=price_minor, currency=lead.currency, exclusive=exclusive, status="sold", created_at=now)
    session.add(sale)
    session.flush()
    delivery.queue_delivery(session, sale)  # its delivery row commits with the sale
    return sale


def _spend_order(session: Session, order_id: int, now: datetime) -> int:
    """Count one sale against the order's caps and budgets in every limited period; its price.

    The order row is read afresh (the matching book may be a moment old), and the usage rows
    are moved by one conditional UPDATE: a row whose cap or budget would be overrun is not
    updated, so the row count says whether the whole sale fits.
    """
    order = session.execute(
        select(Order.status, Order.price_minor, Order.time_zone, Order.cap_hourly, Order.cap_daily, Order.cap_monthly,
               Order.budget_daily_minor, Order.budget_monthly_minor).where(Order.id == order_id)).one_or_none()
    if order is None or order.status != "active":
        raise _Refused(order_id=order_id)
    price = order.price_minor
    buckets = period_buckets(now, order.time_zone)
    limits = {"hour": (order.cap_hourly, None), "day": (order.cap_daily, order.budget_daily_minor),
              "month": (order.cap_monthly, order.budget_monthly_minor)}
    limited = {period: limit for period, limit in limits.items() if limit != (None, None)}
    if not limited:
        return price
    capped_until = min(buckets[period][1] for period in limited)
    for period, (cap, budget) in limited.items():
        if (cap is not None and cap < 1) or (budget is not None and price > budget):
            raise _Refused(order_id=order_id, capped_until=capped_until)
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(OrderUsage)
    session.execute(insert.values([
        {"order_id": order_id, "period": period, "starts_at": buckets[period][0], "used": 0, "spent_minor": 0}
        for period in limited]).on_conflict_do_nothing(index_elements=["order_id", "period", "starts_at"]))
    conditions = []
    for period, (cap, budget) in limited.items():
        condition = [OrderUsage.period == period, OrderUsage.starts_at == buckets[period][0]]
        if cap is not None:
            condition.append(OrderUsage.used < cap)
        if budget is not None:
            condition.append(OrderUsage.spent_minor + price <= budget)
        conditions.append(and_(*condition))
    moved = session.execute(
        update(OrderUsage).where(OrderUsage.order_id == order_id, or_(*conditions))
        .values(used=OrderUsage.used + 1, spent_minor=OrderUsage.spent_minor + price)
        .execution_options(synchronize_session=False)).rowcount
    if moved != len(limited):
        raise _Refused(order_id=order_id, capped_until=capped_until)
    return price


def period_buckets(now: datetime, time_zone: str) -> dict[str, tuple[datetime, datetime]]:
    """The hour, day and month containing `now` in `time_zone`, as (start, end) UTC instants."""
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    hour = local.replace(minute=0, second=0, microsecond=0)
    day = datetime(local.year, local.month, local.day, tzinfo=zone)
    next_day = datetime.combine(day.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    month = datetime(local.year, local.month, 1, tzinfo=zone)
    next_month = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=zone)
    hour_utc = hour.astimezone(UTC)
    return {"hour": (hour_utc, hour_utc + timedelta(hours=1)),
            "day": (day.astimezone(UTC), next_day.astimezone(UTC)),
            "month": (month.astimezone(UTC), next_month.astimezone(UTC))}


def _claim_person(session: Session, advertiser_id: int, lead: Lead, vertical: Vertical, now: datetime) -> bool:
    """Record that this advertiser bought this person; False if they did within the window."""
    cutoff = now - timedelta(days=vertical.dedupe_window_days)
    for kind, digest in contact_keys(lead):
        won = insert_or_take_over(
            session, PersonSale,
            {"advertiser_id": advertiser_id, "vertical_id": vertical.id, "key_kind": kind, "key_digest": digest,
             "lead_id": lead.id, "sold_at": now},
            conflict_columns=["advertiser_id", "vertical_id", "key_kind", "key_digest"],
            take_over={"lead_id": lead.id, "sold_at": now},
            when=PersonSale.sold_at <= cutoff,
            returning=PersonSale.lead_id)
        if won is None:
            return False
    return True


def _count_sale(session: Session, lead: Lead, vertical: Vertical, *, exclusive: bool) -> bool:
    """One more sale of the lead, if it still has room: False when it is sold exclusively or full."""
    if exclusive:
        return insert_ignoring_conflict(
            session, LeadSaleCount, {"lead_id": lead.id, "sales": 1, "max_sales": 1, "exclusive": True},
            conflict_columns=["lead_id"], returning=LeadSaleCount.lead_id) is not None
    return insert_or_take_over(
        session, LeadSaleCount,
        {"lead_id": lead.id, "sales": 1, "max_sales": vertical.max_shared_sales, "exclusive": False},
        conflict_columns=["lead_id"], take_over={"sales": LeadSaleCount.sales + 1},
        when=and_(LeadSaleCount.exclusive.is_(False), LeadSaleCount.sales < LeadSaleCount.max_sales),
        returning=LeadSaleCount.lead_id) is not None


def split_payout(payout_minor: int, prices: list[int]) -> list[int]:
    """The affiliate's payout for one lead spread over its sales in proportion to their prices
    (rounded down, the remainder on the first), so a returned share claws back only its part."""
    if not prices:
        return []
    total = sum(prices)
    shares = ([payout_minor * p // total for p in prices] if total
              else [payout_minor // len(prices)] * len(prices))
    shares[0] += payout_minor - sum(shares)
    return shares
