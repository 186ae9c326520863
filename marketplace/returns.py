"""Returns: an advertiser sends a bad lead back within the vertical's window, for a reason.

An accepted return refunds the advertiser and claws back the affiliate's share of the payout
(billing.charging.reverse_sale, once per sale), marks the sale `returned` and queues the
affiliate's `lead_returned` postback. Per-advertiser rules (`Advertiser.return_rules`, NULL =
DEFAULT_RULES): which reasons are approved at once (the rest wait for an admin), and a cap per
billing period (calendar month, UTC) by count and/or percent of that period's purchases (with a
floor, so a small buyer's first returns are not refused by the percent). Pending returns count.

Races: one return per sale is the unique `sale_return.sale_id`; the cap is counted while
holding the advertiser's row lock, so two returns of one advertiser never both take the last
unit; approving moves the sale with `UPDATE ... WHERE status = 'sold'` and the return with
`WHERE status = 'pending'`, so a refund happens once.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates import postbacks
from billing import charging
from billing.errors import ChargeNotFound
from leadmarket import audit
from leadmarket.clock import utcnow
from leadmarket.db import transaction, violated_constraint
from leadmarket.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal, Role
from leadmarket.money import from_minor
from marketplace import lifecycle
from marketplace.delivery_models import SaleReturn
from marketplace.models import Advertiser, Lead, Vertical
from marketplace.sale_models import Sale

REASONS = {
    "bad_phone": "the phone number does not reach the person",
    "bad_email": "the e-mail address bounces",
    "duplicate": "the advertiser already had this person",
    "fraud": "made up, a bot, or paid to fill the form",
    "wrong_geo": "the person is outside the order's area",
    "underage": "the person is under age",
    "not_consented": "the person says they never asked to be contacted",
    "wrong_vertical": "the person asked about something else",
}
REFUSED_REASONS = {"not_interested": "a person who is not interested is a sales outcome, not a bad lead"}
DEFAULT_RULES: dict[str, Any] = {"auto_approve": ["bad_phone", "bad_email", "duplicate", "underage"],
                                 "cap_count": None, "cap_percent": 20, "cap_floor": 5}


class ReturnRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    note: str | None = None


class ReturnView(msgspec.Struct):
    id: int
    sale_id: int
    lead_id: int
    reason: str
    note: str | None
    status: str  # pending, approved, rejected
    auto_approved: bool
    refund: Decimal
    currency: str
    created_at: datetime
    decided_at: datetime | None


class ReasonCount(msgspec.Struct):
    reason: str
    returns: int
    refunded: Decimal
    currency: str


class SourceCount(msgspec.Struct):
    affiliate_id: int
    sub1: str | None
    returns: int
    refunded: Decimal
    currency: str


class ReturnsReport(msgspec.Struct):
    by_reason: list[ReasonCount]
    by_source: list[SourceCount]


class ReturnRules(msgspec.Struct, forbid_unknown_fields=True):
    """An advertiser's return rules, replaced whole: a field left out takes its default, a cap
    sent as null is off."""

    auto_approve: list[str] | msgspec.UnsetType = msgspec.UNSET
    cap_count: int | None | msgspec.UnsetType = msgspec.UNSET
    cap_percent: Decimal | None | msgspec.UnsetType = msgspec.UNSET
    cap_floor: int | msgspec.UnsetType = msgspec.UNSET


class ReturnRulesView(msgspec.Struct):
    advertiser_id: int
    auto_approve: list[str]
    cap_count: int | None
    cap_percent: Decimal | None
    cap_floor: int
    reasons: dict[str, str]


class ReturnRefused(Conflict):
    """Why this sale cannot be returned (outside the window, returned already, over the cap)."""


def rules_for(advertiser: Advertiser) -> dict[str, Any]:
    return {**DEFAULT_RULES, **(advertiser.return_rules or {})}


def get_rules(session: Session, principal: Principal, advertiser_id: int) -> ReturnRulesView:
    """An advertiser's return rules: staff read anyone's, an advertiser their own."""
    if principal.role not in (Role.ADMIN, Role.FINANCE) and principal.advertiser_id != advertiser_id:
        raise NotFound(f"no advertiser {advertiser_id}")
    advertiser = session.get(Advertiser, advertiser_id)
    if advertiser is None:
        raise NotFound(f"no advertiser {advertiser_id}")
    return _rules_view(advertiser)


def set_rules(session: Session, principal: Principal, advertiser_id: int, data: ReturnRules) -> ReturnRulesView:
    """Replace an advertiser's return rules (admin); fields left out take the defaults."""
    errors: list[FieldError] = []
    rules = {field: value for field in ReturnRules.__struct_fields__
             if (value := getattr(data, field)) is not msgspec.UNSET}
    if "auto_approve" in rules:
        unknown = sorted(set(rules["auto_approve"]) - set(REASONS))
        if unknown:
            errors.append(FieldError("auto_approve", f"unknown reason {unknown[0]!r}; known: {', '.join(REASONS)}"))
        rules["auto_approve"] = list(dict.fromkeys(rules["auto_approve"]))
    for field in ("cap_count", "cap_floor"):
        if rules.get(field) is not None and not 0 <= rules[field] <= 1_000_000:
            errors.append(FieldError(field, "must be between 0 and 1000000"))
    percent = rules.get("cap_percent")
    if percent is not None:
        if not (percent.is_finite() and 0 <= percent <= 100):
            errors.append(FieldError("cap_percent", "must be between 0 and 100"))
        rules["cap_percent"] = str(percent)
    if errors:
        raise InvalidInput(errors)
    with transaction(session):
        advertiser = session.get(Advertiser, advertiser_id)
        if advertiser is None:
            raise NotFound(f"no advertiser {advertiser_id}")
        audit.record(session, principal, "return_rules.set", "advertiser", advertiser_id,
                     {"before": advertiser.return_rules, "after": rules})
        advertiser.return_rules = rules
    return _rules_view(advertiser)


