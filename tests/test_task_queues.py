"""Celery queues split by kind of work; every task acknowledges late (a killed worker's task runs again)."""

from __future__ import annotations

from leadmarket.celery_app import QUEUES, celery_app

EXPECTED = {
    "marketplace.deliver_sale": "delivery",
    "marketplace.redeliver_stale": "delivery",
    "affiliates.send_postback": "postbacks",
    "affiliates.retry_stranded_postbacks": "postbacks",
    "affiliates.flush_clicks": "rollups",
    "affiliates.refresh_stats": "rollups",
    "billing.reconcile_balances": "billing",
    "billing.issue_monthly_invoices": "billing",
    "marketplace.expire_leads": "default",
    "leadmarket.run_job": "default",
}


def _queue_of(name: str) -> str:
    return celery_app.amqp.router.route({}, name, args=(), kwargs={})["queue"].name


def test_each_kind_of_task_goes_to_its_own_queue():
    celery_app.loader.import_default_modules()
    for name, queue in EXPECTED.items():
        assert name in celery_app.tasks, name
        assert _queue_of(name) == queue, name


def test_every_task_is_routed_to_a_known_queue_and_acks_late():
    celery_app.loader.import_default_modules()
    ours = [t for name, t in celery_app.tasks.items() if not name.startswith("celery.")]
    assert len(ours) >= len(EXPECTED)
    for task in ours:
        assert _queue_of(task.name) in QUEUES, task.name
        assert task.acks_late, f"{task.name} must acknowledge after it ran"
