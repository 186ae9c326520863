"""API keys rotated and revoked: one's own keys only, a rotated key's grace period, a revoked key
stopping at once in this process and within the key cache's 5 s in any other, every change audited."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import select, update

from api.auth import KEY_CACHE_SECONDS, ApiKeyAuthentication
from leadmarket import api_keys
from leadmarket.audit import AuditEvent
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import Conflict
from leadmarket.identity import ApiKey, Role, create_api_key
from tests.support import principal_for, problem


def key_headers(raw: str) -> dict[str, str]:
    return {"X-API-Key": raw}


def works(client, raw: str) -> bool:
    status = client.get("/api/v1/api-keys", headers=key_headers(raw)).status_code
    assert status in (200, 401), status
    return status == 200


def audit_rows(db, action: str) -> list[AuditEvent]:
    with db() as session:
        return list(session.execute(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.id)).scalars())


def staff_key(db, role: Role, name: str) -> str:
    with db() as session, transaction(session):
        return create_api_key(session, role=role, name=name)[1]


def test_an_affiliate_lists_only_its_own_keys(client, network):
    mine = client.get("/api/v1/api-keys", headers=network.affiliate_headers())
    assert mine.status_code == 200, mine.text
    (key,) = mine.json()
    assert key["current"] is True and key["status"] == "active" and key["role"] == "affiliate"
    assert "api_key" not in key and "key_digest" not in key
    assert network.affiliate["api_key"].startswith(key["display_prefix"])
    theirs = client.get("/api/v1/api-keys", headers=network.affiliate_headers(other=True)).json()
    assert [k["id"] for k in theirs] != [key["id"]] and len(theirs) == 1


def test_another_key_works_and_belongs_to_the_same_company(client, network, db):
    answer = client.post("/api/v1/api-keys", headers=network.affiliate_headers(), json={"name": "billing robot"})
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    assert issued["api_key"].startswith("lmk_") and issued["name"] == "billing robot" and issued["current"] is False
    assert works(client, issued["api_key"])
    listed = client.get("/api/v1/api-keys", headers=key_headers(issued["api_key"])).json()
    assert [k["name"] for k in listed] == ["billing robot", "Bright Traffic (first key)"]
    assert principal_for(db, issued["api_key"]).affiliate_id == network.affiliate["id"]
    (event,) = audit_rows(db, "api_key.create")
    first_key_id = next(k["id"] for k in listed if not k["current"])
    assert (event.actor_key_id, event.actor_role, event.subject_id) == (first_key_id, "affiliate", str(issued["id"]))


def test_a_name_is_required(client, network):
    answer = client.post("/api/v1/api-keys", headers=network.affiliate_headers(), json={"name": "  "})
    assert problem(answer, 422)["errors"][0]["field"] == "name"


def test_a_rotated_key_keeps_working_for_its_grace_then_stops(client, network, db):
    old = network.affiliate["api_key"]
    assert works(client, old)  # in the key cache from here on
    answer = client.post("/api/v1/api-keys/rotate", headers=key_headers(old), json={"grace_seconds": 1})
    assert answer.status_code == 201, answer.text
    new = answer.json()
    ApiKeyAuthentication._cache.clear()  # the old key's grace is the database's answer, not a cached one
    assert works(client, new["api_key"]) and works(client, old)
    listed = {k["id"]: k for k in client.get("/api/v1/api-keys", headers=key_headers(new["api_key"])).json()}
    (previous,) = [k for k in listed.values() if k["id"] != new["id"]]
    assert previous["status"] == "expiring" and previous["replaced_by_id"] == new["id"] and previous["expires_at"]

    rotated_at = time.monotonic()
    while works(client, old):
        assert time.monotonic() - rotated_at < 1 + KEY_CACHE_SECONDS + 1, "the rotated key kept working"
        time.sleep(0.2)
    assert time.monotonic() - rotated_at >= 0.9  # not before its grace ran out
    assert works(client, new["api_key"])
    (event,) = audit_rows(db, "api_key.rotate")
    assert event.subject_id == str(previous["id"]) and event.details["new_key_id"] == new["id"]
    assert event.actor_key_id == previous["id"] and event.details["grace_seconds"] == 1


def test_rotation_without_a_body_uses_the_configured_grace(client, network, settings):
    answer = client.post("/api/v1/api-keys/rotate", headers=network.affiliate_headers())
    assert answer.status_code == 201, answer.text
    old = next(k for k in client.get("/api/v1/api-keys", headers=network.affiliate_headers()).json() if k["current"])
    assert old["status"] == "expiring" and old["replaced_by_id"] == answer.json()["id"]
    left = datetime.fromisoformat(old["expires_at"]) - utcnow()
    grace = timedelta(seconds=settings.api_key_rotation_grace_seconds)
    assert grace - timedelta(seconds=60) < left <= grace


def test_rotation_with_no_grace_stops_the_old_key_at_once(client, network):
    old = network.affiliate["api_key"]
    assert works(client, old)  # cached: the rotation must drop it from the cache
    answer = client.post("/api/v1/api-keys/rotate", headers=key_headers(old), json={"grace_seconds": 0})
    assert answer.status_code == 201, answer.text
    assert not works(client, old) and works(client, answer.json()["api_key"])


def test_a_key_rotates_once(client, network):
    old = network.affiliate["api_key"]
    first = client.post("/api/v1/api-keys/rotate", headers=key_headers(old), json={"grace_seconds": 60})
    assert first.status_code == 201
    again = client.post("/api/v1/api-keys/rotate", headers=key_headers(old), json={"grace_seconds": 60})
    assert "already replaced" in problem(again, 409)["detail"]


def test_grace_beyond_the_setting_is_refused(client, network, settings, db):
    answer = client.post("/api/v1/api-keys/rotate", headers=network.affiliate_headers(),
                         json={"grace_seconds": settings.api_key_rotation_grace_seconds + 1})
    assert problem(answer, 422)["errors"][0]["field"] == "grace_seconds"
    with db() as session:
        assert session.execute(select(ApiKey).where(ApiKey.affiliate_id == network.affiliate["id"])).all().__len__() == 1


def test_a_revoked_key_stops_at_once_in_this_process(client, network, db):
    spare = client.post("/api/v1/api-keys", headers=network.affiliate_headers(), json={"name": "spare"}).json()
    assert works(client, spare["api_key"])  # cached
    answer = client.post(f"/api/v1/api-keys/{spare['id']}/revoke", headers=network.affiliate_headers())
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "revoked" and answer.json()["revoked_at"]
    assert not works(client, spare["api_key"])
    (event,) = audit_rows(db, "api_key.revoke")
    assert event.subject_id == str(spare["id"]) and event.actor_role == "affiliate"
    again = client.post(f"/api/v1/api-keys/{spare['id']}/revoke", headers=network.affiliate_headers())
    assert again.status_code == 200 and len(audit_rows(db, "api_key.revoke")) == 1


def test_a_key_revoked_elsewhere_stops_within_the_cache_time(client, network, db):
    """Another web process revokes the key (here: its committed row, as that process would leave
    it); this process's cached lookup lets the key through for at most KEY_CACHE_SECONDS."""
    spare = client.post("/api/v1/api-keys", headers=network.affiliate_headers(), json={"name": "spare"}).json()
    assert works(client, spare["api_key"])
    with db() as session, transaction(session):
        session.execute(update(ApiKey).where(ApiKey.id == spare["id"]).values(revoked_at=utcnow()))
    revoked_at = time.monotonic()
    while works(client, spare["api_key"]):
        time.sleep(0.2)
    assert time.monotonic() - revoked_at <= KEY_CACHE_SECONDS + 0.5


