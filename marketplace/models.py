"""Marketplace tables: verticals, advertisers, leads and the dedupe claims that keep leads unique."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, SmallInteger,
                        String)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadmarket.db import Base, JSONType, UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids for big tables.
BigId = BigInteger().with_variant(Integer, "sqlite")

# The lifecycle (marketplace/lifecycle.py) says which status follows which.
LEAD_STATUSES = ("accepted", "sold", "review", "rejected", "expired", "returned", "converted")


class Vertical(Base):
    __tablename__ = "vertical"
    __table_args__ = (
        CheckConstraint("dedupe_window_days >= 0", name="dedupe_window_not_negative"),
        CheckConstraint("max_shared_sales >= 1", name="max_shared_sales_positive"),
        CheckConstraint("base_price_minor >= 0", name="base_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    dedupe_window_days: Mapped[int] = mapped_column(Integer)
    max_shared_sales: Mapped[int] = mapped_column(Integer)
    base_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The fraud screen's thresholds (score >= review_at -> review, >= reject_at -> reject) and the
    # quality rules (fraud/quality.py; NULL means its defaults). Offers may override the thresholds.
    review_at: Mapped[int] = mapped_column(
        SmallInteger, CheckConstraint("review_at BETWEEN 1 AND 100", name="review_at_range"), default=40,
        server_default="40")
    reject_at: Mapped[int] = mapped_column(
        SmallInteger, CheckConstraint("reject_at BETWEEN 1 AND 100 AND reject_at >= review_at", name="reject_at_range"),
        default=70, server_default="70")
    quality_rules: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The lead store: an unsold lead is offered this many days, then expires; list prices follow
    # `store_pricing` (billing/pricing.py; NULL means its defaults).
    shelf_life_days: Mapped[int] = mapped_column(
        Integer, CheckConstraint("shelf_life_days >= 1", name="shelf_life_positive"), default=30,
        server_default="30")
    store_pricing: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # How long after a sale its buyer may return it (marketplace/returns.py).
    return_window_days: Mapped[int] = mapped_column(
        Integer, CheckConstraint("return_window_days >= 0", name="return_window_not_negative"), default=7,
        server_default="7")


class Advertiser(Base):
    __tablename__ = "advertiser"
    __table_args__ = (
        CheckConstraint("billing_mode IN ('prepaid', 'invoice')", name="billing_mode_known"),
        CheckConstraint("credit_limit_minor >= 0", name="credit_limit_not_negative"),
        CheckConstraint("status IN ('active', 'paused')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    billing_mode: Mapped[str] = mapped_column(String(10))
    credit_limit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Return rules (marketplace/returns.py: auto-approved reasons, cap per billing period); NULL = defaults.
    return_rules: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Lead(Base):
    __tablename__ = "lead"
    __table_args__ = (
        CheckConstraint("status IN ('accepted', 'sold', 'review', 'rejected', 'expired', 'returned', "
                        "'converted')", name="status_known"),
        CheckConstraint("payout_minor >= 0", name="payout_not_negative"),
        CheckConstraint("email IS NOT NULL OR phone IS NOT NULL OR profile_url IS NOT NULL",
                        name="reachable"),
        CheckConstraint("source IN ('api', 'form', 'call')", name="source_known"),
        Index("ix_lead_affiliate_id_created_at", "affiliate_id", "created_at"),
        Index("ix_lead_vertical_id_created_at", "vertical_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"), index=True)
    affiliate_id: Mapped[int] = mapped_column(ForeignKey("affiliate.id"))
    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"))
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(64))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"))
    click_id: Mapped[str | None] = mapped_column(String(64))
    sub1: Mapped[str | None] = mapped_column(String(255))
    sub2: Mapped[str | None] = mapped_column(String(255))
    sub3: Mapped[str | None] = mapped_column(String(255))
    sub4: Mapped[str | None] = mapped_column(String(255))
    sub5: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    profile_url: Mapped[str | None] = mapped_column(String(500))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(300))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    consent: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType)
    payout_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    fraud_score: Mapped[int | None] = mapped_column(SmallInteger)
    fraud_reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    temperature: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    targeted: Mapped[bool | None] = mapped_column(Boolean)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    # How the lead came in: posted by API (and the hosted form), or a phone call (affiliates/calls.py).
    source: Mapped[str] = mapped_column(String(10), default="api", server_default="api")

    offer = relationship("Offer", lazy="raise")
    vertical = relationship("Vertical", lazy="raise")

    @property
    def sub_ids(self) -> dict[str, str]:
        return {f"sub{i}": v for i in range(1, 6) if (v := getattr(self, f"sub{i}"))}


class DedupeClaim(Base):
    """One row per (vertical, contact key): which lead holds the key, and since when.

    A new lead takes the claim over only when the holder is older than the vertical's
    window; the unique key makes two simultaneous identical posts resolve to one winner.
    The key is a keyed hash, so this table holds no contact data.
    """

    __tablename__ = "dedupe_claim"
    __table_args__ = (CheckConstraint("key_kind IN ('phone', 'email')", name="key_kind_known"),)

    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"), primary_key=True)
    key_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)


__all__ = ["LEAD_STATUSES", "Advertiser", "DedupeClaim", "Lead", "Vertical"]


class PersonKey(Base):
    """One blocking key of the person a lead names (fuzzy dedupe, `marketplace.fuzzy_dedupe`).

    The key is a keyed hash (HMAC with the secret key, 64 bits), so this table holds no contact
    data. Intake finds candidates by (vertical, key) through the primary key, newest lead first;
    the cost of a lookup depends on how many leads share a key, not on how many leads exist.
    """

    __tablename__ = "person_key"

    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"), primary_key=True)
    key_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    lead_id: Mapped[int] = mapped_column(BigId, ForeignKey("lead.id"), primary_key=True, index=True,
                                         autoincrement=False)


class ConsentCertificate(Base):
    """The consent a lead's person gave, as captured at intake, sealed by a SHA-256 hash over a
    canonical serialization (marketplace/consents.py) so a buyer can verify it was not altered."""

    __tablename__ = "consent_certificate"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lead_id: Mapped[int] = mapped_column(BigId, ForeignKey("lead.id"), unique=True)
    text: Mapped[str] = mapped_column(String(5000))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    page_url: Mapped[str | None] = mapped_column(String(2000))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
