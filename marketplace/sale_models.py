"""Sale tables: sales, the per-lead sale tally, and which person each advertiser already bought."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint,
                        text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadmarket.db import Base, UTCDateTime
from marketplace.models import BigId

SALE_STATUSES = ("sold", "returned")
SALE_CHANNELS = ("order", "targeted", "store", "ping_post")


class Sale(Base):
    """One lead sold to one advertiser at one price.

    Never two sales of a lead to one advertiser (the unique pair), never two exclusive sales of
    a lead (the partial unique index); that an exclusive sale is the *only* sale of its lead and
    that a shared lead has at most `max_shared_sales` is `LeadSaleCount`'s job.
    """

    __tablename__ = "sale"
    __table_args__ = (
        UniqueConstraint("lead_id", "advertiser_id"),
        Index("uq_sale_exclusive_lead", "lead_id", unique=True,
              postgresql_where=text("exclusive"), sqlite_where=text("exclusive")),
        Index("ix_sale_advertiser_id_created_at", "advertiser_id", "created_at"),
        Index("ix_sale_order_id_created_at", "order_id", "created_at"),
        CheckConstraint("status IN ('sold', 'returned')", name="status_known"),
        CheckConstraint("channel IN ('order', 'targeted', 'store', 'ping_post')", name="channel_known"),
        CheckConstraint("(channel = 'order') = (order_id IS NOT NULL)", name="order_matches_channel"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"))
    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertiser.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("advertiser_order.id"))
    channel: Mapped[str] = mapped_column(String(10))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    exclusive: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    lead = relationship("Lead", lazy="raise")


class LeadSaleCount(Base):
    """How many times a lead is sold and its most (1 for an exclusive sale).

    Every sale passes through one INSERT ... ON CONFLICT on this row: an exclusive sale only
    inserts it (so it is the lead's only sale), a shared sale bumps `sales` while the row is not
    exclusive and below `max_sales` — the vertical's `max_shared_sales` when the first sale went in.
    """

    __tablename__ = "lead_sale_count"
    __table_args__ = (
        CheckConstraint("sales >= 0 AND sales <= max_sales", name="sales_within_max"),
        CheckConstraint("NOT exclusive OR max_sales = 1", name="exclusive_sells_once"),
    )

    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), primary_key=True)
    sales: Mapped[int] = mapped_column(Integer)
    max_sales: Mapped[int] = mapped_column(Integer)
    exclusive: Mapped[bool] = mapped_column(Boolean)


class PersonSale(Base):
    """One row per (advertiser, vertical, contact key): the last lead of that person sold to the
    advertiser. A new sale takes the row over only when it is older than the vertical's dedupe
    window, so one person is not sold twice to one advertiser within it. Keys are keyed hashes
    (marketplace.dedupe.key_digest): no contact data here."""

    __tablename__ = "person_sale"
    __table_args__ = (CheckConstraint("key_kind IN ('phone', 'email')", name="key_kind_known"),)

    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertiser.id"), primary_key=True)
    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"), primary_key=True)
    key_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), index=True)
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime)


__all__ = ["SALE_CHANNELS", "SALE_STATUSES", "LeadSaleCount", "PersonSale", "Sale"]
