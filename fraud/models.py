"""Fraud tables: blocklist entries, and the index that keeps the review queue cheap to list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from leadmarket.db import Base, UTCDateTime
from marketplace.models import Lead

BLOCKLIST_KINDS = ("ip", "email_domain", "phone", "sub_id")


class BlocklistEntry(Base):
    """One blocked IP network, e-mail domain, phone (E.164) or affiliate sub-id (sub1).

    Values are canonical (`203.0.113.0/24`, `mailinator.com`, `+14155552671`), so a lookup is an
    exact match on the unique index: an address is looked up as each network of it whose prefix
    length some IP entry has (`prefix_length`), whatever the size of the list.
    """

    __tablename__ = "blocklist_entry"
    __table_args__ = (
        CheckConstraint("kind IN ('ip', 'email_domain', 'phone', 'sub_id')", name="kind_known"),
        CheckConstraint("(kind = 'sub_id') = (affiliate_id IS NOT NULL)", name="sub_id_has_affiliate"),
        CheckConstraint("(kind = 'ip') = (prefix_length IS NOT NULL)", name="ip_has_prefix_length"),
        UniqueConstraint("kind", "affiliate_id", "value", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))
    affiliate_id: Mapped[int | None] = mapped_column(ForeignKey("affiliate.id"))
    prefix_length: Mapped[int | None] = mapped_column(SmallInteger)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Leads waiting for an admin, oldest first, without scanning the lead table.
Index("ix_lead_review_queue", Lead.__table__.c.id,
      postgresql_where=text("status = 'review'"), sqlite_where=text("status = 'review'"))

__all__ = ["BLOCKLIST_KINDS", "BlocklistEntry"]
