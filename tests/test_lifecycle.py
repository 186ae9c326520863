"""The lead lifecycle: the allowed transitions live in marketplace/lifecycle.py, the database knows
every status, `transition` refuses every other move, and no module moves a lead's status another way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select, text

from leadmarket.db import transaction
from leadmarket.errors import NotFound
from marketplace import lifecycle
from marketplace.lifecycle import RECEIVED, TRANSITIONS, TransitionRefused
from marketplace.models import LEAD_STATUSES, Lead
from tests.store_support import set_lead, stored_lead

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("affiliates", "api", "billing", "fraud", "leadmarket", "marketplace", "web")

# Every place that writes a lead's status, and why it keeps to the lifecycle. A new one fails
# this test: route it through lifecycle.transition (or add it here with the transition it makes).
KNOWN_STATUS_WRITES = {
    ("marketplace/lifecycle.py", "update(Lead)"): 2,           # transition, transition_many
    ("marketplace/intake.py", "lead.status ="): 1,             # received -> first status, via initial_status
}
STATUS_WRITE = re.compile(r"update\(Lead\)|^\s*lead\.status\s*(?:,[^=\n]*)?=(?!=)", re.MULTILINE)


def test_every_status_is_known_to_the_lifecycle_and_the_database(db):
    assert set(TRANSITIONS) == set(LEAD_STATUSES) | {RECEIVED}
    assert all(targets <= set(LEAD_STATUSES) for targets in TRANSITIONS.values())
    with db() as session:
        check = session.execute(text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'ck_lead_status_known' AND conrelid = 'lead'::regclass")).scalar_one()
    assert set(re.findall(r"'(\w+)'", check)) == set(LEAD_STATUSES)
    # what the issue names: received -> rejected / review / available -> sold -> returned / expired / converted
    for src, to in [(RECEIVED, "rejected"), (RECEIVED, "review"), (RECEIVED, "accepted"), ("review", "accepted"),
                    ("review", "rejected"), ("accepted", "sold"), ("accepted", "expired"), ("sold", "returned"),
                    ("sold", "converted")]:
        assert lifecycle.is_allowed(src, to), (src, to)


@pytest.mark.parametrize("src", LEAD_STATUSES)
def test_transition_moves_exactly_the_allowed_pairs(client, db, network, src):
    lead_id = stored_lead(client, network)
    for to in LEAD_STATUSES:
        set_lead(db, lead_id, status=src)
        with db() as session:
            if lifecycle.is_allowed(src, to):
                with transaction(session):
                    lifecycle.transition(session, lead_id, to)
                expected = to
            else:
                with pytest.raises(TransitionRefused), transaction(session):
                    lifecycle.transition(session, lead_id, to)
                expected = src
        with db() as session:
            assert session.execute(select(Lead.status).where(Lead.id == lead_id)).scalar_one() == expected, (src, to)


def test_a_refused_transition_says_why_and_a_missing_lead_is_not_found(client, db, network):
    lead_id = stored_lead(client, network)
    set_lead(db, lead_id, status="expired")
    with db() as session:
        with pytest.raises(TransitionRefused, match="is expired; it cannot become sold"):
            lifecycle.transition(session, lead_id, "sold")
        with pytest.raises(NotFound):
            lifecycle.transition(session, 987_654, "sold")
    with pytest.raises(ValueError):
        lifecycle.initial_status("expired")
    with pytest.raises(ValueError):
        lifecycle.allowed_from("lost")


def test_two_writers_cannot_both_move_one_lead(client, db, network):
    lead_id = stored_lead(client, network)
    with db() as first, db() as second:
        with transaction(first):
            lifecycle.transition(first, lead_id, "expired")
            # the other writer's UPDATE waits on the row, then finds it no longer accepted
        with pytest.raises(TransitionRefused):
            lifecycle.transition(second, lead_id, "sold")


def test_no_module_writes_a_leads_status_outside_the_lifecycle():
    found: dict[tuple[str, str], int] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative:
                continue
            for match in STATUS_WRITE.finditer(path.read_text()):
                kind = "update(Lead)" if match.group().strip().startswith("update") else "lead.status ="
                found[(relative, kind)] = found.get((relative, kind), 0) + 1
    assert found == KNOWN_STATUS_WRITES


def test_a_loaded_lead_sees_its_new_status(client, db, network):
    lead_id = stored_lead(client, network)
    with db() as session, transaction(session):
        lead = session.get(Lead, lead_id)
        assert lead.status == "accepted"
        lifecycle.transition(session, lead_id, "expired")
        assert lead.status == "expired"
