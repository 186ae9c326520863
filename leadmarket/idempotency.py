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

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from leadmarket import crypto
from leadmarket.clock import utcnow
from leadmarket.db import Base, JSONType, UTCDateTime, transaction
from leadmarket.errors import Conflict, FieldError, InvalidInput
from leadmarket.upsert import insert_ignoring_conflict

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


def claim(session: Session, scope: str, key: str, body_hash: str) -> Claim | Replay:
    """Bind `key` to this request inside the caller's transaction.

    Returns the claim to complete later, or the first answer when the same request was
    already done. A concurrent twin blocks on the unique index until the first commits.
    """
    check_key(key)
    record_id = insert_ignoring_conflict(
        session, IdempotencyRecord,
        {"scope": scope, "key": key, "request_hash": body_hash, "created_at": utcnow()},
        conflict_columns=["scope", "key"], returning=IdempotencyRecord.id,
    )
    if record_id is not None:
        return Claim(record_id)
    existing = session.execute(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    ).scalar_one()
    if existing.request_hash != body_hash:
        raise IdempotencyKeyReused()
    if existing.response_status is None:
        raise Conflict("a request with this Idempotency-Key is still in progress")
    return Replay(existing.response_status, existing.response_body or {})


def complete(session: Session, claim: Claim, status: int, body: dict[str, Any]) -> None:
    """Store the answer with the claim, in the same transaction as the work (a Core UPDATE: no ORM
    object to track and flush on the hot path)."""
    session.connection().execute(update(IdempotencyRecord).where(IdempotencyRecord.id == claim.record_id)
                                 .values(response_status=status, response_body=body))


def purge_before(session: Session, cutoff: datetime) -> int:
    """Forget keys older than `cutoff`; a retry after that counts as a new request."""
    with transaction(session):
        result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(result.rowcount or 0)
