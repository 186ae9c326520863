"""Affiliate stats from the rollups: the numbers an affiliate and an admin read, to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from affiliates.tasks import flush_clicks, refresh_stats
from affiliates.tracking import targets
from tests.support import created, error_fields, lead_body, post_lead, problem

TODAY = date.today().isoformat()
PEOPLE = [("James", "Okafor"), ("Aisha", "Wang"), ("Chen", "Johnson"), ("Olivia", "Patel"), ("Mateo", "Brown"),
          ("Priya", "Kowalski"), ("Noah", "Nguyen"), ("Fatima", "Miller"), ("Liam", "Garcia"), ("Sofia", "Smith"),
          ("Ethan", "Rossi")]


def person(n):
    first, last = PEOPLE[n]
    return {"first_name": first, "last_name": last, "city": ["Austin", "Boston", "Denver", "Seattle"][n % 4]}


@pytest.fixture(autouse=True)
def in_process(client, settings, redis_db):
    targets.clear()
    yield


@pytest.fixture
def campaign(client, network):
    """A targeted CPA offer (pays 40.00, charges 60.00) and the affiliate's link for it, sub1=spring."""
    offer = created(client.post("/api/v1/offers", headers=network.admin_headers, json={
        "name": "Acme policies", "vertical": "car-insurance", "kind": "targeted",
        "advertiser_id": network.advertiser["id"], "payout_model": "cpa", "payout": "40.00", "revenue": "60.00",
        "landing_url": "https://acme.example/quote?c={click_id}"}))
    link = created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                               json={"offer_id": offer["id"], "sub_ids": {"sub1": "spring"}}))
    return offer, link


def clicks_through(client, link, n, query=""):
    ids = []
    for i in range(n):
        answer = client.get(f"/r/{link['code']}{query}", follow_redirects=False,
                            headers={"User-Agent": f"browser-{i % 5}", "CF-IPCountry": "US"})
        ids.append(parse_qs(urlsplit(answer.headers["location"]).query)["c"][0])
    return ids


