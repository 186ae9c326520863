"""Clicks are partitioned by month in PostgreSQL: rows land in their month, months are made
ahead by a beat task, a late month takes its rows out of the default partition, and a replayed
batch still inserts nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from affiliates import clicks
from affiliates.tracking_models import Click
from leadmarket import partitions
from leadmarket.tasks import ensure_partitions


def click_row(click_id: str, at: datetime) -> dict:
    return {"click_id": click_id, "link_id": 1, "affiliate_id": 1, "offer_id": 1, "currency": "USD",
            "sub1": None, "sub2": None, "sub3": None, "sub4": None, "sub5": None, "ip": "198.51.100.7",
            "user_agent": "Mozilla/5.0", "referrer": None, "country": "US", "cost_minor": None, "is_unique": True,
            "clicked_at": at}


def where_stored(engine, click_id: str) -> str:
    with engine.connect() as connection:
        return connection.execute(text("SELECT tableoid::regclass::text FROM click WHERE click_id = :c"),
                                  {"c": click_id}).scalar_one()


def test_click_is_a_partitioned_table_with_months_ready_ahead(engine):
    with engine.connect() as connection:
        kind = connection.execute(text("SELECT relkind FROM pg_class WHERE relname = 'click'")).scalar_one()
        names = partitions.partitions_of(connection, "click")
    assert kind == "p"
    now = datetime.now(UTC)
    for offset in range(partitions.MONTHS_AHEAD + 1):
        assert partitions.partition_name("click", partitions.month_start(now.year, now.month + offset)) in names
    assert "click_default" in names


def test_clicks_land_in_their_month_and_replays_add_nothing(db, engine):
    now = datetime.now(UTC).replace(microsecond=0)
    this_month = f"{int(now.timestamp() * 1000)}-0-aaaa"
    long_ago = "1262304000000-0-bbbb"  # 2010-01-01: no partition for it, so the default one
    rows = [click_row(this_month, now), click_row(long_ago, datetime(2010, 1, 1, tzinfo=UTC))]
    with db() as session, session.begin():
        assert clicks.store_clicks(session, rows) is not None
    with db() as session, session.begin():
        clicks.store_clicks(session, rows)  # the same batch again, as after a crashed flush
    with db() as session:
        assert session.execute(select(func.count()).select_from(Click)).scalar_one() == 2
    assert where_stored(engine, this_month) == partitions.partition_name("click", partitions.month_start(now.year, now.month))
    assert where_stored(engine, long_ago) == "click_default"

    # A month created late takes its rows out of the default partition.
    with engine.begin() as connection:
        created = partitions.ensure_partitions(connection, now=datetime(2010, 1, 15, tzinfo=UTC), months_ahead=0)
    assert created == ["click_p201001", "lead_p201001"]
    assert where_stored(engine, long_ago) == "click_p201001"
    with engine.begin() as connection:
        assert partitions.ensure_partitions(connection, now=datetime(2010, 1, 15, tzinfo=UTC), months_ahead=0) == []
        for table in ("click", "lead"):  # leave the shared schema as it was
            partitions.detach_month(connection, table, datetime(2010, 1, 1, tzinfo=UTC), drop=True)


def test_the_beat_task_is_idempotent(settings):
    assert ensure_partitions() == []  # the migration made this month and the next ones already


def test_partitions_are_not_schema_drift():
    assert partitions.is_partition("click_p202611") and partitions.is_partition("lead_default")
    assert not partitions.is_partition("click") and not partitions.is_partition("lead")
    assert not partitions.is_partition("sale_p202611")


def test_a_new_lead_s_id_carries_its_month_and_it_lives_in_that_month_s_partition(client, network, engine, db):
    from tests.support import lead_body, post_lead

    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]))
    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["lead_id"]
    now = datetime.now(UTC)
    month = partitions.month_start(now.year, now.month)
    assert partitions.month_id_floor(month) < lead_id < partitions.month_id_floor(
        partitions.month_start(now.year, now.month + 1))
    assert lead_id < 2**53  # still exact as a JSON number in every client
    with engine.connect() as connection:
        kind = connection.execute(text("SELECT relkind FROM pg_class WHERE relname = 'lead'")).scalar_one()
        home = connection.execute(text("SELECT tableoid::regclass::text FROM lead WHERE id = :id"),
                                  {"id": lead_id}).scalar_one()
    assert kind == "p" and home == partitions.partition_name("lead", month)
    # The foreign keys still hold against the partitioned table.
    with engine.connect() as connection:
        refused = connection.execute(text(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = 'lead'::regclass")).scalar_one()
    assert refused >= 9
    import pytest
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("INSERT INTO lead_sale_count (lead_id, sales, max_sales, exclusive) VALUES (:id, 0, 1, true)"), {"id": lead_id + 7})


@pytest.mark.parametrize("write", [
    "INSERT INTO person_key (vertical_id, key_hash, lead_id) VALUES (:vertical, 42, :lead), (:vertical, 43, :missing)",
    "INSERT INTO dedupe_claim (vertical_id, key_kind, key_digest, lead_id, claimed_at) "
    "VALUES (:vertical, 'email', 'd1', :lead, now()), (:vertical, 'phone', 'd2', :missing, now())",
    "UPDATE dedupe_claim SET lead_id = :missing WHERE lead_id = :lead",
])
def test_person_keys_and_claims_name_a_lead_that_exists(client, network, engine, write):
    """These lookups check their lead per statement (a trigger, migration 0018), not per row: a
    statement naming a missing lead is refused whole, as a foreign key would refuse it."""
    from sqlalchemy.exc import IntegrityError

    from tests.support import lead_body, post_lead

    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]))
    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["lead_id"]
    params = {"vertical": network.vertical["id"], "lead": lead_id, "missing": lead_id + 7}
    with engine.connect() as connection:
        keys_before = connection.execute(text("SELECT count(*) FROM person_key")).scalar_one()
        claims_before = connection.execute(text("SELECT lead_id FROM dedupe_claim ORDER BY key_kind")).all()
    assert claims_before, "the posted lead claimed its contact keys"
    with pytest.raises(IntegrityError, match="names a lead that does not exist"), engine.begin() as connection:
        connection.execute(text(write), params)
    with engine.connect() as connection:  # nothing of the statement stayed
        assert connection.execute(text("SELECT count(*) FROM person_key")).scalar_one() == keys_before
        assert connection.execute(text("SELECT lead_id FROM dedupe_claim ORDER BY key_kind")).all() == claims_before
    with engine.begin() as connection:  # the same rows for the lead that exists are taken
        connection.execute(text(
            "INSERT INTO person_key (vertical_id, key_hash, lead_id) VALUES (:vertical, 44, :lead)"), params)
