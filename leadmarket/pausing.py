"""Pausing and reactivating what admins switch off and on (affiliates, advertisers, offers): one
conditional UPDATE and its audit row in one transaction."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.orm import Session

from leadmarket import audit
from leadmarket.db import transaction
from leadmarket.errors import InvalidInput, NotFound
from leadmarket.identity import Principal

STATUSES = ("active", "paused")
Row = TypeVar("Row")


def set_status(session: Session, principal: Principal, model: type[Row], row_id: int, status: str) -> Row:
    """Set `status` on one row of `model` (a table with `id` and `status`), audited as `<table>.status`."""
    if status not in STATUSES:
        raise InvalidInput.one("status", "must be active or paused")
    table: Any = model
    subject = table.__tablename__
    with transaction(session):
        changed = session.execute(update(table).where(table.id == row_id).values(status=status)
                                  .returning(table.id)).first()
        if changed is None:
            raise NotFound(f"{subject} {row_id} not found")
        audit.record(session, principal, f"{subject}.status", subject, row_id, {"to": status})
    row = session.get(model, row_id, populate_existing=True)
    assert row is not None
    return row
