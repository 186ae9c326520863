"""Exact dedupe: one lead per normalized phone or e-mail per vertical within its window, decided by
the database (claim rows), also when identical posts race."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select, update

from leadmarket.clock import utcnow
from marketplace.intake import submit_lead
from marketplace.models import DedupeClaim, Lead
from tests.support import make_offer, make_vertical, post_lead, principal_for, stranger, submission

RACERS = 8


def person(offer_id, email="jo.bloggs@gmail.com", phone="+1 415 263 0199", **contact):
    """A lead with these contact keys; its name is new on every call, so only the exact keys repeat."""
    return stranger(offer_id, contact={"email": email, "phone": phone, **contact})


def post(client, network, body, other=False):
    key = (network.other_affiliate if other else network.affiliate)["api_key"]
    answer = post_lead(client, key, body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def claims_of(db, lead_id):
    with db() as session:
        return sorted(session.execute(select(DedupeClaim.key_kind).where(DedupeClaim.lead_id == lead_id)).scalars())


def age_lead(db, lead_id, age):
    """Move a lead and its claims back in time, as if it had been posted `age` ago."""
    with db() as session:
        session.execute(update(DedupeClaim).where(DedupeClaim.lead_id == lead_id)
                        .values(claimed_at=utcnow() - age))
        session.execute(update(Lead).where(Lead.id == lead_id).values(created_at=utcnow() - age))
        session.commit()


def test_same_phone_is_a_duplicate_of_the_first_lead(client, network, db):
    offer = network.cpl_offer["id"]
    first = post(client, network, person(offer, email="amelia.north@gmail.com", phone="(415) 263-0199"))
    second = post(client, network, person(offer, email="bryn.south@gmail.com", phone="+14152630199"))

    assert first["status"] == "accepted"
    assert second["status"] == "rejected" and second["reason"] == "duplicate"
    assert second["duplicate_of"] == first["lead_id"] and second["payout"] == "0.00"
    with db() as session:  # the duplicate is kept as a rejected lead pointing at the first
        lead = session.get_one(Lead, second["lead_id"])
        assert (lead.status, lead.reason, lead.duplicate_of_id, lead.payout_minor) == (
            "rejected", "duplicate", first["lead_id"], 0)


def test_same_email_in_another_case_is_a_duplicate_even_from_another_affiliate(client, network):
    first = post(client, network, person(network.cpl_offer["id"], email="Jo.Bloggs@GMail.com", phone=None))
    second = post(client, network, person(network.cpa_offer["id"], email="jo.bloggs@GMAIL.COM",
                                          phone="+1 415 263 0111"), other=True)

    assert (second["status"], second["reason"], second["duplicate_of"]) == ("rejected", "duplicate",
                                                                           first["lead_id"])


def test_other_contact_keys_are_not_duplicates(client, network):
    offer = network.cpl_offer["id"]
    first = post(client, network, person(offer))
    second = post(client, network, person(offer, email="otto.west@gmail.com", phone="+1 415 263 0122"))

    assert first["status"] == second["status"] == "accepted"


def test_same_person_in_another_vertical_is_accepted(client, network):
    make_vertical(client, network.admin_headers, "travel", [{"name": "destination", "type": "string"}])
    travel = make_offer(client, network.admin_headers, "travel")
    post(client, network, person(network.cpl_offer["id"]))

    body = person(travel["id"])
    body["attributes"] = {"destination": "Lisbon"}
    answer = post(client, network, body)

    assert answer["status"] == "accepted" and answer["payout"] == "5.00"


def test_duplicate_inside_the_window_edge(client, network, db):
    first = post(client, network, person(network.cpl_offer["id"]))
    age_lead(db, first["lead_id"], timedelta(days=30) - timedelta(minutes=1))

    again = post(client, network, person(network.cpl_offer["id"]))

    assert (again["status"], again["duplicate_of"]) == ("rejected", first["lead_id"])
    assert claims_of(db, first["lead_id"]) == ["email", "phone"]


def test_lead_just_outside_the_window_is_accepted_and_takes_the_claims_over(client, network, db):
    first = post(client, network, person(network.cpl_offer["id"]))
    age_lead(db, first["lead_id"], timedelta(days=30) + timedelta(minutes=1))

    again = post(client, network, person(network.cpl_offer["id"]))
    third = post(client, network, person(network.cpl_offer["id"]))

    assert again["status"] == "accepted" and again["payout"] == "12.50"
    assert claims_of(db, first["lead_id"]) == [] and claims_of(db, again["lead_id"]) == ["email", "phone"]
    assert (third["status"], third["duplicate_of"]) == ("rejected", again["lead_id"])  # the window restarts


def test_one_expired_key_and_one_live_key_is_still_a_duplicate(client, network, db):
    first = post(client, network, person(network.cpl_offer["id"]))
    with db() as session:
        session.execute(update(DedupeClaim).where(DedupeClaim.lead_id == first["lead_id"],
                                                  DedupeClaim.key_kind == "email")
                        .values(claimed_at=utcnow() - timedelta(days=31)))
        session.commit()

    again = post(client, network, person(network.cpl_offer["id"]))

    assert (again["status"], again["duplicate_of"]) == ("rejected", first["lead_id"])
    assert claims_of(db, first["lead_id"]) == ["email", "phone"]  # the rejected lead took nothing over


def test_window_of_zero_days_never_rejects(client, network):
    make_vertical(client, network.admin_headers, "courses", [], dedupe_window_days=0)
    courses = make_offer(client, network.admin_headers, "courses")
    body = person(courses["id"])
    body["attributes"] = {}

    answers = [post(client, network, body), post(client, network, body)]

    assert [a["status"] for a in answers] == ["accepted", "accepted"]


def test_rejected_duplicate_holds_no_claim_when_its_email_is_taken(client, network, db):
    """Phone A + e-mail B where B is taken: the lead is rejected and must not keep phone A."""
    offer = network.cpl_offer["id"]
    holder = post(client, network, person(offer, email="bryn.south@gmail.com", phone="+1 415 263 0100"))
    rejected = post(client, network, person(offer, email="bryn.south@gmail.com", phone="+1 415 263 0101"))
    fresh = post(client, network, person(offer, email="cass.east@gmail.com", phone="+1 415 263 0101"))

    assert (rejected["status"], rejected["duplicate_of"]) == ("rejected", holder["lead_id"])
    assert claims_of(db, rejected["lead_id"]) == []
    assert fresh["status"] == "accepted"


def test_rejected_duplicate_holds_no_claim_when_its_phone_is_taken(client, network, db):
    """E-mail A + phone B where B is taken: a claim on A made on the way is given back."""
    offer = network.cpl_offer["id"]
    holder = post(client, network, person(offer, email="bryn.south@gmail.com", phone="+1 415 263 0100"))
    rejected = post(client, network, person(offer, email="amelia.north@gmail.com", phone="+1 415 263 0100"))
    fresh = post(client, network, person(offer, email="amelia.north@gmail.com", phone="+1 415 263 0102"))

    assert (rejected["status"], rejected["duplicate_of"]) == ("rejected", holder["lead_id"])
    assert claims_of(db, rejected["lead_id"]) == []
    assert fresh["status"] == "accepted"


def assert_one_winner(db, decisions):
    accepted = [d for d in decisions if d.status == "accepted"]
    assert len(accepted) == 1, [d.status for d in decisions]
    winner = accepted[0].lead_id
    for loser in (d for d in decisions if d.status != "accepted"):
        assert (loser.status, loser.reason, loser.duplicate_of) == ("rejected", "duplicate", winner)
    with db() as session:
        statuses = session.execute(select(Lead.status)).scalars().all()
        assert sorted(statuses) == ["accepted"] + ["rejected"] * (len(decisions) - 1)
        claims = session.execute(select(DedupeClaim.lead_id)).scalars().all()
        assert claims == [winner, winner]


def test_identical_posts_at_the_same_instant_accept_exactly_one(network, db):
    principal = principal_for(db, network.affiliate["api_key"])
    lead = submission(person(network.cpl_offer["id"]))
    start = threading.Barrier(RACERS)

    def race(_: int):
        with db() as session:
            start.wait()
            return submit_lead(session, principal, lead)

    with ThreadPoolExecutor(RACERS) as pool:
        decisions = list(pool.map(race, range(RACERS)))

    assert_one_winner(db, decisions)


def test_two_groups_racing_on_different_keys_have_one_winner_each(network, db):
    """Odd racers share a phone, even racers an e-mail; each racer's other key is its own."""
    principal = principal_for(db, network.affiliate["api_key"])
    leads = [submission(person(network.cpl_offer["id"], email=f"racer.no{i}@gmail.com")) if i % 2 else
             submission(person(network.cpl_offer["id"], phone=f"+1 415 263 02{i:02d}")) for i in range(RACERS)]
    start = threading.Barrier(RACERS)

    def race(i: int):
        with db() as session:
            start.wait()
            return submit_lead(session, principal, leads[i])

    with ThreadPoolExecutor(RACERS) as pool:
        decisions = list(pool.map(race, range(RACERS)))

    for group in (decisions[0::2], decisions[1::2]):
        winners = [d.lead_id for d in group if d.status == "accepted"]
        assert len(winners) == 1, [d.status for d in group]
        assert all(d.duplicate_of == winners[0] and d.reason == "duplicate" for d in group if d.status != "accepted")
    with db() as session:  # each winner holds both its keys; no loser holds any
        held = sorted(session.execute(select(DedupeClaim.lead_id)).scalars())
    assert held == sorted(d.lead_id for d in decisions if d.status == "accepted" for _ in range(2))


def test_identical_posts_over_http_at_the_same_instant_accept_exactly_one(client, network, db):
    body = person(network.cpl_offer["id"])
    start = threading.Barrier(RACERS)

    def race(_: int):
        start.wait()
        return post_lead(client, network.affiliate["api_key"], body)

    with ThreadPoolExecutor(RACERS) as pool:
        answers = list(pool.map(race, range(RACERS)))

    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    decisions = [submission_decision(a.json()) for a in answers]
    assert_one_winner(db, decisions)


def submission_decision(body):
    import msgspec

    from marketplace.schemas import LeadDecision

    return msgspec.convert(body, LeadDecision, strict=False)