def test_ones_last_working_key_cannot_be_revoked(client, network, db):
    (key,) = client.get("/api/v1/api-keys", headers=network.affiliate_headers()).json()
    answer = client.post(f"/api/v1/api-keys/{key['id']}/revoke", headers=network.affiliate_headers())
    assert "last working key" in problem(answer, 409)["detail"]
    assert works(client, network.affiliate["api_key"]) and audit_rows(db, "api_key.revoke") == []


def test_another_companys_key_is_not_found(client, network):
    (theirs,) = client.get("/api/v1/api-keys", headers=network.affiliate_headers(other=True)).json()
    answer = client.post(f"/api/v1/api-keys/{theirs['id']}/revoke", headers=network.affiliate_headers())
    problem(answer, 404)
    assert works(client, network.other_affiliate["api_key"])


def test_an_admin_revokes_anyones_key(client, network, db):
    everything = client.get("/api/v1/api-keys", headers=network.admin_headers).json()
    assert {k["role"] for k in everything} == {"admin", "affiliate", "advertiser"}
    (theirs,) = client.get("/api/v1/api-keys", headers=network.affiliate_headers(other=True)).json()
    assert works(client, network.other_affiliate["api_key"])
    answer = client.post(f"/api/v1/api-keys/{theirs['id']}/revoke", headers=network.admin_headers)
    assert answer.status_code == 200, answer.text
    assert not works(client, network.other_affiliate["api_key"])
    (event,) = audit_rows(db, "api_key.revoke")
    assert event.actor_role == "admin" and event.details["affiliate_id"] == network.other_affiliate["id"]


def test_staff_see_their_own_line_of_keys(client, db):
    finance = staff_key(db, Role.FINANCE, "finance desk")
    other_finance = staff_key(db, Role.FINANCE, "controller")
    staff_key(db, Role.ADMIN, "ops")
    second = client.post("/api/v1/api-keys", headers=key_headers(finance), json={"name": "finance laptop"}).json()
    rotated = client.post("/api/v1/api-keys/rotate", headers=key_headers(second["api_key"]), json={}).json()
    names = sorted(k["name"] for k in client.get("/api/v1/api-keys", headers=key_headers(rotated["api_key"])).json())
    assert names == ["finance desk", "finance laptop", "finance laptop"]
    assert [k["name"] for k in client.get("/api/v1/api-keys", headers=key_headers(other_finance)).json()] == [
        "controller"]
    stranger = client.post(f"/api/v1/api-keys/{second['id']}/revoke", headers=key_headers(other_finance))
    problem(stranger, 404)


def test_racing_revocations_of_the_last_two_keys_leave_one(client, network, db):
    spare = client.post("/api/v1/api-keys", headers=network.affiliate_headers(), json={"name": "spare"}).json()
    keys = [k["id"] for k in client.get("/api/v1/api-keys", headers=network.affiliate_headers()).json()]
    principal = principal_for(db, network.affiliate["api_key"])
    start = threading.Barrier(2)

    def revoke(key_id: int) -> bool:
        start.wait()
        with db() as session:
            try:
                api_keys.revoke_key(session, principal, key_id)
                return True
            except Conflict:
                return False

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(revoke, keys))
    assert sorted(outcomes) == [False, True]
    with db() as session:
        working = session.execute(select(ApiKey.id).where(ApiKey.affiliate_id == network.affiliate["id"],
                                                          ApiKey.revoked_at.is_(None))).scalars().all()
    assert len(working) == 1 and spare["id"] in keys
