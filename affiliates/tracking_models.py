"""Traffic tables: tracking links, the clicks through them, affiliates' traffic costs, and the
daily rollups the stats are served from."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadmarket.db import Base, UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids for big tables.
BigId = BigInteger().with_variant(Integer, "sqlite")

SUB_COLUMNS = ("sub1", "sub2", "sub3", "sub4", "sub5")


class TrackingLink(Base):
    """An affiliate's link for one offer: `/r/{code}` records a click and redirects to the landing."""

    __tablename__ = "tracking_link"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused')", name="status_known"),
        Index("ix_tracking_link_affiliate_id_offer_id", "affiliate_id", "offer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"), index=True)
    # Default sub-ids, used when the click's query string does not carry its own.
    sub1: Mapped[str | None] = mapped_column(String(255))
    sub2: Mapped[str | None] = mapped_column(String(255))
    sub3: Mapped[str | None] = mapped_column(String(255))
    sub4: Mapped[str | None] = mapped_column(String(255))
    sub5: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Click(Base):
    """One visit through a tracking link; written in batches from the click stream.

    An append-only log at the scale of millions a day: no foreign keys (the ids are copied from
    the link row the redirect resolved). In PostgreSQL it is partitioned by month of `clicked_at`
    (leadmarket/partitions.py), so the key is (click_id, clicked_at): the click_id begins with its
    time in milliseconds, so both are known from the stream entry and a replayed batch is harmless.
    """

    __tablename__ = "click"
    __table_args__ = (
        CheckConstraint("cost_minor IS NULL OR cost_minor >= 0", name="cost_not_negative"),
        Index("ix_click_affiliate_id_offer_id_clicked_at", "affiliate_id", "offer_id", "clicked_at"),
        Index("ix_click_clicked_at", "clicked_at"),
    )

    click_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    link_id: Mapped[int] = mapped_column(Integer)
    affiliate_id: Mapped[int] = mapped_column(Integer)
    offer_id: Mapped[int] = mapped_column(Integer)
    sub1: Mapped[str | None] = mapped_column(String(255))
    sub2: Mapped[str | None] = mapped_column(String(255))
    sub3: Mapped[str | None] = mapped_column(String(255))
    sub4: Mapped[str | None] = mapped_column(String(255))
    sub5: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    referrer: Mapped[str | None] = mapped_column(String(1000))
    country: Mapped[str | None] = mapped_column(String(2))
    cost_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # First visit of this (IP, user agent) through this link on this UTC day.
    is_unique: Mapped[bool] = mapped_column(Boolean)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)

    @property
    def sub_ids(self) -> dict[str, str]:
        return {key: value for key in SUB_COLUMNS if (value := getattr(self, key))}