def _rules_view(advertiser: Advertiser) -> ReturnRulesView:
    rules = rules_for(advertiser)
    percent = rules.get("cap_percent")
    return ReturnRulesView(advertiser_id=advertiser.id, auto_approve=list(rules["auto_approve"]),
                           cap_count=rules.get("cap_count"),
                           cap_percent=Decimal(str(percent)) if percent is not None else None,
                           cap_floor=int(rules.get("cap_floor") or 0), reasons=REASONS)


class ReturnOptions(msgspec.Struct):
    """Whether one purchase can still be returned, until when, and for which reasons."""

    sale_id: int
    window_days: int
    closes_at: datetime
    returnable: bool
    refused: str | None  # why not, when it cannot be returned (cap aside: counted when filed)
    reasons: dict[str, str]
    auto_approve: list[str]


def return_options(session: Session, principal: Principal, sale_id: int, *,
                   now: datetime | None = None) -> ReturnOptions:
    """What a return form shows beside its fields; another advertiser's sale is NotFound."""
    if principal.advertiser_id is None:
        raise PermissionDenied("only the buyer returns a purchase")
    found = session.execute(
        select(Sale, Vertical.return_window_days, Advertiser).join(Lead, Lead.id == Sale.lead_id)
        .join(Vertical, Vertical.id == Lead.vertical_id).join(Advertiser, Advertiser.id == Sale.advertiser_id)
        .where(Sale.id == sale_id, Sale.advertiser_id == principal.advertiser_id)).one_or_none()
    if found is None:
        raise NotFound(f"no purchase {sale_id}")
    sale, window_days, advertiser = found
    closes_at = sale.created_at + timedelta(days=window_days)
    has_return = session.execute(select(SaleReturn.id).where(SaleReturn.sale_id == sale_id)).first() is not None
    refused = None
    if sale.status != "sold" or has_return:
        refused = "this purchase has a return already"
    elif (now or utcnow()) > closes_at:
        refused = f"the return window closed {window_days} days after the sale"
    return ReturnOptions(sale_id=sale_id, window_days=window_days, closes_at=closes_at, returnable=refused is None,
                         refused=refused, reasons=REASONS, auto_approve=list(rules_for(advertiser)["auto_approve"]))


