"""Billing tables: the double-entry ledger (accounts, transactions, entries), Stripe top-ups and the
Stripe events already applied.

Sign convention: an entry's `amount_minor` is what it adds to its account's balance; every
transaction's entries sum to zero per currency, so all balances of a currency sum to zero too.
An advertiser's cash balance is what they can spend (negative: they owe us, down to minus their
credit limit when prepaid); an affiliate's payable is what we owe them; platform revenue is what
we kept; outside sources (Stripe clearing, manual adjustments) go negative as money comes in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, Integer, String,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column

from leadmarket.db import Base, UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids for big tables.
BigId = BigInteger().with_variant(Integer, "sqlite")

# Account kinds. Kinds named `advertiser_*` belong to one advertiser, `affiliate_*` to one
# affiliate (a CHECK holds the ledger to this); the rest are the platform's, one per currency.
ADVERTISER_CASH = "advertiser_cash"
AFFILIATE_PAYABLE = "affiliate_payable"
PLATFORM_REVENUE = "platform_revenue"
STRIPE_CLEARING = "stripe_clearing"
PAYOUTS_CLEARING = "payouts_clearing"
MANUAL_ADJUSTMENTS = "manual_adjustments"


class LedgerAccount(Base):
    __tablename__ = "ledger_account"
    __table_args__ = (
        CheckConstraint("(substr(kind, 1, 11) = 'advertiser_') = (advertiser_id IS NOT NULL)"
                        " AND (substr(kind, 1, 10) = 'affiliate_') = (affiliate_id IS NOT NULL)",
                        name="owner_matches_kind"),
        # Entries name (account_id, currency), so an entry's currency is always its account's.
        UniqueConstraint("id", "currency"),
        Index("uq_ledger_account_advertiser", "kind", "advertiser_id", "currency", unique=True,
              postgresql_where=text("advertiser_id IS NOT NULL"), sqlite_where=text("advertiser_id IS NOT NULL")),
        Index("uq_ledger_account_affiliate", "kind", "affiliate_id", "currency", unique=True,
              postgresql_where=text("affiliate_id IS NOT NULL"), sqlite_where=text("affiliate_id IS NOT NULL")),
        Index("uq_ledger_account_platform", "kind", "currency", unique=True,
              postgresql_where=text("advertiser_id IS NULL AND affiliate_id IS NULL"),
              sqlite_where=text("advertiser_id IS NULL AND affiliate_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    advertiser_id: Mapped[int | None] = mapped_column(ForeignKey("advertiser.id"))
    affiliate_id: Mapped[int | None] = mapped_column(ForeignKey("affiliate.id"))
    currency: Mapped[str] = mapped_column(String(3))
    # The sum of this account's entries, changed only by ledger.post in the entries' transaction.
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerTransaction(Base):
    """One money movement; its entries sum to zero per currency (a deferred trigger checks at COMMIT)."""

    __tablename__ = "ledger_transaction"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(100), index=True)  # e.g. "sale:123", "topup:7"
    memo: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))  # "finance:3", "stripe", "system"


class LedgerEntry(Base):
    """Append-only: PostgreSQL refuses UPDATE and DELETE; a correction is a new transaction."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
        ForeignKeyConstraint(["account_id", "currency"], ["ledger_account.id", "ledger_account.currency"]),
        Index("ix_ledger_entry_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transaction.id"), index=True)
    account_id: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))


class Topup(Base):
    """An advertiser's request to add money through Stripe; credited only from the verified webhook."""

    __tablename__ = "topup"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("status IN ('created', 'pending', 'succeeded', 'failed', 'canceled')", name="status_known"),
        # A retried POST /topups with the same Idempotency-Key finds the same top-up (and PaymentIntent).
        UniqueConstraint("advertiser_id", "client_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertiser.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), default="created")
    client_key: Mapped[str | None] = mapped_column(String(200))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    ledger_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StripeEvent(Base):
    """A Stripe event we applied; its id is inserted in the same transaction as the event's effect."""

    __tablename__ = "stripe_event"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
