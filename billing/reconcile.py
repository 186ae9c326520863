"""Proof that the cached balances tell the truth: each account's balance_minor against the sum of
its entries, and every currency's balances against zero."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.models import LedgerAccount, LedgerEntry

log = logging.getLogger("leadmarket.billing")


@dataclass(frozen=True)
class Mismatch:
    account_id: int
    kind: str
    currency: str
    cached_minor: int
    entries_minor: int


@dataclass
class Reconciliation:
    accounts_checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    # currency -> total of all balances, listed only when not zero
    unbalanced_currencies: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.unbalanced_currencies

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "accounts_checked": self.accounts_checked,
                "mismatches": [asdict(m) for m in self.mismatches],
                "unbalanced_currencies": dict(self.unbalanced_currencies)}


def reconcile_balances(session: Session) -> Reconciliation:
    """Compare in one statement, so the cached and summed sides come from one snapshot even while
    postings go on (a posting changes both sides in one transaction)."""
    entries_minor = func.coalesce(func.sum(LedgerEntry.amount_minor), 0)
    rows = session.execute(
        select(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.currency, LedgerAccount.balance_minor,
               entries_minor.label("entries_minor"))
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.id).order_by(LedgerAccount.id)).all()
    result = Reconciliation(accounts_checked=len(rows))
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, 0) + int(row.entries_minor)
        if int(row.balance_minor) != int(row.entries_minor):
            result.mismatches.append(Mismatch(row.id, row.kind, row.currency, int(row.balance_minor),
                                              int(row.entries_minor)))
    result.unbalanced_currencies = {currency: total for currency, total in totals.items() if total != 0}
    for mismatch in result.mismatches:
        log.error("ledger account %s (%s, %s): cached balance %s but entries sum to %s", mismatch.account_id,
                  mismatch.kind, mismatch.currency, mismatch.cached_minor, mismatch.entries_minor)
    for currency, total in result.unbalanced_currencies.items():
        log.error("ledger balances in %s sum to %s, not zero", currency, total)
    if result.ok:
        log.info("ledger reconciled: %s accounts, cached balances equal their entries", result.accounts_checked)
    return result
