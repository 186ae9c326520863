"""Celery tasks of the affiliate side: thin callers of the services."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from celery import Task

from affiliates import clicks, postbacks, rollups
from leadmarket.celery_app import celery_app, enqueue
from leadmarket.clock import utcnow
from leadmarket.db import session_scope
from leadmarket.redis_client import redis_client
from leadmarket.settings import current_settings

log = logging.getLogger("leadmarket.affiliates.tasks")


@celery_app.task(name="affiliates.flush_clicks", acks_late=True, ignore_result=True)
def flush_clicks() -> int:
    """Move clicks from the Redis stream into PostgreSQL; returns how many were new."""
    settings = current_settings()
    client = redis_client(settings)
    if client is None:
        return 0  # without Redis every click is written by the redirect itself
    with session_scope() as session:
        result = clicks.flush_stream(session, client, settings, consumer=clicks.consumer_name(),
                                     claim_idle_ms=int(settings.click_claim_idle_seconds * 1000))
    if result.reclaimed or result.malformed:
        log.info("click flush: %d read, %d new, %d reclaimed from stopped workers, %d malformed",
                 result.read, result.inserted, result.reclaimed, result.malformed)
    return result.inserted


@celery_app.task(name="affiliates.send_postback", bind=True, acks_late=True, ignore_result=True,
                 max_retries=postbacks.MAX_ATTEMPTS)
def send_postback(self: Task, postback_id: int) -> None:
    """Call an affiliate's postback URL; a failed call is logged and retried with backoff
    (1 s, 2 s, 4 s ... at most 15 min, jittered) until MAX_ATTEMPTS calls were made."""
    if self.request.is_eager:
        # In-process mode (no broker) cannot schedule a later retry: the attempts run now, and a
        # failure never reaches the caller (the lead or conversion is committed either way).
        with session_scope() as session:
            while postbacks.deliver(session, postback_id) is False:
                pass
        return
    with session_scope() as session:
        delivered = postbacks.deliver(session, postback_id)
    if delivered is False:
        countdown = min(900, 2 ** self.request.retries) * random.uniform(0.5, 1.0)
        raise self.retry(countdown=countdown)


@celery_app.task(name="affiliates.retry_stranded_postbacks", acks_late=True, ignore_result=True)
def retry_stranded_postbacks() -> int:
    """Re-enqueue pending postbacks nobody is working on (their enqueue was lost after a commit)."""
    with session_scope() as session:
        stranded = postbacks.stranded(session)
    for postback_id in stranded:
        enqueue("affiliates.send_postback", postback_id)
    return len(stranded)


@celery_app.task(name="affiliates.refresh_stats", acks_late=True, ignore_result=True)
def refresh_stats(days_back: int = 0) -> int:
    """Recompute the activity rollups of today, yesterday, stale days and the last `days_back` days."""
    today = utcnow().date()
    with session_scope() as session:
        return len(rollups.refresh(session, extra_days=[today - timedelta(days=n) for n in range(days_back + 1)]))
