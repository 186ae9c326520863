"""Schemathesis over our own OpenAPI document, in-process: every operation, with valid and with
invalid data, as each role. No 5xx, no status code the document does not declare, content types,
headers and bodies as documented, undeclared methods answered 405.

Bounded for the suite: LEADMARKET_FUZZ_EXAMPLES examples per operation and role in the fuzzing
phase (default 6: under 3 minutes on two busy cores), plus schemathesis' example and coverage phases
(boundary values, missing and malformed parameters). A deeper run, e.g.
`LEADMARKET_FUZZ_EXAMPLES=100 LEADMARKET_FUZZ_RANDOM=1 pytest tests/test_fuzz_api.py`, takes
proportionally longer. Generation is derandomized so a failure reproduces; LEADMARKET_FUZZ_RANDOM=1
draws new cases each run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient
from schemathesis import GenerationMode, checks
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from affiliates.tasks import flush_clicks
from leadmarket.db import transaction
from leadmarket.identity import ApiKey, Role, create_api_key, digest
from leadmarket.settings import Settings
from tests.authz_matrix import collection_app, module_client
from tests.support import build_network
from tests.test_topups import localstripe  # noqa: F401  (the module-scoped localstripe server)

MAX_EXAMPLES = int(os.environ.get("LEADMARKET_FUZZ_EXAMPLES", "6"))
RANDOM = os.environ.get("LEADMARKET_FUZZ_RANDOM") == "1"
ROLES = [role.value for role in Role]
# Every other built-in check runs.
EXCLUDED_CHECKS = [
    # "Schema-valid input must be accepted" cannot hold: the document cannot say that an offer's
    # vertical must exist or that a money string must read as a decimal; those are 4xx naming the field.
    checks.positive_data_acceptance,
    # "Schema-invalid input must be refused" flags the decoder's leniency: msgspec reads a JSON
    # number into a Decimal exactly (`"cap_percent": 0`) and a number into a datetime as Unix time
    # (`?until=0.5`). Invalid data is still sent, and must still get a documented status, never a 5xx.
    checks.negative_data_rejection,
    # Litestar 2.x answers OPTIONS with the `Allow` of the route as it was before the last handler
    # on its path was registered (litestar-org/litestar#4169, fixed in Litestar 3).
    checks.allow_header_conformance,
]

# Loaded while pytest collects, one test per operation: schemathesis' lazy `from_fixture` loader
# does not run under pytest 9.2. The cases are sent to the module's own app (`fuzz_client`).
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", collection_app()).exclude(path_regex=r"^/bench/")
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES)


@pytest.fixture(scope="module")
def fuzz_client(settings: Settings, engine: Engine, localstripe: str) -> Iterator[TestClient]:
    with module_client(settings, engine, localstripe) as client:
        yield client


@dataclass
class FuzzKeys:
    """An API key per role that keeps working. Fuzzing the key endpoints revokes and rotates keys,
    the caller's own among them; a key that stopped or is due to stop is replaced, before the next
    case, by a new one of the same role and company."""

    db: sessionmaker[Session]
    keys: dict[str, tuple[int, str]]  # role -> (api_key id, the raw key)

    def headers(self, role: str) -> dict[str, str]:
        key_id, raw = self.keys[role]
        with self.db() as session:
            key = session.get_one(ApiKey, key_id)
            if key.revoked_at is not None or key.expires_at is not None:
                with transaction(session):
                    fresh, raw = create_api_key(session, role=Role(key.role), name=f"fuzz {role}",
                                                advertiser_id=key.advertiser_id, affiliate_id=key.affiliate_id)
                self.keys[role] = (fresh.id, raw)
        return {"X-API-Key": raw}


@pytest.fixture(scope="module")
def fuzz_keys(fuzz_client: TestClient, engine: Engine) -> FuzzKeys:
    """Admin, advertiser and affiliate keys from the usual test network; a finance key made here."""
    db = sessionmaker(engine, expire_on_commit=False)
    network = build_network(fuzz_client, db)
    with db() as session, transaction(session):
        _, finance = create_api_key(session, role=Role.FINANCE, name="fuzz finance")
    raws = {Role.ADMIN: network.admin_key, Role.FINANCE: finance, Role.ADVERTISER: network.advertiser["api_key"],
            Role.AFFILIATE: network.affiliate["api_key"]}
    with db() as session:
        keys = {role.value: (session.execute(select(ApiKey.id).where(ApiKey.key_digest == digest(raw))).scalar_one(),
                             raw) for role, raw in raws.items()}
    return FuzzKeys(db, keys)


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_as_every_role(case: Any, role: str, fuzz_client: TestClient, fuzz_keys: FuzzKeys) -> None:
    case.call_and_validate(headers=fuzz_keys.headers(role), app=fuzz_client.app, excluded_checks=EXCLUDED_CHECKS)


# What fuzzing found, pinned: each was a 500 before.
FOUND = [
    # (role, method, url, JSON body, the field the 422 names)
    ("admin", "POST", "/api/v1/finance/payouts/62923243422417/approve", None, "payout_id"),  # past a 32-bit key
    ("admin", "GET", "/api/v1/finance/payouts?affiliate_id=4611686018427387903", None, "affiliate_id"),
    ("admin", "GET", "/api/v1/topups/2147483648", None, "topup_id"),
    ("admin", "DELETE", "/api/v1/blocklist/2147483648", None, "entry_id"),
    ("admin", "GET", "/api/v1/review/leads?vertical_id=2147483648", None, "vertical_id"),
    ("advertiser", "GET", "/api/v1/pings?offset=84572952220113928548774608369379966976", None, "offset"),
    ("advertiser", "GET", "/api/v1/purchases?offset=9223372036854775808", None, "offset"),
    ("advertiser", "GET", "/api/v1/consents/a%00b", None, "certificate_id"),  # PostgreSQL text cannot hold NUL
    ("advertiser", "GET", "/api/v1/store/leads?region=%00", None, "region"),
    ("advertiser", "POST", "/api/v1/conversions", {"click_id": "a\x00", "event": "sale", "external_id": "x"},
     "click_id"),
    ("affiliate", "POST", "/api/v1/tracking-links", {"offer_id": 1, "sub_ids": {"sub1": "a\x00"}}, "sub_ids.sub1"),
    ("affiliate", "PUT", "/api/v1/postbacks/template", {"url": "https://x.example/?a=\x00"}, "url"),
    ("affiliate", "POST", "/api/v1/post", {"ping_id": "png_\x00", "offer_id": 1}, "ping_id"),
    ("affiliate", "POST", "/api/v1/tracking-links", {"offer_id": 2**40}, "offer_id"),
    ("admin", "POST", "/api/v1/blocklist", {"kind": "sub_id", "value": "s1", "affiliate_id": 2**40}, "affiliate_id"),
    ("admin", "POST", "/api/v1/advertisers",  # Decimal.quantize fails past 28 digits
     {"name": "Big", "email": "big@buyers.example", "billing_mode": "prepaid", "credit_limit": "2.4e+127"},
     "credit_limit"),
    ("finance", "GET", "/api/v1/finance/settlement?from=9999-12-30&to=9999-12-31", None, "to"),  # date overflow
    ("finance", "POST", "/api/v1/finance/invoices/run", {"period": "9999-12"}, "period"),
]


@pytest.mark.parametrize(("role", "method", "url", "body", "field"), FOUND, ids=[f"{m} {u}" for _, m, u, _, _ in FOUND])
def test_what_fuzzing_found_is_a_422_naming_the_field(fuzz_client: TestClient, fuzz_keys: FuzzKeys,
                                                      role: str, method: str, url: str, body: Any, field: str) -> None:
    answer = fuzz_client.request(method, url, headers=fuzz_keys.headers(role), json=body)
    assert answer.status_code == 422, answer.text
    assert field in [error["field"] for error in answer.json()["errors"]], answer.text


def test_stats_up_to_the_first_day_of_the_calendar_are_empty_not_a_500(
        fuzz_client: TestClient, fuzz_keys: FuzzKeys) -> None:
    answer = fuzz_client.get("/api/v1/stats?to=0001-01-01", headers=fuzz_keys.headers("admin"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["start"] == answer.json()["end"] == "0001-01-01" and answer.json()["rows"] == []


def test_a_preflight_options_request_is_answered_not_a_500(fuzz_client: TestClient) -> None:
    """The key middleware skips OPTIONS (CORS preflights carry no key); the role guards crashed on
    the missing user. Now OPTIONS gets Litestar's own 204 with `Allow`, and nothing else."""
    answer = fuzz_client.options("/api/v1/verticals")
    assert answer.status_code == 204 and "POST" in answer.headers["allow"]
    assert fuzz_client.get("/api/v1/verticals").status_code == 401


def test_a_click_with_a_nul_in_a_sub_id_does_not_stop_the_click_stream(
        fuzz_client: TestClient, fuzz_keys: FuzzKeys, engine: Engine) -> None:
    """A NUL in a sub-id went into the click stream as it was; PostgreSQL refused the flush of
    its batch, again on every retry, so no later click was stored either."""
    offers = fuzz_client.get("/api/v1/offers", headers=fuzz_keys.headers("affiliate")).json()
    link = fuzz_client.post("/api/v1/tracking-links", headers=fuzz_keys.headers("affiliate"),
                            json={"offer_id": offers[0]["id"]}).json()
    poisoned = fuzz_client.get(f"/r/{link['code']}?sub1=a%00b", follow_redirects=False)
    after = fuzz_client.get(f"/r/{link['code']}?sub1=next", follow_redirects=False)
    assert poisoned.status_code == after.status_code == 302

    flush_clicks()

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT sub1 FROM click WHERE link_id = (SELECT id FROM tracking_link "
                                   "WHERE code = :code) ORDER BY clicked_at"), {"code": link["code"]}).scalars().all()
    assert stored == ["ab", "next"]
