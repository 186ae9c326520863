"""Order tables: advertisers' standing orders, their per-period usage, and the order book version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from leadmarket.db import Base, JSONType, UTCDateTime

ORDER_STATUSES = ("active", "paused")
PERIODS = ("hour", "day", "month")


class Order(Base):
    """An advertiser's standing request to buy leads of one vertical at one price.

    List-valued filters are JSON (empty list = no filter); `ranges` maps a numeric field to
    {"min": .., "max": ..} and `choices` a choice/string/boolean field to its accepted values.
    `schedule_slots` lists the open hours of the week as weekday * 24 + hour (Monday 0) in
    `time_zone`; NULL means always open. Caps and budgets are NULL when not set.
    """

    __tablename__ = "advertiser_order"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused')", name="status_known"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
        CheckConstraint("max_fraud_score IS NULL OR max_fraud_score BETWEEN 0 AND 100", name="max_fraud_score_range"),
        CheckConstraint("min_temperature IS NULL OR min_temperature IN ('cold', 'warm', 'hot')",
                        name="min_temperature_known"),
        CheckConstraint("(cap_hourly IS NULL OR cap_hourly >= 0) AND (cap_daily IS NULL OR cap_daily >= 0)"
                        " AND (cap_monthly IS NULL OR cap_monthly >= 0)", name="caps_not_negative"),
        CheckConstraint("(budget_daily_minor IS NULL OR budget_daily_minor >= 0)"
                        " AND (budget_monthly_minor IS NULL OR budget_monthly_minor >= 0)",
                        name="budgets_not_negative"),
        # Matching loads a vertical's active orders at once; an advertiser lists their own.
        Index("ix_advertiser_order_vertical_id_status", "vertical_id", "status"),
        Index("ix_advertiser_order_advertiser_id_id", "advertiser_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertiser.id"))
    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    exclusive: Mapped[bool] = mapped_column(Boolean)
    countries: Mapped[list[str]] = mapped_column(JSONType)
    regions: Mapped[list[str]] = mapped_column(JSONType)
    postal_prefixes: Mapped[list[str]] = mapped_column(JSONType)
    ranges: Mapped[dict[str, Any]] = mapped_column(JSONType)
    choices: Mapped[dict[str, Any]] = mapped_column(JSONType)
    min_temperature: Mapped[str | None] = mapped_column(String(10))
    max_fraud_score: Mapped[int | None] = mapped_column(SmallInteger)
    cap_hourly: Mapped[int | None] = mapped_column(Integer)
    cap_daily: Mapped[int | None] = mapped_column(Integer)
    cap_monthly: Mapped[int | None] = mapped_column(Integer)
    budget_daily_minor: Mapped[int | None] = mapped_column(BigInteger)
    budget_monthly_minor: Mapped[int | None] = mapped_column(BigInteger)
    time_zone: Mapped[str] = mapped_column(String(64))
    schedule_slots: Mapped[list[int] | None] = mapped_column(JSONType)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    # Needed in clear to sign deliveries (HMAC), so it cannot be hashed; never shown back.
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderUsage(Base):
    """What one order bought in one period bucket (hour, day or month, in the order's time zone).

    `starts_at` is the bucket's local start as a UTC instant. Distribution spends a cap with one
    conditional UPDATE on these rows, so two concurrent sales never both take the last unit.
    """

    __tablename__ = "order_usage"
    __table_args__ = (
        CheckConstraint("period IN ('hour', 'day', 'month')", name="period_known"),
        CheckConstraint("used >= 0 AND spent_minor >= 0", name="usage_not_negative"),
    )

    order_id: Mapped[int] = mapped_column(ForeignKey("advertiser_order.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(5), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
    spent_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class OrderBookVersion(Base):
    """A fresh random stamp, written in the transaction of every order change of a vertical:
    matching caches the compiled orders of a vertical per process and reloads them when the
    stamp it cached is no longer this one."""

    __tablename__ = "order_book_version"

    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


__all__ = ["ORDER_STATUSES", "PERIODS", "Order", "OrderBookVersion", "OrderUsage"]
