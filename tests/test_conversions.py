"""CPA conversions: reported by API or postback, once per external_id, capped, approved and charged."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from affiliates import conversions
from affiliates.conversion_schemas import ConversionReport
from affiliates.cpa_models import Conversion
from affiliates.tracking import targets
from leadmarket.identity import Principal, Role
from tests.support import (
    count_rows,
    created,
    error_fields,
    lead_body,
    post_lead,
    problem,
)


@pytest.fixture(autouse=True)
def in_process(client, settings, redis_db):
    targets.clear()
    yield
    targets.clear()


@pytest.fixture
def cpa(client, network):
    """A targeted CPA offer of the network's advertiser: pays 40.00, charges 60.00."""
    return created(client.post("/api/v1/offers", headers=network.admin_headers, json={
        "name": "Acme policies", "vertical": "car-insurance", "kind": "targeted",
        "advertiser_id": network.advertiser["id"], "payout_model": "cpa", "payout": "40.00", "revenue": "60.00",
        "landing_url": "https://acme-insurance.example/quote?ref={click_id}", "daily_conversion_cap": 3}))


def adv(network):
    return {"X-API-Key": network.advertiser["api_key"]}


def click(client, network, offer_id, query=""):
    link = created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                               json={"offer_id": offer_id}))
    answer = client.get(f"/r/{link['code']}{query}", follow_redirects=False)
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return (query.get("ref") or query["cid"])[0]


def test_a_conversion_is_reported_approved_and_charged_once(client, network, cpa, db, redis_db):
    click_id = click(client, network, cpa["id"], "?sub1=fb")
    report = {"click_id": click_id, "event": "policy_sold", "amount": "899.00", "external_id": "ORD-1001",
              "customer_id": "CRM-77"}

    first = client.post("/api/v1/conversions", headers=adv(network), json=report)
    again = client.post("/api/v1/conversions", headers=adv(network), json=report)

    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["status"], body["click_id"], body["amount"], body["customer_id"]) == ("pending", click_id, "899.00",
                                                                                     "CRM-77")
    assert body["revenue"] == "0.00" and body["payout"] is None          # not charged yet; payout is not theirs
    assert again.json()["id"] == body["id"] and again.json()["replayed"] is True
    assert count_rows(db, "conversion")["conversion"] == 1

    approved = client.post(f"/api/v1/conversions/{body['id']}/approve", headers=adv(network))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["revenue"] == "60.00"
    assert client.post(f"/api/v1/conversions/{body['id']}/approve", headers=adv(network)).status_code == 200
    problem(client.post(f"/api/v1/conversions/{body['id']}/reject", headers=adv(network)), 409)

    seen = client.get("/api/v1/conversions", headers=network.affiliate_headers()).json()
    assert [(c["id"], c["payout"], c["revenue"]) for c in seen] == [(body["id"], "40.00", None)]
    assert client.get("/api/v1/conversions", headers=network.affiliate_headers(other=True)).json() == []
    with db() as session:
        row = session.execute(select(Conversion)).scalar_one()
    assert (row.payout_minor, row.revenue_minor, row.sub1, row.affiliate_id) == (4000, 6000, "fb",
                                                                                  network.affiliate["id"])
    assert row.charged_at is not None


def test_a_conversion_links_the_lead_to_the_buyers_customer_record(client, network, cpa, db, redis_db):
    click_id = click(client, network, cpa["id"])
    lead = post_lead(client, network.affiliate["api_key"], lead_body(cpa["id"], click_id=click_id)).json()

    by_click = client.post("/api/v1/conversions", headers=adv(network), json={
        "click_id": click_id, "event": "signup", "external_id": "A-1", "customer_id": "CUST-9"}).json()
    by_lead = client.post("/api/v1/conversions", headers=adv(network), json={
        "lead_id": lead["lead_id"], "event": "first_payment", "external_id": "A-2", "status": "approved"}).json()

    assert by_click["lead_id"] == lead["lead_id"] and by_click["customer_id"] == "CUST-9"
    assert by_lead["lead_id"] == lead["lead_id"] and by_lead["click_id"] == click_id
    assert by_lead["status"] == "approved" and by_lead["revenue"] == "60.00"


