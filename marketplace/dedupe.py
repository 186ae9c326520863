"""Exact deduplication: one lead per normalized phone or e-mail per vertical within its window.

Decided by the database: each contact key is a row in `dedupe_claim`, taken over by a new lead
only when its holder is older than the window. Two identical posts at the same instant meet on
the primary key; the second waits for the first to commit and then sees the claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadmarket import crypto
from leadmarket.upsert import insert_or_take_over_many
from marketplace.models import DedupeClaim, Lead, Vertical


def key_digest(kind: str, value: str) -> str:
    """A keyed hash (HMAC-SHA256, `crypto.hash_key`) of a normalized contact value, so the claim
    table holds no contact data and no unkeyed hash of one."""
    return crypto.keyed_hash(kind, value).hex()


def contact_keys(lead: Lead) -> list[tuple[str, str]]:
    keys = [("email", key_digest("email", lead.email)) if lead.email else None,
            ("phone", key_digest("phone", lead.phone)) if lead.phone else None]
    # A fixed order of claims means two leads sharing keys never wait on each other in a cycle.
    return sorted(k for k in keys if k is not None)


def claim_contact_keys(session: Session, lead: Lead, vertical: Vertical, now: datetime) -> int | None:
    """Claim the lead's keys for it; returns the id of the lead already holding one, or None.

    All keys are claimed in one statement. On a duplicate every claim this call made is rolled
    back (a savepoint, needed only when there are two keys to claim), so a rejected lead holds no key.
    Only Core statements run inside the savepoint, so it is the connection's, not the ORM's: the
    session has no objects to expire when it rolls back, and intake's hot path skips that work.
    """
    keys = contact_keys(lead)
    if not keys:
        return None
    cutoff = now - timedelta(days=vertical.dedupe_window_days)
    savepoint = session.connection().begin_nested() if len(keys) > 1 else None
    won = insert_or_take_over_many(
        session, DedupeClaim,
        [{"vertical_id": vertical.id, "key_kind": kind, "key_digest": digest, "lead_id": lead.id, "claimed_at": now}
         for kind, digest in keys],
        conflict_columns=["vertical_id", "key_kind", "key_digest"],
        take_over=["lead_id", "claimed_at"],
        when=DedupeClaim.claimed_at <= cutoff,
        returning=DedupeClaim.key_kind,
    )
    if len(won) == len(keys):
        if savepoint is not None:
            savepoint.commit()
        return None
    kind, digest = next(key for key in keys if key[0] not in won)
    holder = session.execute(
        select(DedupeClaim.lead_id).where(DedupeClaim.vertical_id == vertical.id,
                                          DedupeClaim.key_kind == kind, DedupeClaim.key_digest == digest)
    ).scalar_one()
    if savepoint is not None:
        savepoint.rollback()
    return holder
