"""Marketplace tables: verticals, advertisers, leads and the dedupe claims that keep leads unique."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, SmallInteger,
                        String, event)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadmarket import crypto
from leadmarket.db import Base, JSONType, UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids for big tables.
BigId = BigInteger().with_variant(Integer, "sqlite")

# The lifecycle (marketplace/lifecycle.py) says which status follows which.
LEAD_STATUSES = ("accepted", "sold", "review", "rejected", "expired", "returned", "converted")

# A lead's personal data, sealed together in `lead.contact_sealed` (one AES-GCM call per lead):
# the contact fields, and the IP, browser and call recording kept in `meta` and `consent`.
# Country, region and city stay plain: orders, the store and reports filter on them.
SEALED_CONTACT = ("first_name", "last_name", "email", "phone", "profile_url", "postal_code", "address",
                  "date_of_birth")
SEALED_META = ("ip", "user_agent", "recording_url")
SEALED_CONSENT = ("ip",)
LEAD_CONTACT_PURPOSE = b"lead.contact"
POSTAL_PREFIX = 2  # the plain part of a postal code the lead store shows (and may filter on)
_PENDING = object()  # the personal data was changed in memory and is sealed at the next flush


class SealedField:
    """A lead attribute kept in `contact_sealed`: read from the opened data, written to it (sealed
    again, once, at the next flush). Not a column: queries cannot filter on it, by design."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, lead: Any, owner: type | None = None) -> Any:
        if lead is None:
            return self
        return lead.personal_data().get(self.name)

    def __set__(self, lead: Any, value: Any) -> None:
        lead._change_personal({self.name: value})


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
        CheckConstraint("contact_sealed IS NOT NULL OR erased_at IS NOT NULL", name="contact_kept_or_erased"),
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
    # The personal data (SEALED_CONTACT, SEALED_META, SEALED_CONSENT), sealed; NULL once erased.
    # Read and set it through the properties below (`lead.email`, `lead.meta`, ...).
    contact_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    first_name = SealedField()
    last_name = SealedField()
    email = SealedField()
    phone = SealedField()
    profile_url = SealedField()
    address = SealedField()
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    postal_prefix: Mapped[str | None] = mapped_column(String(POSTAL_PREFIX))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # `meta` and `consent` without their sealed keys; the properties of those names join both.
    consent_plain: Mapped[dict[str, Any] | None] = mapped_column("consent", JSONType)
    meta_plain: Mapped[dict[str, Any]] = mapped_column("meta", JSONType)
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

    # ------------------------------------------------------------ personal data, sealed

    @classmethod
    def new(cls, *, meta: dict[str, Any] | None = None, consent: dict[str, Any] | None = None,
            date_of_birth: date | None = None, postal_code: str | None = None, **fields: Any) -> Lead:
        """`Lead(**fields)` with the personal data set in one step: through the constructor each
        sealed field merges the whole of it again (intake makes thousands of leads a second)."""
        personal = {name: fields.pop(name) for name in SEALED_CONTACT if name in fields}
        meta_plain, meta_sealed = _split_meta(meta)
        consent_plain, consent_sealed = _split_consent(consent)
        lead = cls(**fields, postal_prefix=_postal_prefix(postal_code), meta_plain=meta_plain,
                   consent_plain=consent_plain)
        lead._change_personal({**personal, "postal_code": postal_code, "date_of_birth": _iso(date_of_birth),
                               "meta": meta_sealed, "consent": consent_sealed})
        return lead

    def personal_data(self) -> dict[str, Any]:
        """The opened personal data (read-only view): opened once per loaded value, then cached."""
        state = self.__dict__
        cached, source = state.get("_personal"), state.get("_personal_from")
        if cached is not None and source is _PENDING:
            return cached
        sealed = self.contact_sealed
        if cached is not None and source is sealed:
            return cached
        opened = crypto.open_json(sealed, LEAD_CONTACT_PURPOSE) if sealed is not None else {}
        state["_personal"], state["_personal_from"] = opened, sealed
        return opened

    def _change_personal(self, changes: dict[str, Any]) -> None:
        personal = {**self.personal_data(), **changes}
        self.__dict__["_personal"] = {k: v for k, v in personal.items() if v is not None and v != {}}
        self.__dict__["_personal_from"] = _PENDING
        self.contact_sealed = None  # marks the row changed; `_seal_personal_data` seals it at the flush

    def seal_personal_data(self) -> None:
        if self.__dict__.get("_personal_from") is _PENDING:
            personal = self.__dict__["_personal"]
            sealed = crypto.seal_json(personal, LEAD_CONTACT_PURPOSE) if personal else None
            self.contact_sealed = sealed
            self.__dict__["_personal_from"] = sealed

    def forget_personal_data(self) -> None:
        """Drop the sealed personal data and the postal prefix (erasure); the caller sets erased_at."""
        self.contact_sealed = None
        self.postal_prefix = None
        self.__dict__["_personal"], self.__dict__["_personal_from"] = {}, None

    @property
    def date_of_birth(self) -> date | None:
        value = self.personal_data().get("date_of_birth")
        return date.fromisoformat(value) if value else None

    @date_of_birth.setter
    def date_of_birth(self, value: date | None) -> None:
        self._change_personal({"date_of_birth": _iso(value)})

    @property
    def postal_code(self) -> str | None:
        return self.personal_data().get("postal_code")

    @postal_code.setter
    def postal_code(self, value: str | None) -> None:
        self._change_personal({"postal_code": value})
        self.postal_prefix = _postal_prefix(value)

    @property
    def meta(self) -> dict[str, Any]:
        return {**(self.meta_plain or {}), **self.personal_data().get("meta", {})}

    @meta.setter
    def meta(self, value: dict[str, Any] | None) -> None:
        self.meta_plain, sealed = _split_meta(value)
        self._change_personal({"meta": sealed})

    @property
    def consent(self) -> dict[str, Any] | None:
        if self.consent_plain is None:
            return None
        return {**self.consent_plain, **self.personal_data().get("consent", {})}

    @consent.setter
    def consent(self, value: dict[str, Any] | None) -> None:
        self.consent_plain, sealed = _split_consent(value)
        self._change_personal({"consent": sealed})


