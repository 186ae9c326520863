"""Affiliate payouts after the draft (see payout_runs): finance's review (approve, hold, reject;
two different approvers above a threshold), admins' fraud holds, paying by Stripe Connect or a
bank batch, and the one ledger posting (`payout:<id>`) that moves a paid payout out of payable.

No read-then-write decides a state: each step is a conditional UPDATE on the payout's status (the
row is locked first where a count of approvals must see a concurrent approver's row).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, false, func, or_, select, update
from sqlalchemy.orm import Session

from affiliates.models import Affiliate
from billing import ledger, stripe_gateway
from billing.errors import PaymentProviderFailed
from billing.ledger import Entry
from billing.models import AFFILIATE_PAYABLE, PAYOUTS_CLEARING, PLATFORM_REVENUE, STRIPE_CLEARING
from billing.payout_errors import AlreadyApproved, NoStripeAccount, PayoutStateConflict
from billing.payout_models import Payout, PayoutApproval, PayoutEntry
from billing.payout_schemas import PayoutNote, PayoutPage, PayoutPay, PayoutView, StripeAccountSet, StripeAccountView
from leadmarket import audit
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.paging import limit_offset_errors
from leadmarket.errors import FieldError, InvalidInput, NotFound
from leadmarket.identity import STAFF_ROLES, Principal
from leadmarket.money import from_minor
from leadmarket.settings import current_settings
from leadmarket.upsert import insert_ignoring_conflict

MAX_NOTE_LENGTH = 500
MAX_PAGE = 200
STATUSES = ("draft", "held", "approved", "paying", "paid", "rejected", "forfeited")
_STRIPE_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]{1,200}$")


# --- reading ----------------------------------------------------------------------------------

def payouts_visible_to(principal: Principal) -> Any:
    """The one scoping query: staff see every payout, an affiliate only its own, others none."""
    query = select(Payout)
    if principal.role in STAFF_ROLES:
        return query
    if principal.affiliate_id is not None:
        return query.where(Payout.affiliate_id == principal.affiliate_id)
    return query.where(false())


def list_payouts(session: Session, principal: Principal, *, status: str | None = None,
                 affiliate_id: int | None = None, limit: int = 50, offset: int = 0) -> PayoutPage:
    errors = []
    if status is not None and status not in STATUSES:
        errors.append(FieldError("status", f"must be one of {', '.join(STATUSES)}"))
    errors += limit_offset_errors(limit, offset, MAX_PAGE)
    if errors:
        raise InvalidInput(errors)
    query = payouts_visible_to(principal)
    if status is not None:
        query = query.where(Payout.status == status)
    if affiliate_id is not None:
        query = query.where(Payout.affiliate_id == affiliate_id)
    payouts = session.execute(query.order_by(Payout.id.desc()).limit(limit + 1).offset(offset)
                              .execution_options(populate_existing=True)).scalars().all()
    more = len(payouts) > limit
    return PayoutPage(payouts=payout_views(session, payouts[:limit]), next_offset=offset + limit if more else None)


def get_payout(session: Session, principal: Principal, payout_id: int) -> PayoutView:
    payout = session.execute(payouts_visible_to(principal).where(Payout.id == payout_id)
                             .execution_options(populate_existing=True)).scalar_one_or_none()
    if payout is None:
        raise NotFound(f"payout {payout_id} not found")
    return payout_views(session, [payout])[0]


def payout_views(session: Session, payouts: Iterable[Payout]) -> list[PayoutView]:
    payouts = list(payouts)
    counts = dict(session.execute(select(PayoutApproval.payout_id, func.count()).where(
        PayoutApproval.payout_id.in_([p.id for p in payouts])).group_by(PayoutApproval.payout_id)).all()
                  ) if payouts else {}
    return [PayoutView(id=p.id, affiliate_id=p.affiliate_id, currency=p.currency,
                       amount=from_minor(p.amount_minor, p.currency), period_start=p.period_start,
                       period_end=p.period_end, cutoff_at=p.cutoff_at, entry_count=p.entry_count, status=p.status,
                       approvals_needed=p.approvals_needed, approvals=int(counts.get(p.id, 0)),
                       hold_kind=p.hold_kind, hold_note=p.hold_note, method=p.method,
                       paid_reference=p.paid_reference, paid_at=p.paid_at, created_at=p.created_at)
            for p in payouts]


# --- review -----------------------------------------------------------------------------------

def approve_payout(session: Session, principal: Principal, payout_id: int) -> PayoutView:
    """Record this finance user's approval; the payout is approved when it has as many approvals,
    from different users, as it needs (two above the configured amount)."""
    with transaction(session):
        payout = _locked(session, payout_id)  # a concurrent second approver counts after this one
        if not (payout.status == "draft" or (payout.status == "held" and payout.hold_kind == "finance")):
            raise PayoutStateConflict(payout.id, "approved", _status_words(payout))
        if insert_ignoring_conflict(session, PayoutApproval, {"payout_id": payout.id, "approver": principal.scope,
                                                              "approved_at": utcnow()},
                                    conflict_columns=["payout_id", "approver"], returning=PayoutApproval.id) is None:
            raise AlreadyApproved(payout.id)
        count = session.execute(select(func.count()).where(PayoutApproval.payout_id == payout.id)).scalar_one()
        approved = count >= payout.approvals_needed
        if approved:
            _move(session, payout, "approved", ("draft", "held"), hold_kind=None, hold_note=None)
        audit.record(session, principal, "payout.approve", "payout", payout.id,
                     {"approval": count, "approvals_needed": payout.approvals_needed, "approved": approved})
    return get_payout(session, principal, payout_id)


def hold_payout(session: Session, principal: Principal, payout_id: int, data: PayoutNote) -> PayoutView:
    """Stop a draft or approved payout, saying why; earlier approvals no longer count."""
    note = _note(data, required=True)
    with transaction(session):
        payout = _locked(session, payout_id)
        if payout.status not in ("draft", "approved"):
            raise PayoutStateConflict(payout.id, "held", _status_words(payout))
        _move(session, payout, "held", ("draft", "approved"), hold_kind="finance", hold_note=note)
        session.execute(delete(PayoutApproval).where(PayoutApproval.payout_id == payout.id))
        audit.record(session, principal, "payout.hold", "payout", payout.id, {"note": note})
    return get_payout(session, principal, payout_id)


def reject_payout(session: Session, principal: Principal, payout_id: int, data: PayoutNote) -> PayoutView:
    """Refuse a draft or finance-held payout: its entries are released and carry into a later run."""
    note = _note(data, required=False)
    with transaction(session):
        payout = _locked(session, payout_id)
        if not (payout.status == "draft" or (payout.status == "held" and payout.hold_kind == "finance")):
            raise PayoutStateConflict(payout.id, "rejected", _status_words(payout))
        _move(session, payout, "rejected", ("draft", "held"))
        session.execute(update(PayoutEntry).where(PayoutEntry.payout_id == payout.id).values(released=True))
        audit.record(session, principal, "payout.reject", "payout", payout.id, {"note": note})
    return get_payout(session, principal, payout_id)


def _locked(session: Session, payout_id: int) -> Payout:
    payout = session.execute(select(Payout).where(Payout.id == payout_id).with_for_update()
                             .execution_options(populate_existing=True)).scalar_one_or_none()
    if payout is None:
        raise NotFound(f"payout {payout_id} not found")
    return payout


def _move(session: Session, payout: Payout, status: str, from_statuses: tuple[str, ...], **values: Any) -> None:
    """The state change as one conditional UPDATE; a payout that moved meanwhile is a conflict."""
    moved = session.execute(update(Payout).where(Payout.id == payout.id, Payout.status.in_(from_statuses))
                            .values(status=status, updated_at=utcnow(), **values).returning(Payout.id)
                            .execution_options(synchronize_session=False)).scalar_one_or_none()
    if moved is None:
        raise PayoutStateConflict(payout.id, status, payout.status)


def _status_words(payout: Payout) -> str:
    return "held for fraud review" if payout.status == "held" and payout.hold_kind == "fraud" else payout.status


def _note(data: PayoutNote, *, required: bool) -> str | None:
    note = (data.note or "").strip()
    if not note:
        if required:
            raise InvalidInput.one("note", "is required: say why")
        return None
    if len(note) > MAX_NOTE_LENGTH or not note.isprintable():
        raise InvalidInput.one("note", f"must be at most {MAX_NOTE_LENGTH} characters of text")
    return note


# --- fraud holds (admins) ---------------------------------------------------------------------

def clear_fraud_hold(session: Session, principal: Principal, payout_id: int, data: PayoutNote) -> PayoutView:
    """An admin found the flagged traffic honest: the payout goes back to draft for finance's review."""
    note = _note(data, required=False)
    with transaction(session):
        payout = _locked(session, payout_id)
        if not (payout.status == "held" and payout.hold_kind == "fraud"):
            raise PayoutStateConflict(payout.id, "cleared of a fraud hold", payout.status)
        _move(session, payout, "draft", ("held",), hold_kind=None, hold_note=None)
        audit.record(session, principal, "payout.fraud_clear", "payout", payout.id,
                     {"note": note, "hold_note": payout.hold_note})
    return get_payout(session, principal, payout_id)


