"""Postpaid invoices: one per advertiser and calendar month (UTC), with one line per offer (and so
per vertical), issued as a Stripe invoice and settled by its `invoice.paid` webhook.

Status: draft (our rows exist; Stripe steps may still be pending) -> open (finalized at Stripe;
`sent_at` once Stripe sent it) -> paid (the webhook posted the payment to the ledger, once).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadmarket.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")

INVOICE_STATUSES = ("draft", "open", "paid")


class Invoice(Base):
    __tablename__ = "invoice"
    __table_args__ = (
        # A rerun for the same month finds this row instead of issuing a second invoice.
        UniqueConstraint("advertiser_id", "period"),
        CheckConstraint("status IN ('draft', 'open', 'paid')", name="status_known"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("period_start < period_end", name="period_ordered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertiser.id"))
    period: Mapped[str] = mapped_column(String(7))  # "2026-10": the calendar month, UTC
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # the lines' sum
    status: Mapped[str] = mapped_column(String(10), default="draft")
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_number: Mapped[str | None] = mapped_column(String(100))
    hosted_invoice_url: Mapped[str | None] = mapped_column(String(2000))
    amount_paid_minor: Mapped[int | None] = mapped_column(BigInteger)
    ledger_transaction_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("ledger_transaction.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InvoiceLine(Base):
    """What one offer cost the advertiser in the month: its sales' and approved conversions'
    charges less the refunds of returns made in the month (a return refunds in the month it is
    made, whichever month its sale was in)."""

    __tablename__ = "invoice_line"
    __table_args__ = (
        UniqueConstraint("invoice_id", "offer_id"),
        CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
        CheckConstraint("charged_minor >= 0 AND refunded_minor >= 0", name="parts_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"))
    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"))
    description: Mapped[str] = mapped_column(String(500))
    sales: Mapped[int] = mapped_column(Integer)
    conversions: Mapped[int] = mapped_column(Integer)
    returns: Mapped[int] = mapped_column(Integer)
    charged_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # charged - refunded
    currency: Mapped[str] = mapped_column(String(3))
    stripe_invoice_item_id: Mapped[str | None] = mapped_column(String(255), unique=True)
