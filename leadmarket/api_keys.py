"""API keys over their life: a caller's own keys, another key, rotation with a grace period, revocation.

Whose keys are whose: an advertiser's or affiliate's keys are their company's; a staff (admin,
finance) key's own keys are its family, the keys issued or rotated from it. Admins see and may
revoke every key. Every change is audited; a revocation reaches this process's key cache at once
(`on_revoke`) and other processes within their cache time (api/auth.py, 5 s).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

import msgspec
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from leadmarket import audit
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import Conflict, InvalidInput, NotFound
from leadmarket.identity import ApiKey, Principal, Role, create_api_key
from leadmarket.settings import current_settings

KeyStatus = Literal["active", "expiring", "expired", "revoked"]


class ApiKeyView(msgspec.Struct, kw_only=True):
    id: int
    name: str
    role: str
    display_prefix: str
    status: KeyStatus
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    replaced_by_id: int | None
    current: bool  # the key this request was made with


class ApiKeyIssued(ApiKeyView, kw_only=True):
    api_key: str  # shown this once; only its digest is stored


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class ApiKeyRotate(msgspec.Struct, forbid_unknown_fields=True):
    # How long the rotated key keeps working; at most (and by default) the configured grace.
    grace_seconds: int | None = None


class ApiKeyAlreadyRotated(Conflict):
    pass


class LastApiKey(Conflict):
    pass


_revocation_listeners: list[Callable[[str], None]] = []


def on_revoke(listener: Callable[[str], None]) -> None:
    """Call `listener(key_digest)` after a key stops working here (revoked, or rotated with no grace)."""
    _revocation_listeners.append(listener)


def _stopped(digests: list[str]) -> None:
    for key_digest in digests:
        for listener in _revocation_listeners:
            listener(key_digest)


def status_of(key: ApiKey, now: datetime) -> KeyStatus:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is None:
        return "active"
    return "expiring" if key.expires_at > now else "expired"


def _view(key: ApiKey, principal: Principal, now: datetime) -> ApiKeyView:
    return ApiKeyView(id=key.id, name=key.name, role=key.role, display_prefix=key.display_prefix,
                      status=status_of(key, now), created_at=key.created_at, expires_at=key.expires_at,
                      revoked_at=key.revoked_at, replaced_by_id=key.replaced_by_id,
                      current=key.id == principal.api_key_id)


def _family_of(session: Session, principal: Principal) -> int | None:
    if principal.api_key_id is None:
        return None
    family = session.execute(select(func.coalesce(ApiKey.family_id, ApiKey.id))
                             .where(ApiKey.id == principal.api_key_id)).scalar_one_or_none()
    return int(family) if family is not None else None


def _owned_by(session: Session, principal: Principal) -> ColumnElement[bool]:
    """The caller's own keys: their company's, or for staff their key's family."""
    if principal.advertiser_id is not None:
        return ApiKey.advertiser_id == principal.advertiser_id
    if principal.affiliate_id is not None:
        return ApiKey.affiliate_id == principal.affiliate_id
    family = _family_of(session, principal)
    return (func.coalesce(ApiKey.family_id, ApiKey.id) == family) & (ApiKey.role == principal.role.value)


def _working(now: datetime) -> ColumnElement[bool]:
    return ApiKey.revoked_at.is_(None) & (ApiKey.expires_at.is_(None) | (ApiKey.expires_at > now))


def list_keys(session: Session, principal: Principal) -> list[ApiKeyView]:
    """The caller's own keys, newest first; an admin's list holds every key of the network."""
    now = utcnow()
    query = select(ApiKey).order_by(ApiKey.id.desc())
    if principal.role != Role.ADMIN:
        query = query.where(_owned_by(session, principal))
    return [_view(key, principal, now) for key in session.execute(query).scalars()]


def create_key(session: Session, principal: Principal, data: ApiKeyCreate) -> ApiKeyIssued:
    """Another key for the caller's own use: same role, same company (or the same staff family)."""
    with transaction(session):
        key, raw = _issue(session, principal, data.name, family_id=_family_of(session, principal))
        audit.record(session, principal, "api_key.create", "api_key", key.id, {"name": key.name})
        issued = _issued(key, raw, principal)
    return issued


