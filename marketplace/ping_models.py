"""Ping-post tables: external buyers, the auctions (pings) and each buyer's bid and post answer.

A ping holds no contact data: only what the affiliate pinged (offer, geography, attributes,
temperature). The buyer's secret signs what we send it; it is never shown back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadmarket.db import Base, JSONType, UTCDateTime
from marketplace.models import BigId

BUYER_STATUSES = ("active", "paused")
PING_STATUSES = ("open", "posting", "posted")
BID_STATUSES = ("bid", "no_bid", "timeout", "error")
POST_STATUSES = ("accepted", "rejected", "timeout", "error", "unsold")


class PingBuyer(Base):
    """An advertiser's external endpoint pair for one vertical: we ping it for a bid, post the
    lead to the winner. Managed by admins."""

    __tablename__ = "ping_buyer"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused')", name="status_known"),
        CheckConstraint("timeout_ms BETWEEN 50 AND 10000", name="timeout_ms_range"),
        Index("ix_ping_buyer_vertical_id_status", "vertical_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertiser.id"), index=True)
    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"))
    name: Mapped[str] = mapped_column(String(200))
    ping_url: Mapped[str] = mapped_column(String(2000))
    post_url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    timeout_ms: Mapped[int] = mapped_column(Integer, default=1000, server_default="1000")
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Ping(Base):
    """One auction: what an affiliate pinged, the best bid, and (once posted) the lead it became.

    `token` is the ping id clients see: random, so another affiliate cannot guess it. A ping is
    posted once: `status` moves open -> posting -> posted by conditional UPDATEs."""

    __tablename__ = "ping"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'posting', 'posted')", name="status_known"),
        CheckConstraint("best_bid_minor IS NULL OR best_bid_minor > 0", name="best_bid_positive"),
        Index("ix_ping_affiliate_id_created_at", "affiliate_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"))
    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"))
    request: Mapped[dict[str, Any]] = mapped_column(JSONType)
    currency: Mapped[str] = mapped_column(String(3))
    best_bid_minor: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"))
    sold_to_buyer_id: Mapped[int | None] = mapped_column(ForeignKey("ping_buyer.id"))


class PingBid(Base):
    """One buyer's answer to one ping (bid, no bid, timeout, error, with the time it took) and,
    when the lead was posted to it, its answer to the post. Read by the logs and buyer health."""

    __tablename__ = "ping_bid"
    __table_args__ = (
        UniqueConstraint("ping_id", "buyer_id"),
        CheckConstraint("status IN ('bid', 'no_bid', 'timeout', 'error')", name="status_known"),
        CheckConstraint("post_status IS NULL OR post_status IN ('accepted', 'rejected', 'timeout', 'error', 'unsold')",
                        name="post_status_known"),
        CheckConstraint("(status = 'bid') = (bid_minor IS NOT NULL)", name="bid_matches_status"),
        CheckConstraint("bid_minor IS NULL OR bid_minor > 0", name="bid_positive"),
        Index("ix_ping_bid_buyer_id_created_at", "buyer_id", "created_at"),
        Index("ix_ping_bid_advertiser_id_created_at", "advertiser_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ping_id: Mapped[int] = mapped_column(ForeignKey("ping.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("ping_buyer.id"))
    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertiser.id"))
    status: Mapped[str] = mapped_column(String(10))
    bid_minor: Mapped[int | None] = mapped_column(BigInteger)
    response_ms: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(200))
    post_status: Mapped[str | None] = mapped_column(String(10))
    post_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


__all__ = ["BID_STATUSES", "BUYER_STATUSES", "PING_STATUSES", "POST_STATUSES", "Ping", "PingBid", "PingBuyer"]
