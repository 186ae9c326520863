"""Celery tasks of billing: thin callers of the services."""

from __future__ import annotations

from typing import Any

from billing import reconcile
from leadmarket.celery_app import celery_app
from leadmarket.db import session_scope


@celery_app.task(name="billing.reconcile_balances", acks_late=True)
def reconcile_balances() -> dict[str, Any]:
    """Check every cached balance against its entries; mismatches are logged and returned."""
    with session_scope() as session:
        return reconcile.reconcile_balances(session).as_dict()
