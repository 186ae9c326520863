"""Many rows in one statement whose text does not depend on how many: PostgreSQL's `unnest`.

Intake writes a batch of rows per table per transaction. A multi-row VALUES list has a parameter
per column and row, so its text changes with every batch size: the driver parses it again and the
server plans it again each time; an executemany sends one statement per row. Here every column
travels as one array (`INSERT ... SELECT * FROM unnest(CAST(:c0 AS bigint[]), ...)`), so the text
is fixed per table and column list: parsed once, prepared by the driver after a few uses, one
round trip for any number of rows. Rows are inserted in the order given, as with VALUES (claims
rely on it: they are taken in sorted order so that two batches never wait on each other in a
cycle). SQLite (the embedded default) takes the same rows through SQLAlchemy's executemany.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Column, Row, Table, bindparam, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import JSON, String, TypeDecorator

_POSTGRESQL = postgresql.dialect()


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
    params = {f"c{i}": [bind(table.c[name], row[name]) for row in rows] for i, name in enumerate(names)}
    statement = _insert_statement(table, names, tuple(conflict_columns) if conflict_columns is not None else None,
                                  tuple(returning))
    result = connection.execute(statement, params)
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
    params = {f"c{i}": [bind(column, row[column.name]) for row in rows] for i, column in enumerate(columns)}
    connection.execute(_update_statement(table, key, names), params)


def bind(column: Column[Any], value: Any) -> Any:
    """A value as the driver takes it inside an array: JSON wrapped (None is JSON null, as the ORM
    stores a None it was given); a decorated type's own conversion and checks (`UTCDateTime`
    refuses a naive time) as SQLAlchemy would apply them; the rest as it is."""
    if isinstance(column.type, JSON):
        return Jsonb(value)
    if isinstance(column.type, TypeDecorator):
        return column.type.process_bind_param(value, _POSTGRESQL)
    return value


def array_cast(column: Column[Any]) -> str:
    """The column's type as an array type. Strings go as text[]: a cast to varchar(n) would cut an
    over-long value silently, while the INSERT's own assignment refuses it."""
    if isinstance(column.type, String):
        return "text[]"
    if isinstance(column.type, JSON):
        return "jsonb[]"
    return column.type.compile(dialect=_POSTGRESQL) + "[]"


def unnest(columns: Sequence[Column[Any]]) -> str:
    """`unnest(CAST(:c0 AS type[]), CAST(:c1 AS ...), ...)`: one array parameter per column."""
    return "unnest(" + ", ".join(f"CAST(:c{i} AS {array_cast(column)})" for i, column in enumerate(columns)) + ")"


def quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


@lru_cache(maxsize=128)
def _update_statement(table: Table, key: str, names: tuple[str, ...]) -> TextClause:
    assignments = ", ".join(f'"{name}" = u."{name}"' for name in names)
    return text(f'UPDATE "{table.name}" SET {assignments} FROM {unnest([table.c[n] for n in (key, *names)])} '
                f'AS u({quoted((key, *names))}) WHERE "{table.name}"."{key}" = u."{key}"')


@lru_cache(maxsize=128)
def _insert_statement(table: Table, names: tuple[str, ...], conflict_columns: tuple[str, ...] | None,
                      returning: tuple[str, ...]) -> TextClause:
    sql = f'INSERT INTO "{table.name}" ({quoted(names)}) SELECT * FROM {unnest([table.c[n] for n in names])}'
    if conflict_columns is not None:
        sql += f" ON CONFLICT ({quoted(conflict_columns)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {quoted(returning)}"
    return text(sql)
