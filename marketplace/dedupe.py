"""Exact deduplication: one lead per normalized phone or e-mail per vertical within its window.

Decided by the database: each contact key is a row in `dedupe_claim`, taken over by a new lead
only when its holder is older than the window. Two identical posts at the same instant meet on
the primary key; the second waits for the first to commit and then sees the claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.orm import Session

from leadmarket import crypto
from leadmarket.upsert import insert_ignoring_conflicts
from marketplace.models import DedupeClaim, Lead, Vertical


def key_digest(kind: str, value: str) -> str:
    """A keyed hash (HMAC-SHA256, `crypto.hash_key`) of a normalized contact value, so the claim
    table holds no contact data and no unkeyed hash of one."""
    return crypto.keyed_hash(kind, value).hex()


def contact_keys(lead: Any) -> list[tuple[str, str]]:
    """The (kind, keyed hash) of a lead's e-mail and phone — or of anything with those two attributes."""
    keys = [("email", key_digest("email", lead.email)) if lead.email else None,
            ("phone", key_digest("phone", lead.phone)) if lead.phone else None]
    # A fixed order of claims means two leads sharing keys never wait on each other in a cycle.
    return sorted(k for k in keys if k is not None)


def claim_contact_keys_many(session: Session, leads: list[tuple[Lead, Vertical]], now: datetime) -> list[int | None]:
    """Claim each lead's keys for it; per lead, in order, the id of the lead already holding one of
    its keys (it is a duplicate), or None. The leads must share no key (intake's batches keep such
    leads apart).

    Per vertical, one INSERT claims every free key, in sorted order (two batches sharing keys never
    wait on each other in a cycle). Only when some keys were taken: their rows are locked, in the
    same order, and read; a lead whose keys are all free or expired takes the expired ones over,
    and a lead that meets a live claim is a duplicate and gives back the keys it inserted — so a
    rejected lead holds no key and leaves an expired holder's claim as it was.
    """
    keys = [contact_keys(lead) for lead, _ in leads]
    holders: list[int | None] = [None] * len(leads)
    by_vertical: dict[int, list[int]] = {}
    for index, (_, vertical) in enumerate(leads):
        if keys[index]:
            by_vertical.setdefault(vertical.id, []).append(index)
    for vertical_id, indexes in by_vertical.items():
        owner = {key: index for index in indexes for key in keys[index]}
        inserted = {tuple(row) for row in insert_ignoring_conflicts(
            session, DedupeClaim,
            [{"vertical_id": vertical_id, "key_kind": kind, "key_digest": digest,
              "lead_id": leads[owner[kind, digest]][0].id, "claimed_at": now} for kind, digest in sorted(owner)],
            conflict_columns=["vertical_id", "key_kind", "key_digest"],
            returning=[DedupeClaim.key_kind, DedupeClaim.key_digest])}
        taken = sorted(key for key in owner if key not in inserted)
        if taken:
            cutoff = now - timedelta(days=leads[indexes[0]][1].dedupe_window_days)
            _settle_taken_keys(session, vertical_id, taken, owner, leads, keys, holders, cutoff, now)
    return holders


def _settle_taken_keys(session: Session, vertical_id: int, taken: list[tuple[str, str]],
                       owner: dict[tuple[str, str], int], leads: list[tuple[Lead, Vertical]],
                       keys: list[list[tuple[str, str]]], holders: list[int | None], cutoff: datetime,
                       now: datetime) -> None:
    """Decide the leads that met claimed keys: a live claim makes a duplicate (noted in `holders`),
    only expired ones are taken over. The rows are locked (sorted) until the transaction ends."""
    rows = session.connection().execute(
        select(DedupeClaim.key_kind, DedupeClaim.key_digest, DedupeClaim.lead_id, DedupeClaim.claimed_at)
        .where(DedupeClaim.vertical_id == vertical_id,
               tuple_(DedupeClaim.key_kind, DedupeClaim.key_digest).in_(taken))
        .order_by(DedupeClaim.key_kind, DedupeClaim.key_digest).with_for_update())
    claims = {(kind, digest): (lead_id, claimed_at) for kind, digest, lead_id, claimed_at in rows}
    take_over, give_back = [], []
    for index in sorted({owner[key] for key in taken}):
        live = [key for key in keys[index] if key in claims and claims[key][1] > cutoff]
        if live:
            holders[index] = claims[live[0]][0]
            give_back.append(leads[index][0].id)
        else:
            take_over += [key for key in keys[index] if key in claims]
    if take_over:
        session.connection().execute(
            update(DedupeClaim).where(DedupeClaim.vertical_id == vertical_id, DedupeClaim.key_kind == bindparam("kind"),
                                      DedupeClaim.key_digest == bindparam("digest"))
            .values(lead_id=bindparam("lead_id"), claimed_at=now),
            [{"kind": kind, "digest": digest, "lead_id": leads[owner[kind, digest]][0].id}
             for kind, digest in take_over])
    if give_back:
        session.connection().execute(delete(DedupeClaim).where(DedupeClaim.lead_id.in_(give_back)))
