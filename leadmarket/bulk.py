"""Many rows in one statement whose text does not depend on how many: a JSON recordset.

Intake writes a batch of rows per table per transaction. A multi-row VALUES list has a parameter
per column and row, so its text changes with every batch size: the driver parses it again and the
server plans it again each time; an executemany sends one statement per row. Here the whole batch
travels as ONE parameter, a JSON array of row objects, which PostgreSQL opens with
`json_to_recordset` (`INSERT ... SELECT ... FROM json_to_recordset(CAST(:rows AS json)) AS
u(col type, ...)`): the text is fixed per table and column list, so it is parsed once and prepared
by the driver after a few uses, one round trip for any number of rows; and the document is encoded
by msgspec in C, where arrays of values would go through the driver's per-element Python dumpers.
Rows are inserted in the order given (claims rely on it: they are taken in sorted order so that
two batches never wait on each other in a cycle). SQLite (the embedded default) takes the same rows
through SQLAlchemy's executemany.

How values travel: strings as `text`, so the column's own length check refuses an over-long value
(a cast to varchar(n) would cut it silently); bytes as base64, decoded in SQL; a JSON column's value
wrapped in a one-element array (`[value]`, read back with `-> 0`) because `json_to_recordset` turns a
bare JSON null into SQL NULL, and the ORM stores a None given to a JSON column as JSON null.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import msgspec
from sqlalchemy import Column, Row, Table, bindparam, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import JSON, LargeBinary, String, TypeDecorator

_POSTGRESQL = postgresql.dialect()
_encode = msgspec.json.Encoder().encode  # Decimal as a string, bytes as base64, datetimes in ISO 8601


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], *,
                conflict_columns: Sequence[str] | None = None, returning: Sequence[str] = ()) -> list[Row[Any]]:
    """Insert `rows` (dicts with the same keys) into `table` in one statement; with
    `conflict_columns`, rows that clash there are skipped. Returns `returning` of each row
    inserted (none for the rows skipped)."""
    if not rows:
        return []
    names = tuple(rows[0])
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        stmt = sqlite.insert(table)
        if conflict_columns is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict_columns))
        if returning:
            return list(connection.execute(stmt.returning(*(table.c[name] for name in returning)), list(rows)).all())
        connection.execute(stmt, list(rows))
        return []
    columns = [table.c[name] for name in names]
    statement = _insert_statement(table, names, tuple(conflict_columns) if conflict_columns is not None else None,
                                  tuple(returning))
    result = connection.execute(statement, {"rows": document(columns, rows)})
    return list(result.all()) if returning else []


def update_rows(session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Set each row's other columns on the row of `table` whose `key` column equals its `key`
    (dicts with the same keys), in one statement."""
    if not rows:
        return
    names = tuple(name for name in rows[0] if name != key)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        stmt = (update(table).where(table.c[key] == bindparam(f"b_{key}"))
                .values({name: bindparam(f"b_{name}") for name in names}))
        connection.execute(stmt, [{f"b_{name}": value for name, value in row.items()} for row in rows])
        return
    columns = [table.c[name] for name in (key, *names)]
    connection.execute(_update_statement(table, key, names), {"rows": document(columns, rows)})


def bind(column: Column[Any], value: Any) -> Any:
    """A value as it travels in the document (see the module's docstring): a JSON column's value
    wrapped; a decorated type's own conversion and checks (`UTCDateTime` refuses a naive time) as
    SQLAlchemy would apply them; the rest as it is. A bare None is SQL NULL."""
    if isinstance(column.type, JSON):
        return [value]
    if isinstance(column.type, TypeDecorator):
        return column.type.process_bind_param(value, _POSTGRESQL)
    return value


def document(columns: Sequence[Column[Any]], rows: Sequence[dict[str, Any]]) -> str:
    """`rows` (dicts keyed by the columns' names, raw values) as the JSON text `recordset` opens."""
    converted = [column for column in columns if _converts(column)]
    if converted:
        rows = [{**row, **{column.name: bind(column, row[column.name]) for column in converted}} for row in rows]
    return encoded(rows)


def encoded(rows: Sequence[dict[str, Any]]) -> str:
    """Rows whose values already went through `bind`, as the JSON text `recordset` opens."""
    return _encode(rows).decode()


def int_array(values: Sequence[int]) -> str:
    """Integers as an array literal for `CAST(:x AS bigint[])`: joined in C, where a list
    parameter goes through the driver's per-element Python dumper."""
    return "{" + ",".join(map(str, values)) + "}"


def _converts(column: Column[Any]) -> bool:
    return isinstance(column.type, (JSON, TypeDecorator))


def recordset(columns: Sequence[Column[Any]], *, ordinality: bool = False) -> str:
    """The FROM item that opens the `:rows` document as rows `u` with one typed column each (and,
    with `ordinality`, their 1-based `position` in the document)."""
    typed = ", ".join(f'"{column.name}" {_travel_type(column)}' for column in columns)
    if ordinality:
        return (f"ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS ({typed})) WITH ORDINALITY "
                f"AS u({quoted([column.name for column in columns])}, position)")
    return f"json_to_recordset(CAST(:rows AS json)) AS u({typed})"


def selected(columns: Sequence[Column[Any]]) -> str:
    """The columns of `u` as the table stores them (JSON unwrapped, bytes decoded), each under its name."""
    return ", ".join(f'{_stored(column)} AS "{column.name}"' for column in columns)


def _travel_type(column: Column[Any]) -> str:
    if isinstance(column.type, (String, LargeBinary)):
        return "text"
    if isinstance(column.type, JSON):
        return "jsonb"
    return column.type.compile(dialect=_POSTGRESQL)


def _stored(column: Column[Any]) -> str:
    if isinstance(column.type, JSON):
        return f'u."{column.name}" -> 0'
    if isinstance(column.type, LargeBinary):
        return f"decode(u.\"{column.name}\", 'base64')"
    return f'u."{column.name}"'


def quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


@lru_cache(maxsize=128)
def _update_statement(table: Table, key: str, names: tuple[str, ...]) -> TextClause:
    assignments = ", ".join(f'"{name}" = {_stored(table.c[name])}' for name in names)
    return text(f'UPDATE "{table.name}" SET {assignments} FROM {recordset([table.c[n] for n in (key, *names)])} '
                f'WHERE "{table.name}"."{key}" = u."{key}"')


@lru_cache(maxsize=128)
def _insert_statement(table: Table, names: tuple[str, ...], conflict_columns: tuple[str, ...] | None,
                      returning: tuple[str, ...]) -> TextClause:
    columns = [table.c[n] for n in names]
    sql = (f'INSERT INTO "{table.name}" ({quoted(names)}) SELECT {selected(columns)} '
           f"FROM {recordset(columns, ordinality=True)} ORDER BY position")
    if conflict_columns is not None:
        sql += f" ON CONFLICT ({quoted(conflict_columns)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {quoted(returning)}"
    return text(sql)
