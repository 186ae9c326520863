"""Batch fuzzy dedupe (`leadmarket dedupe FILE.csv`): records in file order, an in-memory blocking index.

Each record is judged as intake would judge it, posted at that moment: its candidates are the earlier
records sharing a blocking key, scored by `person_match.judge`; the best `match` makes it a duplicate.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from marketplace.person_match import MATCH, PERSON_FIELDS, Person, best_match, blocking_keys, normalize_person

# Candidates read per key: the most recent ones. A key shared by more people than this (a common
# name in a big postcode) is not what finds a typo'd duplicate; another, rarer key of the pair is.
BUCKET_LIMIT = 50


@dataclass
class PersonIndex:
    """Earlier records by blocking key. Duplicates are filed too, pointing at the person they repeat,
    so a third spelling can match the second while the answer still names the first."""

    people: list[Person] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    first_seen: list[int] = field(default_factory=list)
    buckets: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def candidates(self, keys: Iterable[str]) -> list[tuple[int, Person]]:
        seen: set[int] = set()
        for key in keys:
            bucket = self.buckets.get(key)
            if bucket:
                seen.update(bucket[-BUCKET_LIMIT:])
        return [(row, self.people[row]) for row in sorted(seen)]

    def add(self, record_id: str, person: Person, keys: Iterable[str], duplicate_of: int | None) -> None:
        row = len(self.people)
        self.people.append(person)
        self.ids.append(record_id)
        self.first_seen.append(row if duplicate_of is None else self.first_seen[duplicate_of])
        for key in keys:
            self.buckets[key].append(row)


def dedupe_records(records: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
    """Yield (earlier id, id) for every record that repeats a person seen earlier in `records`."""
    index = PersonIndex()
    for record in records:
        person = normalize_person(record)
        keys = blocking_keys(person)
        found = best_match(person, index.candidates(keys))
        duplicate_of = None
        if found is not None and found[1].verdict == MATCH:
            duplicate_of = found[0]
            yield index.ids[index.first_seen[duplicate_of]], str(record["id"])
        index.add(str(record["id"]), person, keys, duplicate_of)


def read_records(stream: TextIO) -> Iterator[dict[str, str]]:
    """CSV rows with a header: `id` and any of PERSON_FIELDS (other columns are ignored)."""
    reader = csv.DictReader(stream)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "id" not in header:
        raise ValueError("the CSV header has no id column")
    reader.fieldnames = header
    wanted = ("id", *PERSON_FIELDS)
    for row in reader:
        yield {name: (row.get(name) or "").strip() for name in wanted}