def stats(client, headers, **params):
    answer = client.get("/api/v1/stats", headers=headers, params={"from": TODAY, "to": TODAY, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"]


def test_ten_thousand_spent_for_ten_clients_is_a_thousand_per_client(client, network, campaign, db):
    offer, link = campaign
    click_ids = clicks_through(client, link, 20)
    flush_clicks()       # people take minutes to fill the form: a lead seconds after its click is screened
    with db() as session, session.begin():
        session.execute(text("UPDATE click SET clicked_at = clicked_at - interval '5 minutes'"))
    leads = [post_lead(client, network.affiliate["api_key"],
                       lead_body(offer["id"], click_id=click_ids[n], meta={"ip": f"198.51.100.{n + 1}"},
                                 contact=person(n))).json()
             for n in range(10)]
    duplicate = post_lead(client, network.affiliate["api_key"], lead_body(
        offer["id"], click_id=click_ids[10], meta={"ip": "198.51.100.99"},
        contact={**person(10), "email": "ethan.rossi@example.com", "phone": "+1 415 239 7788"}))
    again = post_lead(client, network.affiliate["api_key"], lead_body(
        offer["id"], click_id=click_ids[11], meta={"ip": "198.51.100.98"},
        contact={**person(10), "email": "ethan.rossi@example.com", "phone": "+1 415 239 7788"}))
    assert duplicate.json()["status"] != "rejected", duplicate.text
    assert again.json()["reason"] == "duplicate", again.json()
    advertiser = {"X-API-Key": network.advertiser["api_key"]}
    assert client.post(f"/api/v1/advertisers/{network.advertiser['id']}/credits", headers=network.admin_headers,
                       json={"amount": "1000.00", "note": "prepaid for ten policies"}).status_code == 201
    for n, lead in enumerate(leads):       # ten of them became clients
        assert client.post("/api/v1/conversions", headers=advertiser, json={
            "lead_id": lead["lead_id"], "event": "policy_sold", "external_id": f"POL-{n}",
            "status": "approved"}).json()["status"] == "approved"
    assert client.post("/api/v1/traffic-costs", headers=network.affiliate_headers(), json={
        "date": TODAY, "offer_id": offer["id"], "sub_ids": {"sub1": "spring"}, "amount": "10000.00",
        "currency": "USD"}).status_code == 201

    flush_clicks()       # what the workers do every few seconds
    refresh_stats()

    [row] = stats(client, network.affiliate_headers(), group_by="day,offer")
    assert (row["day"], row["offer_id"], row["currency"]) == (TODAY, offer["id"], "USD")
    assert (row["clicks"], row["unique_clicks"], row["leads"]) == (20, 5, 12)
    assert row["accepted"] + row["sold"] == 11 and row["rejected"] == 1, (row, leads)
    assert row["rejected_by_reason"] == {"duplicate": 1}
    assert (row["conversions"], row["approved_conversions"]) == (10, 10)
    assert row["traffic_cost"] == "10000.00" and row["commission"] == "400.00"
    assert row["cost_per_conversion"] == "1000.00"                     # 10,000 / 10 clients
    assert row["profit"] == "-9600.00" and row["roi"] == "-96.00"
    assert row["epc"] == "20.00" and row["cr"] == "55.00" and row["conversion_rate"] == "50.00"
    assert "revenue" not in row                                         # the advertiser's price is not theirs

    [by_sub] = stats(client, network.affiliate_headers(), group_by="sub1")
    assert by_sub["sub1"] == "spring" and by_sub["clicks"] == 20     # leads carry the click's sub1
    assert by_sub["cost_per_lead"] == "909.09"                        # 10,000 / 11 valid leads, half to even
    by_country = stats(client, network.affiliate_headers(), group_by="country")
    assert [(r["country"], r["clicks"], r["traffic_cost"]) for r in by_country] == [("", 0, "10000.00"),
                                                                                   ("US", 20, "0.00")]
    assert stats(client, network.affiliate_headers(other=True)) == []
    [admin] = stats(client, network.admin_headers, group_by="affiliate")
    # what advertisers paid: ten conversions at 60.00, plus whatever the marketplace sold the leads for
    with db() as session:
        sales = session.execute(text("SELECT coalesce(sum(price_minor), 0) FROM sale WHERE status = 'sold'")).scalar()
    assert admin["affiliate_id"] == network.affiliate["id"]
    assert Decimal(admin["revenue"]) == Decimal("600.00") + Decimal(sales) / 100


def test_per_click_costs_count_as_traffic_cost_and_split_by_sub_id(client, network, campaign):
    _, link = campaign
    clicks_through(client, link, 3, "?sub2=a&cost=0.50")
    clicks_through(client, link, 1, "?sub2=b&cost=0.25")
    flush_clicks()
    refresh_stats()

    rows = stats(client, network.affiliate_headers(), group_by="sub2")
    assert [(r["sub2"], r["clicks"], r["traffic_cost"], r["profit"], r["epc"]) for r in rows] == [
        ("a", 3, "1.50", "-1.50", "0.00"), ("b", 1, "0.25", "-0.25", "0.00")]
    assert all(r["cost_per_lead"] is None and r["roi"] == "-100.00" for r in rows)


def test_a_late_cost_for_an_old_day_is_recomputed_by_the_next_run(client, network, campaign):
    offer, _ = campaign
    client.post("/api/v1/traffic-costs", headers=network.affiliate_headers(), json={
        "date": "2026-10-01", "offer_id": offer["id"], "amount": "99.99", "currency": "USD"})
    refresh_stats()
    [row] = stats(client, network.affiliate_headers(), **{"from": "2026-10-01", "to": "2026-10-01"})
    assert row["traffic_cost"] == "99.99" and row["clicks"] == 0


def test_stats_parameters_are_checked(client, network):
    fields = error_fields(client.get("/api/v1/stats", headers=network.affiliate_headers(),
                                     params={"group_by": "day,affiliate", "affiliate_id": 3}))
    assert fields.keys() == {"group_by", "affiliate_id"}
    fields = error_fields(client.get("/api/v1/stats", headers=network.affiliate_headers(),
                                     params={"from": "2026-11-10", "to": "2026-11-01"}))
    assert fields.keys() == {"from"}
    problem(client.get("/api/v1/stats", headers={"X-API-Key": network.advertiser["api_key"]}), 403)
