"""Idempotency-Key records: a retried request with the same key and body gets the first answer.

The record is inserted in the same transaction as the work it guards, so a key is either
bound to committed work and its answer, or to nothing at all.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint, delete, select, tuple_
from sqlalchemy.orm import Mapped, Session, mapped_column

from leadmarket import bulk, crypto
from leadmarket.clock import utcnow
from leadmarket.db import Base, JSONType, UTCDateTime, transaction
from leadmarket.errors import Conflict, FieldError, InvalidInput
from leadmarket.upsert import insert_ignoring_conflicts

MAX_KEY_LENGTH = 200


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyKeyReused(Conflict):
    def __init__(self) -> None:
        super().__init__("Idempotency-Key was already used with a different request body")


@dataclass(frozen=True)
class Claim:
    """The key is bound to this request, in the open transaction; `complete` stores its answer."""

    record_id: int


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


def request_hash(raw: bytes) -> str:
    """A keyed hash (HMAC-SHA256 with the hash key) of the body: a lead's body holds contact data,
    and an unkeyed hash of it could be confirmed by anyone who guesses the body."""
    return hmac.new(crypto.hash_key(), raw, hashlib.sha256).hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput([FieldError("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} printable characters")])


def claim_many(session: Session, requests: list[tuple[str, str, str]]) -> list[Claim | Replay | Conflict]:
    """Bind each (scope, key, body hash) to its request inside the caller's transaction; answered in
    order with its claim (to complete later), the first answer when the same request was already
    done, or a conflict — returned, not raised, so the others go on. One INSERT, and one SELECT
    when some keys were already used; a concurrent twin blocks on the unique index until the first
    commits. The (scope, key) pairs must be distinct and checked (`check_key`); rows go in in key
    order, so two batches sharing keys lock them in one order."""
    if not requests:
        return []
    now = utcnow()
    rows = sorted(requests)
    inserted = insert_ignoring_conflicts(
        session, IdempotencyRecord,
        [{"scope": scope, "key": key, "request_hash": body_hash, "created_at": now} for scope, key, body_hash in rows],
        conflict_columns=["scope", "key"], returning=[IdempotencyRecord.scope, IdempotencyRecord.key,
                                                      IdempotencyRecord.id])
    claimed = {(scope, key): record_id for scope, key, record_id in inserted}
    taken = [(scope, key) for scope, key, _ in requests if (scope, key) not in claimed]
    existing: dict[tuple[str, str], Any] = {}
    if taken:
        existing = {(record.scope, record.key): record for record in session.execute(
            select(IdempotencyRecord.scope, IdempotencyRecord.key, IdempotencyRecord.request_hash,
                   IdempotencyRecord.response_status, IdempotencyRecord.response_body)
            .where(tuple_(IdempotencyRecord.scope, IdempotencyRecord.key).in_(taken)))}
    return [Claim(claimed[(scope, key)]) if (scope, key) in claimed
            else _replay(existing[(scope, key)], body_hash) for scope, key, body_hash in requests]


def _replay(existing: Any, body_hash: str) -> Replay | Conflict:
    if existing.request_hash != body_hash:
        return IdempotencyKeyReused()
    if existing.response_status is None:
        return Conflict("a request with this Idempotency-Key is still in progress")
    return Replay(existing.response_status, existing.response_body or {})


def complete_many(session: Session, answers: list[tuple[Claim, int, dict[str, Any]]]) -> None:
    """Store each claim's answer, in the same transaction as the work, in one round trip (a Core
    UPDATE: no ORM object to track and flush on the hot path)."""
    bulk.update_rows(session, IdempotencyRecord.__table__, "id", [
        {"id": claim.record_id, "response_status": status, "response_body": body} for claim, status, body in answers])


def purge_before(session: Session, cutoff: datetime) -> int:
    """Forget keys older than `cutoff`; a retry after that counts as a new request."""
    with transaction(session):
        result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(result.rowcount or 0)
