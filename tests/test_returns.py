"""Returns: an advertiser sends a bad lead back within the window, for a reason; an accepted return
refunds them and claws back the affiliate's share, once, and the ledger stays balanced."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import text

from billing import ledger
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from marketplace import returns
from marketplace.returns import ReturnRefused, ReturnRequest
from tests.billing_support import assert_ledger_consistent, balances_by_kind
from tests.order_support import headers, new_advertiser, person_lead, place_order, post
from tests.support import error_fields, principal_for, problem


def bought(client, network, advertiser, **lead) -> dict:
    assert post(client, network, person_lead(network.cpl_offer["id"], **lead))["status"] == "sold"
    return client.get("/api/v1/purchases", headers=headers(advertiser)).json()[0]


def buyer(client, network, **order) -> dict:
    advertiser = new_advertiser(client, network)
    place_order(client, advertiser, **{"price": "30.00", "exclusive": True, **order})
    return advertiser


def file_return(client, advertiser, sale_id: int, reason: str = "bad_phone", **extra):
    return client.post(f"/api/v1/purchases/{sale_id}/return", headers=headers(advertiser),
                       json={"reason": reason, **extra})


def age_sale(db, sale_id: int, age: timedelta) -> None:
    with db() as session, transaction(session):
        session.execute(text("UPDATE sale SET created_at = :at WHERE id = :id"), {"at": utcnow() - age, "id": sale_id})


def money(db, network, advertiser) -> tuple[int, int]:
    balances = balances_by_kind(db)
    return balances[("advertiser_cash", advertiser["id"])], balances[("affiliate_payable", network.affiliate["id"])]


def test_an_auto_approved_return_refunds_the_buyer_and_claws_back_the_commission(client, network, db):
    client.put("/api/v1/postbacks/template", headers=network.affiliate_headers(),
               json={"url": "http://127.0.0.1:9/pb?e={event}&lead={lead_id}", "events": ["lead_returned"]})
    advertiser = buyer(client, network)
    purchase = bought(client, network, advertiser)
    assert money(db, network, advertiser) == (-3000, 1250)

    answer = file_return(client, advertiser, purchase["sale_id"], note="number disconnected")
    assert answer.status_code == 201, answer.text
    assert answer.json() | {"id": 0, "created_at": "", "decided_at": ""} == {
        "id": 0, "sale_id": purchase["sale_id"], "lead_id": purchase["lead"]["lead_id"], "reason": "bad_phone",
        "note": "number disconnected", "status": "approved", "auto_approved": True, "refund": "30.00",
        "currency": "USD", "created_at": "", "decided_at": ""}
    assert money(db, network, advertiser) == (0, 0)
    assert_ledger_consistent(db)
    again = client.get(f"/api/v1/purchases/{purchase['sale_id']}", headers=headers(advertiser)).json()
    assert again["status"] == "returned" and again["return"]["status"] == "approved"
    with db() as session:
        events = session.execute(text("SELECT event FROM postback WHERE lead_id = :id"),
                                 {"id": purchase["lead"]["lead_id"]}).scalars().all()
        lead_status = session.execute(text("SELECT status FROM lead WHERE id = :id"),
                                      {"id": purchase["lead"]["lead_id"]}).scalar_one()
    assert events == ["lead_returned"] and lead_status == "returned"


def test_a_shared_return_claws_back_exactly_the_affiliates_share_of_that_sale(client, network, db):
    cheap, dear = new_advertiser(client, network), new_advertiser(client, network)
    place_order(client, cheap, price="10.00")
    place_order(client, dear, price="30.00")
    purchase = bought(client, network, cheap)
    with db() as session:
        share = next(e.amount_minor for t, e in ledger.entries_for(session, f"sale:{purchase['sale_id']}")
                     if e.account_id == ledger.account(session, "affiliate_payable", "USD",
                                                       affiliate_id=network.affiliate["id"]).id)
    assert 0 < share < 1250
    _, payable_before = money(db, network, cheap)

    assert file_return(client, cheap, purchase["sale_id"], "bad_email").status_code == 201
    cash, payable = money(db, network, cheap)
    assert cash == 0 and payable == payable_before - share
    assert_ledger_consistent(db)
    with db() as session:  # the other buyer's sale stands, so the lead is still sold
        assert session.execute(text("SELECT status FROM lead WHERE id = :id"),
                               {"id": purchase["lead"]["lead_id"]}).scalar_one() == "sold"


def test_not_interested_and_unknown_reasons_are_refused_by_name(client, network, db):
    advertiser = buyer(client, network)
    purchase = bought(client, network, advertiser)
    reason = error_fields(file_return(client, advertiser, purchase["sale_id"], "not_interested"))["reason"]
    assert "not_interested" in reason and "not a return reason" in reason
    assert "bad_phone" in error_fields(file_return(client, advertiser, purchase["sale_id"], "meh"))["reason"]
    assert money(db, network, advertiser) == (-3000, 1250)  # nothing moved


def test_the_return_window_closes_after_the_verticals_days(client, network, db):
    advertiser = buyer(client, network)
    inside, outside = bought(client, network, advertiser), bought(client, network, advertiser)
    age_sale(db, inside["sale_id"], timedelta(days=7) - timedelta(minutes=1))
    age_sale(db, outside["sale_id"], timedelta(days=7) + timedelta(minutes=1))

    assert file_return(client, advertiser, inside["sale_id"]).status_code == 201
    refused = problem(file_return(client, advertiser, outside["sale_id"]), 409)
    assert "return window" in refused["detail"] and "7 days" in refused["detail"]


def test_a_sale_is_returned_once(client, network, db):
    advertiser = buyer(client, network)
    purchase = bought(client, network, advertiser)
    assert file_return(client, advertiser, purchase["sale_id"]).status_code == 201
    assert "returned already" in problem(file_return(client, advertiser, purchase["sale_id"]), 409)["detail"]
    assert money(db, network, advertiser) == (0, 0)


def test_two_concurrent_returns_of_one_sale_refund_once(client, network, db):
    advertiser = buyer(client, network)
    purchase = bought(client, network, advertiser)
    principal = principal_for(db, advertiser["api_key"])
    start = threading.Barrier(4)

    def try_return(_: int) -> str:
        start.wait()
        with db() as session:
            try:
                return returns.request_return(session, principal, purchase["sale_id"],
                                              ReturnRequest(reason="duplicate")).status
            except ReturnRefused:
                return "refused"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(try_return, range(4)))
    assert outcomes == ["approved", "refused", "refused", "refused"]
    assert money(db, network, advertiser) == (0, 0)
    with db() as session:
        assert len(ledger.entries_for(session, f"sale:{purchase['sale_id']}")) == 6  # charge + one reversal
    assert_ledger_consistent(db)


def test_a_pending_return_waits_for_an_admin(client, network, db):
    advertiser = buyer(client, network)
    approved, rejected = bought(client, network, advertiser), bought(client, network, advertiser)
    first = file_return(client, advertiser, approved["sale_id"], "fraud").json()
    second = file_return(client, advertiser, rejected["sale_id"], "wrong_geo").json()
    assert first["status"] == second["status"] == "pending" and first["refund"] == "0.00"
    assert money(db, network, advertiser) == (-6000, 2500)

    problem(client.post(f"/api/v1/returns/{first['id']}/approve", headers=headers(advertiser)), 403)
    ok = client.post(f"/api/v1/returns/{first['id']}/approve", headers=network.admin_headers)
    assert ok.status_code == 200 and ok.json()["status"] == "approved" and ok.json()["refund"] == "30.00"
    no = client.post(f"/api/v1/returns/{second['id']}/reject", headers=network.admin_headers)
    assert no.status_code == 200 and no.json()["status"] == "rejected"
    assert money(db, network, advertiser) == (-3000, 1250)
    assert "approved already" in problem(
        client.post(f"/api/v1/returns/{first['id']}/approve", headers=network.admin_headers), 409)["detail"]
    problem(client.post(f"/api/v1/returns/{second['id']}/approve", headers=network.admin_headers), 409)
    problem(client.post("/api/v1/returns/99999/approve", headers=network.admin_headers), 404)
    assert client.get(f"/api/v1/purchases/{rejected['sale_id']}", headers=headers(advertiser)).json()["status"] == "sold"
    assert_ledger_consistent(db)


def test_the_cap_per_billing_period_refuses_returns_over_it(client, network, db):
    advertiser = buyer(client, network)
    with db() as session, transaction(session):
        session.execute(text("UPDATE advertiser SET return_rules = :rules WHERE id = :id"),
                        {"rules": '{"cap_count": 2, "cap_percent": null}', "id": advertiser["id"]})
    sales = [bought(client, network, advertiser) for _ in range(3)]
    assert file_return(client, advertiser, sales[0]["sale_id"]).status_code == 201
    assert file_return(client, advertiser, sales[1]["sale_id"], "fraud").status_code == 201  # pending counts too
    refused = problem(file_return(client, advertiser, sales[2]["sale_id"]), 409)
    assert "cap of 2 returns" in refused["detail"]


def test_a_percent_cap_allows_that_share_of_the_periods_purchases(client, network, db):
    advertiser = buyer(client, network)
    with db() as session, transaction(session):
        session.execute(text("UPDATE advertiser SET return_rules = :rules WHERE id = :id"),
                        {"rules": '{"cap_percent": 20, "cap_floor": 0}', "id": advertiser["id"]})
    sales = [bought(client, network, advertiser) for _ in range(10)]
    assert file_return(client, advertiser, sales[0]["sale_id"]).status_code == 201
    assert file_return(client, advertiser, sales[1]["sale_id"]).status_code == 201
    assert "20%" in problem(file_return(client, advertiser, sales[2]["sale_id"]), 409)["detail"]


def test_the_report_counts_returns_by_reason_and_source_for_admins_and_the_affiliate(client, network, db):
    advertiser = buyer(client, network)
    mine = [bought(client, network, advertiser, sub_ids={"sub1": "spring"}) for _ in range(2)]
    for purchase, reason in zip(mine, ["bad_phone", "bad_phone"], strict=True):
        assert file_return(client, advertiser, purchase["sale_id"], reason).status_code == 201
    theirs = person_lead(network.cpl_offer["id"])
    assert client.post("/api/v1/leads", headers=network.affiliate_headers(other=True), json=theirs).status_code == 201
    other_sale = client.get("/api/v1/purchases", headers=headers(advertiser)).json()[0]
    assert file_return(client, advertiser, other_sale["sale_id"], "duplicate").status_code == 201

    admin = client.get("/api/v1/returns/report", headers=network.admin_headers).json()
    assert admin["by_reason"] == [
        {"reason": "bad_phone", "returns": 2, "refunded": "60.00", "currency": "USD"},
        {"reason": "duplicate", "returns": 1, "refunded": "30.00", "currency": "USD"}]
    assert {(s["affiliate_id"], s["sub1"], s["returns"]) for s in admin["by_source"]} == {
        (network.affiliate["id"], "spring", 2), (network.other_affiliate["id"], None, 1)}
    own = client.get("/api/v1/returns/report", headers=network.affiliate_headers()).json()
    assert own["by_reason"] == [{"reason": "bad_phone", "returns": 2, "refunded": "60.00", "currency": "USD"}]
    assert [s["affiliate_id"] for s in own["by_source"]] == [network.affiliate["id"]]
    problem(client.get("/api/v1/returns/report", headers=headers(advertiser)), 403)


def test_an_admin_sets_an_advertisers_rules_and_they_apply(client, network, db):
    advertiser = buyer(client, network)
    url = f"/api/v1/returns/rules/{advertiser['id']}"
    assert client.get(url, headers=headers(advertiser)).json()["auto_approve"] == returns.DEFAULT_RULES["auto_approve"]
    bad = client.put(url, headers=network.admin_headers, json={"auto_approve": ["bad_phone", "not_interested"],
                                                              "cap_percent": "120"})
    assert set(error_fields(bad)) == {"auto_approve", "cap_percent"}
    problem(client.put(url, headers=headers(advertiser), json={"auto_approve": []}), 403)
    other = new_advertiser(client, network)
    problem(client.get(url, headers=headers(other)), 404)

    answer = client.put(url, headers=network.admin_headers, json={"auto_approve": ["fraud"], "cap_percent": None,
                                                                 "cap_count": 1})
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"reasons": {}} == {"advertiser_id": advertiser["id"], "auto_approve": ["fraud"],
                                               "cap_count": 1, "cap_percent": None, "cap_floor": 5, "reasons": {}}
    first, second = bought(client, network, advertiser), bought(client, network, advertiser)
    assert file_return(client, advertiser, first["sale_id"], "bad_phone").json()["status"] == "pending"
    assert "cap of 1" in problem(file_return(client, advertiser, second["sale_id"], "fraud"), 409)["detail"]
