"""The anomalies report: per affiliate and sub1, rejection rate by reason, duplicate and review rates
against the rest of the network, flagged by a one-sided two-proportion z-test."""

from __future__ import annotations

import itertools

import pytest

from fraud.anomalies import z_score
from tests.fraud_helpers import person_lead, post
from tests.support import problem

URL = "/api/v1/fraud/anomalies"
_fakes = itertools.cycle(range(100, 200))


def joker() -> dict[str, str]:
    """A made-up person: a test name and a number from the 555-01xx fiction range (rejected, phone_fake)."""
    return {"first_name": "Test", "phone": f"+1 415 555 0{next(_fakes)}"}


def test_the_z_statistic_matches_the_textbook():
    # 45/100 against 30/100: pooled 0.375, se = sqrt(.375 * .625 * (1/100 + 1/100)) = 0.06847
    assert z_score(45, 100, 30, 100) == pytest.approx(2.1909, abs=1e-4)
    assert z_score(30, 100, 45, 100) == pytest.approx(-2.1909, abs=1e-4)
    assert z_score(0, 50, 0, 500) is None          # nobody rejected anywhere: no variance, no flag
    assert z_score(5, 10, 0, 0) is None            # no rest of the network to compare with


@pytest.fixture
def traffic(client, network):
    """Honest traffic from both affiliates, a pop-under placement full of jokers, a sub-id that
    recycles its own leads, and a tiny all-bad placement below the minimum volume."""
    offer = network.cpl_offer["id"]

    def send(count, *, other=False, sub1=None, fake=False):
        answers = []
        for _ in range(count):
            body = person_lead(offer, contact=joker() if fake else {})
            if sub1:
                body["sub_ids"] = {"sub1": sub1}
            answers.append(post(client, network, body, other=other))
        return answers

    send(60, sub1="search")
    send(60, other=True)
    send(4, other=True, fake=True)
    send(16, sub1="popunder")
    send(24, sub1="popunder", fake=True)
    originals = [person_lead(offer, sub_ids={"sub1": "recycled"}) for _ in range(15)]
    for body in originals:
        post(client, network, body, other=True)
    for body in originals + originals[:5]:
        again = person_lead(offer, contact={"phone": body["contact"]["phone"]}, sub_ids={"sub1": "recycled"})
        assert post(client, network, again, other=True)["reason"] == "duplicate"
    send(5, other=True, sub1="tiny", fake=True)
    return network


def test_far_off_groups_are_flagged_against_the_rest_of_the_network(client, traffic):
    answer = client.get(URL, params={"min_leads": 30}, headers=traffic.admin_headers)

    assert answer.status_code == 200, answer.text
    report = answer.json()
    groups = {(g["affiliate_id"], g["sub1"]): g for g in report["groups"]}
    me, other = traffic.affiliate["id"], traffic.other_affiliate["id"]
    assert set(groups) == {(me, "search"), (other, None), (me, "popunder"), (other, "recycled"), (other, "tiny")}
    assert report["baseline"]["leads"] == 60 + 64 + 40 + 35 + 5
    assert report["baseline"]["return_rate"] is None and report["baseline"]["conversion_rate"] == 0.0  # none reported
    assert any("return" in note for note in report["notes"]) and "z-test" in report["method"]

    popunder = groups[(me, "popunder")]
    assert (popunder["leads"], popunder["rejected"], popunder["rejection_rate"]) == (40, 24, 0.6)
    assert popunder["rejection_rate_by_reason"] == {"phone_fake": 0.6}
    assert popunder["flagged"] and {f["metric"] for f in popunder["flags"]} == {
        "rejection_rate", "rejection_rate_by_reason.phone_fake"}
    flag = next(f for f in popunder["flags"] if f["metric"] == "rejection_rate")
    # the rest of the network: 4 + 20 + 5 rejected of 60 + 64 + 35 + 5 leads
    assert flag["baseline"] == pytest.approx(29 / 164, abs=1e-4) and flag["z"] > 3

    recycled = groups[(other, "recycled")]
    assert (recycled["leads"], recycled["duplicate_rate"]) == (35, round(20 / 35, 4))
    assert "duplicate_rate" in {f["metric"] for f in recycled["flags"]}

    assert not groups[(me, "search")]["flagged"] and not groups[(other, None)]["flagged"]
    tiny = groups[(other, "tiny")]
    assert tiny["rejection_rate"] == 1.0 and not tiny["flagged"]        # 5 leads: below min_leads
    assert [g["flagged"] for g in report["groups"]][:2] == [True, True]   # flagged groups come first

    strict = client.get(URL, params={"min_leads": 5}, headers=traffic.admin_headers).json()
    assert next(g for g in strict["groups"] if g["sub1"] == "tiny")["flagged"]


