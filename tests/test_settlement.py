"""Settlement as finance reads it: revenue, returns, commission, traffic cost and margin per offer,
affiliate, advertiser and vertical, over UTC days, reconciled with the ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from affiliates.tasks import flush_clicks
from affiliates.tracking import targets
from billing.settlement import margin_percent
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.identity import Role, create_api_key
from tests.order_support import headers, new_advertiser, person_lead, place_order, post
from tests.support import created, error_fields, problem

TODAY = utcnow().date()
YESTERDAY = TODAY - timedelta(days=1)
TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture(autouse=True)
def in_process(client, settings, redis_db):
    targets.clear()
    yield
    targets.clear()


def finance_key(db, role=Role.FINANCE) -> dict[str, str]:
    with db() as session, transaction(session):
        _, raw = create_api_key(session, role=role, name=f"test {role.value}")
    return {"X-API-Key": raw}


def settle(client, key, group_by="offer", start=YESTERDAY, end=TODAY):
    answer = client.get("/api/v1/finance/settlement", headers=key,
                        params={"from": str(start), "to": str(end), "group_by": group_by})
    assert answer.status_code == 200, answer.text
    return answer.json()


def figures(revenue, returns, net, commission, traffic, margin, percent, currency="USD"):
    return {"currency": currency, "revenue": revenue, "returns": returns, "net_revenue": net,
            "commission": commission, "traffic_cost": traffic, "margin": margin, "margin_percent": percent}


def by_group(report):
    return {row["group"]["id"]: {k: v for k, v in row.items() if k != "group"} for row in report["rows"]}


def cost(client, network, offer_id, day, amount, other=False):
    created(client.post("/api/v1/traffic-costs", headers=network.affiliate_headers(other=other),
                        json={"date": str(day), "offer_id": offer_id, "amount": amount, "currency": "USD"}))


@pytest.fixture
def month(client, network, db):
    """One of everything, all today (UTC) but one traffic cost yesterday:
    - buyer A (exclusive order at 30.00) buys affiliate 1's lead and affiliate 2's lead on the CPL
      offer (payout 12.50 each) and returns affiliate 2's;
    - the network's advertiser approves a conversion on its targeted CPA offer (60.00, pays 40.00),
      from affiliate 1's click that cost 0.40;
    - traffic costs: CPL offer 5.00 (aff 1) + 2.25 (aff 2) today; CPA offer 3.10 (aff 1) yesterday;
      the network's marketplace CPA offer 1.00 (aff 1) today, with nothing sold on it."""
    buyer = new_advertiser(client, network, name="Buyer A")
    place_order(client, buyer, price="30.00", exclusive=True)
    assert post(client, network, person_lead(network.cpl_offer["id"]))["status"] == "sold"
    theirs = client.post("/api/v1/leads", headers=network.affiliate_headers(other=True),
                         json=person_lead(network.cpl_offer["id"]))
    assert theirs.status_code == 201 and theirs.json()["status"] == "sold", theirs.text
    purchases = client.get("/api/v1/purchases", headers=headers(buyer)).json()
    returned = next(p for p in purchases if p["lead"]["lead_id"] == theirs.json()["lead_id"])
    refund = client.post(f"/api/v1/purchases/{returned['sale_id']}/return", headers=headers(buyer),
                         json={"reason": "bad_phone"})
    assert refund.status_code == 201 and refund.json()["status"] == "approved", refund.text

    targeted = created(client.post("/api/v1/offers", headers=network.admin_headers, json={
        "name": "Acme policies", "vertical": "car-insurance", "kind": "targeted",
        "advertiser_id": network.advertiser["id"], "payout_model": "cpa", "payout": "40.00", "revenue": "60.00",
        "landing_url": "https://acme-insurance.example/quote?ref={click_id}"}))
    link = created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                               json={"offer_id": targeted["id"]}))
    visit = client.get(f"/r/{link['code']}?cost=0.40", follow_redirects=False)
    click_id = parse_qs(urlsplit(visit.headers["location"]).query)["ref"][0]
    assert flush_clicks() == 1
    reported = client.post("/api/v1/conversions", headers={"X-API-Key": network.advertiser["api_key"]},
                           json={"click_id": click_id, "event": "policy_sold", "external_id": "P-1"})
    approved = client.post(f"/api/v1/conversions/{reported.json()['id']}/approve",
                           headers={"X-API-Key": network.advertiser["api_key"]})
    assert approved.status_code == 200 and approved.json()["revenue"] == "60.00", approved.text

    cost(client, network, network.cpl_offer["id"], TODAY, "5.00")
    cost(client, network, network.cpl_offer["id"], TODAY, "2.25", other=True)
    cost(client, network, targeted["id"], YESTERDAY, "3.10")
    cost(client, network, network.cpa_offer["id"], TODAY, "1.00")
    return {"buyer": buyer, "targeted": targeted}