def forfeit_payout(session: Session, principal: Principal, payout_id: int, data: PayoutNote) -> PayoutView:
    """An admin found the flagged traffic fraudulent: the commission leaves the affiliate's payable
    for platform revenue (once, key `payout-forfeit:<id>`), and the payout's entries stay covered."""
    note = _note(data, required=True)
    with transaction(session):
        payout = _locked(session, payout_id)
        if not (payout.status == "held" and payout.hold_kind == "fraud"):
            raise PayoutStateConflict(payout.id, "forfeited", payout.status)
        _move(session, payout, "forfeited", ("held",))
        payable = ledger.account(session, AFFILIATE_PAYABLE, payout.currency, affiliate_id=payout.affiliate_id)
        revenue = ledger.account(session, PLATFORM_REVENUE, payout.currency)
        posted = ledger.post(session, f"payout-forfeit:{payout.id}",
                             [Entry(payable.id, -payout.amount_minor, payout.currency),
                              Entry(revenue.id, payout.amount_minor, payout.currency)],
                             kind="payout_forfeit", reference=f"payout:{payout.id}", memo=note,
                             created_by=audit.actor_label(principal))
        session.execute(update(Payout).where(Payout.id == payout.id)
                        .values(ledger_transaction_id=posted.transaction.id)
                        .execution_options(synchronize_session=False))
        audit.record(session, principal, "payout.forfeit", "payout", payout.id,
                     {"note": note, "amount": str(from_minor(payout.amount_minor, payout.currency)),
                      "currency": payout.currency, "ledger_transaction_id": posted.transaction.id})
    return get_payout(session, principal, payout_id)


