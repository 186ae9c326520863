"""Traffic costs uploaded as a CSV file: every good row is recorded as `POST /api/v1/traffic-costs`
would record it, every bad row is reported with its row number, field and reason.

The file: a header row naming the columns `date, offer_id, amount, currency` and optionally
`sub1`..`sub5`, in any order; then one row per day, offer and sub-id combination. Rows are
numbered as a spreadsheet shows them (the header is row 1). Each good row is its own
transaction, so one bad row never costs the others; a row repeating an earlier one's day, offer
and sub-ids replaces its amount, as a second post would.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal

import msgspec
from sqlalchemy.orm import Session

from affiliates.costs import record_traffic_cost
from affiliates.tracking_models import SUB_COLUMNS
from affiliates.tracking_schemas import TrafficCostCreate, TrafficCostView
from leadmarket.errors import InvalidInput, PermissionDenied
from leadmarket.identity import Principal

REQUIRED = ("date", "offer_id", "amount", "currency")
COLUMNS = (*REQUIRED, *SUB_COLUMNS)
MAX_ROWS = 5000
TOO_LONG = "row"  # the key under which a row with more cells than columns carries its problem
EXAMPLE = "date,offer_id,amount,currency,sub1\n2026-11-20,3,120.50,USD,facebook\n"


class RowError(msgspec.Struct):
    row: int
    field: str  # the CSV column ("amount", "sub2"), or "row" for the row as a whole
    reason: str


class ImportedCost(msgspec.Struct):
    row: int
    cost: TrafficCostView


class CostImport(msgspec.Struct):
    rows: int  # data rows read (blank lines not counted)
    accepted: list[ImportedCost]
    errors: list[RowError]
    totals: dict[str, Decimal]  # accepted amount per currency

    @property
    def rejected_rows(self) -> int:
        return len({e.row for e in self.errors})


def import_traffic_costs(session: Session, principal: Principal, content: bytes) -> CostImport:
    """Record the good rows of an uploaded CSV; a file that cannot be read at all (not UTF-8, no
    header, missing or unknown columns, too many rows) is InvalidInput naming `file`, and then
    nothing is recorded."""
    if principal.affiliate_id is None:
        raise PermissionDenied("only affiliates report traffic costs")
    rows = _read(content)
    accepted: list[ImportedCost] = []
    errors: list[RowError] = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for number, cells in rows:
        bad = [RowError(number, "row", cells.pop(TOO_LONG))] if TOO_LONG in cells else []
        bad += [RowError(number, name, "must not contain NUL characters") for name, value in cells.items()
                if "\x00" in value]
        offer_id: int | None = None
        raw_offer = cells.get("offer_id", "")
        if raw_offer:
            try:
                offer_id = int(raw_offer)
            except ValueError:
                bad.append(RowError(number, "offer_id", "must be a whole number (an offer id)"))
        if bad:
            errors += bad
            continue
        data = TrafficCostCreate(date=cells.get("date") or None, offer_id=offer_id, amount=cells.get("amount") or None,
                                 currency=cells.get("currency") or None,
                                 sub_ids={key: cells[key] for key in SUB_COLUMNS if cells.get(key)})
        try:
            cost = record_traffic_cost(session, principal, data)
        except InvalidInput as exc:
            errors += [RowError(number, error.field.removeprefix("sub_ids."), error.reason) for error in exc.errors]
            continue
        accepted.append(ImportedCost(number, cost))
        totals[cost.currency] += cost.amount
    return CostImport(rows=len(rows), accepted=accepted, errors=errors, totals=dict(totals))


def _read(content: bytes) -> list[tuple[int, dict[str, str]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput.one("file", "must be a CSV file in UTF-8") from None
    first_line = text.split("\n", 1)[0]
    delimiter = next((d for d in (",", ";", "\t") if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise InvalidInput.one("file", "is empty: the first row names the columns, e.g. " + EXAMPLE.split("\n")[0]
                               ) from None
    except csv.Error as exc:
        raise InvalidInput.one("file", f"is not a readable CSV file ({exc})") from None
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in REQUIRED if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        problems = []
        if missing:
            problems.append("missing column " + ", ".join(missing))
        if unknown:
            problems.append("unknown column " + ", ".join(repr(name[:40]) for name in unknown[:5]))
        if len(set(header)) != len(header):
            problems.append("a column is named twice")
        raise InvalidInput.one("file", "; ".join(problems) + f". The columns are {', '.join(COLUMNS)} "
                               f"(the last five optional), e.g. {EXAMPLE.splitlines()[0]}")
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(rows) == MAX_ROWS:
                raise InvalidInput.one("file", f"has more than {MAX_ROWS} rows: split it into smaller files")
            values = {name: cell.strip() for name, cell in zip(header, cells)}
            if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header):]):
                values[TOO_LONG] = f"has {len(cells)} cells but the header names {len(header)} columns"
            rows.append((reader.line_num, values))
    except csv.Error as exc:
        raise InvalidInput.one("file", f"row {reader.line_num} is not readable CSV ({exc})") from None
    return rows
