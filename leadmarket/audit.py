"""The audit trail: who did what to which subject, when — one append-only row per decision.

Any domain may record here (review decisions, blocklist changes, payout approvals); rows are
written in the caller's transaction, so an audited change and its audit row commit together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from leadmarket.clock import utcnow
from leadmarket.db import Base, JSONType, UTCDateTime
from leadmarket.identity import Principal

BigId = BigInteger().with_variant(Integer, "sqlite")


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_subject", "subject_type", "subject_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor_key_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the trail outlives what it names
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def actor_label(principal: Principal) -> str:
    """How a decision's author is named on the row it changed, e.g. `admin:3`."""
    if principal.api_key_id is None:
        return principal.role.value
    return f"{principal.role.value}:{principal.api_key_id}"


def record(session: Session, principal: Principal | None, action: str, subject_type: str, subject_id: object,
           details: dict[str, Any] | None = None, *, at: datetime | None = None) -> AuditEvent:
    """Add one audit row to the caller's transaction (no contact data in `details`)."""
    event = AuditEvent(actor_key_id=principal.api_key_id if principal else None,
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
