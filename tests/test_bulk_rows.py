"""Rows written in bulk (leadmarket/bulk.py, marketplace/lead_rows.py) are the rows the ORM would write.

Intake stores a batch of leads with one JSON-recordset INSERT and writes their outcomes with one UPDATE;
the leads must come out exactly as a flush would leave them, in the database and in the session.
Real PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event, inspect, select, text
from sqlalchemy.exc import DataError

from leadmarket import bulk
from leadmarket.db import transaction
from leadmarket.idempotency import IdempotencyRecord
from marketplace import lead_rows
from marketplace.models import Lead

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def new_lead(network, n: int, **overrides) -> Lead:
    return Lead(**_lead_fields(network, n, **overrides))


def _lead_fields(network, n: int, **overrides) -> dict:
    fields = dict(
        offer_id=network.cpl_offer["id"], affiliate_id=network.affiliate["id"], vertical_id=network.vertical["id"],
        status="accepted", first_name="Maria", last_name="Lopez", email=f"maria.{n}@example.org",
        phone=f"+1415263{n:04d}", country="US", region="CA", city="San Francisco", postal_code="94107",
        attributes={"vehicle_year": 2019}, consent={"text": "I agree", "given_at": NOW.isoformat(), "ip": "8.8.8.8"},
        meta={"ip": "8.8.8.8", "user_agent": "Mozilla/5.0", "form_seconds": 30}, payout_minor=0, currency="USD",
        created_at=NOW, sub1="campaign-7")
    fields.update(overrides)
    return fields


def stored_row(session, lead_id: int) -> dict:
    """The row as PostgreSQL holds it, JSON null and SQL NULL told apart; the sealed contact differs
    per seal (a random nonce), so it is compared opened."""
    return session.execute(text("SELECT to_jsonb(l) - 'id' - 'contact_sealed' FROM lead l WHERE id = :id"),
                           {"id": lead_id}).scalar_one()


def test_a_lead_inserted_in_bulk_is_the_row_the_orm_writes(db, network):
    with db() as session, transaction(session):
        by_orm, in_bulk = new_lead(network, 1), new_lead(network, 1)
        plain = [new_lead(network, 2, consent=None, sub1=None), new_lead(network, 2, consent=None, sub1=None)]
        session.add_all([by_orm, plain[0]])
        session.flush()
        lead_rows.insert_leads(session, [in_bulk, plain[1]])
        ids = (by_orm.id, in_bulk.id, plain[0].id, plain[1].id)

    with db() as session:
        assert stored_row(session, ids[0]) == stored_row(session, ids[1])
        assert stored_row(session, ids[2]) == stored_row(session, ids[3])
        loaded = session.get(Lead, ids[1])
        assert (loaded.email, loaded.phone, loaded.meta["ip"], loaded.consent["ip"]) == (
            "maria.1@example.org", "+14152630001", "8.8.8.8", "8.8.8.8")
        assert loaded.fraud_reasons == [] and loaded.source == "api"  # the columns' defaults


@pytest.mark.parametrize("overrides", [
    {},
    {"consent": None, "sub1": None, "email": None},
    {"date_of_birth": date(1990, 4, 2), "address": "12 Main St", "meta": {"ip": "8.8.8.8"}},
])
def test_a_lead_made_with_its_personal_data_in_one_step_is_the_lead_the_constructor_makes(db, network, overrides):
    """Intake makes leads with `Lead.new` (the personal data merged once): same row, same data."""
    with db() as session, transaction(session):
        by_constructor = new_lead(network, 3, **overrides)
        by_new = Lead.new(**_lead_fields(network, 3, **overrides))
        assert by_new.personal_data() == by_constructor.personal_data()
        assert (by_new.meta, by_new.consent, by_new.postal_prefix, by_new.date_of_birth) == (
            by_constructor.meta, by_constructor.consent, by_constructor.postal_prefix, by_constructor.date_of_birth)
        session.add_all([by_constructor])
        session.flush()
        lead_rows.insert_leads(session, [by_new])
        ids = (by_constructor.id, by_new.id)

    with db() as session:
        assert stored_row(session, ids[0]) == stored_row(session, ids[1])
        assert session.get(Lead, ids[1]).personal_data() == session.get(Lead, ids[0]).personal_data()


def test_ids_come_back_in_the_batch_order_and_the_leads_are_persistent_and_loaded(db, network):
    leads = [new_lead(network, n) for n in range(12)]
    with db() as session, transaction(session):
        lead_rows.insert_leads(session, leads)
        for lead in leads:
            state = inspect(lead)
            # every column loaded: only the relationships (lazy="raise") are, as after a flush
            assert state.persistent and not state.expired_attributes and state.unloaded == {"offer", "vertical"}
        assert not session.new and not any(session.is_modified(lead) for lead in leads)  # nothing to flush
        assert len({lead.id for lead in leads}) == 12

    with db() as session:
        emails = dict(session.execute(select(Lead.id, Lead.contact_sealed).where(
            Lead.id.in_([lead.id for lead in leads]))).all())
        assert len(emails) == 12
        for n, lead in enumerate(leads):
            assert session.get(Lead, lead.id).email == f"maria.{n}@example.org"


def test_outcomes_are_written_in_one_update_and_leave_nothing_to_flush(db, network):
    leads = [new_lead(network, n) for n in range(3)]
    with db() as session, transaction(session):
        lead_rows.insert_leads(session, leads)
        leads[0].status, leads[0].payout_minor = "sold", 1250
        leads[1].status, leads[1].reason, leads[1].fraud_score = "rejected", "disposable_email", 80
        leads[1].fraud_reasons = ["disposable_email"]
        statements: list[str] = []
        connection = session.connection()

        def seen(_conn, _cursor, statement, *_args):
            statements.append(statement)

        event.listen(connection, "before_cursor_execute", seen)
        lead_rows.write_outcomes(session, leads)
        assert not any(session.is_modified(lead) for lead in leads)
        session.flush()
        event.remove(connection, "before_cursor_execute", seen)
        assert len(statements) == 1 and statements[0].startswith('UPDATE "lead"')

    with db() as session:
        rows = {lead.id: (lead.status, lead.reason, lead.payout_minor, lead.fraud_score, lead.fraud_reasons)
                for lead in session.scalars(select(Lead).where(Lead.id.in_([lead.id for lead in leads])))}
        assert rows[leads[0].id] == ("sold", None, 1250, None, [])
        assert rows[leads[1].id] == ("rejected", "disposable_email", 0, 80, ["disposable_email"])
        assert rows[leads[2].id] == ("accepted", None, 0, None, [])


def test_insert_rows_skips_conflicts_returns_the_inserted_and_updates_by_key(db):
    table = IdempotencyRecord.__table__
    rows = [{"scope": "affiliate:1", "key": k, "request_hash": "h" * 64, "created_at": NOW} for k in ("a", "b")]
    with db() as session, transaction(session):
        first = bulk.insert_rows(session, table, rows, conflict_columns=["scope", "key"], returning=["key", "id"])
        again = bulk.insert_rows(session, table, [*rows, {**rows[0], "key": "c"}], conflict_columns=["scope", "key"],
                                 returning=["key"])
        bulk.update_rows(session, table, "id", [{"id": first[1][1], "response_status": 201,
                                                 "response_body": {"status": "accepted"}}])
    assert [row[0] for row in first] == ["a", "b"]
    assert [row[0] for row in again] == ["c"]  # a and b clashed and were skipped
    with db() as session:
        stored = {r.key: (r.response_status, r.response_body) for r in session.scalars(select(IdempotencyRecord))}
    assert stored == {"a": (None, None), "b": (201, {"status": "accepted"}), "c": (None, None)}


def test_an_over_long_value_is_refused_not_cut(db):
    """Arrays travel as text[]: the column's own length check refuses what a varchar(n) cast would cut."""
    row = {"scope": "affiliate:1", "key": "k", "request_hash": "h" * 65, "created_at": NOW}
    with db() as session, pytest.raises(DataError), transaction(session):
        bulk.insert_rows(session, IdempotencyRecord.__table__, [row])
    with db() as session:
        assert session.scalars(select(IdempotencyRecord)).all() == []


def test_a_naive_time_is_refused_as_the_orm_refuses_it(db):
    row = {"scope": "affiliate:1", "key": "k", "request_hash": "h" * 64, "created_at": NOW.replace(tzinfo=None)}
    with db() as session, pytest.raises(ValueError, match="naive"), transaction(session):
        bulk.insert_rows(session, IdempotencyRecord.__table__, [row])