class TrafficCost(Base):
    """What an affiliate spent on traffic for one day, offer and sub-id combination.

    Sub-ids the affiliate did not name are '' (not NULL) so the unique key holds; posting the
    same day/offer/sub-ids again replaces the amount (a correction, not a second spend).
    """

    __tablename__ = "traffic_cost"
    __table_args__ = (
        UniqueConstraint("affiliate_id", "offer_id", "day", "sub1", "sub2", "sub3", "sub4", "sub5",
                         name="uq_traffic_cost_slice"),
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        Index("ix_traffic_cost_day", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    sub1: Mapped[str] = mapped_column(String(255), default="")
    sub2: Mapped[str] = mapped_column(String(255), default="")
    sub3: Mapped[str] = mapped_column(String(255), default="")
    sub4: Mapped[str] = mapped_column(String(255), default="")
    sub5: Mapped[str] = mapped_column(String(255), default="")
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class _RollupKey:
    """The dimensions every rollup row is keyed by; '' stands for "none" so they can be a key."""

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    affiliate_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sub1: Mapped[str] = mapped_column(String(255), primary_key=True)
    sub2: Mapped[str] = mapped_column(String(255), primary_key=True)
    sub3: Mapped[str] = mapped_column(String(255), primary_key=True)
    sub4: Mapped[str] = mapped_column(String(255), primary_key=True)
    sub5: Mapped[str] = mapped_column(String(255), primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)


class _CoarseKey:
    """The coarse rollups' dimensions: the fine ones without sub-ids (most reads need no sub-id,
    and sub-ids multiply the rows by their cardinality)."""

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    affiliate_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)


class _ClickMeasures:
    """What a click rollup row counts (fine and coarse tables alike)."""

    currency: Mapped[str] = mapped_column(String(3))
    clicks: Mapped[int] = mapped_column(BigInteger)
    unique_clicks: Mapped[int] = mapped_column(BigInteger)
    cost_minor: Mapped[int] = mapped_column(BigInteger)


class _ActivityMeasures:
    """What an activity rollup row counts (fine and coarse tables alike)."""

    currency: Mapped[str] = mapped_column(String(3))
    leads: Mapped[int] = mapped_column(BigInteger)
    accepted: Mapped[int] = mapped_column(BigInteger)
    sold: Mapped[int] = mapped_column(BigInteger)
    review: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)
    conversions: Mapped[int] = mapped_column(BigInteger)
    approved_conversions: Mapped[int] = mapped_column(BigInteger)
    commission_minor: Mapped[int] = mapped_column(BigInteger)
    revenue_minor: Mapped[int] = mapped_column(BigInteger)
    cost_minor: Mapped[int] = mapped_column(BigInteger)


class ClickRollup(_ClickMeasures, _RollupKey, Base):
    """Clicks per day and dimensions, added to in the same transaction that inserts the clicks."""

    __tablename__ = "stats_click_daily"
    __table_args__ = (Index("ix_stats_click_daily_affiliate_id_day", "affiliate_id", "day"),)


class ActivityRollup(_ActivityMeasures, _RollupKey, Base):
    """Leads, conversions, money and traffic costs per day and dimensions; whole days are
    recomputed from their source tables by the stats worker (affiliates/rollups.py)."""

    __tablename__ = "stats_activity_daily"
    __table_args__ = (Index("ix_stats_activity_daily_affiliate_id_day", "affiliate_id", "day"),)


class RejectionRollup(_RollupKey, Base):
    """Rejected leads per day, dimensions and reason (recomputed with the activity rollup)."""

    __tablename__ = "stats_rejection_daily"
    __table_args__ = (
        PrimaryKeyConstraint("day", "affiliate_id", "offer_id", *SUB_COLUMNS, "country", "reason"),
        Index("ix_stats_rejection_daily_affiliate_id_day", "affiliate_id", "day"),
    )

    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    rejected: Mapped[int] = mapped_column(BigInteger)


class OfferClickRollup(_ClickMeasures, _CoarseKey, Base):
    """ClickRollup summed over sub-ids; written in the same statement batch as it."""

    __tablename__ = "stats_click_offer_daily"
    __table_args__ = (Index("ix_stats_click_offer_daily_affiliate_id_day", "affiliate_id", "day"),)


class OfferActivityRollup(_ActivityMeasures, _CoarseKey, Base):
    """ActivityRollup summed over sub-ids; recomputed with it."""

    __tablename__ = "stats_activity_offer_daily"
    __table_args__ = (Index("ix_stats_activity_offer_daily_affiliate_id_day", "affiliate_id", "day"),)


class OfferRejectionRollup(_CoarseKey, Base):
    """RejectionRollup summed over sub-ids; recomputed with it."""

    __tablename__ = "stats_rejection_offer_daily"
    __table_args__ = (
        PrimaryKeyConstraint("day", "affiliate_id", "offer_id", "country", "reason"),
        Index("ix_stats_rejection_offer_daily_affiliate_id_day", "affiliate_id", "day"),
    )

    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    rejected: Mapped[int] = mapped_column(BigInteger)


class StaleStatsDay(Base):
    """A day whose activity rollup must be recomputed (a late conversion, a cost, a return)."""

    __tablename__ = "stats_stale_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)
