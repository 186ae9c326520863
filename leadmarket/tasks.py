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


@celery_app.task(name="leadmarket.run_job", acks_late=True)
def run_job(job_id: int) -> None:
    from leadmarket import jobs

    with session_scope() as session:
        jobs.run_job(session, job_id)


@celery_app.task(name="leadmarket.ensure_partitions", acks_late=True)
def ensure_partitions() -> list[str]:
    from leadmarket import partitions
    from leadmarket.db import shared_engine
    from leadmarket.settings import current_settings

    with shared_engine(current_settings().database_url).begin() as connection:
        return partitions.ensure_partitions(connection)


@celery_app.task(name="leadmarket.purge_job_results", acks_late=True)
def purge_job_results() -> int:
    from leadmarket import jobs

    with session_scope() as session:
        return jobs.purge_results(session, utcnow() - jobs.RESULT_RETENTION)


@celery_app.task(name="leadmarket.requeue_stale_jobs", acks_late=True)
def requeue_stale_jobs() -> int:
    from leadmarket import jobs

    with session_scope() as session:
        return jobs.requeue_stale(session, utcnow() - timedelta(minutes=2))