TOTAL = figures("120.00", "30.00", "90.00", "52.50", "11.75", "25.75", "28.61")


def test_per_offer_every_figure_to_the_cent_and_a_total(client, network, db, month):
    report = settle(client, finance_key(db), "offer")

    assert (report["from"], report["to"], report["group_by"]) == (str(YESTERDAY), str(TODAY), "offer")
    assert by_group(report) == {
        # 60 charged, 30 refunded; 25.00 paid out less the 12.50 clawed back; 10.25 / 30 = 34.1666..%
        network.cpl_offer["id"]: figures("60.00", "30.00", "30.00", "12.50", "7.25", "10.25", "34.17"),
        # 60 - 40 - (3.10 reported + 0.40 per click) = 16.50, 27.50%
        month["targeted"]["id"]: figures("60.00", "0.00", "60.00", "40.00", "3.50", "16.50", "27.50"),
        # only spent on: no net revenue, so no margin %
        network.cpa_offer["id"]: figures("0.00", "0.00", "0.00", "0.00", "1.00", "-1.00", None),
    }
    names = {row["group"]["id"]: row["group"]["name"] for row in report["rows"]}
    assert names[month["targeted"]["id"]] == "Acme policies"
    assert report["totals"] == [TOTAL] and report["unallocated_traffic_cost"] == {}


def test_per_affiliate(client, network, db, month):
    report = settle(client, finance_key(db), "affiliate")

    assert by_group(report) == {
        # 30 + 60 earned; 12.50 + 40 commission; 5.00 + 3.10 + 0.40 + 1.00 traffic; 28 / 90 = 31.11%
        network.affiliate["id"]: figures("90.00", "0.00", "90.00", "52.50", "9.50", "28.00", "31.11"),
        # their only sale came back: commission clawed back to 0, the spend is the loss
        network.other_affiliate["id"]: figures("30.00", "30.00", "0.00", "0.00", "2.25", "-2.25", None),
    }
    assert report["totals"] == [TOTAL]


def test_per_advertiser_traffic_cost_is_left_unallocated_in_the_total(client, network, db, month):
    report = settle(client, finance_key(db), "advertiser")

    assert by_group(report) == {
        month["buyer"]["id"]: figures("60.00", "30.00", "30.00", "12.50", None, "17.50", "58.33"),
        network.advertiser["id"]: figures("60.00", "0.00", "60.00", "40.00", None, "20.00", "33.33"),
    }
    assert report["totals"] == [TOTAL]
    assert report["unallocated_traffic_cost"] == {"USD": "11.75"}


def test_per_vertical_everything_is_car_insurance(client, network, db, month):
    report = settle(client, finance_key(db), "vertical")

    assert [row["group"]["name"] for row in report["rows"]] == ["Car insurance"]
    assert [{k: v for k, v in row.items() if k != "group"} for row in report["rows"]] == [TOTAL]
    assert report["totals"] == [TOTAL]


def test_the_total_reconciles_with_the_platform_revenue_account(client, network, db, month):
    report = settle(client, finance_key(db), "affiliate")
    trial = client.get("/api/v1/finance/trial-balance", headers=finance_key(db)).json()

    platform = [a["balance"] for a in trial["accounts"] if a["kind"] == "platform_revenue"]
    total = report["totals"][0]
    kept = Decimal(total["net_revenue"]) - Decimal(total["commission"])
    assert platform == ["37.50"] and kept == Decimal("37.50")        # 17.50 + 17.50 - 17.50 + 20.00
    assert Decimal(total["margin"]) == kept - Decimal(total["traffic_cost"])
    assert trial["balanced"] is True


