"""Celery tasks of billing: thin callers of the services."""

from __future__ import annotations

from typing import Any

from billing import invoices, reconcile
from leadmarket.celery_app import celery_app
from leadmarket.db import session_scope


@celery_app.task(name="billing.reconcile_balances", acks_late=True)
def reconcile_balances() -> dict[str, Any]:
    """Check every cached balance against its entries; mismatches are logged and returned."""
    with session_scope() as session:
        return reconcile.reconcile_balances(session).as_dict()


@celery_app.task(name="billing.issue_monthly_invoices", acks_late=True)
def issue_monthly_invoices() -> dict[str, Any]:
    """Last month's invoices for advertisers billed by invoice, once; a rerun issues only what an
    earlier run left unfinished (and raises while Stripe still refuses some, so the failure shows)."""
    with session_scope() as session:
        run = invoices.issue_last_month(session)
    return {"period": run.period, "created": run.created, "issued": run.issued, "failed": run.failed}
