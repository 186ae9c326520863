"""Every route of the app against the authorization table (tests/authz_matrix.py): allowed roles
get past authorization, the others are refused (401 without a key, 403 with another role's);
and a tenant calling a route with another tenant's id gets 404, never the resource, never a 403."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from billing.invoice_models import Invoice
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.identity import Role, create_api_key
from leadmarket.settings import Settings
from tests.authz_matrix import (ADMIN, ADVERTISER, AFFILIATE, ANONYMOUS, FINANCE, MATRIX, OWNED, ROLES, SHARED,
                                TENANTS, collection_app, is_portal, module_client)
from tests.order_support import new_advertiser, person_lead, place_order
from tests.support import build_network, created
from tests.test_topups import localstripe  # noqa: F401  (the module-scoped localstripe server)

PARAM = re.compile(r"\{(\w+)\}")
MISSING_ID = 2**31 - 2  # inside every id's documented range, and no row has it


def app_routes() -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, as Litestar names the path; OPTIONS (Litestar's
    own answer) and the portal's HTML pages aside."""
    found = set()
    for route in collection_app().routes:
        if not isinstance(route, HTTPRoute) or is_portal(route.path_format):
            continue
        for handler in route.route_handlers:
            found.update((method, route.path_format) for method in handler.http_methods if method != "OPTIONS")
    return sorted(found, key=lambda row: (row[1], row[0]))


ROUTES = app_routes()


@dataclass
class World:
    """Keys per role, and for each tenant role its own resources and another tenant's."""

    client: TestClient
    keys: dict[str, str]
    postback_token: str
    own: dict[str, dict[str, Any]] = field(default_factory=dict)     # role -> kind -> id
    others: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> kind -> id

    def headers(self, role: str) -> dict[str, str]:
        return {} if role == ANONYMOUS else {"X-API-Key": self.keys[role]}


def key_id(client: TestClient, key: str) -> int:
    listed = client.get("/api/v1/api-keys", headers={"X-API-Key": key})
    assert listed.status_code == 200, listed.text
    return next(k["id"] for k in listed.json() if k["current"])


def purchase_of(client: TestClient, key: str, lead_id: int) -> dict[str, Any]:
    listed = client.get("/api/v1/purchases", headers={"X-API-Key": key})
    assert listed.status_code == 200, listed.text
    return next(p for p in listed.json() if p["lead"]["lead_id"] == lead_id)


@pytest.fixture(scope="module")
def world(settings: Settings, engine: Engine, localstripe: str) -> Iterator[World]:
    """Two affiliates (X: ours, Y: the other) and two advertisers (A: ours, B: the other), each
    with what a tenant owns: leads, tracking links and keys; orders, purchases, consent records,
    conversions, top-ups and invoices. Built through the API, but for the invoice (issued only for
    an ended month's ledger), which is one row."""
    with module_client(settings, engine, localstripe) as client:
        db = sessionmaker(engine, expire_on_commit=False)
        network = build_network(client, db)
        with db() as session, transaction(session):
            _, finance = create_api_key(session, role=Role.FINANCE, name="matrix finance")
        a, b = network.advertiser, new_advertiser(client, network)
        x, y = network.affiliate["api_key"], network.other_affiliate["api_key"]
        offer = network.cpl_offer["id"]

        def own_things(advertiser: dict[str, Any], affiliate_key: str) -> tuple[dict[str, Any], dict[str, Any]]:
            """The advertiser's order buys the affiliate's lead; then its order pauses."""
            key = advertiser["api_key"]
            order = place_order(client, advertiser)
            lead = created(client.post("/api/v1/leads", headers={"X-API-Key": affiliate_key},
                                       json=person_lead(offer)))
            assert lead["status"] == "sold", lead
            paused = client.patch(f"/api/v1/orders/{order['id']}", headers={"X-API-Key": key},
                                  json={"status": "paused"})
            assert paused.status_code == 200, paused.text
            sale = purchase_of(client, key, lead["lead_id"])
            conversion = created(client.post("/api/v1/conversions", headers={"X-API-Key": key}, json={
                "lead_id": lead["lead_id"], "event": "policy", "external_id": f"ext-{lead['lead_id']}"}))
            topup = created(client.post("/api/v1/topups", headers={"X-API-Key": key}, json={"amount": "50.00"}))
            link = created(client.post("/api/v1/tracking-links", headers={"X-API-Key": affiliate_key},
                                       json={"offer_id": offer}))
            advertiser_side = {"order": order["id"], "sale": sale["sale_id"], "conversion": conversion["id"],
                               "consent": sale["consent_certificate"]["certificate_id"], "topup": topup["topup_id"],
                               "advertiser": advertiser["id"], "api_key": key_id(client, key)}
            affiliate_side = {"lead": lead["lead_id"], "tracking_link": link["code"],
                              "api_key": key_id(client, affiliate_key)}
            return advertiser_side, affiliate_side

        b_side, y_side = own_things(b, y)   # the other tenants' first: A never bought Y's lead
        a_side, x_side = own_things(a, x)
        now = utcnow()
        with db() as session, transaction(session):
            for side, advertiser in ((a_side, a), (b_side, b)):
                invoice = Invoice(advertiser_id=advertiser["id"], period="2000-01", currency="USD",
                                  period_start=now - timedelta(days=40), period_end=now - timedelta(days=10),
                                  amount_minor=1000, status="draft", created_at=now, updated_at=now)
                session.add(invoice)
                session.flush()
                side["invoice"] = invoice.id
        token = created(client.post("/api/v1/postback-token", headers={"X-API-Key": b["api_key"]}))["token"]
        keys = {ADMIN: network.admin_key, FINANCE: finance, ADVERTISER: a["api_key"], AFFILIATE: x}
        yield World(client, keys, token, own={ADVERTISER: a_side, AFFILIATE: x_side},
                    others={ADVERTISER: b_side, AFFILIATE: y_side})


