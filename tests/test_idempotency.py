"""Idempotency-Key on lead intake: a retry takes effect once (invariant 5), and old keys are purged
by the `leadmarket.purge_idempotency_records` Celery task."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select, update

from leadmarket.clock import utcnow
from leadmarket.idempotency import IdempotencyRecord
from marketplace.intake import submit_lead
from tests.support import (count_rows, error_fields, lead_body, post_lead, principal_for, problem, stranger,
                           submission)

RACERS = 8


def test_retry_with_the_same_key_returns_the_first_answer_and_creates_nothing(client, network, db):
    body = lead_body(network.cpl_offer["id"])
    first = post_lead(client, network.affiliate["api_key"], body, idempotency_key="order-1001")

    retries = [post_lead(client, network.affiliate["api_key"], body, idempotency_key="order-1001") for _ in range(3)]

    assert first.status_code == 201 and first.json()["status"] == "accepted"
    for retry in retries:
        assert retry.status_code == 201 and retry.json() == first.json()
    assert count_rows(db, "lead", "idempotency_record") == {"lead": 1, "idempotency_record": 1}


def test_retry_replays_a_duplicate_answer_too(client, network, db):
    body = lead_body(network.cpl_offer["id"])
    original = post_lead(client, network.affiliate["api_key"], body).json()
    duplicate = post_lead(client, network.affiliate["api_key"], body, idempotency_key="dup-1")

    retry = post_lead(client, network.affiliate["api_key"], body, idempotency_key="dup-1")

    assert duplicate.json()["duplicate_of"] == original["lead_id"]
    assert retry.status_code == 201 and retry.json() == duplicate.json()
    assert count_rows(db, "lead")["lead"] == 2


def test_same_key_with_another_body_is_409_and_writes_nothing(client, network, db):
    post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]), idempotency_key="k-7")

    clash = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]), idempotency_key="k-7")

    assert "Idempotency-Key" in problem(clash, 409)["detail"]
    assert count_rows(db, "lead", "idempotency_record") == {"lead": 1, "idempotency_record": 1}


def test_same_body_written_differently_is_the_same_request(client, network, db):
    body = lead_body(network.cpl_offer["id"])
    first = post_lead(client, network.affiliate["api_key"], body, idempotency_key="k-8")
    reordered = dict(reversed(list(body.items())))

    retry = post_lead(client, network.affiliate["api_key"], reordered, idempotency_key="k-8")

    assert retry.status_code == 201 and retry.json() == first.json()
    assert count_rows(db, "lead")["lead"] == 1


def test_key_is_scoped_to_the_affiliate(client, network, db):
    mine = post_lead(client, network.affiliate["api_key"], stranger(network.cpl_offer["id"]), idempotency_key="1")
    theirs = post_lead(client, network.other_affiliate["api_key"], stranger(network.cpl_offer["id"]),
                       idempotency_key="1")

    assert mine.status_code == theirs.status_code == 201
    assert theirs.json()["status"] == "accepted" and theirs.json()["lead_id"] != mine.json()["lead_id"]
    assert count_rows(db, "lead", "idempotency_record") == {"lead": 2, "idempotency_record": 2}


def test_too_long_key_is_422_naming_the_header_and_writes_nothing(client, network, db):
    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]),
                       idempotency_key="k" * 201)

    assert error_fields(answer) == {"Idempotency-Key": "must be 1 to 200 printable characters"}
    assert count_rows(db, "lead", "idempotency_record") == {"lead": 0, "idempotency_record": 0}


def test_longest_allowed_key_works(client, network):
    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]),
                       idempotency_key="k" * 200)
    assert answer.status_code == 201, answer.text


def test_concurrent_retries_with_one_key_make_one_lead(network, db):
    principal = principal_for(db, network.affiliate["api_key"])
    lead = submission(lead_body(network.cpl_offer["id"]))
    start = threading.Barrier(RACERS)

    def retry(_: int):
        with db() as session:
            start.wait()
            return submit_lead(session, principal, lead, idempotency_key="flaky-network-1")

    with ThreadPoolExecutor(RACERS) as pool:
        decisions = list(pool.map(retry, range(RACERS)))

    assert len({d.lead_id for d in decisions}) == 1 and {d.status for d in decisions} == {"accepted"}
    assert len(set(map(repr, decisions))) == 1
    assert count_rows(db, "lead", "idempotency_record") == {"lead": 1, "idempotency_record": 1}


def test_concurrent_retries_over_http_make_one_lead(client, network, db):
    body = lead_body(network.cpl_offer["id"])
    start = threading.Barrier(RACERS)

    def retry(_: int):
        start.wait()
        return post_lead(client, network.affiliate["api_key"], body, idempotency_key="flaky-network-2")

    with ThreadPoolExecutor(RACERS) as pool:
        answers = list(pool.map(retry, range(RACERS)))

    assert [a.status_code for a in answers] == [201] * RACERS
    assert len({a.text for a in answers}) == 1 and answers[0].json()["status"] == "accepted"
    assert count_rows(db, "lead", "idempotency_record") == {"lead": 1, "idempotency_record": 1}


def test_purge_task_forgets_old_keys_and_keeps_new_ones(client, network, db):
    from leadmarket.tasks import purge_idempotency_records

    body = lead_body(network.cpl_offer["id"])
    old = post_lead(client, network.affiliate["api_key"], body, idempotency_key="old").json()
    post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]), idempotency_key="new")
    with db() as session:
        session.execute(update(IdempotencyRecord).where(IdempotencyRecord.key == "old")
                        .values(created_at=utcnow() - timedelta(days=8)))
        session.commit()

    result = purge_idempotency_records.delay()

    assert result.get() == 1
    with db() as session:
        assert session.execute(select(IdempotencyRecord.key)).scalars().all() == ["new"]
    # a retry with a forgotten key is a new request: a new lead, here a duplicate of the first
    again = post_lead(client, network.affiliate["api_key"], body, idempotency_key="old").json()
    assert again["lead_id"] != old["lead_id"] and again["duplicate_of"] == old["lead_id"]
    replay = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]),
                       idempotency_key="new")
    assert replay.status_code == 409  # "new" is still remembered, bound to its first body