# --- paying -----------------------------------------------------------------------------------

def pay_payout(session: Session, principal: Principal, payout_id: int, data: PayoutPay) -> PayoutView:
    """Pay an approved payout once: `stripe` (a Connect transfer) or `bank` (marked paid with the
    batch reference of the CSV export). A second pay of a paid payout is a conflict."""
    errors = []
    if data.method not in ("stripe", "bank"):
        errors.append(FieldError("method", "must be stripe or bank"))
    reference = (data.reference or "").strip()
    if data.method == "bank" and not reference:
        errors.append(FieldError("reference", "is required for bank: the batch reference of the export"))
    elif len(reference) > 255 or not reference.isprintable():
        errors.append(FieldError("reference", "must be at most 255 characters of text"))
    if errors:
        raise InvalidInput(errors)
    if data.method == "bank":
        return _pay_by_bank(session, principal, payout_id, reference)
    return _pay_by_stripe(session, principal, payout_id)


def _pay_by_bank(session: Session, principal: Principal, payout_id: int, reference: str) -> PayoutView:
    with transaction(session):
        now = utcnow()
        paid = session.execute(update(Payout).where(Payout.id == payout_id, Payout.status == "approved").values(
            status="paid", method="bank", paid_reference=reference, paid_at=now, updated_at=now)
            .returning(Payout.id).execution_options(synchronize_session=False)).scalar_one_or_none()
        if paid is None:
            _refuse(session, payout_id, "paid")
        payout = _locked(session, payout_id)
        _post_payment(session, principal, payout, PAYOUTS_CLEARING)
        audit.record(session, principal, "payout.pay", "payout", payout.id,
                     {"method": "bank", "reference": reference, "amount": str(from_minor(payout.amount_minor,
                                                                                      payout.currency)),
                      "currency": payout.currency})
    return get_payout(session, principal, payout_id)


def _pay_by_stripe(session: Session, principal: Principal, payout_id: int) -> PayoutView:
    settings = current_settings()
    stripe_gateway.client(settings)  # refuse before claiming when payments are not configured
    with transaction(session):
        payout = session.get(Payout, payout_id, populate_existing=True)
        if payout is None:
            raise NotFound(f"payout {payout_id} not found")
        destination = session.execute(select(Affiliate.stripe_account_id).where(
            Affiliate.id == payout.affiliate_id)).scalar_one_or_none()
        if not destination:
            raise NoStripeAccount(payout.affiliate_id)
        # `paying` survives a failed call; paying again sends the same idempotency key, so Stripe
        # answers with the first transfer instead of making a second.
        claimed = session.execute(update(Payout).where(
            Payout.id == payout_id,
            or_(Payout.status == "approved", (Payout.status == "paying") & (Payout.method == "stripe")))
            .values(status="paying", method="stripe", updated_at=utcnow()).returning(Payout.id)
            .execution_options(synchronize_session=False)).scalar_one_or_none()
        if claimed is None:
            _refuse(session, payout_id, "paid")
        audit.record(session, principal, "payout.pay_started", "payout", payout_id,
                     {"method": "stripe", "destination": destination})
    transfer = stripe_gateway.create_payout_transfer(settings, payout_id=payout.id, amount_minor=payout.amount_minor,
                                                     currency=payout.currency, destination=destination)
    if transfer.amount_minor != payout.amount_minor or transfer.currency != payout.currency:
        raise PaymentProviderFailed()
    with transaction(session):
        now = utcnow()
        paid = session.execute(update(Payout).where(Payout.id == payout_id, Payout.status == "paying").values(
            status="paid", paid_reference=transfer.id, paid_at=now, updated_at=now)
            .returning(Payout.id).execution_options(synchronize_session=False)).scalar_one_or_none()
        if paid is None:
            _refuse(session, payout_id, "paid")  # a concurrent retry finished it
        payout = _locked(session, payout_id)
        _post_payment(session, principal, payout, STRIPE_CLEARING)
        audit.record(session, principal, "payout.pay", "payout", payout_id,
                     {"method": "stripe", "transfer_id": transfer.id, "destination": destination,
                      "amount": str(from_minor(payout.amount_minor, payout.currency)), "currency": payout.currency})
    return get_payout(session, principal, payout_id)


