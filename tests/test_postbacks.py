"""Affiliate postbacks against a real HTTP server the test starts: macros filled, retried, every call logged."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pytest

from affiliates import postbacks
from affiliates.tracking import targets
from tests.http_stubs import ScriptedServer
from tests.support import created, error_fields, lead_body, post_lead, problem


def query_of(handler: BaseHTTPRequestHandler, _body: bytes) -> dict[str, list[str]]:
    return parse_qs(urlsplit(handler.path).query, keep_blank_values=True)


class AffiliateServer(ScriptedServer):
    """The affiliate's tracker: records every request's query and answers from a script of status codes."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        super().__init__("/pb", statuses, record=query_of)


@pytest.fixture(autouse=True)
def in_process(client, settings, redis_db):
    targets.clear()
    yield


@pytest.fixture
def tracker():
    server = AffiliateServer()
    yield server
    server.close()


TEMPLATE = "?cid={click_id}&lead={lead_id}&st={status}&why={reason}&pay={payout}&ev={event}&s1={sub1}&conv={conversion_id}"


def set_template(client, network, url, events=None, other=False):
    body = {"url": url} | ({"events": events} if events is not None else {})
    return client.put("/api/v1/postbacks/template", headers=network.affiliate_headers(other=other), json=body)


def test_a_rejected_lead_calls_the_affiliates_url_with_its_macros_filled(client, network, tracker):
    assert set_template(client, network, tracker.url + TEMPLATE, ["lead_rejected"]).status_code == 200
    body = lead_body(network.cpl_offer["id"], click_id="kt-42", sub_ids={"sub1": "spring sale"})
    first = post_lead(client, network.affiliate["api_key"], body).json()
    second = post_lead(client, network.affiliate["api_key"], body).json()     # the same person again

    assert first["status"] == "accepted" and second["status"] == "rejected"
    assert len(tracker.requests) == 1                                         # accepted is not subscribed
    call = tracker.requests[0]
    assert call["lead"] == [str(second["lead_id"])] and call["st"] == ["rejected"] and call["why"] == ["duplicate"]
    assert call["cid"] == ["kt-42"] and call["s1"] == ["spring sale"] and call["pay"] == ["0.00"]
    assert call["ev"] == ["lead_rejected"] and call["conv"] == [""]

    log = client.get("/api/v1/postbacks", headers=network.affiliate_headers()).json()
    assert [(p["event"], p["lead_id"], p["status"]) for p in log] == [("lead_rejected", second["lead_id"], "sent")]
    assert [(a["status_code"], a["error"]) for a in log[0]["attempts"]] == [(200, None)]
    assert "spring%20sale" in log[0]["url"]
    assert client.get("/api/v1/postbacks", headers=network.affiliate_headers(other=True)).json() == []


def test_an_approved_conversion_calls_back_with_the_payout(client, network, tracker):
    set_template(client, network, tracker.url + TEMPLATE, ["conversion_approved"])
    offer = created(client.post("/api/v1/offers", headers=network.admin_headers, json={
        "name": "Acme policies", "vertical": "car-insurance", "kind": "targeted",
        "advertiser_id": network.advertiser["id"], "payout_model": "cpa", "payout": "40.00", "revenue": "60.00",
        "landing_url": "https://acme.example/?c={click_id}"}))
    link = created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                               json={"offer_id": offer["id"], "sub_ids": {"sub1": "native"}}))
    click_id = client.get(f"/r/{link['code']}", follow_redirects=False).headers["location"].split("c=")[1]
    advertiser = {"X-API-Key": network.advertiser["api_key"]}
    conversion = client.post("/api/v1/conversions", headers=advertiser,
                             json={"click_id": click_id, "event": "sale", "external_id": "O-1"}).json()
    assert tracker.requests == []                                             # pending: nothing yet

    client.post(f"/api/v1/conversions/{conversion['id']}/approve", headers=advertiser)
    client.post(f"/api/v1/conversions/{conversion['id']}/approve", headers=advertiser)   # a retry: no second call

    assert len(tracker.requests) == 1
    call = tracker.requests[0]
    assert call["ev"] == ["conversion_approved"] and call["pay"] == ["40.00"] and call["st"] == ["approved"]
    assert call["cid"] == [click_id] and call["conv"] == [str(conversion["id"])] and call["s1"] == ["native"]


def test_a_failing_server_is_retried_and_every_attempt_logged(client, network):
    flaky = AffiliateServer([500, 503])
    try:
        set_template(client, network, flaky.url + TEMPLATE, ["lead_accepted"])
        lead = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"])).json()
    finally:
        flaky.close()

    assert lead["status"] == "accepted" and len(flaky.requests) == 3
    log = client.get("/api/v1/postbacks", headers=network.affiliate_headers()).json()
    assert log[0]["status"] == "sent"
    assert [(a["status_code"], a["error"]) for a in log[0]["attempts"]] == [(500, "HTTP 500"), (503, "HTTP 503"),
                                                                             (200, None)]


def test_an_unreachable_server_is_given_up_after_the_last_attempt_without_failing_the_lead(client, network):
    dead = AffiliateServer()
    url = dead.url
    dead.close()                                                              # nobody listens there now
    set_template(client, network, url + TEMPLATE, ["lead_accepted"])

    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]))

    assert answer.status_code == 201 and answer.json()["status"] == "accepted"
    log = client.get("/api/v1/postbacks", headers=network.affiliate_headers()).json()
    assert log[0]["status"] == "failed" and len(log[0]["attempts"]) == postbacks.MAX_ATTEMPTS
    assert {a["error"] for a in log[0]["attempts"]} == {"ConnectError"}


def test_the_template_is_checked_field_by_field(client, network):
    fields = error_fields(set_template(client, network, "ftp://tracker.example/pb", ["lead_sold", "lead_bought"]))
    assert fields.keys() == {"url", "events"}
    fields = error_fields(set_template(client, network, "https://tracker.example/pb?x={clickid}"))
    assert fields["url"].startswith("unknown macro {clickid}")
    saved = set_template(client, network, "https://tracker.example/pb?c={click_id}")
    assert saved.status_code == 200 and "lead_sold" in saved.json()["events"]
    assert client.get("/api/v1/postbacks/template", headers=network.affiliate_headers()).json()["url"] == \
        "https://tracker.example/pb?c={click_id}"
    problem(client.get("/api/v1/postbacks/template", headers=network.affiliate_headers(other=True)), 404)