def test_the_server_to_server_postback_needs_the_token_and_a_known_click(client, network, cpa, db, redis_db):
    token = client.post("/api/v1/postback-token", headers=adv(network)).json()
    assert token["token"].startswith("lmp_") and "/postback?token=" in token["postback_url"]
    click_id = click(client, network, cpa["id"])

    unknown = client.get("/postback", params={"token": token["token"], "click_id": "1795527190137-0-0000deadbeef",
                                              "event": "sale", "external_id": "X-1"})
    wrong = client.get("/postback", params={"token": "lmp_nope", "click_id": click_id, "event": "sale",
                                            "external_id": "X-1"})
    good = client.get("/postback", params={"token": token["token"], "click_id": click_id, "event": "sale",
                                           "external_id": "X-1", "amount": "120.00"})
    posted = client.post("/postback", params={"token": token["token"], "click_id": click_id, "event": "sale",
                                              "external_id": "X-1"})

    problem(unknown, 404)
    problem(wrong, 401)
    assert good.status_code == 200 and good.json()["status"] == "pending" and good.json()["amount"] == "120.00"
    assert posted.status_code == 200 and posted.json()["id"] == good.json()["id"] and posted.json()["replayed"]
    assert count_rows(db, "conversion")["conversion"] == 1
    with db() as session:   # the token is kept only as a digest
        stored = session.execute(select(conversions.AdvertiserPostbackToken.token_digest)).scalar_one()
    assert token["token"] not in stored


def test_conversions_over_the_daily_cap_are_kept_as_over_cap(client, network, cpa, db, redis_db):
    click_id = click(client, network, cpa["id"])
    answers = [client.post("/api/v1/conversions", headers=adv(network), json={
        "click_id": click_id, "event": "sale", "external_id": f"C-{n}"}).json() for n in range(4)]

    assert [a["status"] for a in answers] == ["pending", "pending", "pending", "over_cap"]
    problem(client.post(f"/api/v1/conversions/{answers[3]['id']}/approve", headers=adv(network)), 409)
    client.post(f"/api/v1/conversions/{answers[0]['id']}/reject", headers=adv(network))   # frees a slot
    fifth = client.post("/api/v1/conversions", headers=adv(network), json={
        "click_id": click_id, "event": "sale", "external_id": "C-5"}).json()
    assert fifth["status"] == "pending"
    assert count_rows(db, "conversion")["conversion"] == 5


def test_the_cap_holds_when_conversions_race(client, network, cpa, db, redis_db):
    click_id = click(client, network, cpa["id"])
    advertiser = Principal(role=Role.ADVERTISER, advertiser_id=network.advertiser["id"])
    start = threading.Barrier(8)

    def report(n: int) -> str:
        start.wait()
        with db() as session:
            return conversions.report_conversion(session, advertiser, ConversionReport(
                click_id=click_id, event="sale", external_id=f"R-{n}")).status

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(report, range(8)))
    assert statuses == ["over_cap"] * 5 + ["pending"] * 3


def test_an_advertiser_reports_only_on_its_own_offers_clicks(client, network, cpa, db, redis_db):
    other = created(client.post("/api/v1/advertisers", headers=network.admin_headers, json={
        "name": "Other Insurance", "email": "leads@other.example", "billing_mode": "prepaid"}))
    click_id = click(client, network, cpa["id"])
    mine = client.post("/api/v1/conversions", headers=adv(network), json={
        "click_id": click_id, "event": "sale", "external_id": "M-1"}).json()

    problem(client.post("/api/v1/conversions", headers={"X-API-Key": other["api_key"]}, json={
        "click_id": click_id, "event": "sale", "external_id": "O-1"}), 404)
    problem(client.post(f"/api/v1/conversions/{mine['id']}/approve", headers={"X-API-Key": other["api_key"]}), 404)
    assert client.get("/api/v1/conversions", headers={"X-API-Key": other["api_key"]}).json() == []
    # a marketplace offer's click belongs to whoever buys its lead; nobody has
    plain = click(client, network, network.cpa_offer["id"])
    problem(client.post("/api/v1/conversions", headers=adv(network), json={
        "click_id": plain, "event": "sale", "external_id": "M-2"}), 404)


def test_a_report_names_every_bad_field(client, network, cpa, db):
    fields = error_fields(client.post("/api/v1/conversions", headers=adv(network),
                                      json={"event": "has spaces", "status": "paid", "customer_id": "x" * 201}))
    assert fields.keys() == {"event", "external_id", "status", "customer_id", "lead_id"}
    problem(client.post("/api/v1/conversions", headers=network.affiliate_headers(),
                        json={"event": "sale", "external_id": "x", "lead_id": 1}), 403)
    assert count_rows(db, "conversion")["conversion"] == 0


# ---------------------------------------------------------------- CPA money through the ledger