def test_the_report_refuses_bad_parameters_and_non_admins(client, network):
    fields = {e["field"] for e in problem(client.get(URL, params={"days": 0, "z": -1}, headers=network.admin_headers),
                                          422)["errors"]}
    assert fields == {"days", "z"}
    problem(client.get(URL, headers=network.affiliate_headers()), 403)
    empty = client.get(URL, headers=network.admin_headers).json()
    assert empty["groups"] == [] and empty["baseline"]["leads"] == 0


def test_a_placement_whose_leads_never_convert_is_flagged_below_the_network(client, network):
    """A targeted CPA offer: the advertiser turns half of one placement's leads into customers and
    almost none of another's. The second is flagged for a conversion rate far below the rest."""
    from tests.support import created

    offer = created(client.post("/api/v1/offers", headers=network.admin_headers, json={
        "name": "Acme policies", "vertical": "car-insurance", "kind": "targeted",
        "advertiser_id": network.advertiser["id"], "payout_model": "cpa", "payout": "40.00", "revenue": "60.00",
        "landing_url": "https://acme.example/?c={click_id}"}))["id"]
    buyer = {"X-API-Key": network.advertiser["api_key"]}

    def leads(count, sub1, other):
        return [post(client, network, person_lead(offer, sub_ids={"sub1": sub1}), other=other) for _ in range(count)]

    def convert(lead, external_id, status=None):
        body = {"lead_id": lead["lead_id"], "event": "policy_sold", "external_id": external_id}
        answer = client.post("/api/v1/conversions", headers=buyer, json=body | ({"status": status} if status else {}))
        assert answer.status_code == 201, answer.text
        return answer.json()

    good, bad = leads(40, "search", other=False), leads(40, "coreg", other=True)
    assert {lead["status"] for lead in good + bad} <= {"sold", "accepted"}
    for n, lead in enumerate(good[:20]):
        convert(lead, f"G-{n}")
    convert(bad[0], "B-0")
    turned_down = convert(bad[1], "B-1")
    assert client.post(f"/api/v1/conversions/{turned_down['id']}/reject", headers=buyer).status_code == 200
    convert(good[0], "G-again")                        # a second conversion of a lead counts the lead once

    report = client.get(URL, params={"min_leads": 30}, headers=network.admin_headers).json()

    groups = {g["sub1"]: g for g in report["groups"]}
    assert groups["search"]["conversion_rate"] == 0.5 and groups["coreg"]["conversion_rate"] == 0.025
    assert report["baseline"]["conversion_rate"] == round(21 / 80, 4)
    coreg = groups["coreg"]
    assert coreg["flagged"] and [f["metric"] for f in coreg["flags"]] == ["conversion_rate"]
    flag = coreg["flags"][0]
    assert (flag["rate"], flag["baseline"]) == (0.025, 0.5) and flag["z"] < -3
    assert not groups["search"]["flagged"]                   # far above the rest is not an anomaly
    assert report["groups"][0]["sub1"] == "coreg"
    assert any("conversion_rate" in note for note in report["notes"])


def test_the_return_rate_counts_sold_leads_a_buyer_sent_back(client, network):
    from tests.order_support import headers, new_advertiser, person_lead, place_order, post

    advertiser = new_advertiser(client, network)
    place_order(client, advertiser, price="30.00", exclusive=True)
    sold = [post(client, network, person_lead(network.cpl_offer["id"])) for _ in range(4)]
    assert [lead["status"] for lead in sold] == ["sold"] * 4
    purchases = client.get("/api/v1/purchases", headers=headers(advertiser)).json()
    returned = client.post(f"/api/v1/purchases/{purchases[0]['sale_id']}/return", headers=headers(advertiser),
                           json={"reason": "bad_phone"})
    assert returned.status_code == 201 and returned.json()["status"] == "approved", returned.text

    report = client.get("/api/v1/fraud/anomalies", headers=network.admin_headers).json()

    assert report["baseline"]["return_rate"] == 0.25      # 1 of 4 sold leads came back
    (row,) = [g for g in report["groups"] if g["affiliate_id"] == network.affiliate["id"]]
    assert row["return_rate"] == 0.25
