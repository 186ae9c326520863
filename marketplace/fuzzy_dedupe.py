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
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, select, text, union
from sqlalchemy.orm import Session

from leadmarket import bulk, crypto
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


def person_hashes(person: Person) -> list[int]:
    """The person's blocking keys as keyed hashes, sorted."""
    return sorted({key_hash(key) for key in blocking_keys(person)})


def check_people(session: Session, leads: list[tuple[Lead, Vertical]], now: datetime) -> list[Outcome | None]:
    """Per lead, in order: reject it as a `duplicate` of the person it repeats, or send it to review
    as a `possible_duplicate` when the match is weaker; None when it is a new person. Files every
    lead's keys: one lock, and one candidate query and one insert of keys per vertical.

    Leads of one call that share a key are judged as if they had come one after the other: a lead
    meets the earlier ones among its candidates, with the outcome each got here."""
    people = [person_of(lead) for lead, _ in leads]
    hashes = [person_hashes(person) for person in people]
    every_hash = sorted({h for lead_hashes in hashes for h in lead_hashes})
    if every_hash:
        _lock(session, every_hash)
    outcomes: list[Outcome | None] = [None] * len(leads)
    by_vertical: dict[int, list[int]] = {}
    for index, (_, vertical) in enumerate(leads):
        if hashes[index]:
            by_vertical.setdefault(vertical.id, []).append(index)
    matched: list[int] = []
    for vertical_id, indexes in by_vertical.items():
        cutoff = now - timedelta(days=leads[indexes[0]][1].dedupe_window_days)
        batch_ids = {leads[i][0].id for i in indexes}
        found = _candidates(session, vertical_id, sorted({h for i in indexes for h in hashes[i]}), cutoff, batch_ids)
        for index in indexes:
            lead = leads[index][0]
            best = best_match(people[index], _under(found, hashes[index]))
            first = None
            if best is not None:
                (matched_id, first_id), judgement = best
                first = first_id or matched_id
                if judgement.verdict == MATCH:
                    matched.append(lead.id)
                    outcomes[index] = Outcome(status="rejected", payout_minor=0, reason="duplicate",
                                              duplicate_of=first)
                else:
                    outcomes[index] = Outcome(status="review", payout_minor=0, reason="possible_duplicate",
                                              duplicate_of=first)
            # the later leads of this call meet this one as a stored candidate; a rejected
            # duplicate stands for the lead it repeats, as `_candidates` reads it
            rejected = outcomes[index] is not None and outcomes[index].status == "rejected"
            filed = ((lead.id, first if rejected else None), people[index])
            for h in hashes[index]:
                found.setdefault(h, []).append(filed)
        # Core on the session's connection (as for the lock and the candidates): the leads are
        # flushed, and the ORM's bulk insert and autoflush cost more than these statements
        bulk.insert_rows(session, PersonKey.__table__, [
            {"vertical_id": vertical_id, "key_hash": h, "lead_id": leads[i][0].id} for i in indexes for h in hashes[i]])
    if matched:
        # Like an exact duplicate, a rejected lead holds no contact claim: its phone or e-mail posted
        # again is then judged here, against the person, and named after the first lead.
        session.connection().execute(delete(DedupeClaim).where(DedupeClaim.lead_id.in_(matched)))
    return outcomes


def _under(found: dict[int, list[tuple[tuple[int, int | None], Person]]],
           hashes: list[int]) -> list[tuple[tuple[int, int | None], Person]]:
    """The candidates filed under any of `hashes`, each once, oldest first."""
    seen: dict[int, tuple[tuple[int, int | None], Person]] = {}
    for h in hashes:
        for candidate in found.get(h, ()):
            seen.setdefault(candidate[0][0], candidate)
    return [seen[lead_id] for lead_id in sorted(seen)]


