"""Housekeeping tasks of the shared home."""

from __future__ import annotations

from datetime import timedelta

from leadmarket import idempotency
from leadmarket.celery_app import celery_app
from leadmarket.clock import utcnow
from leadmarket.db import session_scope

IDEMPOTENCY_RETENTION = timedelta(days=7)


@celery_app.task(name="leadmarket.purge_idempotency_records", acks_late=True)
def purge_idempotency_records() -> int:
    with session_scope() as session:
        return idempotency.purge_before(session, utcnow() - IDEMPOTENCY_RETENTION)
