"""CPA tables: conversions and the caps they count against, advertisers' postback tokens, and
the postbacks we send to affiliates with every attempt logged."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadmarket.db import Base, JSONType, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")

CONVERSION_STATUSES = ("pending", "approved", "rejected", "over_cap")
POSTBACK_EVENTS = ("lead_accepted", "lead_sold", "lead_rejected", "lead_returned", "conversion_approved")


class Conversion(Base):
    """An action an advertiser reported for a click or a lead (a sale, an approved loan).

    `external_id` is the advertiser's id of the action: the same one reported again is the same
    conversion (the unique pair), so a retried postback takes effect once. Payout and revenue
    stay 0 until the conversion is approved and charged (affiliates/conversions.py).
    """

    __tablename__ = "conversion"
    __table_args__ = (
        UniqueConstraint("advertiser_id", "external_id"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'over_cap')", name="status_known"),
        CheckConstraint("lead_id IS NOT NULL OR click_id IS NOT NULL", name="has_click_or_lead"),
        CheckConstraint("payout_minor >= 0 AND revenue_minor >= 0", name="money_not_negative"),
        CheckConstraint("status = 'approved' OR (payout_minor = 0 AND revenue_minor = 0)",
                        name="money_only_when_approved"),
        CheckConstraint("amount_minor IS NULL OR amount_minor >= 0", name="amount_not_negative"),
        Index("ix_conversion_affiliate_id_created_at", "affiliate_id", "created_at"),
        Index("ix_conversion_advertiser_id_created_at", "advertiser_id", "created_at"),
        Index("ix_conversion_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertiser.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"))
    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"), index=True)
    click_id: Mapped[str | None] = mapped_column(String(64), index=True)
    sub1: Mapped[str | None] = mapped_column(String(255))
    sub2: Mapped[str | None] = mapped_column(String(255))
    sub3: Mapped[str | None] = mapped_column(String(255))
    sub4: Mapped[str | None] = mapped_column(String(255))
    sub5: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(2))
    event: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    # The buyer's own record of the new customer (their CRM id), linking our lead to it.
    external_customer_id: Mapped[str | None] = mapped_column(String(200))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)  # the sale's value, as reported
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))
    payout_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    revenue_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    cap_day: Mapped[date | None] = mapped_column(Date)  # the offer's daily cap slot it holds
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    charged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConversionCapDay(Base):
    """How many of an offer's daily conversion cap are taken on a UTC day; `used` only grows by a
    conditional upsert that checks the cap, so concurrent conversions never exceed it."""

    __tablename__ = "conversion_cap_day"
    __table_args__ = (CheckConstraint("used >= 0", name="used_not_negative"),)

    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(Integer)


class AdvertiserPostbackToken(Base):
    """An advertiser's secret for the server-to-server `/postback`, stored as a SHA-256 digest."""

    __tablename__ = "advertiser_postback_token"

    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertiser.id"), primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PostbackTemplate(Base):
    """An affiliate's postback URL with macros, and the events it wants."""

    __tablename__ = "postback_template"

    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"), primary_key=True)
    url_template: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Postback(Base):
    """One event to tell an affiliate about, with its URL rendered; `subject` makes it once per
    event and lead (or conversion)."""

    __tablename__ = "postback"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
        CheckConstraint(f"event IN ({', '.join(repr(e) for e in POSTBACK_EVENTS)})", name="event_known"),
        Index("ix_postback_affiliate_id_created_at", "affiliate_id", "created_at"),
        Index("ix_postback_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"))
    event: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(80), unique=True)  # "lead_rejected:lead:42"
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"))
    conversion_id: Mapped[int | None] = mapped_column(ForeignKey("conversion.id"))
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PostbackAttempt(Base):
    """One HTTP call of a postback, as the affiliate can read it back."""

    __tablename__ = "postback_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    postback_id: Mapped[int] = mapped_column(ForeignKey("postback.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    duration_ms: Mapped[int] = mapped_column(Integer)
