"""API keys: required on /api/, stored hashed, scoped by role; affiliates see offers without the
network's revenue or buyers (invariant 7)."""

from __future__ import annotations

import hashlib

from sqlalchemy import select, text, update

from api.auth import ApiKeyAuthentication
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.identity import ApiKey, Role, create_api_key
from tests.support import count_rows, created, lead_body, post_lead, problem

ADMIN_ROUTES = [
    ("POST", "/api/v1/verticals", {"slug": "x", "name": "X", "fields": [], "base_price": "1.00"}),
    ("GET", "/api/v1/verticals", None),
    ("POST", "/api/v1/advertisers", {"name": "X", "email": "x@example.com"}),
    ("GET", "/api/v1/advertisers", None),
    ("POST", "/api/v1/affiliates", {"name": "X", "email": "x@example.com"}),
    ("GET", "/api/v1/affiliates", None),
    ("POST", "/api/v1/offers", {"name": "X", "vertical": "car-insurance", "kind": "marketplace",
                                "payout_model": "cpl", "payout": "1.00", "landing_url": "https://x.example/"}),
]


def new_key(db, role, **owner):
    with db() as session, transaction(session):
        _, raw = create_api_key(session, role=role, name=f"{role} key", **owner)
    return raw


def call(client, method, path, key, body=None):
    headers = {} if key is None else {"X-API-Key": key}
    return client.request(method, path, headers=headers, json=body)


def test_missing_or_unknown_key_is_401_everywhere_under_api(client, network):
    routes = [*ADMIN_ROUTES, ("POST", "/api/v1/leads", lead_body(network.cpl_offer["id"])),
              ("GET", "/api/v1/leads/1", None), ("GET", "/api/v1/offers", None)]
    for key in (None, "", "lmk_not-a-key", "x" * 5000, network.affiliate["api_key"] + "x"):
        for method, path, body in routes:
            answer = call(client, method, path, key, body)
            assert problem(answer, 401)["title"] == "NotAuthenticated", (key, method, path)


def test_401_answers_without_writing(client, network, db):
    before = count_rows(db, "lead", "vertical")
    call(client, "POST", "/api/v1/leads", "lmk_wrong", lead_body(network.cpl_offer["id"]))
    call(client, "POST", "/api/v1/verticals", None, ADMIN_ROUTES[0][2])
    assert count_rows(db, "lead", "vertical") == before


def test_revoked_key_is_401(client, network, db):
    key = new_key(db, Role.AFFILIATE, affiliate_id=network.affiliate["id"])
    with db() as session:
        session.execute(update(ApiKey).where(ApiKey.key_digest == hashlib.sha256(key.encode()).hexdigest())
                        .values(revoked_at=utcnow()))
        session.commit()

    answer = post_lead(client, key, lead_body(network.cpl_offer["id"]))

    assert problem(answer, 401)["detail"] == "unknown or revoked API key"
    assert count_rows(db, "lead")["lead"] == 0


def test_revoking_a_key_in_use_takes_effect_once_the_short_cache_expires(client, network, db):
    key = network.affiliate["api_key"]
    assert client.get("/api/v1/offers", headers={"X-API-Key": key}).status_code == 200
    with db() as session:
        session.execute(update(ApiKey).where(ApiKey.affiliate_id == network.affiliate["id"])
                        .values(revoked_at=utcnow()))
        session.commit()
    ApiKeyAuthentication._cache.clear()  # what KEY_CACHE_SECONDS passing does

    assert problem(client.get("/api/v1/offers", headers={"X-API-Key": key}), 401)


