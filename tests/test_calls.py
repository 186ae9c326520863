"""Calls as leads: a call to an affiliate's tracking number, longer than the offer's minimum, is a
lead of that offer — deduplicated on the caller's phone and screened like any other — over HTTP."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.support import (
    Network,
    count_rows,
    created,
    error_fields,
    make_offer,
    problem,
)

TRACKING = "+14158023900"      # the affiliate's tracking number (San Francisco)
CALLER = "+1 (212) 846-3917"   # a New York caller, as the provider might write it
CALLER_E164 = "+12128463917"


def register(client: TestClient, network: Network, number: str = TRACKING, *, offer_id: int | None = None,
             other: bool = False) -> Any:
    return client.post("/api/v1/tracking-numbers", headers=network.affiliate_headers(other=other),
                       json={"number": number, "offer_id": offer_id or network.cpl_offer["id"]})


def report(client: TestClient, network: Network, call_id: str, *, headers: dict[str, str] | None = None,
           **overrides: Any) -> Any:
    body = {"call_id": call_id, "tracking_number": TRACKING, "caller_number": CALLER, "duration_seconds": 185,
            "recording_url": "https://recordings.telephony.example/CA1.mp3", **overrides}
    return client.post("/api/v1/calls", headers=headers or network.admin_headers, json=body)


def test_a_long_call_becomes_a_lead_the_affiliate_sees(client, network):
    number = created(register(client, network))
    assert number["number"] == TRACKING and number["min_call_seconds"] == 60  # the default when unset

    answer = created(report(client, network, "CA-long-1"))

    assert answer["status"] == "lead" and answer["lead_status"] in ("accepted", "sold"), answer
    lead = client.get(f"/api/v1/leads/{answer['lead_id']}", headers=network.affiliate_headers()).json()
    assert lead["source"] == "call" and lead["offer_id"] == network.cpl_offer["id"]
    assert lead["contact"]["phone"] == CALLER_E164 and lead["contact"]["country"] == "US"
    assert lead["contact"]["first_name"] == "Caller"
    assert lead["attributes"] == {}  # the vertical's required fields are waived for a call
    assert lead["fraud_score"] == 0, lead["fraud_reasons"]  # no browser, so no browser signals
    # Another affiliate does not see it.
    assert client.get(f"/api/v1/leads/{answer['lead_id']}",
                      headers=network.affiliate_headers(other=True)).status_code == 404


def test_a_call_at_or_under_the_minimum_is_too_short_and_makes_no_lead(client, network, db):
    created(register(client, network))

    at_minimum = created(report(client, network, "CA-short-1", duration_seconds=60))
    shorter = created(report(client, network, "CA-short-2", duration_seconds=12,
                             caller_number="+12128463918"))

    for answer in (at_minimum, shorter):
        assert answer["status"] == "too_short" and answer["lead_id"] is None and answer["min_call_seconds"] == 60
    assert count_rows(db, "lead", "call") == {"lead": 0, "call": 2}


def test_the_offer_sets_its_own_minimum(client, network):
    offer = make_offer(client, network.admin_headers, "car-insurance", min_call_seconds=120)
    assert offer["min_call_seconds"] == 120
    created(register(client, network, offer_id=offer["id"]))

    assert created(report(client, network, "CA-min-1", duration_seconds=90))["status"] == "too_short"
    assert created(report(client, network, "CA-min-2", duration_seconds=121))["status"] == "lead"


def test_a_retried_webhook_takes_effect_once_and_gets_the_same_answer(client, network, db):
    created(register(client, network))

    first = created(report(client, network, "CA-retry-1"))
    again = created(report(client, network, "CA-retry-1"))

    assert again == first
    assert count_rows(db, "lead", "call") == {"lead": 1, "call": 1}


def test_the_same_caller_again_is_a_duplicate_naming_the_first_lead(client, network):
    created(register(client, network))
    first = created(report(client, network, "CA-dup-1"))

    second = created(report(client, network, "CA-dup-2", caller_number="212-846-3917"))  # read in the number's US

    assert second["status"] == "duplicate" and second["duplicate_of"] == first["lead_id"]
    assert second["lead_id"] != first["lead_id"] and second["lead_status"] == "rejected"


def test_a_caller_who_already_posted_a_web_lead_is_a_duplicate(client, network):
    from tests.support import lead_body, post_lead

    web = created(post_lead(client, network.affiliate["api_key"],
                            lead_body(network.cpl_offer["id"], contact={"phone": CALLER_E164})))
    created(register(client, network))

    answer = created(report(client, network, "CA-web-1"))

    assert answer["status"] == "duplicate" and answer["duplicate_of"] == web["lead_id"]


def test_a_blocklisted_caller_is_rejected_by_the_fraud_screen(client, network):
    created(client.post("/api/v1/blocklist", headers=network.admin_headers,
                        json={"kind": "phone", "value": CALLER_E164, "note": "known prank caller"}))
    created(register(client, network))

    answer = created(report(client, network, "CA-blocked-1"))

    assert answer["status"] == "rejected" and answer["reason"] == "blocklisted_phone", answer
    lead = client.get(f"/api/v1/leads/{answer['lead_id']}", headers=network.admin_headers).json()
    assert lead["status"] == "rejected" and "blocklisted_phone" in lead["fraud_reasons"]


def test_a_number_another_affiliate_holds_cannot_be_registered(client, network):
    created(register(client, network))

    assert problem(register(client, network, "+1 415 802 3900", other=True), 409)
    numbers = client.get("/api/v1/tracking-numbers", headers=network.affiliate_headers(other=True)).json()
    assert numbers == []
    mine = client.get("/api/v1/tracking-numbers", headers=network.affiliate_headers()).json()
    assert [n["number"] for n in mine] == [TRACKING]


def test_an_admin_registers_a_number_for_an_affiliate(client, network):
    body = {"number": "+14158023901", "offer_id": network.cpl_offer["id"]}
    assert "affiliate_id" in error_fields(client.post("/api/v1/tracking-numbers", headers=network.admin_headers,
                                                      json=body))

    number = created(client.post("/api/v1/tracking-numbers", headers=network.admin_headers,
                                 json={**body, "affiliate_id": network.other_affiliate["id"]}))

    assert number["affiliate_id"] == network.other_affiliate["id"]
    listed = client.get("/api/v1/tracking-numbers", headers=network.affiliate_headers(other=True)).json()
    assert [n["number"] for n in listed] == ["+14158023901"]


def test_bad_numbers_are_refused_naming_the_field(client, network, db):
    created(register(client, network))
    assert set(error_fields(register(client, network, "not a number"))) == {"number"}

    unknown = error_fields(report(client, network, "CA-bad-1", tracking_number="+14158023999"))
    invalid = error_fields(report(client, network, "CA-bad-2", caller_number="12"))
    several = error_fields(report(client, network, "CA-bad-3", caller_number="+1 999", duration_seconds=-5,
                                  recording_url="ftp://x"))

    assert set(unknown) == {"tracking_number"}
    assert set(invalid) == {"caller_number"}
    assert set(several) == {"caller_number", "duration_seconds", "recording_url"}
    assert count_rows(db, "lead", "call") == {"lead": 0, "call": 0}


def test_only_the_telephony_integration_reports_calls(client, network, db):
    created(register(client, network))

    assert problem(report(client, network, "CA-auth-1", headers=network.affiliate_headers()), 403)
    assert problem(report(client, network, "CA-auth-2", headers={"X-API-Key": "lmk_nope"}), 401)
    assert count_rows(db, "call") == {"call": 0}


def test_two_deliveries_of_one_call_at_once_make_one_lead(client, network, db):
    """The provider retries while the first delivery is still being answered: the unique call id
    lets one of them file the lead, and the other answers what it filed."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import msgspec

    from affiliates import calls
    from affiliates.call_schemas import CallReport
    from tests.support import principal_for

    created(register(client, network))
    admin = principal_for(db, network.admin_key)
    body = CallReport(call_id="CA-race-1", tracking_number=TRACKING, caller_number=CALLER, duration_seconds=300)
    start = threading.Barrier(4)

    def deliver(_: int) -> dict[str, Any]:
        start.wait()
        with db() as session:
            return msgspec.to_builtins(calls.receive_call(session, admin, body))

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(deliver, range(4)))

    assert all(answer == answers[0] for answer in answers) and answers[0]["status"] == "lead"
    assert count_rows(db, "lead", "call") == {"lead": 1, "call": 1}
