"""Fuzzy dedupe at intake: the same person under a typo, found through stored blocking keys.

Runs after the exact dedupe, inside intake's transaction. The lead's blocking keys
(`person_match.blocking_keys`) become keyed hashes; the leads of the same vertical filed under any of
them within the dedupe window are the candidates, read through the `person_key` primary key (so the
cost follows how many leads share a key, never how many leads exist) and judged by
`person_match.judge`, as `leadmarket dedupe` does. Candidates' personal data is sealed
(`lead.contact_sealed`): only the few leads the keys found are opened, one AES-GCM call each. Every lead that reaches this step files its keys,
a duplicate too: a third spelling can then match the second one and still name the first lead.

On PostgreSQL the lead first takes a transaction advisory lock per key, in sorted order: two posts of
one person at the same moment meet on a shared key, and the second one sees the first one's keys.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, insert, select, text, union
from sqlalchemy.orm import Session

from leadmarket import crypto
from marketplace.distribution import Outcome
from marketplace.models import LEAD_CONTACT_PURPOSE, DedupeClaim, Lead, PersonKey, Vertical
from marketplace.person_match import MATCH, PERSON_FIELDS, Person, best_match, blocking_keys, normalize_person

CANDIDATES_PER_KEY = 50  # the newest leads under one key; see person_batch.BUCKET_LIMIT
LOCK_NAMESPACE = 0x4C4D50  # first argument of pg_advisory_xact_lock(int, int) for person keys
_PLAIN_FIELDS = ("city", "region", "country")  # the rest of PERSON_FIELDS is in the sealed contact
_LEAD_COLUMNS = [Lead.contact_sealed, *(getattr(Lead, name) for name in _PLAIN_FIELDS)]


def key_hash(key: str) -> int:
    """A blocking key as a signed 64-bit keyed hash (HMAC-SHA256 with the hash key)."""
    digest = hmac.new(crypto.hash_key(), key.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def person_of(lead: Any) -> Person:
    """The person a lead names."""
    return normalize_person({name: getattr(lead, name) for name in PERSON_FIELDS})


def _person_of_row(row: Any) -> Person:
    """The person a candidate row (its sealed contact and plain geography) names; nobody once erased."""
    record: dict[str, Any] = {name: getattr(row, name) for name in _PLAIN_FIELDS}
    if row.contact_sealed is not None:
        record.update(crypto.open_json(row.contact_sealed, LEAD_CONTACT_PURPOSE))
    return normalize_person({name: record.get(name) for name in PERSON_FIELDS})


def check_person(session: Session, lead: Lead, vertical: Vertical, now: datetime) -> Outcome | None:
    """Reject the lead as a `duplicate` of the person it repeats, or send it to review as a
    `possible_duplicate` when the match is weaker; None when it is a new person. Files its keys."""
    person = person_of(lead)
    hashes = sorted({key_hash(key) for key in blocking_keys(person)})
    if not hashes:
        return None
    _lock(session, hashes)
    cutoff = now - timedelta(days=vertical.dedupe_window_days)
    found = best_match(person, _candidates(session, vertical.id, hashes, cutoff, lead.id))
    # Core on the session's connection (as for the lock and the candidates): the lead is flushed, and
    # the ORM's bulk insert and autoflush cost more than these statements
    session.connection().execute(insert(PersonKey), [{"vertical_id": vertical.id, "key_hash": h, "lead_id": lead.id}
                                                     for h in hashes])
    if found is None:
        return None
    (matched_id, first_id), judgement = found
    if judgement.verdict == MATCH:
        # Like an exact duplicate, a rejected lead holds no contact claim: its phone or e-mail posted
        # again is then judged here, against the person, and named after the first lead.
        session.execute(delete(DedupeClaim).where(DedupeClaim.lead_id == lead.id))
        return Outcome(status="rejected", payout_minor=0, reason="duplicate", duplicate_of=first_id or matched_id)
    return Outcome(status="review", payout_minor=0, reason="possible_duplicate", duplicate_of=first_id or matched_id)


def _lock(session: Session, hashes: list[int]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite has one writer at a time: the lead's INSERT already holds it
    session.connection().execute(text("SELECT count(pg_advisory_xact_lock(:namespace, k)) FROM "
                         "(SELECT DISTINCT k FROM unnest(CAST(:keys AS integer[])) AS k ORDER BY k) AS keys"),
                    {"namespace": LOCK_NAMESPACE, "keys": sorted({h >> 32 for h in hashes})})


@lru_cache(maxsize=64)
def _candidate_query(key_count: int) -> Select[Any]:
    """Leads filed under any of `key_count` keys (:k0, :k1, ...): per key the newest
    CANDIDATES_PER_KEY, each an index range scan of the `person_key` primary key. Built once per
    key count; the statement is the same for every lead."""
    per_key = [select(PersonKey.lead_id).where(PersonKey.vertical_id == bindparam("vertical_id"),
                                                PersonKey.key_hash == bindparam(f"k{i}"))
               .order_by(PersonKey.lead_id.desc()).limit(CANDIDATES_PER_KEY).subquery()
               for i in range(key_count)]
    lead_ids = union(*[select(sub.c.lead_id) for sub in per_key])
    return (select(Lead.id, Lead.status, Lead.reason, Lead.duplicate_of_id, *_LEAD_COLUMNS)
            .where(Lead.id.in_(lead_ids), Lead.created_at >= bindparam("cutoff"), Lead.id != bindparam("lead_id"))
            .order_by(Lead.id))


def _candidates(session: Session, vertical_id: int, hashes: list[int], cutoff: datetime,
                lead_id: int) -> Iterable[tuple[tuple[int, int | None], Person]]:
    """Leads filed under any of `hashes`, oldest first, as ((lead id, the lead it repeats), person)."""
    params: dict[str, Any] = {f"k{i}": h for i, h in enumerate(hashes)}
    rows = session.connection().execute(_candidate_query(len(hashes)),
                           {**params, "vertical_id": vertical_id, "cutoff": cutoff, "lead_id": lead_id})
    for row in rows:
        # A rejected duplicate stands for the lead it repeats; a lead in review is its own.
        first = row.duplicate_of_id if row.status == "rejected" and row.reason == "duplicate" else None
        yield (row.id, first), _person_of_row(row)