def rotate_key(session: Session, principal: Principal, data: ApiKeyRotate) -> ApiKeyIssued:
    """Replace the key this request was made with: the answer holds its successor; the old key
    keeps working for the grace period, then stops."""
    limit = current_settings().api_key_rotation_grace_seconds
    grace = limit if data.grace_seconds is None else data.grace_seconds
    if not 0 <= grace <= limit:
        raise InvalidInput.one("grace_seconds", f"must be between 0 and {limit}")
    if principal.api_key_id is None:
        raise InvalidInput.one("X-API-Key", "rotation replaces the key a request is made with; send it")
    stopped: list[str] = []
    with transaction(session):
        # the row lock makes two rotations of one key give one successor, not two
        old = session.execute(select(ApiKey).where(ApiKey.id == principal.api_key_id).with_for_update()).scalar_one()
        now = utcnow()
        if old.revoked_at is not None or old.replaced_by_id is not None:
            raise ApiKeyAlreadyRotated(f"key {old.id} was already replaced by key {old.replaced_by_id}; "
                                       "rotate with that one")
        new, raw = _issue(session, principal, old.name, family_id=old.family_id or old.id)
        ends = now + timedelta(seconds=grace)
        old.expires_at = ends if old.expires_at is None else min(old.expires_at, ends)
        old.replaced_by_id = new.id
        if grace == 0:
            stopped.append(old.key_digest)
        audit.record(session, principal, "api_key.rotate", "api_key", old.id,
                     {"new_key_id": new.id, "grace_seconds": grace, "expires_at": old.expires_at.isoformat()})
        issued = _issued(new, raw, principal)
    _stopped(stopped)
    return issued


def revoke_key(session: Session, principal: Principal, key_id: int) -> ApiKeyView:
    """Stop a key now. One's own, or (admins) anyone's; another company's key is NotFound. A
    caller cannot revoke their own last working key (rotate it instead)."""
    with transaction(session):
        now = utcnow()
        owned = _owned_by(session, principal)
        # Lock the caller's working keys first, always in id order: two revocations racing for
        # the last two keys queue here (no deadlock) and the second counts what the first left.
        working = session.execute(select(ApiKey.id).where(owned, _working(now)).order_by(ApiKey.id)
                                  .with_for_update()).scalars().all()
        query = select(ApiKey).where(ApiKey.id == key_id)
        if principal.role != Role.ADMIN:
            query = query.where(owned)
        key = session.execute(query.with_for_update()).scalar_one_or_none()
        if key is None:
            raise NotFound(f"API key {key_id} not found")
        if key.revoked_at is not None:
            return _view(key, principal, now)
        if key.id in working and len(working) == 1:
            raise LastApiKey(f"key {key.id} is your last working key; create or rotate to another first")
        key.revoked_at = now
        audit.record(session, principal, "api_key.revoke", "api_key", key.id,
                     {"role": key.role, "advertiser_id": key.advertiser_id, "affiliate_id": key.affiliate_id})
        view = _view(key, principal, now)
        revoked_digest = key.key_digest
    _stopped([revoked_digest])
    return view


def _issue(session: Session, principal: Principal, name: str, *, family_id: int | None) -> tuple[ApiKey, str]:
    key, raw = create_api_key(session, role=principal.role, name=name, advertiser_id=principal.advertiser_id,
                              affiliate_id=principal.affiliate_id)
    if principal.advertiser_id is None and principal.affiliate_id is None:
        key.family_id = family_id
    return key, raw


def _issued(key: ApiKey, raw: str, principal: Principal) -> ApiKeyIssued:
    now = utcnow()
    return ApiKeyIssued(id=key.id, name=key.name, role=key.role, display_prefix=key.display_prefix,
                        status=status_of(key, now), created_at=key.created_at, expires_at=key.expires_at,
                        revoked_at=key.revoked_at, replaced_by_id=key.replaced_by_id,
                        current=key.id == principal.api_key_id, api_key=raw)

