"""Portal users and their sessions: argon2 passwords, throttled log-ins, revocable cookie sessions.

A portal user acts as the same `Principal` an API key does (role, advertiser or affiliate), so the
portal's pages call the very services the API calls and see exactly what that caller may see.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from leadmarket import audit
from leadmarket.clock import utcnow
from leadmarket.counters import shared_windows
from leadmarket.db import Base, UTCDateTime
from leadmarket.errors import DomainError, FieldError, InvalidInput, NotAuthenticated, NotFound
from leadmarket.identity import Principal, Role
from leadmarket.paging import Page, PageRequest, paginate
from leadmarket.settings import current_settings

SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 10
# After this many failed log-ins for one e-mail (or one IP) inside the window, refuse for a while.
LOGIN_FAILURES_PER_EMAIL = 5
LOGIN_FAILURES_PER_IP = 30
LOGIN_WINDOW_SECONDS = 900

_hasher = PasswordHasher()
# Verified when the e-mail is unknown, so a miss costs what a wrong password costs.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
TIME_ZONES = frozenset(available_timezones())


class TooManyAttempts(DomainError):
    """Too many failed attempts; the caller may try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed log-ins; try again in {retry_after // 60 + 1} minutes")


class User(Base):
    __tablename__ = "portal_user"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'finance', 'advertiser', 'affiliate')", name="role_known"),
        CheckConstraint(
            "(role = 'advertiser') = (advertiser_id IS NOT NULL)"
            " AND (role = 'affiliate') = (affiliate_id IS NOT NULL)",
            name="owner_matches_role",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    advertiser_id: Mapped[int | None] = mapped_column(ForeignKey("advertiser.id"), index=True)
    affiliate_id: Mapped[int | None] = mapped_column(ForeignKey("affiliate.id"), index=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def principal(self) -> Principal:
        return Principal(role=Role(self.role), advertiser_id=self.advertiser_id, affiliate_id=self.affiliate_id,
                         name=self.name, user_id=self.id, time_zone=self.time_zone)


class PortalSession(Base):
    """One logged-in browser. The cookie holds a random token; only its digest is stored."""

    __tablename__ = "portal_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _normalized_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput.one("email", str(exc)) from None


def password_problems(password: str) -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 200:
        problems.append("must be at most 200 characters")
    return problems


def create_user(session: Session, *, email: str, password: str, role: str, name: str = "",
                advertiser_id: int | None = None, affiliate_id: int | None = None,
                time_zone: str = "UTC", created_by: Principal | None = None) -> User:
    """Add a portal user to the caller's transaction; every bad field is reported at once."""
    errors: list[FieldError] = []
    normalized = ""
    try:
        normalized = _normalized_email(email)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    errors.extend(FieldError("password", reason) for reason in password_problems(password))
    try:
        kind = Role(role)
    except ValueError:
        errors.append(FieldError("role", "must be one of admin, finance, advertiser, affiliate"))
        kind = None
    if kind is Role.ADVERTISER and advertiser_id is None:
        errors.append(FieldError("advertiser_id", "an advertiser user needs an advertiser"))
    if kind is Role.AFFILIATE and affiliate_id is None:
        errors.append(FieldError("affiliate_id", "an affiliate user needs an affiliate"))
    if time_zone not in TIME_ZONES:
        errors.append(FieldError("time_zone", "unknown time zone"))
    if len(name) > 100:
        errors.append(FieldError("name", "must be at most 100 characters"))
    if normalized and session.execute(select(User.id).where(User.email == normalized)).first():
        errors.append(FieldError("email", "a user with this e-mail already exists"))
    if errors:
        raise InvalidInput(errors)
    assert kind is not None
    user = User(email=normalized, name=name.strip() or normalized.split("@")[0], password_hash=_hasher.hash(password),
                role=kind.value, advertiser_id=advertiser_id if kind is Role.ADVERTISER else None,
                affiliate_id=affiliate_id if kind is Role.AFFILIATE else None, time_zone=time_zone,
                created_at=utcnow())
    session.add(user)
    session.flush()
    audit.record(session, created_by, "user.create", "portal_user", user.id, {"role": kind.value})
    return user


def log_in(session: Session, email: str, password: str, *, client_ip: str) -> str:
    """Check a password and open a session; returns the cookie token. Failed attempts are counted
    per e-mail and per IP (Redis, or memory without it); past either limit every attempt is refused
    for the rest of the window, right password or not."""
    counters = shared_windows(current_settings())
    email_key = "login:email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    ip_key = "login:ip:" + client_ip
    keys = [(email_key, LOGIN_WINDOW_SECONDS), (ip_key, LOGIN_WINDOW_SECONDS)]
    failures = counters.count_many(keys)
    if failures is not None and (failures[0] >= LOGIN_FAILURES_PER_EMAIL or failures[1] >= LOGIN_FAILURES_PER_IP):
        raise TooManyAttempts(LOGIN_WINDOW_SECONDS)
    user = session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()
    if not _verify(user.password_hash if user else _DUMMY_HASH, password) or user is None or user.disabled_at:
        counters.hit_many(keys)
        raise NotAuthenticated("wrong e-mail or password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(PortalSession(token_digest=_digest(token), user_id=user.id, created_at=now,
                              expires_at=now + SESSION_LIFETIME))
    session.commit()
    return token


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def principal_for_session(session: Session, token: str | None) -> Principal | None:
    """The caller behind a session cookie, or None if it is unknown, expired, revoked or disabled."""
    if not token:
        return None
    row = session.execute(
        select(User).join(PortalSession, PortalSession.user_id == User.id)
        .where(PortalSession.token_digest == _digest(token), PortalSession.revoked_at.is_(None),
               PortalSession.expires_at > utcnow(), User.disabled_at.is_(None))
    ).scalar_one_or_none()
    return None if row is None else row.principal()


def log_out(session: Session, token: str | None) -> None:
    if not token:
        return
    session.execute(update(PortalSession).where(PortalSession.token_digest == _digest(token),
                                                PortalSession.revoked_at.is_(None)).values(revoked_at=utcnow()))
    session.commit()


def change_password(session: Session, principal: Principal, current_password: str, new_password: str) -> None:
    user = session.get(User, principal.user_id)
    if user is None:
        raise NotFound("user not found")
    errors = [FieldError("new_password", reason) for reason in password_problems(new_password)]
    if not _verify(user.password_hash, current_password):
        errors.insert(0, FieldError("current_password", "is not your current password"))
    if errors:
        raise InvalidInput(errors)
    user.password_hash = _hasher.hash(new_password)
    # Every other browser signed in as this user is signed out.
    session.execute(update(PortalSession).where(PortalSession.user_id == user.id, PortalSession.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))
    audit.record(session, principal, "user.change_password", "portal_user", user.id)
    session.commit()


def set_time_zone(session: Session, principal: Principal, time_zone: str) -> None:
    if time_zone not in TIME_ZONES:
        raise InvalidInput.one("time_zone", "unknown time zone")
    session.execute(update(User).where(User.id == principal.user_id).values(time_zone=time_zone))
    session.commit()


def disable_user(session: Session, principal: Principal, user_id: int) -> None:
    changed = session.execute(update(User).where(User.id == user_id, User.disabled_at.is_(None))
                              .values(disabled_at=utcnow())).rowcount
    if not changed and session.get(User, user_id) is None:
        raise NotFound(f"user {user_id} not found")
    session.execute(update(PortalSession).where(PortalSession.user_id == user_id, PortalSession.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))
    audit.record(session, principal, "user.disable", "portal_user", user_id)
    session.commit()


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name if name in TIME_ZONES else "UTC")


def users_page(session: Session, request: PageRequest) -> Page[User]:
    return paginate(session, select(User), request, {"id": User.id, "email": User.email, "role": User.role,
                                                     "created_at": User.created_at}, "id")


def ensure_user(session: Session, *, email: str, password: str, role: str, name: str = "",
                advertiser_id: int | None = None, affiliate_id: int | None = None) -> User:
    """Create the user, or give an existing one this password (and sign it out everywhere); for the
    demo, which prints fresh log-ins on every run as it prints fresh keys."""
    user = session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()
    if user is None:
        return create_user(session, email=email, password=password, role=role, name=name,
                           advertiser_id=advertiser_id, affiliate_id=affiliate_id)
    problems = password_problems(password)
    if problems:
        raise InvalidInput([FieldError("password", reason) for reason in problems])
    user.password_hash = _hasher.hash(password)
    user.disabled_at = None
    session.execute(update(PortalSession).where(PortalSession.user_id == user.id, PortalSession.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))
    session.flush()
    return user