def test_days_are_inclusive_and_outside_days_count_nothing(client, network, db, month):
    key = finance_key(db)
    today_only = settle(client, key, "offer", TODAY, TODAY)
    yesterday_only = settle(client, key, "offer", YESTERDAY, YESTERDAY)
    tomorrow = settle(client, key, "offer", TOMORROW, TOMORROW)

    # yesterday's 3.10 is outside; the click's 0.40 and today's money are inside
    assert today_only["totals"] == [figures("120.00", "30.00", "90.00", "52.50", "8.65", "28.85", "32.06")]
    assert by_group(yesterday_only) == {
        month["targeted"]["id"]: figures("0.00", "0.00", "0.00", "0.00", "3.10", "-3.10", None)}
    assert tomorrow["rows"] == [] and tomorrow["totals"] == []


def test_a_return_counts_on_the_day_it_was_refunded(client, network, db, month):
    """The ledger is append-only, so a return dated later is made by moving its transaction's time
    (the row, not its entries): it then leaves today's figures and shows on that day alone."""
    with db() as session, transaction(session):
        session.execute(text("SET LOCAL session_replication_role = replica"))  # past the append-only trigger
        session.execute(text("UPDATE ledger_transaction SET created_at = created_at + interval '1 day'"
                             " WHERE kind = 'sale_reversal'"))
    key = finance_key(db)

    today_only = by_group(settle(client, key, "offer", TODAY, TODAY))[network.cpl_offer["id"]]
    next_day = by_group(settle(client, key, "offer", TOMORROW, TOMORROW))[network.cpl_offer["id"]]
    assert today_only == figures("60.00", "0.00", "60.00", "25.00", "7.25", "27.75", "46.25")
    assert next_day == figures("0.00", "30.00", "-30.00", "-12.50", "0.00", "-17.50", "58.33")


def test_margin_percent_is_rounded_once_half_to_even():
    assert margin_percent(1, 800) == Decimal("0.12")        # 0.125 -> 0.12
    assert margin_percent(3, 800) == Decimal("0.38")        # 0.375 -> 0.38
    assert margin_percent(-1, 800) == Decimal("-0.12")
    assert margin_percent(1025, 3000) == Decimal("34.17")
    assert margin_percent(2, 3) == Decimal("66.67")
    assert margin_percent(5, 0) is None
    assert str(margin_percent(3000, 3000)) == "100.00"
    assert str(margin_percent(0, 3000)) == "0.00" and str(margin_percent(-3000, 3000)) == "-100.00"


def test_bad_values_are_all_named(client, network, db):
    key = finance_key(db)
    url = "/api/v1/finance/settlement"

    fields = error_fields(client.get(url, headers=key, params={"from": "2026-13-01", "group_by": "campaign"}))
    assert fields == {"from": "must be a date as YYYY-MM-DD", "to": "is required (YYYY-MM-DD, a UTC day)",
                      "group_by": "must be one of offer, affiliate, advertiser, vertical"}
    assert error_fields(client.get(url, headers=key, params={"from": "20261101", "to": "2026-11-1"})) == {
        "from": "must be a date as YYYY-MM-DD", "to": "must be a date as YYYY-MM-DD"}
    assert error_fields(client.get(url, headers=key, params={"from": "2026-11-02", "to": "2026-11-01"})) == {
        "to": "must not be before from"}
    assert error_fields(client.get(url, headers=key, params={"from": "2025-01-01", "to": "2026-01-02"})) == {
        "to": "the range is at most 366 days"}                              # 367 days
    assert client.get(url, headers=key, params={"from": "2025-01-01", "to": "2026-01-01"}).status_code == 200
    leap_year = client.get(url, headers=key, params={"from": "2024-01-01", "to": "2024-12-31"})
    assert leap_year.status_code == 200 and leap_year.json()["group_by"] == "offer"


def test_only_finance_and_admins_read_it(client, network, db):
    params = {"from": str(TODAY), "to": str(TODAY)}
    url = "/api/v1/finance/settlement"

    assert client.get(url, headers=finance_key(db), params=params).status_code == 200
    assert client.get(url, headers=network.admin_headers, params=params).status_code == 200
    problem(client.get(url, headers=network.affiliate_headers(), params=params), 403)
    problem(client.get(url, headers={"X-API-Key": network.advertiser["api_key"]}, params=params), 403)
    problem(client.get(url, params=params), 401)
