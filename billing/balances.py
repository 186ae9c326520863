"""Advertisers' balances: what an advertiser can read about its own money, and manual credits by
finance or admins (always with a reason, always audited)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import msgspec
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from billing import ledger
from billing.ledger import Entry
from billing.models import ADVERTISER_CASH, MANUAL_ADJUSTMENTS, LedgerAccount, LedgerEntry, LedgerTransaction
from billing.schemas import BalanceView, CreditCreate, CreditView
from leadmarket import audit
from leadmarket.db import transaction
from leadmarket.errors import FieldError, InvalidInput, NotFound
from leadmarket.idempotency import check_key
from leadmarket.identity import Principal
from leadmarket.money import from_minor, to_minor
from leadmarket.paging import Page, PageRequest, paginate
from marketplace.models import Advertiser

MAX_NOTE_LENGTH = 500


def advertiser_balance(session: Session, principal: Principal) -> BalanceView:
    """The calling advertiser's own balance; nobody reads another's through this."""
    advertiser = session.get(Advertiser, principal.advertiser_id) if principal.advertiser_id is not None else None
    if advertiser is None:
        raise NotFound("advertiser not found")
    balance_minor = session.execute(
        select(LedgerAccount.balance_minor).where(LedgerAccount.kind == ADVERTISER_CASH,
                                                  LedgerAccount.advertiser_id == advertiser.id,
                                                  LedgerAccount.currency == advertiser.currency)
    ).scalar_one_or_none() or 0
    available = balance_minor + advertiser.credit_limit_minor if advertiser.billing_mode == "prepaid" else None
    return BalanceView(advertiser_id=advertiser.id, billing_mode=advertiser.billing_mode, currency=advertiser.currency,
                       balance=from_minor(balance_minor, advertiser.currency),
                       credit_limit=from_minor(advertiser.credit_limit_minor, advertiser.currency),
                       available=None if available is None else from_minor(available, advertiser.currency))


class CashEntryView(msgspec.Struct):
    """One movement of an advertiser's cash: positive adds to the balance (top-ups, credits,
    refunds), negative takes from it (purchases)."""

    entry_id: int
    transaction_id: int
    kind: str  # sale, topup, manual_credit, reversal, ...
    reference: str | None
    memo: str | None
    amount: Decimal
    currency: str
    created_at: datetime


CASH_ENTRY_SORTS = {"created_at": LedgerEntry.id, "amount": LedgerEntry.amount_minor, "kind": LedgerTransaction.kind}


def advertiser_transactions(session: Session, principal: Principal, request: PageRequest) -> Page[CashEntryView]:
    """The calling advertiser's own ledger entries (their cash account), newest first by default."""
    if principal.advertiser_id is None:
        raise NotFound("advertiser not found")
    query = (select(LedgerEntry.id, LedgerEntry.transaction_id, LedgerEntry.amount_minor, LedgerEntry.currency,
                    LedgerTransaction.kind, LedgerTransaction.reference, LedgerTransaction.memo,
                    LedgerTransaction.created_at)
             .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
             .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
             .where(LedgerAccount.kind == ADVERTISER_CASH, LedgerAccount.advertiser_id == principal.advertiser_id))
    rows = paginate(session, query, request, CASH_ENTRY_SORTS, "created_at", scalars=False)
    return Page(items=[CashEntryView(entry_id=r.id, transaction_id=r.transaction_id, kind=r.kind,
                                     reference=r.reference, memo=r.memo,
                                     amount=from_minor(r.amount_minor, r.currency), currency=r.currency,
                                     created_at=r.created_at) for r in rows.items],
                request=rows.request, total=rows.total)


