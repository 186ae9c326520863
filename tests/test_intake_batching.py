"""Intake in batches: posts taken together decide exactly as if they had come one at a time.

`intake.submit_leads` is called directly with several posts (what `marketplace.batching` does with
concurrent ones), against real PostgreSQL and Redis; then the batcher itself, from many threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from leadmarket.errors import Conflict, InvalidInput
from leadmarket.idempotency import IdempotencyRecord
from marketplace import batching, intake
from marketplace.intake import LeadPost, submit_leads
from marketplace.models import DedupeClaim, Lead
from marketplace.schemas import LeadDecision
from tests.support import lead_body, principal_for, stranger, submission

MARIA = {"first_name": "Maria", "last_name": "Lopez", "date_of_birth": "1990-05-31", "address": "250 Brannan Street",
         "city": "San Francisco", "region": "CA", "postal_code": "94107", "phone": "+1 415 263 0123",
         "email": "maria.lopez.sf@gmail.com"}


def posts(db, network, bodies, keys=None):
    principal = principal_for(db, network.affiliate["api_key"])
    keys = keys or [None] * len(bodies)
    return [LeadPost(principal, submission(body), key) for body, key in zip(bodies, keys, strict=True)]


def lead_count(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Lead))


def test_a_batch_of_strangers_is_accepted_and_committed(db, network):
    offer_id = network.cpl_offer["id"]
    with db() as session:
        answers = submit_leads(session, posts(db, network, [stranger(offer_id) for _ in range(6)]))

    assert [a.status for a in answers] == ["accepted"] * 6
    assert len({a.lead_id for a in answers}) == 6
    with db() as session:  # committed: another session sees every lead and its claims
        stored = session.execute(select(Lead.id, Lead.status).where(Lead.id.in_([a.lead_id for a in answers])))
        assert dict(stored.all()) == {a.lead_id: "accepted" for a in answers}
        assert session.scalar(select(func.count()).select_from(DedupeClaim)
                              .where(DedupeClaim.lead_id.in_([a.lead_id for a in answers]))) == 12


def test_the_same_person_twice_in_one_batch_is_decided_in_order(db, network):
    offer_id = network.cpl_offer["id"]
    first = stranger(offer_id)
    again = stranger(offer_id, contact={"phone": first["contact"]["phone"]})  # another e-mail, the same phone
    with db() as session:
        answers = submit_leads(session, posts(db, network, [first, stranger(offer_id), again]))

    assert [a.status for a in answers] == ["accepted", "accepted", "rejected"]
    assert (answers[2].reason, answers[2].duplicate_of) == ("duplicate", answers[0].lead_id)
    with db() as session:  # the duplicate holds no contact key
        assert session.scalar(select(func.count()).select_from(DedupeClaim)
                              .where(DedupeClaim.lead_id == answers[2].lead_id)) == 0


def test_the_same_person_under_a_typo_in_one_batch_is_a_duplicate_of_the_first(db, network):
    offer_id = network.cpl_offer["id"]
    typo = {**MARIA, "first_name": "Mraia", "phone": "+1 (415) 263-0132", "email": "mlopez90@yahoo.com"}
    husband = {**MARIA, "first_name": "Carlos", "date_of_birth": "1987-02-10", "phone": "+1 415 263 0177",
               "email": "carlos.lopez@gmail.com"}
    third = {**MARIA, "first_name": "Maira", "phone": "+1 415 263 0145", "email": "maria.l@outlook.com"}
    bodies = [lead_body(offer_id, contact=c) for c in (MARIA, typo, husband, third)]
    with db() as session:  # no contact key is shared: one transaction, the people judged in order
        answers = submit_leads(session, posts(db, network, bodies))

    first = answers[0].lead_id
    assert [(a.status, a.duplicate_of) for a in answers] == [
        ("accepted", None), ("rejected", first), ("accepted", None), ("rejected", first)]


def test_one_idempotency_key_twice_in_one_batch(db, network):
    offer_id = network.cpl_offer["id"]
    body, other = stranger(offer_id), stranger(offer_id)
    before = lead_count(db)
    with db() as session:
        answers = submit_leads(session, posts(db, network, [body, body, other], keys=["k-1", "k-1", "k-1"]))

    assert isinstance(answers[0], LeadDecision) and answers[0].status == "accepted"
    assert answers[1] == answers[0]  # the retry gets the first answer and creates nothing
    assert isinstance(answers[2], Conflict)  # the same key with another body
    assert lead_count(db) == before + 1
    with db() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)
                              .where(IdempotencyRecord.key == "k-1")) == 1


def test_a_bad_post_in_a_batch_costs_the_others_nothing(db, network):
    offer_id = network.cpl_offer["id"]
    bad = stranger(offer_id, contact={"phone": "12", "email": None})
    before = lead_count(db)
    with db() as session:
        answers = submit_leads(session, posts(db, network, [stranger(offer_id), bad, stranger(offer_id)]))

    assert isinstance(answers[1], InvalidInput)
    assert [f.field for f in answers[1].errors] == ["contact.phone"]
    assert [answers[0].status, answers[2].status] == ["accepted", "accepted"]
    assert lead_count(db) == before + 2  # the bad post wrote nothing


def test_a_lead_that_fails_its_decision_alone_gets_the_error_and_the_rest_are_committed(db, network):
    offer_id = network.cpl_offer["id"]
    bodies = [stranger(offer_id) for _ in range(3)]
    doomed_email = bodies[1]["contact"]["email"]

    def seller(session, lead, offer):  # a buyer whose sale blows up for one lead, as a bug would
        if lead.email == doomed_email:
            raise RuntimeError("buyer crashed")
        return intake.distribute(session, lead, offer)

    principal = principal_for(db, network.affiliate["api_key"])
    before = lead_count(db)
    with db() as session:
        answers = submit_leads(session, [LeadPost(principal, submission(body), f"s-{i}", seller)
                                         for i, body in enumerate(bodies)])

    assert isinstance(answers[1], RuntimeError)
    assert [answers[0].status, answers[2].status] == ["accepted", "accepted"]
    assert lead_count(db) == before + 2  # the failed lead left nothing: no lead, no key, no claim
    with db() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)
                              .where(IdempotencyRecord.key == "s-1")) == 0


def test_the_batcher_answers_every_post_from_many_threads_and_batches_them(db, network, monkeypatch):
    offer_id = network.cpl_offer["id"]
    sizes: list[int] = []

    def recording(session, batch):  # the real intake, with the batch sizes noted
        sizes.append(len(batch))
        return submit_leads(session, batch)

    monkeypatch.setattr(batching, "submit_leads", recording)
    batcher = batching.IntakeBatcher(db)
    bodies = [stranger(offer_id) for _ in range(40)]
    all_posts = posts(db, network, bodies, keys=[f"t-{i}" for i in range(40)])
    start = threading.Barrier(20)

    def post_two(pair):
        start.wait()
        return [batcher.submit(p) for p in pair]

    with ThreadPoolExecutor(20) as pool:
        answers = [a for pair in pool.map(post_two, [all_posts[i:i + 2] for i in range(0, 40, 2)]) for a in pair]

    assert [a.status for a in answers] == ["accepted"] * 40
    assert len({a.lead_id for a in answers}) == 40
    assert sum(sizes) == 40 and max(sizes) > 1  # concurrent posts shared transactions


def test_a_decider_that_went_idle_is_replaced_by_the_next_post(db, network, monkeypatch):
    monkeypatch.setattr(batching, "IDLE_SECONDS", 0.05)
    batcher = batching.IntakeBatcher(db)
    offer_id = network.cpl_offer["id"]
    first = batcher.submit(posts(db, network, [stranger(offer_id)])[0])
    threading.Event().wait(0.3)  # every decider ends
    assert batcher._deciders == 0
    second = batcher.submit(posts(db, network, [stranger(offer_id)])[0])
    assert (first.status, second.status) == ("accepted", "accepted")


@pytest.mark.parametrize("reuse_seconds", [0.5, 30.0])
def test_a_decider_keeps_its_connection_between_close_batches_but_not_one_the_server_dropped(
        db, network, monkeypatch, reuse_seconds):
    """Batches in a row share the decider's connection (no pool checkout, no liveness ping each).
    A connection the server dropped costs no post: after REUSE_SECONDS idle it went back to the
    pool anyway, and within them the decider sees the server's goodbye on the socket."""
    from sqlalchemy import event, text

    engine = db.kw["bind"]
    checkouts: list[str] = []  # by the decider's thread

    def checkout(*_args: object) -> None:
        if threading.current_thread().name == "leadmarket-intake":
            checkouts.append("decider")

    event.listen(engine, "checkout", checkout)
    monkeypatch.setattr(batching, "IDLE_SECONDS", 2.0)  # the decider outlives the idle pause below, then ends
    monkeypatch.setattr(batching, "REUSE_SECONDS", reuse_seconds)
    batcher = batching.IntakeBatcher(db, deciders=1)
    offer_id = network.cpl_offer["id"]
    try:
        in_a_row = [batcher.submit(p) for p in posts(db, network, [stranger(offer_id) for _ in range(3)])]
        assert [a.status for a in in_a_row] == ["accepted"] * 3
        assert len(checkouts) == 1  # one checkout for three batches

        with db() as session:  # the server drops the decider's connection while it idles
            killed = session.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state = 'idle'")).scalar_one()
        assert killed >= 1
        threading.Event().wait(0.7)  # past REUSE_SECONDS, or not
        after = batcher.submit(posts(db, network, [stranger(offer_id)])[0])
        assert after.status == "accepted"  # a fresh, pinged connection from the pool
        assert len(checkouts) >= 2
    finally:
        event.remove(engine, "checkout", checkout)


@pytest.mark.parametrize("concurrent", [8])
def test_identical_posts_through_the_api_at_once_accept_exactly_one(client, network, concurrent):
    body = stranger(network.cpl_offer["id"])
    start = threading.Barrier(concurrent)

    def post(_):
        start.wait()
        return client.post("/api/v1/leads", headers=network.affiliate_headers(), json=body).json()

    with ThreadPoolExecutor(concurrent) as pool:
        answers = list(pool.map(post, range(concurrent)))

    accepted = [a for a in answers if a["status"] == "accepted"]
    assert len(accepted) == 1
    assert all(a["duplicate_of"] == accepted[0]["lead_id"] for a in answers if a is not accepted[0])
