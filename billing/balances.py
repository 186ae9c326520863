"""Advertisers' balances: what an advertiser can read about its own money, and manual credits by
finance or admins (always with a reason, always audited)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import ledger
from billing.ledger import Entry
from billing.models import ADVERTISER_CASH, MANUAL_ADJUSTMENTS, LedgerAccount
from billing.schemas import BalanceView, CreditCreate, CreditView
from leadmarket import audit
from leadmarket.db import transaction
from leadmarket.errors import FieldError, InvalidInput, NotFound
from leadmarket.idempotency import check_key
from leadmarket.identity import Principal
from leadmarket.money import from_minor, to_minor
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