def _refuse(session: Session, payout_id: int, action: str) -> None:
    status = session.execute(select(Payout.status, Payout.hold_kind).where(Payout.id == payout_id)).one_or_none()
    if status is None:
        raise NotFound(f"payout {payout_id} not found")
    words = "held for fraud review" if status.status == "held" and status.hold_kind == "fraud" else status.status
    raise PayoutStateConflict(payout_id, action, words)


def _post_payment(session: Session, principal: Principal, payout: Payout, clearing_kind: str) -> None:
    """Move the payout out of the affiliate's payable, once (the key is the payout's)."""
    payable = ledger.account(session, AFFILIATE_PAYABLE, payout.currency, affiliate_id=payout.affiliate_id)
    clearing = ledger.account(session, clearing_kind, payout.currency)
    posted = ledger.post(session, f"payout:{payout.id}",
                         [Entry(payable.id, -payout.amount_minor, payout.currency),
                          Entry(clearing.id, payout.amount_minor, payout.currency)],
                         kind="payout", reference=f"payout:{payout.id}", memo=payout.paid_reference,
                         created_by=audit.actor_label(principal))
    session.execute(update(Payout).where(Payout.id == payout.id).values(ledger_transaction_id=posted.transaction.id)
                    .execution_options(synchronize_session=False))


# --- the bank batch ---------------------------------------------------------------------------

CSV_COLUMNS = ["payout_id", "affiliate_id", "affiliate_name", "currency", "amount", "period_start", "period_end",
               "payment_reference", "batch_reference"]


def export_csv(session: Session, principal: Principal, *, status: str = "approved") -> tuple[str, str]:
    """The CSV batch for the bank, and its batch reference (derived from the payouts it lists, so
    exporting the same payouts again gives the same reference). Audited."""
    if status not in STATUSES:
        raise InvalidInput.one("status", f"must be one of {', '.join(STATUSES)}")
    rows = session.execute(select(Payout, Affiliate.name).join(Affiliate, Affiliate.id == Payout.affiliate_id)
                           .where(Payout.status == status).order_by(Payout.id)).all()
    ids = [payout.id for payout, _ in rows]
    batch = "LMB-" + hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:12].upper()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for payout, name in rows:
        writer.writerow([payout.id, payout.affiliate_id, _csv_safe(name), payout.currency,
                         str(from_minor(payout.amount_minor, payout.currency)), payout.period_start.isoformat(),
                         payout.period_end.isoformat(), stripe_gateway.payout_transfer_key(payout.id), batch])
    with transaction(session):
        audit.record(session, principal, "payout.export", "payout_batch", batch,
                     {"status": status, "payout_ids": ids, "count": len(ids)})
    return out.getvalue(), batch


def _csv_safe(text: str) -> str:
    """A spreadsheet must not run a name as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- the affiliate's Stripe account -----------------------------------------------------------

def set_stripe_account(session: Session, principal: Principal, affiliate_id: int,
                       data: StripeAccountSet) -> StripeAccountView:
    account_id = (data.stripe_account_id or "").strip() or None
    if account_id is not None and not _STRIPE_ACCOUNT.match(account_id):
        raise InvalidInput.one("stripe_account_id", "must be a Stripe account id like acct_1A2b3C")
    with transaction(session):
        changed = session.execute(update(Affiliate).where(Affiliate.id == affiliate_id)
                                  .values(stripe_account_id=account_id).returning(Affiliate.id)
                                  .execution_options(synchronize_session=False)).scalar_one_or_none()
        if changed is None:
            raise NotFound(f"affiliate {affiliate_id} not found")
        audit.record(session, principal, "affiliate.stripe_account", "affiliate", affiliate_id,
                     {"stripe_account_id": account_id})
    return StripeAccountView(affiliate_id=affiliate_id, stripe_account_id=account_id)
