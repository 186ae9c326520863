"""Periodic tasks of the affiliate side, merged into Celery beat's schedule (leadmarket/celery_app.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Clicks wait in the Redis stream for at most about this long before they are in PostgreSQL.
    "affiliates-flush-clicks": {"task": "affiliates.flush_clicks", "schedule": timedelta(seconds=2),
                                "options": {"expires": 10}},
    # Stats of today and yesterday (and days marked stale) stay at most about a minute behind.
    "affiliates-refresh-stats": {"task": "affiliates.refresh_stats", "schedule": timedelta(seconds=60),
                                 "options": {"expires": 50}},
    # Late changes older than yesterday (a return, a status change) are caught by a nightly sweep.
    "affiliates-refresh-stats-month": {"task": "affiliates.refresh_stats", "schedule": crontab(minute=40, hour=2),
                                       "args": (35,)},
    "affiliates-retry-stranded-postbacks": {"task": "affiliates.retry_stranded_postbacks",
                                            "schedule": timedelta(minutes=5)},
}
