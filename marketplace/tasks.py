"""Celery tasks of the marketplace: thin callers of the services."""

from __future__ import annotations

from celery import Task

from leadmarket.celery_app import celery_app, enqueue
from leadmarket.db import session_scope
from marketplace import delivery, store
from marketplace.delivery import DeliveryFailed


@celery_app.task(name="marketplace.deliver_sale", bind=True, acks_late=True, ignore_result=True,
                 autoretry_for=(DeliveryFailed,), retry_backoff=True, retry_backoff_max=900, retry_jitter=True,
                 max_retries=delivery.MAX_ATTEMPTS - 1)
def deliver_sale(self: Task, sale_id: int) -> None:
    """Send a sold lead to its buyer's webhook; a failed attempt is retried with backoff
    (1 s, 2 s, 4 s ... at most 15 min, jittered) until MAX_ATTEMPTS attempts, then `dead`."""
    if self.request.is_eager:
        # In-process mode cannot schedule a later retry: the attempts run now, and a failure
        # never reaches the caller (the sale is committed either way; its delivery shows it).
        with session_scope() as session:
            while True:
                try:
                    delivery.deliver(session, sale_id)
                    return
                except DeliveryFailed:
                    continue
    with session_scope() as session:
        delivery.deliver(session, sale_id)


@celery_app.task(name="marketplace.redeliver_stale", acks_late=True, ignore_result=True)
def redeliver_stale() -> int:
    """Re-enqueue deliveries nobody is working on (an enqueue lost after a commit, a worker lost)."""
    with session_scope() as session:
        sale_ids = delivery.stale(session)
    for sale_id in sale_ids:
        enqueue("marketplace.deliver_sale", sale_id)
    return len(sale_ids)


@celery_app.task(name="marketplace.expire_leads", acks_late=True, ignore_result=True)
def expire_leads() -> int:
    """Take leads past their vertical's shelf life out of the lead store (marketplace/store.py)."""
    with session_scope() as session:
        return store.expire_leads(session)
