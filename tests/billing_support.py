"""Helpers for the billing tests: advertisers made through the admin API, money moved through the
real services, and the ledger's invariants checked the way finance would."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billing import ledger
from billing.balances import credit_advertiser
from billing.models import ADVERTISER_CASH, LedgerAccount
from billing.reconcile import reconcile_balances
from billing.schemas import CreditCreate
from leadmarket.identity import Principal, Role
from tests.support import created

FINANCE = Principal(role=Role.FINANCE, api_key_id=None, name="test finance")


def make_advertiser(client: TestClient, admin_headers: dict[str, str], name: str, *, billing_mode: str = "prepaid",
                    credit_limit: str = "0.00", currency: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "email": f"{name.lower().replace(' ', '.')}@buyers.example",
                            "billing_mode": billing_mode, "credit_limit": credit_limit}
    if currency:
        body["currency"] = currency
    return created(client.post("/api/v1/advertisers", headers=admin_headers, json=body))


def fund(db: sessionmaker[Session], advertiser_id: int, amount: str) -> None:
    with db() as session:
        credit_advertiser(session, FINANCE, advertiser_id, CreditCreate(amount=Decimal(amount), note="test funds"))


def cash_minor(db: sessionmaker[Session], advertiser_id: int) -> int:
    """The advertiser's cached cash balance (0 before the account exists)."""
    with db() as session:
        found = session.execute(select(LedgerAccount.balance_minor).where(
            LedgerAccount.kind == ADVERTISER_CASH, LedgerAccount.advertiser_id == advertiser_id)).scalar_one_or_none()
    return found or 0


def balances_by_kind(db: sessionmaker[Session], currency: str = "USD") -> dict[tuple[str, int | None], int]:
    """(kind, owner id) -> balance summed from entries, as the trial balance lists it."""
    with db() as session:
        view = ledger.trial_balance(session)
    return {(a.kind, a.advertiser_id or a.affiliate_id): int(a.balance.scaleb(2)) for a in view.accounts
            if a.currency == currency}


def assert_ledger_consistent(db: sessionmaker[Session]) -> None:
    """The trial balance is zero per currency and every cached balance equals its entries."""
    with db() as session:
        trial = ledger.trial_balance(session)
        report = reconcile_balances(session)
    assert trial.balanced and all(total.total == 0 for total in trial.totals), trial.totals
    assert report.ok, report.as_dict()
