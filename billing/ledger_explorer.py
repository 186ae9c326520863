"""Reading the ledger account by account, as finance explores it: accounts with their owners and
balances, and one account's entries page by page (read only: only ledger.post writes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from affiliates.models import Affiliate
from billing.models import LedgerAccount, LedgerEntry, LedgerTransaction
from leadmarket.errors import NotFound
from leadmarket.money import from_minor
from leadmarket.paging import Page, PageRequest, paginate
from marketplace.models import Advertiser

_OWNER_NAME = func.coalesce(Advertiser.name, Affiliate.name, "platform")
ACCOUNT_SORT_COLUMNS = {"id": LedgerAccount.id, "kind": LedgerAccount.kind, "currency": LedgerAccount.currency,
                        "balance": LedgerAccount.balance_minor, "owner": _OWNER_NAME}
ENTRY_SORT_COLUMNS = {"id": LedgerEntry.id, "amount": LedgerEntry.amount_minor, "time": LedgerTransaction.created_at}


@dataclass(frozen=True)
class AccountRow:
    id: int
    kind: str
    currency: str
    owner: str  # "advertiser", "affiliate" or "platform"
    owner_id: int | None
    owner_name: str
    balance: Decimal  # the cached balance, kept equal to the entries' sum by ledger.post


@dataclass(frozen=True)
class EntryRow:
    entry_id: int
    transaction_id: int
    idempotency_key: str
    kind: str
    reference: str | None
    memo: str | None
    created_at: datetime
    created_by: str
    amount: Decimal
    currency: str


def _accounts_query() -> Any:
    return (select(LedgerAccount, _OWNER_NAME.label("owner_name"))
            .outerjoin(Advertiser, Advertiser.id == LedgerAccount.advertiser_id)
            .outerjoin(Affiliate, Affiliate.id == LedgerAccount.affiliate_id))


def _account_row(account: LedgerAccount, owner_name: str) -> AccountRow:
    owner, owner_id = (("advertiser", account.advertiser_id) if account.advertiser_id is not None else
                       ("affiliate", account.affiliate_id) if account.affiliate_id is not None else ("platform", None))
    return AccountRow(id=account.id, kind=account.kind, currency=account.currency, owner=owner, owner_id=owner_id,
                      owner_name=owner_name, balance=from_minor(account.balance_minor, account.currency))


def accounts_page(session: Session, request: PageRequest, *, kind: str | None = None,
                  currency: str | None = None) -> Page[AccountRow]:
    query = _accounts_query()
    if kind:
        query = query.where(LedgerAccount.kind == kind)
    if currency:
        query = query.where(LedgerAccount.currency == currency)
    found = paginate(session, query, request, ACCOUNT_SORT_COLUMNS, "kind", scalars=False)
    return Page(items=[_account_row(account, name) for account, name in found.items], request=found.request,
                total=found.total)


def account_kinds(session: Session) -> list[str]:
    return list(session.execute(select(LedgerAccount.kind).distinct().order_by(LedgerAccount.kind)).scalars())


def get_account(session: Session, account_id: int) -> AccountRow:
    row = session.execute(_accounts_query().where(LedgerAccount.id == account_id)).one_or_none()
    if row is None:
        raise NotFound(f"ledger account {account_id} not found")
    return _account_row(row[0], row[1])


def entries_page(session: Session, account_id: int, request: PageRequest) -> Page[EntryRow]:
    """One account's entries with their transactions, newest first by default."""
    get_account(session, account_id)
    query = (select(LedgerEntry, LedgerTransaction)
             .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
             .where(LedgerEntry.account_id == account_id))
    found = paginate(session, query, request, ENTRY_SORT_COLUMNS, "id", scalars=False)
    return Page(items=[EntryRow(entry_id=entry.id, transaction_id=posted.id, idempotency_key=posted.idempotency_key,
                                kind=posted.kind, reference=posted.reference, memo=posted.memo,
                                created_at=posted.created_at, created_by=posted.created_by,
                                amount=from_minor(entry.amount_minor, entry.currency), currency=entry.currency)
                       for entry, posted in found.items], request=found.request, total=found.total)
