"""Who is calling: roles, principals and API keys (shown once, stored as a SHA-256 digest)."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from leadmarket.clock import utcnow
from leadmarket.db import Base, UTCDateTime
from leadmarket.errors import FieldError, InvalidInput, NotAuthenticated

KEY_PREFIX = "lmk_"


class Role(enum.StrEnum):
    ADMIN = "admin"
    FINANCE = "finance"
    ADVERTISER = "advertiser"
    AFFILIATE = "affiliate"


STAFF_ROLES = (Role.ADMIN, Role.FINANCE)


@dataclass(frozen=True)
class Principal:
    role: Role
    api_key_id: int | None = None
    advertiser_id: int | None = None
    affiliate_id: int | None = None
    name: str = ""
    user_id: int | None = None  # set when the caller is a portal user rather than an API key
    time_zone: str = "UTC"

    @property
    def scope(self) -> str:
        """A stable name for this caller's tenancy (idempotency keys live in it)."""
        if self.affiliate_id is not None:
            return f"affiliate:{self.affiliate_id}"
        if self.advertiser_id is not None:
            return f"advertiser:{self.advertiser_id}"
        if self.user_id is not None:
            return f"{self.role.value}:user:{self.user_id}"
        return f"{self.role.value}:{self.api_key_id}"


class ApiKey(Base):
    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'finance', 'advertiser', 'affiliate')", name="role_known"),
        CheckConstraint(
            "(role = 'advertiser') = (advertiser_id IS NOT NULL)"
            " AND (role = 'affiliate') = (affiliate_id IS NOT NULL)",
            name="owner_matches_role",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    display_prefix: Mapped[str] = mapped_column(String(16))
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    advertiser_id: Mapped[int | None] = mapped_column(ForeignKey("advertiser.id"), index=True)
    affiliate_id: Mapped[int | None] = mapped_column(ForeignKey("affiliate.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Rotation (leadmarket/api_keys.py): a replaced key works until `expires_at`, beside its
    # successor; `family_id` is the first key of a staff caller's line (their own keys).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    family_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"), index=True)


def digest(raw_key: str) -> str:
    # Keys carry 256 random bits, so a fast digest is as safe as a slow hash and keeps
    # authentication off the hot path's budget; passwords use argon2 instead.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_api_key(session: Session, *, role: Role, name: str, advertiser_id: int | None = None,
                   affiliate_id: int | None = None) -> tuple[ApiKey, str]:
    """Add a key to the caller's transaction; returns the row and the raw key (never stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput([FieldError("name", "must be 1 to 100 characters")])
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role.value, display_prefix=raw[:12], key_digest=digest(raw),
                 advertiser_id=advertiser_id, affiliate_id=affiliate_id, created_at=utcnow())
    session.add(key)
    session.flush()
    return key, raw


def authenticate(session: Session, raw_key: str | None) -> Principal:
    if not raw_key:
        raise NotAuthenticated("missing X-API-Key header")
    key = session.execute(
        select(ApiKey).where(ApiKey.key_digest == digest(raw_key.strip()), ApiKey.revoked_at.is_(None),
                             or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > utcnow()))
    ).scalar_one_or_none()
    if key is None:
        raise NotAuthenticated("unknown or revoked API key")
    return Principal(role=Role(key.role), api_key_id=key.id, advertiser_id=key.advertiser_id,
                     affiliate_id=key.affiliate_id, name=key.name)
