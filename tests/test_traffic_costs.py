"""Traffic costs as an affiliate reports them: stored exactly, replaced on a correction, clear 422s."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from affiliates.tracking_models import StaleStatsDay, TrafficCost
from tests.support import count_rows, error_fields, problem

TODAY = date.today()


def report(client, network, other=False, **body):
    return client.post("/api/v1/traffic-costs", headers=network.affiliate_headers(other=other), json=body)


def test_a_days_spend_is_stored_to_the_cent_and_its_stats_day_marked_stale(client, network, db):
    day = (TODAY - timedelta(days=3)).isoformat()
    answer = report(client, network, date=day, offer_id=network.cpa_offer["id"], amount="10000.00", currency="usd",
                    sub_ids={"sub1": "fb-spring"})

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["amount"] == "10000.00" and body["currency"] == "USD" and body["replaced"] is False
    assert body["sub_ids"] == {"sub1": "fb-spring"} and body["date"] == day
    with db() as session:
        cost = session.execute(select(TrafficCost)).scalar_one()
        stale = session.execute(select(StaleStatsDay.day)).scalars().all()
    assert (cost.amount_minor, cost.affiliate_id, cost.sub1, cost.sub2) == (1_000_000, network.affiliate["id"],
                                                                          "fb-spring", "")
    assert stale == [date.fromisoformat(day)]


def test_reporting_the_same_slice_again_replaces_the_amount(client, network, db):
    day = TODAY.isoformat()
    first = report(client, network, date=day, offer_id=network.cpl_offer["id"], amount="250.00", currency="USD")
    again = report(client, network, date=day, offer_id=network.cpl_offer["id"], amount="275.50", currency="USD")
    other_sub = report(client, network, date=day, offer_id=network.cpl_offer["id"], amount="5", currency="USD",
                       sub_ids={"sub2": "native"})
    theirs = report(client, network, other=True, date=day, offer_id=network.cpl_offer["id"], amount="1",
                    currency="USD")

    assert first.json()["replaced"] is False and again.json()["replaced"] is True
    assert again.json()["id"] == first.json()["id"]
    assert other_sub.status_code == theirs.status_code == 201
    with db() as session:
        amounts = sorted(session.execute(select(TrafficCost.amount_minor)).scalars())
    assert amounts == [100, 500, 27550]

    listed = client.get(f"/api/v1/traffic-costs?from={day}&to={day}", headers=network.affiliate_headers()).json()
    assert sorted(c["amount"] for c in listed) == ["275.50", "5.00"]    # never the other affiliate's


def test_every_bad_field_is_named_and_nothing_is_stored(client, network, db):
    fields = error_fields(report(client, network, date="2026-13-01", amount="12.345", currency="USD",
                                 sub_ids={"sub7": "x"}))
    assert fields == {"date": "must be a date as YYYY-MM-DD", "offer_id": "is required",
                      "amount": "has more than 2 decimal places for USD", "sub_ids.sub7": "sub-id keys are sub1 to sub5"}

    fields = error_fields(report(client, network, date=(TODAY + timedelta(days=5)).isoformat(), offer_id=999999,
                                 amount="-3", currency="XYZ"))
    assert fields == {"date": "must not be in the future", "offer_id": "no offer with this id",
                      "currency": "must be one of AUD, CAD, CHF, EUR, GBP, JPY, PLN, SEK, USD"}

    fields = error_fields(report(client, network, date=TODAY.isoformat(), offer_id=network.cpl_offer["id"],
                                 amount="abc", currency="EUR"))
    assert fields == {"currency": "must be USD, the offer's currency",
                      "amount": 'must be a decimal amount such as "12.50"'}
    fields = error_fields(report(client, network, date=TODAY.isoformat(), offer_id=network.cpl_offer["id"],
                                 amount="-1.00", currency="USD"))
    assert fields == {"amount": "must not be negative"}
    fields = error_fields(report(client, network))
    assert fields.keys() == {"date", "offer_id", "amount", "currency"}
    assert count_rows(db, "traffic_cost")["traffic_cost"] == 0


def test_only_affiliates_report_costs(client, network):
    problem(client.post("/api/v1/traffic-costs", headers=network.admin_headers,
                        json={"date": TODAY.isoformat(), "offer_id": network.cpl_offer["id"], "amount": "1",
                              "currency": "USD"}), 403)
