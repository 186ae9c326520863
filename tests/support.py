"""Test helpers: building a network through the real admin API, and believable lead bodies."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from litestar.testing import TestClient
from sqlalchemy.orm import Session, sessionmaker

from leadmarket.db import transaction
from leadmarket.identity import Role, create_api_key

_serial = itertools.count(1)

CAR_INSURANCE_FIELDS = [
    {"name": "vehicle_year", "type": "integer", "required": True, "min": 1980, "max": 2027},
    {"name": "coverage", "type": "choice", "required": True, "choices": ["liability", "full"]},
    {"name": "annual_mileage", "type": "integer", "min": 0, "max": 200000},
    {"name": "homeowner", "type": "boolean"},
    {"name": "current_insurer", "type": "string", "max": 60},
]


@dataclass
class Network:
    admin_key: str
    vertical: dict[str, Any]
    affiliate: dict[str, Any]
    other_affiliate: dict[str, Any]
    advertiser: dict[str, Any]
    cpl_offer: dict[str, Any]
    cpa_offer: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def affiliate_headers(self, other: bool = False) -> dict[str, str]:
        who = self.other_affiliate if other else self.affiliate
        return {"X-API-Key": who["api_key"]}

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.admin_key}


def admin_key(db: sessionmaker[Session]) -> str:
    with db() as session, transaction(session):
        _, raw = create_api_key(session, role=Role.ADMIN, name="test admin")
    return raw


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()


def build_network(client: TestClient, db: sessionmaker[Session], *, dedupe_window_days: int = 30) -> Network:
    key = admin_key(db)
    headers = {"X-API-Key": key}
    vertical = created(client.post("/api/v1/verticals", headers=headers, json={
        "slug": "car-insurance", "name": "Car insurance", "fields": CAR_INSURANCE_FIELDS,
        "dedupe_window_days": dedupe_window_days, "max_shared_sales": 3, "base_price": "18.00"}))
    affiliate = created(client.post("/api/v1/affiliates", headers=headers,
                                    json={"name": "Bright Traffic", "email": "ops@brighttraffic.example"}))
    other = created(client.post("/api/v1/affiliates", headers=headers,
                                json={"name": "Quiet Media", "email": "team@quietmedia.example"}))
    advertiser = created(client.post("/api/v1/advertisers", headers=headers, json={
        "name": "Acme Insurance", "email": "leads@acme-insurance.example", "billing_mode": "prepaid",
        "credit_limit": "500.00"}))
    cpl = created(client.post("/api/v1/offers", headers=headers, json={
        "name": "Car insurance quotes", "vertical": "car-insurance", "kind": "marketplace", "payout_model": "cpl",
        "payout": "12.50", "revenue": "20.00", "landing_url": "https://quotes.example/car?cid={click_id}"}))
    cpa = created(client.post("/api/v1/offers", headers=headers, json={
        "name": "Car insurance policies", "vertical": "car-insurance", "kind": "marketplace",
        "payout_model": "cpa", "payout": "40.00", "revenue": "60.00",
        "landing_url": "https://quotes.example/policy?cid={click_id}"}))
    return Network(admin_key=key, vertical=vertical, affiliate=affiliate, other_affiliate=other,
                   advertiser=advertiser, cpl_offer=cpl, cpa_offer=cpa)


def lead_body(offer_id: int, **overrides: Any) -> dict[str, Any]:
    """A valid car-insurance lead; each call gets a different person unless overridden."""
    n = next(_serial)
    body: dict[str, Any] = {
        "offer_id": offer_id,
        "contact": {"first_name": "Maria", "last_name": "Lopez", "email": f"maria.lopez{n}@example.com",
                    "phone": f"+1 415 {(n // 10000) % 700 + 200:03d} {n % 10000:04d}",
                    "country": "US", "region": "CA", "city": "San Francisco", "postal_code": "94107"},
        "attributes": {"vehicle_year": 2019, "coverage": "full"},
        "consent": {"text": "I agree to be contacted about car insurance quotes.",
                    "given_at": "2026-11-24T10:00:00Z", "page_url": "https://quotes.example/car"},
        "meta": {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "form_seconds": 42},
    }
    for key, value in overrides.items():
        if key in ("contact", "attributes", "meta", "consent") and isinstance(value, dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body