def credit_advertiser(session: Session, principal: Principal, advertiser_id: int, data: CreditCreate, *,
                      idempotency_key: str | None = None) -> CreditView:
    """Add money to an advertiser's balance by hand. The note says why; the credit, its ledger
    transaction and the audit row commit together. A retry with the same Idempotency-Key credits once."""
    if idempotency_key is not None:
        check_key(idempotency_key)
    advertiser = session.get(Advertiser, advertiser_id)
    if advertiser is None:
        raise NotFound(f"advertiser {advertiser_id} not found")
    amount_minor, note = _check_credit(data, advertiser.currency)
    key = (f"credit:{principal.scope}:{idempotency_key}" if idempotency_key is not None
           else f"credit:{uuid.uuid4().hex}")
    with transaction(session):
        cash = ledger.account(session, ADVERTISER_CASH, advertiser.currency, advertiser_id=advertiser.id)
        source = ledger.account(session, MANUAL_ADJUSTMENTS, advertiser.currency)
        posted = ledger.post(session, key, [Entry(source.id, -amount_minor, advertiser.currency),
                                            Entry(cash.id, amount_minor, advertiser.currency)],
                             kind="manual_credit", reference=f"advertiser:{advertiser.id}", memo=note,
                             created_by=audit.actor_label(principal))
        if not posted.replayed:
            audit.record(session, principal, "advertiser.credit", "advertiser", advertiser.id,
                         {"amount": str(from_minor(amount_minor, advertiser.currency)), "currency": advertiser.currency,
                          "note": note, "ledger_transaction_id": posted.transaction.id})
        session.refresh(cash)
        balance_minor = cash.balance_minor
    return CreditView(transaction_id=posted.transaction.id, advertiser_id=advertiser.id,
                      amount=from_minor(amount_minor, advertiser.currency), currency=advertiser.currency,
                      note=posted.transaction.memo or note, balance=from_minor(balance_minor, advertiser.currency))


def _check_credit(data: CreditCreate, currency: str) -> tuple[int, str]:
    errors: list[FieldError] = []
    amount_minor = 0
    if data.amount is None:
        errors.append(FieldError("amount", "is required"))
    elif data.amount <= Decimal(0):
        errors.append(FieldError("amount", "must be more than zero"))
    else:
        try:
            amount_minor = to_minor(data.amount, currency, field="amount")
        except InvalidInput as exc:
            errors += exc.errors
    note = (data.note or "").strip()
    if not note:
        errors.append(FieldError("note", "is required: say why this credit is given"))
    elif len(note) > MAX_NOTE_LENGTH or "\x00" in note:
        errors.append(FieldError("note", f"must be at most {MAX_NOTE_LENGTH} characters of text"))
    if errors:
        raise InvalidInput(errors)
    return amount_minor, note


# --- every advertiser's balance, for finance ------------------------------------------------------

@dataclass(frozen=True)
class AdvertiserBalanceRow:
    advertiser_id: int
    name: str
    status: str
    billing_mode: str
    currency: str
    balance: Decimal
    credit_limit: Decimal
    available: Decimal | None  # balance + credit limit when prepaid; invoiced advertisers have no floor


_BALANCE_MINOR = func.coalesce(LedgerAccount.balance_minor, 0)
BALANCE_SORT_COLUMNS = {"id": Advertiser.id, "name": Advertiser.name, "billing_mode": Advertiser.billing_mode,
                        "balance": _BALANCE_MINOR, "credit_limit": Advertiser.credit_limit_minor}


def _balances_query():  # noqa: ANN202 - a select
    return (select(Advertiser, _BALANCE_MINOR.label("balance_minor"))
            .outerjoin(LedgerAccount, and_(LedgerAccount.kind == ADVERTISER_CASH,
                                           LedgerAccount.advertiser_id == Advertiser.id,
                                           LedgerAccount.currency == Advertiser.currency)))


def _balance_row(advertiser: Advertiser, balance_minor: int) -> AdvertiserBalanceRow:
    available = balance_minor + advertiser.credit_limit_minor if advertiser.billing_mode == "prepaid" else None
    return AdvertiserBalanceRow(advertiser_id=advertiser.id, name=advertiser.name, status=advertiser.status,
                                billing_mode=advertiser.billing_mode, currency=advertiser.currency,
                                balance=from_minor(int(balance_minor), advertiser.currency),
                                credit_limit=from_minor(advertiser.credit_limit_minor, advertiser.currency),
                                available=None if available is None else from_minor(int(available),
                                                                                     advertiser.currency))


def advertiser_balances_page(session: Session, request: PageRequest) -> Page[AdvertiserBalanceRow]:
    """Every advertiser's balance in its billing currency, with credit limit and billing mode."""
    found = paginate(session, _balances_query(), request, BALANCE_SORT_COLUMNS, "name", scalars=False)
    return Page(items=[_balance_row(advertiser, balance) for advertiser, balance in found.items],
                request=found.request, total=found.total)


def advertiser_balance_row(session: Session, advertiser_id: int) -> AdvertiserBalanceRow:
    row = session.execute(_balances_query().where(Advertiser.id == advertiser_id)).one_or_none()
    if row is None:
        raise NotFound(f"advertiser {advertiser_id} not found")
    return _balance_row(row[0], row[1])
