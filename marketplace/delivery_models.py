"""Delivery and return tables: one delivery per sale with every attempt, and advertisers' returns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from leadmarket.db import Base, UTCDateTime
from marketplace.models import BigId

DELIVERY_STATUSES = ("pending", "sending", "retrying", "delivered", "dead", "no_endpoint")
RETURN_STATUSES = ("pending", "approved", "rejected")


class Delivery(Base):
    """Sending one sale to its buyer's webhook. `sending` rows belong to the worker that claimed
    them until `lease_until`; a worker claims a row with one conditional UPDATE, so two never
    send the same sale at once. `attempts` counts the calls made (each one is a DeliveryAttempt)."""

    __tablename__ = "delivery"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sending', 'retrying', 'delivered', 'dead', 'no_endpoint')",
                        name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_delivery_status_updated_at", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sale.id"), unique=True)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryAttempt(Base):
    """One call to a buyer's webhook: when, how long, what came back (no body: it may hold contact data)."""

    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))


class SaleReturn(Base):
    """An advertiser's return of one sale: at most one per sale (the unique `sale_id`), so a
    second request — or a concurrent twin — is refused by the database. `affiliate_id` and
    `sub1` are copied from the lead for the returns report by source."""

    __tablename__ = "sale_return"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),
        Index("ix_sale_return_advertiser_id_created_at", "advertiser_id", "created_at"),
        Index("ix_sale_return_affiliate_id_created_at", "affiliate_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("sale.id"), unique=True)
    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertiser.id"))
    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"))
    sub1: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(10))
    auto_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    refund_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100))


__all__ = ["DELIVERY_STATUSES", "RETURN_STATUSES", "Delivery", "DeliveryAttempt", "SaleReturn"]
