"""The lead lifecycle: which status may follow which, and the one way a stored lead's status moves.

    received ─► rejected | review | accepted | sold
    review   ─► accepted | rejected
    accepted ─► sold | expired          (accepted = available in the lead store)
    sold     ─► returned | converted
    returned ─► accepted | sold         (a returned share of a shared lead that still has other sales)

`received` is a lead inside intake's transaction: intake writes the lead with its first decided
status (`initial_status` checks it is one `received` may move to), so no committed row says
`received`. After that, every change goes through `transition`: one conditional
`UPDATE lead SET status = :to WHERE id = :id AND status IN (:allowed_from)`, judged by its row
count, so two writers racing on one lead (two buyers, a buyer and the expiry task) cannot both
move it. tests/test_lifecycle.py checks that no module writes `Lead.status` any other way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from leadmarket.errors import Conflict, NotFound
from marketplace.models import LEAD_STATUSES, Lead

RECEIVED = "received"

TRANSITIONS: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({"rejected", "review", "accepted", "sold"}),
    "review": frozenset({"accepted", "rejected"}),
    "accepted": frozenset({"sold", "expired"}),
    "sold": frozenset({"returned", "converted"}),
    "returned": frozenset({"accepted", "sold"}),
    "rejected": frozenset(),
    "expired": frozenset(),
    "converted": frozenset(),
}


class TransitionRefused(Conflict):
    """The lead is not in a status this change may start from (someone moved it first)."""

    def __init__(self, lead_id: int, status: str, to: str) -> None:
        self.lead_id, self.status, self.to = lead_id, status, to
        super().__init__(f"lead {lead_id} is {status}; it cannot become {to}")


def allowed_from(to: str) -> frozenset[str]:
    """The stored statuses a lead may move to `to` from."""
    if to not in LEAD_STATUSES:
        raise ValueError(f"unknown lead status {to!r}")
    return frozenset(src for src, targets in TRANSITIONS.items() if to in targets and src != RECEIVED)


def is_allowed(src: str, to: str) -> bool:
    return to in TRANSITIONS.get(src, frozenset())


def initial_status(status: str) -> str:
    """The status intake first stores a lead with: one `received` may move to."""
    if not is_allowed(RECEIVED, status):
        raise ValueError(f"a new lead cannot start as {status!r}")
    return status


def transition(session: Session, lead_id: int, to: str, *, only_from: Iterable[str] | None = None,
               where: Iterable[ColumnElement[bool]] = (), values: dict[str, Any] | None = None) -> None:
    """Move one lead to `to` in the caller's transaction, or raise: NotFound when there is no such
    lead, TransitionRefused when its status (or an extra `where`) does not allow it now.

    `only_from` narrows the allowed starting statuses (never widens them); `values` sets other
    columns in the same UPDATE (e.g. `reason`)."""
    sources = allowed_from(to)
    if only_from is not None:
        sources = sources & frozenset(only_from)
    moved = session.execute(
        update(Lead).where(Lead.id == lead_id, Lead.status.in_(sorted(sources)), *where)
        .values(status=to, **(values or {})).returning(Lead.id).execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if moved is None:
        status = session.execute(select(Lead.status).where(Lead.id == lead_id)).scalar_one_or_none()
        if status is None:
            raise NotFound(f"no lead {lead_id}")
        raise TransitionRefused(lead_id, status, to)
    lead = session.identity_map.get(identity_key(Lead, lead_id))  # keep a loaded Lead in step
    if lead is not None:
        session.expire(lead, ["status", *(values or {})])


def transition_many(session: Session, to: str, *, only_from: Iterable[str] | None = None,
                    where: Iterable[ColumnElement[bool]] = (), limit: int | None = None) -> list[int]:
    """Move every lead matching `where` (and an allowed starting status) to `to`; their ids.
    With `limit`, at most that many (oldest id first), so a big batch can be taken in parts."""
    sources = allowed_from(to)
    if only_from is not None:
        sources = sources & frozenset(only_from)
    chosen = select(Lead.id).where(Lead.status.in_(sorted(sources)), *where).order_by(Lead.id)
    if limit is not None:
        chosen = chosen.limit(limit)
    # The status is checked again by the UPDATE itself: a lead moved meanwhile is left alone.
    return list(session.execute(
        update(Lead).where(Lead.id.in_(chosen.scalar_subquery()), Lead.status.in_(sorted(sources)))
        .values(status=to).returning(Lead.id).execution_options(synchronize_session=False)).scalars())