def test_affiliate_and_advertiser_keys_are_403_on_admin_routes(client, network, db):
    finance = new_key(db, Role.FINANCE)
    for key in (network.affiliate["api_key"], network.advertiser["api_key"]):
        for method, path, body in ADMIN_ROUTES:
            assert problem(call(client, method, path, key, body), 403)["title"] == "PermissionDenied", (method, path)
    for method, path, body in ADMIN_ROUTES:
        if method == "POST":
            assert problem(call(client, method, path, finance, body), 403), path
    assert count_rows(db, "vertical", "advertiser", "affiliate", "offer") == {
        "vertical": 1, "advertiser": 1, "affiliate": 2, "offer": 2}


def test_only_affiliates_post_leads(client, network, db):
    for key in (network.admin_key, network.advertiser["api_key"], new_key(db, Role.FINANCE)):
        answer = post_lead(client, key, lead_body(network.cpl_offer["id"]))
        assert "affiliate" in problem(answer, 403)["detail"]
    assert count_rows(db, "lead")["lead"] == 0


def test_keys_are_stored_hashed(client, network, db):
    raw_keys = [network.admin_key, network.affiliate["api_key"], network.other_affiliate["api_key"],
                network.advertiser["api_key"]]
    with db() as session:
        rows = session.execute(select(ApiKey)).scalars().all()
        dump = session.execute(text("SELECT row_to_json(api_key)::text FROM api_key")).scalars().all()

    assert len(rows) == 4
    assert {r.key_digest for r in rows} == {hashlib.sha256(k.encode()).hexdigest() for k in raw_keys}
    for raw in raw_keys:
        assert not any(raw in row or raw[12:] in row for row in dump)
    assert {r.role for r in rows} == {"admin", "affiliate", "advertiser"}
    assert {r.affiliate_id for r in rows if r.role == "affiliate"} == {network.affiliate["id"],
                                                                       network.other_affiliate["id"]}


def test_each_key_is_shown_once(client, network, db):
    listed = client.get("/api/v1/affiliates", headers=network.admin_headers)
    advertisers = client.get("/api/v1/advertisers", headers=network.admin_headers)

    assert network.affiliate["api_key"] not in listed.text and network.advertiser["api_key"] not in advertisers.text


def test_affiliate_sees_offers_without_revenue_or_advertiser(client, network):
    targeted = created(client.post("/api/v1/offers", headers=network.admin_headers, json={
        "name": "Acme only", "vertical": "car-insurance", "kind": "targeted", "advertiser_id": network.advertiser["id"],
        "payout_model": "cpl", "payout": "11.00", "revenue": "31.17", "landing_url": "https://acme.example/"}))

    answer = client.get("/api/v1/offers", headers=network.affiliate_headers())

    assert answer.status_code == 200
    offers = {o["id"]: o for o in answer.json()}
    assert set(offers) == {network.cpl_offer["id"], network.cpa_offer["id"], targeted["id"]}
    assert offers[network.cpl_offer["id"]]["payout"] == "12.50"
    assert all(o.get("revenue") is None and o.get("advertiser_id") is None for o in offers.values())
    for secret in ("20.00", "60.00", "31.17"):
        assert secret not in answer.text
    staff = {o["id"]: o for o in client.get("/api/v1/offers", headers=network.admin_headers).json()}
    assert (staff[targeted["id"]]["revenue"], staff[targeted["id"]]["advertiser_id"]) == (
        "31.17", network.advertiser["id"])


def test_affiliate_does_not_see_paused_offers(client, network, db):
    from affiliates.models import Offer

    with db() as session:
        session.execute(update(Offer).where(Offer.id == network.cpa_offer["id"]).values(status="paused"))
        session.commit()

    ids = [o["id"] for o in client.get("/api/v1/offers", headers=network.affiliate_headers()).json()]
    assert ids == [network.cpl_offer["id"]]


def test_advertiser_cannot_list_offers(client, network):
    assert problem(client.get("/api/v1/offers", headers={"X-API-Key": network.advertiser["api_key"]}), 403)


def test_public_paths_need_no_key(client, network):
    assert client.get("/healthz").json()["database"] == "ok"
    assert client.get("/schema/openapi.json").status_code == 200
