"""Helpers for the lead store tests: advertisers built through the admin API, leads left in the store."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from leadmarket.clock import utcnow
from leadmarket.db import transaction
from marketplace.models import Lead, Vertical
from tests.order_support import person_lead
from tests.support import Network, created

_serial = itertools.count(1)


def new_advertiser(client: TestClient, network: Network, *, credit_limit: str = "500.00") -> dict[str, Any]:
    """A prepaid advertiser (with `headers` for its API key) that may spend down to minus its credit."""
    n = next(_serial)
    advertiser = created(client.post("/api/v1/advertisers", headers=network.admin_headers, json={
        "name": f"Buyer {n}", "email": f"buyer{n}@buyers.example", "billing_mode": "prepaid",
        "credit_limit": credit_limit}))
    advertiser["headers"] = {"X-API-Key": advertiser["api_key"]}
    return advertiser


def stored_lead(client: TestClient, network: Network, *, body: dict[str, Any] | None = None, **overrides: Any) -> int:
    """Post a clean lead of a new person nobody's order wants: it stays `accepted`, in the store."""
    body = body or person_lead(network.cpl_offer["id"], **overrides)
    answer = created(client.post("/api/v1/leads", headers=network.affiliate_headers(), json=body))
    assert answer["status"] == "accepted", answer
    return answer["lead_id"]


def set_lead(db: sessionmaker[Session], lead_id: int, *, age: timedelta | None = None, **values: Any) -> None:
    if age is not None:
        values["created_at"] = utcnow() - age
    with db() as session, transaction(session):
        session.execute(update(Lead).where(Lead.id == lead_id).values(**values))


def set_vertical(db: sessionmaker[Session], vertical_id: int, **values: Any) -> None:
    with db() as session, transaction(session):
        session.execute(update(Vertical).where(Vertical.id == vertical_id).values(**values))