def request_return(session: Session, principal: Principal, sale_id: int, data: ReturnRequest) -> ReturnView:
    """File the advertiser's return of one of their sales; approved at once when the rules say so."""
    if principal.advertiser_id is None:
        raise PermissionDenied("only the buyer returns a purchase")
    reason = (data.reason or "").strip()
    if reason in REFUSED_REASONS:
        raise InvalidInput.one("reason", f"{reason!r} is not a return reason: {REFUSED_REASONS[reason]}")
    if reason not in REASONS:
        raise InvalidInput.one("reason", f"must be one of {', '.join(REASONS)}")
    if data.note is not None and len(data.note) > 1000:
        raise InvalidInput([FieldError("note", "is at most 1000 characters")])
    now = utcnow()
    try:
        with transaction(session):
            # The advertiser's row lock serializes their returns: the cap below is counted under it.
            advertiser = session.execute(select(Advertiser).where(Advertiser.id == principal.advertiser_id)
                                         .with_for_update(key_share=True)).scalar_one()
            found = session.execute(
                select(Sale, Lead, Vertical.return_window_days).join(Lead, Lead.id == Sale.lead_id)
                .join(Vertical, Vertical.id == Lead.vertical_id)
                .where(Sale.id == sale_id, Sale.advertiser_id == principal.advertiser_id)).one_or_none()
            if found is None:
                raise NotFound(f"no purchase {sale_id}")
            sale, lead, window_days = found
            closes_at = sale.created_at + timedelta(days=window_days)
            if now > closes_at:
                raise ReturnRefused(f"the return window of sale {sale_id} closed at {closes_at.isoformat()}"
                                    f" ({window_days} days after the sale)")
            if sale.status != "sold":
                raise ReturnRefused(f"sale {sale_id} is returned already")
            rules = rules_for(advertiser)
            _check_cap(session, advertiser.id, rules, now)
            sale_return = SaleReturn(sale_id=sale.id, advertiser_id=advertiser.id, affiliate_id=lead.affiliate_id,
                                     sub1=lead.sub1, reason=reason, note=data.note, status="pending",
                                     auto_approved=False, refund_minor=0, currency=sale.currency, created_at=now)
            session.add(sale_return)
            session.flush()
            if reason in rules["auto_approve"]:
                sale_return.auto_approved = True
                _approve(session, sale_return, decided_by="auto", now=now)
    except IntegrityError as exc:
        if violated_constraint(exc) == "uq_sale_return_sale_id":
            raise ReturnRefused(f"sale {sale_id} has a return already") from None
        raise
    postbacks.dispatch_pending(session)
    return _view(sale_return, sale.lead_id)


def decide_return(session: Session, principal: Principal, return_id: int, *, approve: bool) -> ReturnView:
    """An admin approves (refund, claw-back) or rejects a pending return."""
    now = utcnow()
    with transaction(session):
        sale_return = session.execute(select(SaleReturn).where(SaleReturn.id == return_id)
                                      .with_for_update()).scalar_one_or_none()
        if sale_return is None:
            raise NotFound(f"no return {return_id}")
        if sale_return.status != "pending":
            raise ReturnRefused(f"return {return_id} is {sale_return.status} already")
        decided_by = f"{principal.role.value}:{principal.api_key_id}"
        if approve:
            _approve(session, sale_return, decided_by=decided_by, now=now)
        else:
            sale_return.status, sale_return.decided_at, sale_return.decided_by = "rejected", now, decided_by
        audit.record(session, principal, "return.approve" if approve else "return.reject", "sale_return",
                     sale_return.id, {"sale_id": sale_return.sale_id, "reason": sale_return.reason})
        lead_id = session.execute(select(Sale.lead_id).where(Sale.id == sale_return.sale_id)).scalar_one()
    postbacks.dispatch_pending(session)
    return _view(sale_return, lead_id)


def _approve(session: Session, sale_return: SaleReturn, *, decided_by: str, now: datetime) -> None:
    moved = session.execute(update(Sale).where(Sale.id == sale_return.sale_id, Sale.status == "sold")
                            .values(status="returned").returning(Sale.lead_id, Sale.price_minor)
                            .execution_options(synchronize_session=False)).one_or_none()
    if moved is None:
        raise ReturnRefused(f"sale {sale_return.sale_id} is returned already")
    try:
        charging.reverse_sale(session, f"sale:{sale_return.sale_id}", memo=f"return {sale_return.id}: "
                              f"{sale_return.reason}", created_by=decided_by)
        refund_minor = moved.price_minor
    except ChargeNotFound:
        refund_minor = 0  # a sale at 0 (a CPA offer's lead) charged nothing, so nothing to refund
    sale_return.status, sale_return.refund_minor = "approved", refund_minor
    sale_return.decided_at, sale_return.decided_by = now, decided_by
    session.flush()
    _mark_lead_returned(session, moved.lead_id)
    lead = session.get_one(Lead, moved.lead_id)
    postbacks.queue_lead_event(session, lead, event="lead_returned")


