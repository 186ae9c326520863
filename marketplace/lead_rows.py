"""Leads written in bulk: a batch of new leads in one INSERT, their outcomes in one UPDATE.

Intake stores a batch of leads before deciding them (the claims, person keys and sales that follow
point at their ids) and writes the decisions on them afterwards. The ORM's unit of work would
render one multi-row statement per batch size, with a parameter per column and row, and walk every
object and attribute twice; on PostgreSQL these two statements instead pass the batch as one
JSON document (`leadmarket.bulk`), so their text never changes: the driver parses it once and the
server plans it once per connection. The leads end up exactly as a flush would leave them: persistent in the session,
sealed, every column loaded, nothing pending. SQLite (the embedded default) keeps the unit of work.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, inspect, text
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import TextClause

from leadmarket import bulk
from leadmarket.partitions import LEAD_ID_DEFAULT
from marketplace.models import Lead

_TABLE = Lead.__table__
_KEYS = {column.name: prop.key for prop in Lead.__mapper__.column_attrs for column in prop.columns}
_COLUMNS: list[Column[Any]] = [column for column in _TABLE.columns if column.name != "id"]


def insert_leads(session: Session, leads: list[Lead]) -> None:
    """Store new (transient) leads in the session's transaction; each gets its id."""
    if not leads:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.add_all(leads)
        session.flush()
        return
    for lead in leads:
        lead.seal_personal_data()
    rows = [{column.name: _insert_value(lead, column) for column in _COLUMNS} for lead in leads]
    ids = session.connection().execute(_insert_statement(), {"rows": bulk.encoded(rows)})
    for lead, (lead_id,) in zip(leads, ids, strict=True):
        state = lead.__dict__
        for column in _COLUMNS:
            key = _KEYS[column.name]
            if key not in state:  # what the INSERT stored for an unset column: its default or NULL
                setattr(lead, key, _default(column))
        lead.id = lead_id
        make_transient_to_detached(lead)  # as if just loaded: every column present, no history
    session.add_all(leads)


def write_outcomes(session: Session, leads: Iterable[Lead]) -> None:
    """Write what changed on stored leads since they were inserted (their outcomes: status, reason,
    payout, the fraud screen's findings) in one UPDATE; the changes are then committed state."""
    leads = list(leads)
    if not leads or session.get_bind().dialect.name != "postgresql":
        return  # the unit of work flushes them with everything else
    for lead in leads:
        lead.seal_personal_data()
    changed = sorted({key for lead in leads for key in inspect(lead).committed_state} & _COLUMN_KEYS)
    if not changed:
        return
    bulk.update_rows(session, _TABLE, "id", [
        {"id": lead.id, **{_NAMES[key]: lead.__dict__.get(key) for key in changed}} for lead in leads])
    for lead in leads:
        for key in changed:
            set_committed_value(lead, key, lead.__dict__.get(key))


_NAMES = {key: name for name, key in _KEYS.items()}
_COLUMN_KEYS = frozenset(_NAMES)


def _insert_value(lead: Lead, column: Column[Any]) -> Any:
    key = _KEYS[column.name]
    if key in lead.__dict__:
        return bulk.bind(column, lead.__dict__[key])
    return bulk.bind(column, _default(column)) if column.default is not None else None


def _default(column: Column[Any]) -> Any:
    """A column's Python-side default, as the ORM would apply it at insert."""
    default = column.default
    if default is None:
        return None
    arg = default.arg  # type: ignore[attr-defined]
    return arg(None) if callable(arg) else arg


@lru_cache(maxsize=1)
def _insert_statement() -> TextClause:
    listed = bulk.quoted([column.name for column in _COLUMNS])
    # The ids are drawn in the CTE and read back in the batch's order (a RETURNING list has no
    # promised order); a CTE that is read twice is evaluated once.
    return text(f"""
WITH batch AS MATERIALIZED (
    SELECT {LEAD_ID_DEFAULT} AS id, {bulk.selected(_COLUMNS)}, position
    FROM {bulk.recordset(_COLUMNS, ordinality=True)}
), stored AS (
    INSERT INTO lead (id, {listed}) SELECT id, {listed} FROM batch
)
SELECT id FROM batch ORDER BY position""")
