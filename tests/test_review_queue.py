"""The review queue: admins list leads in review with score and reasons, approve them into
distribution or reject them with a note; one decision wins when two admins decide at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from fraud import review
from leadmarket.audit import AuditEvent
from leadmarket.errors import Conflict
from marketplace.models import Lead
from tests.fraud_helpers import person_lead, post, staff_view
from tests.support import admin_key, principal_for, problem

QUEUE = "/api/v1/review/leads"


def review_lead(client, network, **contact):
    """A lead the screen sends to review: digits in the name (40 points, the review line)."""
    decision = post(client, network, person_lead(network.cpl_offer["id"], contact={"first_name": "M4ria", **contact}))
    assert decision["status"] == "review" and decision["payout"] == "0.00"
    return decision["lead_id"]


def test_the_queue_lists_leads_in_review_with_score_and_reasons(client, network):
    first = review_lead(client, network)
    post(client, network, person_lead(network.cpl_offer["id"]))               # accepted: not in the queue
    second = post(client, network, person_lead(network.cpl_offer["id"], sub_ids={"sub1": "native-3"},
                                             meta={"user_agent": "curl/8.5.0"}))["lead_id"]

    queue = client.get(QUEUE, headers=network.admin_headers)

    assert queue.status_code == 200, queue.text
    rows = queue.json()
    assert [r["lead_id"] for r in rows] == [first, second]
    assert (rows[0]["fraud_score"], rows[0]["fraud_reasons"]) == (40, ["name_digits"])
    assert (rows[1]["fraud_score"], rows[1]["fraud_reasons"], rows[1]["sub_ids"]) == (
        60, ["user_agent_bot"], {"sub1": "native-3"})
    assert rows[0]["affiliate_id"] == network.affiliate["id"] and rows[0]["temperature"] == "warm"
    assert "contact" not in rows[0] and "M4ria" not in queue.text
    page = client.get(QUEUE, params={"after_id": first, "limit": 1}, headers=network.admin_headers).json()
    assert [r["lead_id"] for r in page] == [second]


def test_approve_sends_the_lead_to_distribution_and_is_audited(client, network, db):
    lead_id = review_lead(client, network)

    answer = client.post(f"{QUEUE}/{lead_id}/approve", headers=network.admin_headers, json={"note": "called, real"})

    assert answer.status_code == 200, answer.text
    outcome = answer.json()
    assert (outcome["status"], outcome["payout"], outcome["note"]) == ("accepted", "12.50", "called, real")
    assert outcome["reviewed_by"].startswith("admin:") and outcome["reviewed_at"]
    lead = staff_view(client, network, lead_id)
    assert (lead["status"], lead["payout"], lead["fraud_score"]) == ("accepted", "12.50", 40)
    # the affiliate sees the new status and its payout on the lead
    mine = client.get(f"/api/v1/leads/{lead_id}", headers=network.affiliate_headers()).json()
    assert (mine["status"], mine["payout"]) == ("accepted", "12.50")
    assert client.get(QUEUE, headers=network.admin_headers).json() == []
    with db() as session:
        row = session.get_one(Lead, lead_id)
        assert row.reviewed_by == outcome["reviewed_by"] and row.reviewed_at is not None
        event = session.execute(select(AuditEvent).where(AuditEvent.action == "review.approve")).scalar_one()
        assert (event.subject_type, event.subject_id, event.actor_role) == ("lead", str(lead_id), "admin")
        assert event.details == {"note": "called, real", "fraud_score": 40, "fraud_reasons": ["name_digits"],
                                 "status": "accepted"}


def test_reject_needs_a_note_and_is_audited(client, network, db):
    lead_id = review_lead(client, network)

    refused = client.post(f"{QUEUE}/{lead_id}/reject", headers=network.admin_headers, json={"note": "  "})
    assert problem(refused, 422)["errors"] == [{"field": "note", "reason": "say why the lead is rejected"}]
    answer = client.post(f"{QUEUE}/{lead_id}/reject", headers=network.admin_headers,
                         json={"note": "number belongs to someone else"})

    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["reason"], answer.json()["payout"]) == (
        "rejected", "review_rejected", "0.00")
    assert staff_view(client, network, lead_id)["status"] == "rejected"
    with db() as session:
        event = session.execute(select(AuditEvent).where(AuditEvent.action == "review.reject")).scalar_one()
        assert event.details["note"] == "number belongs to someone else"


def test_a_decided_lead_cannot_be_decided_again(client, network):
    lead_id = review_lead(client, network)
    accepted = post(client, network, person_lead(network.cpl_offer["id"]))["lead_id"]
    assert client.post(f"{QUEUE}/{lead_id}/approve", headers=network.admin_headers, json={}).status_code == 200

    again = client.post(f"{QUEUE}/{lead_id}/reject", headers=network.admin_headers, json={"note": "too late"})
    assert "not waiting for review" in problem(again, 409)["detail"]
    problem(client.post(f"{QUEUE}/{accepted}/approve", headers=network.admin_headers, json={}), 409)
    problem(client.post(f"{QUEUE}/99999/approve", headers=network.admin_headers, json={}), 404)
    assert staff_view(client, network, lead_id)["status"] == "accepted"


def test_two_admins_deciding_at_once_one_wins_the_other_gets_409(client, network, db):
    lead_ids = [review_lead(client, network, phone=f"+1 415 206 {i:04d}") for i in range(5)]
    alice = principal_for(db, network.admin_key)
    bob = principal_for(db, admin_key(db))

    for lead_id in lead_ids:
        start = threading.Barrier(2)

        def decide(who: str, lead_id: int = lead_id, start: threading.Barrier = start):
            with db() as session:
                start.wait()
                try:
                    if who == "alice":
                        return review.approve(session, alice, lead_id, "looks fine").status
                    return review.reject(session, bob, lead_id, "looks fake").status
                except Conflict:
                    return "409"

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(decide, ["alice", "bob"]))
        assert sorted(results) in (["409", "accepted"], ["409", "rejected"]), results
        with db() as session:
            status = session.get_one(Lead, lead_id).status
            actions = session.execute(
                select(AuditEvent.action).where(AuditEvent.subject_id == str(lead_id))).scalars().all()
        assert status in results and len(actions) == 1    # one decision, one audit row


def test_only_admins_see_and_decide_the_queue(client, network):
    lead_id = review_lead(client, network)
    problem(client.get(QUEUE, headers=network.affiliate_headers()), 403)
    problem(client.post(f"{QUEUE}/{lead_id}/approve", headers=network.affiliate_headers(), json={}), 403)
    problem(client.post(f"{QUEUE}/{lead_id}/reject", json={"note": "x"}), 401)
    assert staff_view(client, network, lead_id)["status"] == "review"