def _mark_lead_returned(session: Session, lead_id: int) -> None:
    """The lead becomes `returned` once none of its sales stands."""
    still_sold = session.execute(select(func.count()).select_from(Sale)
                                 .where(Sale.lead_id == lead_id, Sale.status == "sold")).scalar_one()
    if still_sold:
        return
    try:
        lifecycle.transition(session, lead_id, "returned", only_from=["sold"])
    except lifecycle.TransitionRefused:
        pass  # converted meanwhile: the sale's own status carries the return


def _check_cap(session: Session, advertiser_id: int, rules: dict[str, Any], now: datetime) -> None:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    returns = session.execute(select(func.count()).select_from(SaleReturn).where(
        SaleReturn.advertiser_id == advertiser_id, SaleReturn.created_at >= start,
        SaleReturn.status != "rejected")).scalar_one()
    cap_count, cap_percent = rules.get("cap_count"), rules.get("cap_percent")
    if cap_count is not None and returns >= cap_count:
        raise ReturnRefused(f"the return cap of {cap_count} returns this billing period is reached")
    if cap_percent is not None:
        purchases = session.execute(select(func.count()).select_from(Sale).where(
            Sale.advertiser_id == advertiser_id, Sale.created_at >= start)).scalar_one()
        # A small buyer's few purchases would make a percent cap refuse every return: `cap_floor`
        # returns per period are always allowed.
        allowed = max(math.floor(purchases * Decimal(str(cap_percent)) / 100), int(rules.get("cap_floor") or 0))
        if returns >= allowed:
            raise ReturnRefused(f"the return cap of {cap_percent}% of this billing period's {purchases} purchases"
                                " is reached")


def returns_report(session: Session, principal: Principal, *, since: datetime | None = None,
                   until: datetime | None = None) -> ReturnsReport:
    """Approved and pending returns by reason and by source (affiliate, sub1): all for staff,
    an affiliate's own leads for an affiliate."""
    conditions = [SaleReturn.status != "rejected"]
    if principal.role not in (Role.ADMIN, Role.FINANCE):
        if principal.affiliate_id is None:
            raise PermissionDenied("the returns report is for staff and affiliates")
        conditions.append(SaleReturn.affiliate_id == principal.affiliate_id)
    if since is not None:
        conditions.append(SaleReturn.created_at >= since)
    if until is not None:
        conditions.append(SaleReturn.created_at < until)
    count, refunded = func.count(SaleReturn.id), func.coalesce(func.sum(SaleReturn.refund_minor), 0)
    by_reason = session.execute(select(SaleReturn.reason, SaleReturn.currency, count, refunded).where(*conditions)
                                .group_by(SaleReturn.reason, SaleReturn.currency)
                                .order_by(count.desc(), SaleReturn.reason)).all()
    by_source = session.execute(
        select(SaleReturn.affiliate_id, SaleReturn.sub1, SaleReturn.currency, count, refunded).where(*conditions)
        .group_by(SaleReturn.affiliate_id, SaleReturn.sub1, SaleReturn.currency)
        .order_by(count.desc(), SaleReturn.affiliate_id, SaleReturn.sub1)).all()
    return ReturnsReport(
        by_reason=[ReasonCount(reason=r, returns=n, refunded=from_minor(int(m), c), currency=c)
                   for r, c, n, m in by_reason],
        by_source=[SourceCount(affiliate_id=a, sub1=s, returns=n, refunded=from_minor(int(m), c), currency=c)
                   for a, s, c, n, m in by_source])


def _view(sale_return: SaleReturn, lead_id: int) -> ReturnView:
    return ReturnView(id=sale_return.id, sale_id=sale_return.sale_id, lead_id=lead_id, reason=sale_return.reason,
                      note=sale_return.note, status=sale_return.status, auto_approved=sale_return.auto_approved,
                      refund=from_minor(sale_return.refund_minor, sale_return.currency),
                      currency=sale_return.currency, created_at=sale_return.created_at,
                      decided_at=sale_return.decided_at)
