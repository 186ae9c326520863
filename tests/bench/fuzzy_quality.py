"""Precision and recall of the fuzzy dedupe (`leadmarket dedupe`) on labelled person records.

    python tests/bench/fuzzy_quality.py                       # generated: 20,000 people and their typo'd copies
    python tests/bench/fuzzy_quality.py --people 70000        # about 100,000 records
    python tests/bench/fuzzy_quality.py FILE.csv --entity-column person_id
    python tests/bench/fuzzy_quality.py febrl.csv             # ids like rec-12-org, rec-12-dup-0 (FEBRL)

A printed pair is correct when both records are one person. Recall counts the records whose person
appeared earlier in the file that were printed. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from marketplace.person_batch import dedupe_records, read_records  # noqa: E402

FEBRL_ID = re.compile(r"^rec-(\d+)-(?:org|dup-\d+)$")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", help="labelled records; generated ones when left out")
    parser.add_argument("--entity-column", help="the column naming the person (else FEBRL-style ids)")
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    if args.csv is None:
        from tests.fuzzy_data import make_records

        generated = make_records(args.people, seed=args.seed)
        records = [r.row() for r in generated]
        entity = {r.id: str(r.entity) for r in generated}
    else:
        with open(args.csv, newline="", encoding="utf-8-sig") as stream:
            records = list(read_records(stream))
        if args.entity_column:
            with open(args.csv, newline="", encoding="utf-8-sig") as stream:
                entity = {row["id"].strip(): row[args.entity_column] for row in csv.DictReader(stream)}
        else:
            entity = {r["id"]: (m.group(1) if (m := FEBRL_ID.match(r["id"])) else r["id"]) for r in records}

    started = time.perf_counter()
    pairs = list(dedupe_records(records))
    elapsed = time.perf_counter() - started
    seen: set[str] = set()
    repeats = 0
    for record in records:
        repeats += entity[record["id"]] in seen
        seen.add(entity[record["id"]])
    correct = sum(entity[a] == entity[b] for a, b in pairs)
    print(f"{len(records):,} records, {repeats:,} repeat an earlier person; printed {len(pairs):,} pairs, "
          f"{correct:,} correct: precision {correct / max(1, len(pairs)):.4f}, recall {correct / max(1, repeats):.4f} "
          f"({elapsed:.1f} s, {len(records) / elapsed:,.0f} records/s)")


if __name__ == "__main__":
    main()
