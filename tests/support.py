"""Test helpers: building a network through the real admin API, and believable lead bodies."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from litestar.testing import TestClient
from sqlalchemy.orm import Session, sessionmaker

from leadmarket.clock import utcnow
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


# Distinct people for lead_body: one first name for the first 48 leads of a test (so "Maria" is
# the usual first lead), and surnames far apart so the fuzzy matcher never pairs two of them.
FIRST_NAMES = ["Maria", "Tobias", "Ingrid", "Kwame", "Sakura", "Rafael", "Fiona", "Dmitri", "Amara", "Henrik"]
SURNAMES = ["Lopez", "Nakamura", "Okafor", "Schmidt", "Kowalski", "Fitzgerald", "Haddad", "Brennan", "Castillo",
            "Dubois", "Eriksen", "Fontaine", "Gallagher", "Horvath", "Ivanova", "Jablonski", "Kapoor", "Lindqvist",
            "Moreau", "Nguyen", "Oyelaran", "Papadopoulos", "Quintero", "Rasmussen", "Sato", "Tremblay", "Urquhart",
            "Valdez", "Whitaker", "Xiong", "Yamamoto", "Zielinski", "Abernathy", "Bjornsson", "Cavanaugh", "Delacroix",
            "Esposito", "Farouk", "Gruber", "Hakimi", "Iwasaki", "Jovanovic", "Kristensen", "Lachance", "Mbeki",
            "Novak", "Ostrowski", "Petrakis"]


def lead_body(offer_id: int, **overrides: Any) -> dict[str, Any]:
    """A valid car-insurance lead the fraud screen passes clean (score 0); each call gets a different
    person and IP unless overridden. The e-mail domain is a real provider's, because example.com is
    reserved for examples and the screen scores it; consent is given two minutes before the post."""
    n = next(_serial)
    first, last = FIRST_NAMES[n // len(SURNAMES) % len(FIRST_NAMES)], SURNAMES[n % len(SURNAMES)]
    body: dict[str, Any] = {
        "offer_id": offer_id,
        "contact": {"first_name": first, "last_name": last, "email": f"{first}.{last}{n}@gmail.com".lower(),
                    "phone": f"+1 415 {(n // 10000) % 700 + 200:03d} {n % 10000:04d}",
                    "country": "US", "region": "CA", "city": "San Francisco", "postal_code": "94107"},
        "attributes": {"vehicle_year": 2019, "coverage": "full"},
        "consent": {"text": "I agree to be contacted about car insurance quotes.",
                    "given_at": (utcnow() - timedelta(minutes=2)).isoformat().replace("+00:00", "Z"),
                    "page_url": "https://quotes.example/car"},
        # One IP per lead from the documentation ranges, so velocity-per-IP never adds up across tests.
        "meta": {"ip": f"{('203.0.113', '198.51.100', '192.0.2')[n % 3]}.{n // 3 % 254 + 1}",
                 "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "form_seconds": 42},
    }
    for key, value in overrides.items():
        if key in ("contact", "attributes", "meta", "consent") and isinstance(value, dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


# --- helpers for the intake / admin API test files -------------------------------------------

PROBLEM_JSON = "application/problem+json"


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert `response` is an RFC 9457 problem with `status`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["title"] and isinstance(body["detail"], str), body
    if status == 422:
        assert body["errors"], body
        for error in body["errors"]:
            assert error["field"] and error["reason"], error
    return body


def error_fields(response: Any) -> dict[str, str]:
    """A 422 answer's bad fields, field path -> reason."""
    return {e["field"]: e["reason"] for e in problem(response, 422)["errors"]}


def count_rows(db: sessionmaker[Session], *tables: str) -> dict[str, int]:
    from sqlalchemy import text

    with db() as session:
        return {t: session.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}


def post_lead(client: TestClient, key: str, body: dict[str, Any], *, idempotency_key: str | None = None) -> Any:
    headers = {"X-API-Key": key}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return client.post("/api/v1/leads", headers=headers, json=body)


def make_vertical(client: TestClient, admin_headers: dict[str, str], slug: str, fields: list[dict[str, Any]],
                  **overrides: Any) -> dict[str, Any]:
    body = {"slug": slug, "name": slug.replace("-", " ").capitalize(), "fields": fields, "dedupe_window_days": 30,
            "max_shared_sales": 3, "base_price": "10.00", **overrides}
    return created(client.post("/api/v1/verticals", headers=admin_headers, json=body))


def make_offer(client: TestClient, admin_headers: dict[str, str], vertical_slug: str,
               **overrides: Any) -> dict[str, Any]:
    body = {"name": f"{vertical_slug} offer", "vertical": vertical_slug, "kind": "marketplace", "payout_model": "cpl",
            "payout": "5.00", "revenue": "9.00", "landing_url": "https://lp.example/?cid={click_id}", **overrides}
    return created(client.post("/api/v1/offers", headers=admin_headers, json=body))


def principal_for(db: sessionmaker[Session], raw_key: str) -> Any:
    from leadmarket.identity import authenticate

    with db() as session:
        return authenticate(session, raw_key)


def submission(body: dict[str, Any]) -> Any:
    """A lead body as the API decodes it, for calling the intake service directly."""
    import msgspec

    from marketplace.schemas import LeadSubmission

    return msgspec.json.decode(msgspec.json.encode(body), type=LeadSubmission)


FIRST_NAMES = ("Ana", "Bruno", "Chloe", "Dmitri", "Esther", "Farid", "Greta", "Hiroshi", "Ingrid", "Jamal", "Kirsten",
               "Lars", "Mei", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Sanjay", "Tamsin", "Ulrich", "Valeria",
               "Wendell", "Ximena", "Yusuf", "Zofia", "Anselm", "Beatrix", "Cosimo", "Delphine", "Emeric", "Fenna",
               "Gideon", "Hedda", "Isidore", "Juno", "Kasimir", "Leocadia", "Mattias", "Noemi", "Orla")
LAST_NAMES = ("Abernathy", "Bergstrom", "Castellanos", "Dvorak", "Eriksen", "Fitzgerald", "Gutierrez", "Haddad",
              "Ivanova", "Jankowski", "Kowalczyk", "Lindqvist", "Moreau", "Nakamura", "Oyelaran", "Petrov",
              "Quispe", "Rasmussen", "Szabo", "Thorsen", "Urquhart", "Vasquez", "Whitcombe", "Xiong", "Yamamoto",
              "Zielinski", "Achterberg", "Brannigan", "Cipriani", "Dunleavy", "Escobar", "Falkenrath", "Grimaldi",
              "Holloway", "Iglesias", "Jovanovic", "Kristiansen", "Lombardi", "Mbeki", "Novak", "Okonkwo")
_strangers = itertools.count(0)


def stranger(offer_id: int, **overrides: Any) -> dict[str, Any]:
    """Like lead_body, but each call is a different person also to fuzzy dedupe (another first and
    last name, e-mail and postal code), for tests where several leads must be accepted."""
    i = next(_strangers)
    first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i * 7) % len(LAST_NAMES)]
    body = lead_body(offer_id)
    body["contact"].update({"first_name": first, "last_name": last, "postal_code": f"{94100 + i % 90}",
                            "email": f"{first.lower()}.{last.lower()}{i}@gmail.com"})
    for key, value in overrides.items():
        if key in ("contact", "attributes", "meta", "consent") and isinstance(value, dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body
