"""Affiliate-side tables: affiliate accounts and the offers they promote."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadmarket.db import Base, UTCDateTime


class Affiliate(Base):
    __tablename__ = "affiliate"
    __table_args__ = (CheckConstraint("status IN ('active', 'paused')", name="status_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The affiliate's Stripe Connect account (acct_...), set by an admin; payouts by `stripe` go there.
    stripe_account_id: Mapped[str | None] = mapped_column(String(255))


class Offer(Base):
    __tablename__ = "offer"
    __table_args__ = (
        CheckConstraint("kind IN ('marketplace', 'targeted')", name="kind_known"),
        CheckConstraint("(kind = 'targeted') = (advertiser_id IS NOT NULL)", name="targeted_has_advertiser"),
        CheckConstraint("payout_model IN ('cpl', 'cpa')", name="payout_model_known"),
        CheckConstraint("payout_minor >= 0", name="payout_not_negative"),
        CheckConstraint("revenue_minor IS NULL OR revenue_minor >= 0", name="revenue_not_negative"),
        CheckConstraint("status IN ('active', 'paused')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    advertiser_id: Mapped[int | None] = mapped_column(ForeignKey("advertiser.id"), index=True)
    payout_model: Mapped[str] = mapped_column(String(3))
    payout_minor: Mapped[int] = mapped_column(BigInteger)
    revenue_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    landing_url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Overrides of the vertical's fraud thresholds and of the default minimum form time (NULL: inherit).
    review_at: Mapped[int | None] = mapped_column(
        SmallInteger, CheckConstraint("review_at BETWEEN 1 AND 100", name="review_at_range"))
    reject_at: Mapped[int | None] = mapped_column(
        SmallInteger, CheckConstraint("reject_at BETWEEN 1 AND 100", name="reject_at_range"))
    min_form_seconds: Mapped[int | None] = mapped_column(
        Integer, CheckConstraint("min_form_seconds BETWEEN 0 AND 3600", name="min_form_seconds_range"))
    # CPA: conversions per UTC day this offer pays for; more are recorded as `over_cap` (NULL: no cap).
    daily_conversion_cap: Mapped[int | None] = mapped_column(
        Integer, CheckConstraint("daily_conversion_cap > 0", name="daily_conversion_cap_positive"))
    # Calls to the offer's tracking numbers this long or shorter make no lead (NULL: 60 s, see affiliates/calls.py).
    min_call_seconds: Mapped[int | None] = mapped_column(
        Integer, CheckConstraint("min_call_seconds BETWEEN 0 AND 3600", name="min_call_seconds_range"))

    vertical = relationship("Vertical", lazy="joined")
