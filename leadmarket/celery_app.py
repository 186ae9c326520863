"""The Celery app: Redis as broker when REDIS_URL is set, otherwise tasks run in-process."""

from __future__ import annotations

import logging
import time
from typing import Any

import kombu.exceptions
import redis
from celery import Celery
from celery.schedules import crontab

from affiliates.schedule import BEAT_SCHEDULE as AFFILIATE_BEAT_SCHEDULE
from leadmarket.settings import Settings, current_settings

TASK_MODULES = ["leadmarket.tasks", "affiliates.tasks", "billing.tasks", "marketplace.tasks"]

celery_app = Celery("leadmarket", include=TASK_MODULES)

# Queues by kind of work, so a slow buyer webhook cannot hold up payouts or rollups, and each kind
# scales on its own workers (`leadmarket worker --queues delivery`). Every task is acks_late and
# safe to run twice: a worker killed mid-task leaves its message to be redelivered.
QUEUES = ("default", "delivery", "postbacks", "rollups", "billing")
TASK_ROUTES = {
    "marketplace.deliver_sale": {"queue": "delivery"},
    "marketplace.redeliver_stale": {"queue": "delivery"},
    "affiliates.send_postback": {"queue": "postbacks"},
    "affiliates.retry_stranded_postbacks": {"queue": "postbacks"},
    "affiliates.flush_clicks": {"queue": "rollups"},
    "affiliates.refresh_stats": {"queue": "rollups"},
    "billing.*": {"queue": "billing"},
}
log = logging.getLogger("leadmarket.celery")


def configure_celery(settings: Settings) -> Celery:
    eager = settings.tasks_eager or not settings.redis_url
    celery_app.conf.update(
        broker_url=settings.redis_url or "memory://",
        result_backend=None,
        task_always_eager=eager,
        task_eager_propagates=eager,
        task_acks_late=True,
        task_default_queue="default",
        task_routes=TASK_ROUTES,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "ensure-partitions": {"task": "leadmarket.ensure_partitions", "schedule": crontab(minute=3, hour=2)},
            "requeue-stale-jobs": {"task": "leadmarket.requeue_stale_jobs", "schedule": crontab(minute="*")},
            "purge-job-results": {"task": "leadmarket.purge_job_results", "schedule": crontab(minute=29)},
            "purge-idempotency-records": {"task": "leadmarket.purge_idempotency_records",
                                          "schedule": crontab(minute=17, hour=3)},
            "billing-reconcile-balances": {"task": "billing.reconcile_balances",
                                           "schedule": crontab(minute=41)},
            # Daily: the 1st issues last month's invoices; later days retry what Stripe refused.
            "billing-issue-monthly-invoices": {"task": "billing.issue_monthly_invoices",
                                               "schedule": crontab(minute=20, hour=1)},
            "marketplace-redeliver-stale": {"task": "marketplace.redeliver_stale", "schedule": crontab(minute="*")},
            "marketplace-expire-leads": {"task": "marketplace.expire_leads", "schedule": crontab(minute=7)},
            **AFFILIATE_BEAT_SCHEDULE,
        },
    )
    return celery_app


configure_celery(current_settings())


def enqueue(task_name: str, *args: Any) -> None:
    """Queue a task by name after the caller's commit; in-process mode runs it right here."""
    celery_app.loader.import_default_modules()
    celery_app.tasks[task_name].delay(*args)


# After the broker refused a task, swept tasks are not offered to it for this long (one timeout
# and one log line per window, not per request).
BROKER_RETRY_SECONDS = 5.0
_broker_down_until = 0.0


def enqueue_swept(task_name: str, *args: Any) -> bool:
    """Queue a task whose work a beat sweeper queues again if it is lost (a delivery, a postback).

    The caller's work is committed already, so an unreachable broker must not fail it: the task
    is skipped (logged once per window) and False returned; the sweeper finds the row later.
    """
    global _broker_down_until
    if not celery_app.conf.task_always_eager and time.monotonic() < _broker_down_until:
        return False
    try:
        enqueue(task_name, *args)
    except (kombu.exceptions.OperationalError, redis.RedisError, OSError) as exc:
        if celery_app.conf.task_always_eager:
            raise
        _broker_down_until = time.monotonic() + BROKER_RETRY_SECONDS
        log.warning("broker unreachable (%s): %s not queued, its sweeper will; retrying the broker in %ss",
                    type(exc).__name__, task_name, BROKER_RETRY_SECONDS)
        return False
    return True
