"""The double-entry ledger: accounts, `post` (the only writer of entries), balances, the trial balance.

`post` adds to the caller's transaction and never commits. On PostgreSQL the database holds the
ledger to its rules whatever the code does: a deferred constraint trigger refuses a COMMIT whose
transactions do not sum to zero per currency, and entries cannot be updated or deleted (see
migration 0005). SQLite, the embedded default, has only the checks made here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session

from billing.errors import InsufficientFunds, LedgerKeyReused, UnbalancedTransaction
from billing.models import LedgerAccount, LedgerEntry, LedgerTransaction
from billing.schemas import AccountBalanceView, CurrencyTotalView, TrialBalanceView
from leadmarket.clock import utcnow
from leadmarket.money import MINOR_DIGITS, from_minor
from leadmarket.upsert import _insert_for, insert_ignoring_conflict
from marketplace.models import Advertiser


@dataclass(frozen=True)
class Entry:
    """One line of a transaction: `amount_minor` is added to the account's balance."""

    account_id: int
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class Posted:
    transaction: LedgerTransaction
    replayed: bool  # the key was posted before: nothing new was written


def account(session: Session, kind: str, currency: str, *, advertiser_id: int | None = None,
            affiliate_id: int | None = None) -> LedgerAccount:
    """The account of this kind, owner and currency, opened on first use (safe under races)."""
    query = select(LedgerAccount).where(LedgerAccount.kind == kind, LedgerAccount.currency == currency,
                                        LedgerAccount.advertiser_id == advertiser_id,
                                        LedgerAccount.affiliate_id == affiliate_id)
    found = session.execute(query).scalar_one_or_none()
    if found is not None:
        return found
    # No conflict target: the three partial unique indexes (advertiser, affiliate, platform) each
    # cover one kind of owner, and whichever one a twin's row hits makes this insert a no-op.
    session.execute(_insert_for(session, LedgerAccount).values(
        kind=kind, currency=currency, advertiser_id=advertiser_id, affiliate_id=affiliate_id, balance_minor=0,
        created_at=utcnow()).on_conflict_do_nothing())
    return session.execute(query).scalar_one()


def post(session: Session, key: str, entries: Iterable[Entry], *, kind: str, reference: str | None = None,
         memo: str | None = None, created_by: str = "system") -> Posted:
    """Write one transaction whose entries sum to zero per currency, once per `key`.

    Posting a key again returns the first transaction (`replayed`); the same key with other
    entries raises LedgerKeyReused. A debit that would take a prepaid advertiser's cash below
    minus their credit limit raises InsufficientFunds. Either error leaves the caller's
    transaction as it was before the call (a savepoint), so a caller may try another buyer.
    """
    entries = list(entries)
    _check_balanced(entries)
    with _savepoint(session):
        # A concurrent twin with the same key blocks here until it commits, then this is a no-op.
        transaction_id = insert_ignoring_conflict(
            session, LedgerTransaction,
            {"idempotency_key": key, "kind": kind, "reference": reference, "memo": memo,
             "created_at": utcnow(), "created_by": created_by},
            conflict_columns=["idempotency_key"], returning=LedgerTransaction.id)
        if transaction_id is None:
            return Posted(_replay(session, key, entries), replayed=True)
        _apply_to_balances(session, entries)
        session.execute(insert(LedgerEntry), [
            {"transaction_id": transaction_id, "account_id": e.account_id, "amount_minor": e.amount_minor,
             "currency": e.currency} for e in entries])
    return Posted(session.get_one(LedgerTransaction, transaction_id), replayed=False)


def _check_balanced(entries: list[Entry]) -> None:
    if not entries:
        raise UnbalancedTransaction("a transaction needs entries")
    totals: dict[str, int] = defaultdict(int)
    for entry in entries:
        if type(entry.amount_minor) is not int or entry.amount_minor == 0:
            raise UnbalancedTransaction(f"entry amounts are non-zero integers, not {entry.amount_minor!r}")
        if entry.currency not in MINOR_DIGITS:
            raise UnbalancedTransaction(f"unknown currency {entry.currency!r}")
        totals[entry.currency] += entry.amount_minor
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        raise UnbalancedTransaction(f"entries do not sum to zero: {unbalanced}")


def _replay(session: Session, key: str, entries: list[Entry]) -> LedgerTransaction:
    existing = session.execute(select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)).scalar_one()
    posted = session.execute(select(LedgerEntry.account_id, LedgerEntry.amount_minor, LedgerEntry.currency)
                             .where(LedgerEntry.transaction_id == existing.id)).all()
    if sorted(tuple(row) for row in posted) != sorted((e.account_id, e.amount_minor, e.currency) for e in entries):
        raise LedgerKeyReused(key)
    return existing


