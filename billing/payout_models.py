"""Affiliate payouts: one row per affiliate, currency and period, the payable ledger entries each
payout consumed (an entry is consumed by at most one live payout), and finance's approvals.

Status: draft -> approved -> (paying ->) paid; draft|held -> rejected; draft|approved -> held.
A `fraud` hold is cleared or forfeited only by an admin; nothing pays a held payout.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadmarket.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")

PAYOUT_STATUSES = ("draft", "held", "approved", "paying", "paid", "rejected", "forfeited")


class Payout(Base):
    __tablename__ = "payout"
    __table_args__ = (
        # A run for the same period finds the payouts it drafted before instead of drafting twice.
        UniqueConstraint("affiliate_id", "currency", "period_start", "period_end"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("status IN ('draft', 'held', 'approved', 'paying', 'paid', 'rejected', 'forfeited')",
                        name="status_known"),
        CheckConstraint("hold_kind IS NULL OR hold_kind IN ('finance', 'fraud')", name="hold_kind_known"),
        CheckConstraint("method IS NULL OR method IN ('stripe', 'bank')", name="method_known"),
        CheckConstraint("approvals_needed BETWEEN 1 AND 2", name="approvals_needed_range"),
        CheckConstraint("period_start < period_end", name="period_ordered"),
        Index("ix_payout_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the run looked: commission younger than its vertical's return window at this time waited.
    cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    entry_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    approvals_needed: Mapped[int] = mapped_column(SmallInteger, default=1)
    hold_kind: Mapped[str | None] = mapped_column(String(10))
    hold_note: Mapped[str | None] = mapped_column(String(500))
    method: Mapped[str | None] = mapped_column(String(10))
    paid_reference: Mapped[str | None] = mapped_column(String(255))  # Stripe transfer id or bank batch
    ledger_transaction_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("ledger_transaction.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PayoutEntry(Base):
    """A payable ledger entry a payout covers; a rejected payout releases its entries (they carry
    into a later run), and no entry is ever covered by two live payouts (the partial unique index)."""

    __tablename__ = "payout_entry"
    __table_args__ = (
        Index("uq_payout_entry_live", "ledger_entry_id", unique=True,
              postgresql_where=text("NOT released"), sqlite_where=text("NOT released")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("payout.id"), index=True)
    ledger_entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_entry.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    released: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class PayoutApproval(Base):
    """One finance user's approval of a payout; the same user approves a payout once."""

    __tablename__ = "payout_approval"
    __table_args__ = (UniqueConstraint("payout_id", "approver"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("payout.id"))
    approver: Mapped[str] = mapped_column(String(100))  # the caller's scope, e.g. "finance:3"
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime)