def _lock(session: Session, hashes: list[int]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite has one writer at a time: the lead's INSERT already holds it
    session.connection().execute(text("SELECT count(pg_advisory_xact_lock(:namespace, k)) FROM "
                         "(SELECT DISTINCT k FROM unnest(CAST(:keys AS integer[])) AS k ORDER BY k) AS keys"),
                    {"namespace": LOCK_NAMESPACE, "keys": bulk.int_array(sorted({h >> 32 for h in hashes}))})


@lru_cache(maxsize=64)
def _candidate_query(key_count: int) -> Select[Any]:
    """SQLite's form of `_CANDIDATES` (it has no LATERAL): a union of one subquery per key, for
    `key_count` keys (:k0, :k1, ...). Built once per key count."""
    per_key = [select(PersonKey.key_hash, PersonKey.lead_id)
               .where(PersonKey.vertical_id == bindparam("vertical_id"), PersonKey.key_hash == bindparam(f"k{i}"))
               .order_by(PersonKey.lead_id.desc()).limit(CANDIDATES_PER_KEY).subquery()
               for i in range(key_count)]
    found = union(*[select(sub.c.key_hash, sub.c.lead_id) for sub in per_key]).subquery()
    return (select(found.c.key_hash, Lead.id, Lead.status, Lead.reason, Lead.duplicate_of_id, *_LEAD_COLUMNS)
            .join(found, found.c.lead_id == Lead.id)
            .where(Lead.created_at >= bindparam("cutoff"), Lead.id.not_in(bindparam("lead_ids", expanding=True)))
            .order_by(Lead.id))


# Leads filed under any of the keys, with the key each was found under: per key the newest
# CANDIDATES_PER_KEY, each an index range scan of the `person_key` primary key. One statement
# whatever the number of keys, so PostgreSQL plans it once per connection.
_CANDIDATES = text(f"""
SELECT k.h AS key_hash, lead.id, lead.status, lead.reason, lead.duplicate_of_id,
       lead.contact_sealed, {", ".join(f"lead.{name}" for name in _PLAIN_FIELDS)}
FROM unnest(CAST(:hashes AS bigint[])) AS k(h)
CROSS JOIN LATERAL (SELECT person_key.lead_id FROM person_key
                    WHERE person_key.vertical_id = :vertical_id AND person_key.key_hash = k.h
                    ORDER BY person_key.lead_id DESC LIMIT {CANDIDATES_PER_KEY}) AS found
JOIN lead ON lead.id = found.lead_id
WHERE lead.created_at >= :cutoff AND lead.id <> ALL(CAST(:lead_ids AS bigint[]))
ORDER BY lead.id""")


def _candidates(session: Session, vertical_id: int, hashes: list[int], cutoff: datetime,
                lead_ids: set[int]) -> dict[int, list[tuple[tuple[int, int | None], Person]]]:
    """Leads filed under any of `hashes` but `lead_ids`, by key hash, oldest first, as ((lead id,
    the lead it repeats), person); a lead found under several keys is opened once."""
    params: dict[str, Any] = {"vertical_id": vertical_id, "cutoff": cutoff}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.connection().execute(_CANDIDATES, {**params, "hashes": bulk.int_array(hashes),
                                                          "lead_ids": bulk.int_array(sorted(lead_ids))})
    else:
        keys = {f"k{i}": h for i, h in enumerate(hashes)}
        rows = session.connection().execute(_candidate_query(len(hashes)),
                                            {**params, "lead_ids": sorted(lead_ids), **keys})
    found: dict[int, list[tuple[tuple[int, int | None], Person]]] = {}
    people: dict[int, tuple[tuple[int, int | None], Person]] = {}
    for row in rows:
        if row.id not in people:
            # A rejected duplicate stands for the lead it repeats; a lead in review is its own.
            first = row.duplicate_of_id if row.status == "rejected" and row.reason == "duplicate" else None
            people[row.id] = ((row.id, first), _person_of_row(row))
        found.setdefault(row.key_hash, []).append(people[row.id])
    return found
