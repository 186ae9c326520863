"""Dialect-neutral INSERT ... ON CONFLICT, for the race-safe claims PostgreSQL and SQLite share."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadmarket import bulk


def _insert_for(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def insert_ignoring_conflict(session: Session, model: Any, values: dict[str, Any], *,
                             conflict_columns: list[str], returning: Any) -> Any | None:
    """Insert one row unless it clashes on `conflict_columns`; the new row's `returning` or None."""
    stmt = _insert_for(session, model).values(**values).on_conflict_do_nothing(
        index_elements=conflict_columns).returning(returning)
    return session.execute(stmt).scalar_one_or_none()


def insert_or_take_over(session: Session, model: Any, values: dict[str, Any], *,
                        conflict_columns: list[str], take_over: dict[str, Any], when: Any,
                        returning: Any) -> Any | None:
    """Insert one row, or overwrite the clashing row with `take_over` if `when` holds for it.

    Returns `returning` of the row written, or None when a clashing row exists and `when` is
    false. The clashing row stays locked to the end of the transaction, so two callers never
    both win.
    """
    stmt = _insert_for(session, model).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=conflict_columns, set_=take_over, where=when)
    return session.execute(stmt.returning(returning)).scalar_one_or_none()


def insert_ignoring_conflicts(session: Session, model: Any, rows: list[dict[str, Any]], *,
                              conflict_columns: list[str], returning: list[Any]) -> list[Any]:
    """`insert_ignoring_conflict` for several rows in one round trip (`bulk.insert_rows`):
    `returning` of each row inserted (rows that clashed give nothing). Rows are written in the
    order given."""
    return bulk.insert_rows(session, model.__table__, rows, conflict_columns=conflict_columns,
                            returning=[attribute.expression.name for attribute in returning])