def _split_meta(value: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A lead's `meta` as (kept plain, sealed with the contact)."""
    value = value or {}
    return ({k: v for k, v in value.items() if k not in SEALED_META},
            {k: value[k] for k in SEALED_META if value.get(k) is not None})


def _split_consent(value: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A lead's `consent` as (kept plain, sealed with the contact); None stays None."""
    if value is None:
        return None, None
    return ({k: v for k, v in value.items() if k not in SEALED_CONSENT},
            {k: value[k] for k in SEALED_CONSENT if value.get(k) is not None} or None)


def _postal_prefix(postal_code: str | None) -> str | None:
    return postal_code[:POSTAL_PREFIX] if postal_code else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


@event.listens_for(Lead, "before_insert")
@event.listens_for(Lead, "before_update")
def _seal_personal_data(_mapper: Any, _connection: Any, lead: Lead) -> None:
    lead.seal_personal_data()


class DedupeClaim(Base):
    """One row per (vertical, contact key): which lead holds the key, and since when.

    A new lead takes the claim over only when the holder is older than the vertical's
    window; the unique key makes two simultaneous identical posts resolve to one winner.
    The key is a keyed hash, so this table holds no contact data. `lead_id` is checked by a
    statement-level trigger rather than a foreign key (migration 0018: a per-row check against the
    partitioned `lead` cost a fifth to a quarter of an intake batch's time).
    """

    __tablename__ = "dedupe_claim"
    __table_args__ = (CheckConstraint("key_kind IN ('phone', 'email')", name="key_kind_known"),)

    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"), primary_key=True)
    key_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    lead_id: Mapped[int] = mapped_column(BigId, index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)


__all__ = ["LEAD_STATUSES", "Advertiser", "DedupeClaim", "Lead", "Vertical"]


class PersonKey(Base):
    """One blocking key of the person a lead names (fuzzy dedupe, `marketplace.fuzzy_dedupe`).

    The key is a keyed hash (HMAC with the secret key, 64 bits), so this table holds no contact
    data. Intake finds candidates by (vertical, key) through the primary key, newest lead first;
    the cost of a lookup depends on how many leads share a key, not on how many leads exist.
    `lead_id` is checked by a statement-level trigger, as `DedupeClaim.lead_id` is (migration 0018).
    """

    __tablename__ = "person_key"

    vertical_id: Mapped[int] = mapped_column(ForeignKey("vertical.id"), primary_key=True)
    key_hash: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    lead_id: Mapped[int] = mapped_column(BigId, primary_key=True, index=True, autoincrement=False)


class ConsentCertificate(Base):
    """The consent a lead's person gave, as captured at intake, sealed by a SHA-256 hash over a
    canonical serialization (marketplace/consents.py) so a buyer can verify it was not altered."""

    __tablename__ = "consent_certificate"

    certificate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lead_id: Mapped[int] = mapped_column(BigId, ForeignKey("lead.id"), unique=True)
    text: Mapped[str] = mapped_column(String(5000))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The IP the consent came from is personal data: it is sealed with the lead's contact
    # (`lead.consent["ip"]`), and read from there when the certificate is shown.
    page_url: Mapped[str | None] = mapped_column(String(2000))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