def ledger_lines(db, conversion_id):
    """(account kind, owner id, amount in minor units, transaction kind) of every entry posted for
    the conversion."""
    from billing import ledger
    from billing.models import LedgerAccount

    with db() as session:
        lines = []
        for transaction, entry in ledger.entries_for(session, f"conversion:{conversion_id}"):
            account = session.get_one(LedgerAccount, entry.account_id)
            lines.append((account.kind, account.advertiser_id or account.affiliate_id, entry.amount_minor,
                          transaction.kind))
    return sorted(lines)


def test_an_approved_conversion_is_one_balanced_ledger_transaction_posted_once(client, network, cpa, db,
                                                                                 redis_db):
    click_id = click(client, network, cpa["id"])
    token = client.post("/api/v1/postback-token", headers=adv(network)).json()["token"]
    report = {"click_id": click_id, "event": "policy_sold", "external_id": "L-1"}
    pending = client.post("/api/v1/conversions", headers=adv(network), json=report).json()
    assert ledger_lines(db, pending["id"]) == []                         # pending: no money moves yet

    assert client.post(f"/api/v1/conversions/{pending['id']}/approve", headers=adv(network)).status_code == 200
    assert client.post(f"/api/v1/conversions/{pending['id']}/approve", headers=adv(network)).status_code == 200
    replayed = client.get("/postback", params={"token": token, "click_id": click_id, "event": "policy_sold",
                                               "external_id": "L-1", "status": "approved"})
    assert replayed.status_code == 200 and replayed.json()["replayed"] is True

    me, advertiser = network.affiliate["id"], network.advertiser["id"]
    assert ledger_lines(db, pending["id"]) == [            # advertiser pays 60, affiliate earns 40, we keep 20
        ("advertiser_cash", advertiser, -6000, "conversion"), ("affiliate_payable", me, 4000, "conversion"),
        ("platform_revenue", None, 2000, "conversion")]
    assert count_rows(db, "ledger_transaction")["ledger_transaction"] == 1
    assert client.get("/api/v1/balance", headers=adv(network)).json()["balance"] == "-60.00"

    # a conversion reported already approved is charged in the same request, once
    direct = client.post("/api/v1/conversions", headers=adv(network), json={**report, "external_id": "L-2",
                                                                            "status": "approved"})
    client.post("/api/v1/conversions", headers=adv(network), json={**report, "external_id": "L-2",
                                                                   "status": "approved"})
    assert direct.json()["status"] == "approved"
    assert [line[2] for line in ledger_lines(db, direct.json()["id"])] == [-6000, 4000, 2000]
    assert count_rows(db, "ledger_transaction")["ledger_transaction"] == 2

    trial = client.get("/api/v1/finance/trial-balance", headers=network.admin_headers)
    assert trial.status_code == 200, trial.text
    assert trial.json()["balanced"] and [t["total"] for t in trial.json()["totals"]] == ["0.00"]


def test_an_advertiser_who_cannot_pay_gets_409_and_the_conversion_stays_pending(client, network, db, redis_db):
    broke = created(client.post("/api/v1/advertisers", headers=network.admin_headers, json={
        "name": "Thin Wallet Ins", "email": "leads@thin-wallet.example", "billing_mode": "prepaid"}))
    offer = created(client.post("/api/v1/offers", headers=network.admin_headers, json={
        "name": "Thin policies", "vertical": "car-insurance", "kind": "targeted", "advertiser_id": broke["id"],
        "payout_model": "cpa", "payout": "40.00", "revenue": "60.00",
        "landing_url": "https://thin-wallet.example/?ref={click_id}"}))
    headers = {"X-API-Key": broke["api_key"]}
    click_id = click(client, network, offer["id"])
    pending = client.post("/api/v1/conversions", headers=headers, json={
        "click_id": click_id, "event": "sale", "external_id": "T-1"}).json()

    refused = problem(client.post(f"/api/v1/conversions/{pending['id']}/approve", headers=headers), 409)
    direct = client.post("/api/v1/conversions", headers=headers, json={
        "click_id": click_id, "event": "sale", "external_id": "T-2", "status": "approved"})

    assert "balance" in refused["detail"]
    problem(direct, 409)
    assert [c["status"] for c in client.get("/api/v1/conversions", headers=headers).json()] == ["pending"]
    assert count_rows(db, "ledger_transaction", "conversion") == {"ledger_transaction": 0, "conversion": 1}

    topped = client.post(f"/api/v1/advertisers/{broke['id']}/credits", headers=network.admin_headers,
                         json={"amount": "100.00", "note": "wire received"})
    assert topped.status_code == 201, topped.text
    approved = client.post(f"/api/v1/conversions/{pending['id']}/approve", headers=headers)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert client.get("/api/v1/balance", headers=headers).json()["balance"] == "40.00"
