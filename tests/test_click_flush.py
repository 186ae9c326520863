"""The click stream's flush into PostgreSQL: nothing lost when a worker dies, nothing stored twice."""

from __future__ import annotations


import pytest
from sqlalchemy import func, select

from affiliates import clicks
from affiliates.tasks import flush_clicks
from affiliates.tracking import targets
from affiliates.tracking_models import Click, ClickRollup
from leadmarket.celery_app import enqueue
from leadmarket.db import transaction
from tests.support import created


@pytest.fixture(autouse=True)
def fresh_cache(client, settings, redis_db):
    targets.clear()
    # create_app (the client fixture) points Celery at REDIS_URL; tests run tasks in-process.
    yield
    targets.clear()


@pytest.fixture
def link(client, network, redis_db):
    return created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                               json={"offer_id": network.cpl_offer["id"], "sub_ids": {"sub1": "search"}}))


def click_ids(client, link, n, **headers):
    ids = []
    for i in range(n):
        answer = client.get(f"/r/{link['code']}?sub2=k{i % 3}&cost=0.10", follow_redirects=False,
                            headers={"User-Agent": f"agent-{i}", **headers})
        assert answer.status_code == 302
        ids.append(answer.headers["location"].split("cid=")[1])
    return ids


def stored(db):
    with db() as session:
        rows = session.execute(select(Click.click_id)).scalars().all()
        rollup = session.execute(select(func.sum(ClickRollup.clicks), func.sum(ClickRollup.unique_clicks),
                                        func.sum(ClickRollup.cost_minor))).one()
    return rows, tuple(rollup)


def test_the_flush_task_stores_every_click_once_and_trims_the_stream(client, link, db, redis_db, settings):
    ids = click_ids(client, link, 30)
    key = clicks.stream_key(settings)
    assert redis_db.xlen(key) == 30

    enqueue("affiliates.flush_clicks")   # what beat does every two seconds (in-process here)
    rows, rollup = stored(db)

    assert sorted(rows) == sorted(ids)
    assert rollup == (30, 30, 300)        # 30 clicks, all different visitors, 0.10 each
    assert redis_db.xlen(key) == 0        # stored entries leave Redis
    assert flush_clicks() == 0            # running again finds nothing new
    assert stored(db) == (rows, rollup)


def test_clicks_taken_by_a_worker_that_died_are_stored_by_the_next(client, link, db, redis_db, settings):
    ids = click_ids(client, link, 12)
    key = clicks.stream_key(settings)
    clicks.ensure_group(redis_db, key)
    # A worker reads a batch and is killed before it writes anything.
    taken = redis_db.xreadgroup(clicks.GROUP, "worker-that-died", {key: ">"}, count=10)[0][1]
    assert len(taken) == 10

    with db() as session:   # a fresh worker: the dead one's entries are not yet idle long enough
        first = clicks.flush_stream(session, redis_db, settings, consumer="fresh-worker")
    assert (first.read, first.inserted) == (2, 2)
    with db() as session:   # a minute later they are
        second = clicks.flush_stream(session, redis_db, settings, consumer="fresh-worker", claim_idle_ms=0)

    assert (second.reclaimed, second.inserted) == (10, 10)
    rows, rollup = stored(db)
    assert sorted(rows) == sorted(ids) and rollup[0] == 12
    assert redis_db.xpending(key, clicks.GROUP)["pending"] == 0 and redis_db.xlen(key) == 0


def test_a_batch_stored_but_not_acknowledged_is_not_stored_twice(client, link, db, redis_db, settings):
    ids = click_ids(client, link, 8)
    key = clicks.stream_key(settings)
    clicks.ensure_group(redis_db, key)
    # A worker stores its batch, commits, and dies before XACK.
    taken = redis_db.xreadgroup(clicks.GROUP, "worker-that-died", {key: ">"}, count=8)[0][1]
    rows = [clicks.row_from_entry(entry_id, fields) for entry_id, fields in taken]
    for row in rows:
        row["is_unique"] = True
    with db() as session, transaction(session):
        assert clicks.store_clicks(session, rows) == 8

    with db() as session:
        replay = clicks.flush_stream(session, redis_db, settings, consumer="next-worker", claim_idle_ms=0)

    assert (replay.reclaimed, replay.inserted) == (8, 0)
    stored_ids, rollup = stored(db)
    assert sorted(stored_ids) == sorted(ids)
    assert rollup == (8, 8, 80)           # the rollup did not count the replay either


def test_a_click_still_in_the_stream_can_be_found(client, link, db, redis_db, settings):
    [click_id] = click_ids(client, link, 1)
    with db() as session:
        pending = clicks.find_click(session, redis_db, settings, click_id)
        forged = clicks.find_click(session, redis_db, settings, click_id[:-1] + ("0" if click_id[-1] != "0" else "1"))
    assert pending is not None and pending.sub_ids == {"sub1": "search", "sub2": "k0"}
    assert forged is None                 # the right entry, the wrong nonce
    flush_clicks()
    with db() as session:
        flushed = clicks.find_click(session, redis_db, settings, click_id)
    assert flushed == pending


def test_unique_clicks_count_one_visitor_per_link_and_day(client, link, db, redis_db):
    for _ in range(3):
        click_ids(client, link, 2, **{"User-Agent": "same browser"})
    flush_clicks()
    with db() as session:
        uniques = session.execute(select(Click.is_unique).order_by(Click.clicked_at, Click.click_id)).scalars().all()
    assert uniques == [True] + [False] * 5
    assert stored(db)[1][:2] == (6, 1)
