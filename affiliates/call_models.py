"""Call tracking tables: an affiliate's tracking phone numbers, and the calls the telephony provider
reports to them (a call longer than the offer's minimum becomes a lead)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from leadmarket.db import Base, UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids for big tables.
BigId = BigInteger().with_variant(Integer, "sqlite")

NUMBER_STATUSES = ("active", "paused")
# `pending` lives only inside the transaction that files the call's lead; it never commits.
CALL_STATUSES = ("pending", "lead", "too_short")
CALL_CONTACT_PURPOSE = b"call.contact"  # associated data of `call.contact_sealed` (leadmarket/crypto.py)


class TrackingNumber(Base):
    """A phone number (E.164) the network rents for one affiliate's traffic to one offer: whoever
    dials it is that affiliate's caller. A number belongs to one affiliate at a time (unique)."""

    __tablename__ = "tracking_number"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused')", name="status_known"),
        Index("ix_tracking_number_affiliate_id_offer_id", "affiliate_id", "offer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Call(Base):
    """One call the provider reported, once per provider call id (a retried webhook finds it)."""

    __tablename__ = "call"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'lead', 'too_short')", name="status_known"),
        CheckConstraint("duration_seconds >= 0", name="duration_not_negative"),
        CheckConstraint("(status = 'lead') = (lead_id IS NOT NULL)", name="lead_iff_status_lead"),
        Index("ix_call_affiliate_id_received_at", "affiliate_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_call_id: Mapped[str] = mapped_column(String(100), unique=True)
    tracking_number_id: Mapped[int] = mapped_column(ForeignKey("tracking_number.id"), index=True)
    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"))
    # The caller's number and the recording's URL, sealed together (leadmarket/crypto.py,
    # CALL_CONTACT_PURPOSE); NULL once the call's lead was erased on a privacy request.
    contact_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    # The offer's minimum as it was when the call came in: why a call was too short stays explainable.
    min_call_seconds: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10))
    lead_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("lead.id"), unique=True)


__all__ = ["CALL_CONTACT_PURPOSE", "CALL_STATUSES", "NUMBER_STATUSES", "Call", "TrackingNumber"]