def _apply_to_balances(session: Session, entries: list[Entry]) -> None:
    """Move each account's cached balance by its net amount, with a conditional UPDATE per account.

    Rows are updated in one global order (owned accounts by id, then the platform's by id), so two
    postings never wait on each other in a cycle, and the busy platform rows are held shortest.
    The UPDATE's row lock is what makes a credit-limit check race-free: a concurrent charge to the
    same advertiser waits for this transaction, then re-checks its WHERE against the new balance.
    """
    net: dict[int, int] = defaultdict(int)
    currency_of: dict[int, str] = {}
    for entry in entries:
        net[entry.account_id] += entry.amount_minor
        if currency_of.setdefault(entry.account_id, entry.currency) != entry.currency:
            raise UnbalancedTransaction(f"account {entry.account_id} got entries in two currencies")
    # The floor is read here and compared in the UPDATE below as a plain value: a correlated
    # subquery in that WHERE would not be re-checked against the row version a concurrent charge
    # committed (PostgreSQL re-evaluates such joins with the rows it first saw).
    accounts = {row.id: row for row in session.execute(
        select(LedgerAccount.id, LedgerAccount.advertiser_id, LedgerAccount.affiliate_id, LedgerAccount.currency,
               _credit_floor().label("floor_minor"))
        .outerjoin(Advertiser, Advertiser.id == LedgerAccount.advertiser_id)
        .where(LedgerAccount.id.in_(net))).all()}
    for account_id in net:
        if account_id not in accounts or accounts[account_id].currency != currency_of[account_id]:
            raise UnbalancedTransaction(f"account {account_id} does not exist in {currency_of[account_id]}")

    def lock_order(account_id: int) -> tuple[bool, int]:
        row = accounts[account_id]
        return row.advertiser_id is None and row.affiliate_id is None, account_id

    for account_id in sorted(net, key=lock_order):
        delta, floor_minor = net[account_id], accounts[account_id].floor_minor
        if delta == 0:
            continue
        statement = (update(LedgerAccount).where(LedgerAccount.id == account_id)
                     .values(balance_minor=LedgerAccount.balance_minor + delta)
                     .returning(LedgerAccount.id).execution_options(synchronize_session="fetch"))
        if delta < 0 and floor_minor is not None:
            statement = statement.where(LedgerAccount.balance_minor + delta >= floor_minor)
        if session.execute(statement).scalar_one_or_none() is None:
            raise InsufficientFunds(accounts[account_id].advertiser_id)


def _credit_floor():  # noqa: ANN202 - a SQL expression
    """How low an account may go: minus the credit limit for a prepaid advertiser's cash (a limit
    counts only in the advertiser's own currency; elsewhere the floor is zero), else no floor."""
    limit = case((Advertiser.currency == LedgerAccount.currency, Advertiser.credit_limit_minor), else_=0)
    return case((Advertiser.billing_mode == "prepaid", -limit), else_=None)


@contextmanager
def _savepoint(session: Session) -> Iterator[None]:
    """A SAVEPOINT inside the caller's transaction (on SQLite too: leadmarket.db emits BEGIN)."""
    with session.begin_nested():
        yield


def entries_for(session: Session, reference: str) -> list[tuple[LedgerTransaction, LedgerEntry]]:
    """Every entry posted under `reference` (e.g. "sale:123"), oldest first."""
    return [(t, e) for t, e in session.execute(
        select(LedgerTransaction, LedgerEntry).join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerTransaction.reference == reference).order_by(LedgerTransaction.id, LedgerEntry.id)).all()]


def trial_balance(session: Session) -> TrialBalanceView:
    """Every account's balance summed from its entries (not the cached column), and per currency
    the total of all balances, which double entry keeps at zero."""
    summed = func.coalesce(func.sum(LedgerEntry.amount_minor), 0)
    rows = session.execute(
        select(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.advertiser_id, LedgerAccount.affiliate_id,
               LedgerAccount.currency, summed.label("balance_minor"))
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.id).order_by(LedgerAccount.currency, LedgerAccount.kind, LedgerAccount.id)).all()
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row.currency] += int(row.balance_minor)
    return TrialBalanceView(
        accounts=[AccountBalanceView(id=r.id, kind=r.kind, advertiser_id=r.advertiser_id, affiliate_id=r.affiliate_id,
                                     currency=r.currency, balance=from_minor(int(r.balance_minor), r.currency))
                  for r in rows],
        totals=[CurrencyTotalView(currency=c, total=from_minor(t, c)) for c, t in sorted(totals.items())],
        balanced=all(t == 0 for t in totals.values()))
