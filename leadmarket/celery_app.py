"""The Celery app: Redis as broker when REDIS_URL is set, otherwise tasks run in-process."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab

from affiliates.schedule import BEAT_SCHEDULE as AFFILIATE_BEAT_SCHEDULE
from leadmarket.settings import Settings, current_settings

TASK_MODULES = ["leadmarket.tasks", "affiliates.tasks", "billing.tasks", "marketplace.tasks"]

celery_app = Celery("leadmarket", include=TASK_MODULES)


def configure_celery(settings: Settings) -> Celery:
    eager = settings.tasks_eager or not settings.redis_url
    celery_app.conf.update(
        broker_url=settings.redis_url or "memory://",
        result_backend=None,
        task_always_eager=eager,
        task_eager_propagates=eager,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "purge-idempotency-records": {"task": "leadmarket.purge_idempotency_records",
                                          "schedule": crontab(minute=17, hour=3)},
            "billing-reconcile-balances": {"task": "billing.reconcile_balances",
                                           "schedule": crontab(minute=41)},
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