def call(world: World, role: str, method: str, path: str, values: dict[str, Any] | None = None,
         body: Any = None) -> Any:
    """One request as `role`; path parameters from `values`, else an id no row has."""
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if values and name in values:
            return str(values[name])
        return "nonexistent" if name in ("code", "certificate_id", "path") else str(MISSING_ID)

    url = PARAM.sub(fill, path)
    headers = world.headers(role)
    params: dict[str, str] = {}
    if path == "/postback":
        params["token"] = world.postback_token  # its credential is the token, whoever calls
    if path == "/webhooks/stripe":
        headers = {**headers, "Stripe-Signature": "t=1,v1=00"}  # its credential is Stripe's signature
    if method in ("POST", "PUT", "PATCH"):
        return world.client.request(method, url, headers=headers, params=params, json={} if body is None else body)
    return world.client.request(method, url, headers=headers, params=params, follow_redirects=False)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_admits_exactly_the_roles_in_the_table(world: World, method: str, path: str) -> None:
    allowed = MATRIX.get((method, path))
    assert allowed is not None, f"{method} {path} is not in tests/authz_matrix.py: add its row (who may call it)"
    wrong = []
    for role in ROLES:
        answer = call(world, role, method, path)
        if role in allowed:
            ok = answer.status_code not in (401, 403) and answer.status_code < 500
            expected = "not refused, no 5xx"
        else:
            expected_status = 401 if role == ANONYMOUS else 403
            ok = answer.status_code == expected_status
            expected = str(expected_status)
        if not ok:
            wrong.append(f"{role}: {answer.status_code} (expected {expected}) {answer.text[:200]}")
    assert not wrong, f"{method} {path}\n" + "\n".join(wrong)


def test_every_row_of_the_table_is_a_route() -> None:
    stale = sorted(set(MATRIX) - set(ROUTES))
    assert not stale, f"rows for routes the app does not serve: {stale}"


# Routes with an id a tenant may call; public routes (click and form codes, the schema) aside:
# their codes are meant to be handed out.
TENANT_CASES = [(method, path, role) for method, path in ROUTES if PARAM.search(path)
                and ANONYMOUS not in MATRIX.get((method, path), {ANONYMOUS}) and (method, path) not in SHARED
                for role in TENANTS if role in MATRIX[(method, path)]]


@pytest.mark.parametrize(("method", "path", "role"), TENANT_CASES, ids=[f"{m} {p} as {r}" for m, p, r in TENANT_CASES])
def test_another_tenants_id_is_not_found(world: World, method: str, path: str, role: str) -> None:
    assert (method, path) in OWNED, (f"{method} {path} takes an id and a {role} may call it: say in "
                                     "tests/authz_matrix.py OWNED whose id it is (or SHARED, and why)")
    kind, body = OWNED[(method, path)]
    [param] = PARAM.findall(path)
    other = world.others[role][kind]
    answer = call(world, role, method, path, {param: other}, body)
    assert answer.status_code == 404, (f"{role} calling {method} {path} with another tenant's {kind} "
                                       f"got {answer.status_code}: {answer.text[:300]}")
    if method == "GET":  # the same call with the caller's own id works: the 404 is about the owner
        own = call(world, role, method, path, {param: world.own[role][kind]})
        assert own.status_code == 200, own.text
