"""The audit trail: who did what to which subject, when — one append-only row per decision.

Any domain may record here (review decisions, blocklist changes, payout approvals); rows are
written in the caller's transaction, so an audited change and its audit row commit together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from leadmarket.clock import utcnow
from leadmarket.db import Base, JSONType, UTCDateTime
from leadmarket.identity import Principal
from leadmarket.paging import Page, PageRequest, paginate

BigId = BigInteger().with_variant(Integer, "sqlite")


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_subject", "subject_type", "subject_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor_key_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the trail outlives what it names
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def actor_label(principal: Principal) -> str:
    """How a decision's author is named on the row it changed, e.g. `admin:3`."""
    if principal.user_id is not None:
        return f"{principal.role.value}:user:{principal.user_id}"
    if principal.api_key_id is None:
        return principal.role.value
    return f"{principal.role.value}:{principal.api_key_id}"


def record(session: Session, principal: Principal | None, action: str, subject_type: str, subject_id: object,
           details: dict[str, Any] | None = None, *, at: datetime | None = None) -> AuditEvent:
    """Add one audit row to the caller's transaction (no contact data in `details`)."""
    event = AuditEvent(actor_key_id=principal.api_key_id if principal else None,
                       actor_user_id=principal.user_id if principal else None,
                       actor_role=principal.role.value if principal else "system",
                       actor_name=(principal.name if principal else "system")[:100],
                       action=action, subject_type=subject_type, subject_id=str(subject_id),
                       details=details or {}, at=at or utcnow())
    session.add(event)
    return event


def events_for(session: Session, subject_type: str, subject_id: object) -> list[AuditEvent]:
    query = (select(AuditEvent).where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == str(subject_id))
             .order_by(AuditEvent.at, AuditEvent.id))
    return list(session.execute(query).scalars())


EVENT_SORT_COLUMNS = {"at": AuditEvent.at, "action": AuditEvent.action, "actor": AuditEvent.actor_name,
                      "subject": AuditEvent.subject_type}


def events_page(session: Session, request: PageRequest, *, action: str | None = None, actor: str | None = None,
                subject: str | None = None) -> Page[AuditEvent]:
    """The trail, newest first by default. `actor` matches a name (any part, any case) or a role;
    `subject` is a type (`payout`) or a type and id (`payout:12`)."""
    query = select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        pattern = "%" + actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(AuditEvent.actor_name.ilike(pattern, escape="\\"), AuditEvent.actor_role == actor))
    if subject:
        subject_type, _, subject_id = subject.partition(":")
        query = query.where(AuditEvent.subject_type == subject_type.strip())
        if subject_id.strip():
            query = query.where(AuditEvent.subject_id == subject_id.strip())
    return paginate(session, query, request, EVENT_SORT_COLUMNS, "at")


def recorded_actions(session: Session) -> list[str]:
    """Every action name the trail holds, for a filter's choices."""
    return list(session.execute(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).scalars())
