"""The lead store over HTTP: masked previews, list prices, filters and paging, shared and exclusive
purchases, who may buy what, and expiry past the shelf life."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from billing.ledger import trial_balance
from billing.pricing import store_price_minor
from leadmarket.celery_app import celery_app, enqueue
from marketplace.models import Lead
from marketplace.sale_models import Sale
from tests.order_support import person_lead
from tests.store_support import new_advertiser, set_lead, set_vertical, stored_lead
from tests.support import problem

STORE = "/api/v1/store/leads"


def browse(client, advertiser, **params):
    response = client.get(STORE, headers=advertiser["headers"], params=params)
    assert response.status_code == 200, response.text
    return response


def listed(client, advertiser, **params) -> list[int]:
    return [lead["lead_id"] for lead in browse(client, advertiser, **params).json()["leads"]]


def buy(client, advertiser, lead_id, *, exclusive):
    return client.post(f"{STORE}/{lead_id}/buy", headers=advertiser["headers"], json={"exclusive": exclusive})


def sales_of(db, lead_id) -> int:
    with db() as session:
        return session.execute(select(func.count()).select_from(Sale).where(Sale.lead_id == lead_id)).scalar_one()


def status_of(db, lead_id) -> str:
    with db() as session:
        return session.execute(select(Lead.status).where(Lead.id == lead_id)).scalar_one()


def test_previews_never_carry_contact_data(client, db, network):
    body = person_lead(network.cpl_offer["id"], contact={"address": "742 Evergreen Terrace"},
                       consent={"ip": "203.0.113.77"})
    lead_id = stored_lead(client, network, body=body)
    buyer = new_advertiser(client, network)
    response = browse(client, buyer)
    [preview] = response.json()["leads"]
    assert preview["lead_id"] == lead_id
    assert (preview["country"], preview["region"], preview["city"]) == ("US", "CA", "San Francisco")
    assert preview["vertical"] == "car-insurance" and preview["attributes"]["coverage"] == "full"
    assert preview["postal_prefix"] == "94" and preview["times_sold"] == 0 and preview["max_sales"] == 3
    assert preview["price"] == "18.00" and preview["exclusive_price"] == "36.00" and preview["currency"] == "USD"
    raw = response.text
    contact = body["contact"]
    phone_digits = "".join(ch for ch in contact["phone"] if ch.isdigit())
    for secret in (contact["first_name"], contact["last_name"], contact["email"], contact["email"].split("@")[0],
                   phone_digits, phone_digits[1:], "Evergreen", "94107", "203.0.113.77"):
        assert secret.lower() not in raw.lower(), secret
    for key in ("first_name", "last_name", "email", "phone", "address", "date_of_birth", "profile_url"):
        assert f'"{key}"' not in raw


def test_list_price_follows_geography_temperature_and_age(client, db, network):
    set_vertical(db, network.vertical["id"], store_pricing={
        "geo": {"US": "1.1", "US-CA": "1.25"}, "temperature": {"cold": "0.5", "hot": "1.5"},
        "age_decay_per_day": "0.05", "age_floor": "0.2", "exclusive_multiplier": "2"})
    fresh = stored_lead(client, network)
    three_days = stored_lead(client, network)
    ancient = stored_lead(client, network, contact={"region": "NV", "city": "Reno"})
    set_lead(db, fresh, temperature="hot")
    set_lead(db, three_days, temperature="hot", age=timedelta(days=3, hours=5))
    set_lead(db, ancient, temperature="cold", age=timedelta(days=29))
    prices = {p["lead_id"]: (p["price"], p["exclusive_price"]) for p in browse(client, network_buyer(client, network)).json()["leads"]}
    # 1800 × 1.25 × 1.5 = 3375; × 0.95³ = 2893.640625 -> 2894; exclusive 5787.28125 -> 5787
    assert prices[fresh] == ("33.75", "67.50")
    assert prices[three_days] == ("28.94", "57.87")
    # Nevada falls back to the country: 1800 × 1.1 × 0.5 × max(0.2, 0.95^29 = 0.2259...) = 223.66... -> 224
    assert prices[ancient] == ("2.24", "4.47")


def network_buyer(client, network):
    return new_advertiser(client, network)


def test_price_rounds_once_half_even():
    now = datetime(2026, 11, 24, tzinfo=UTC)
    half = {"temperature": {"cold": "0.5"}, "age_decay_per_day": "0"}
    assert store_price_minor(base_price_minor=5, store_pricing=half, country="US", region=None, temperature="cold",
                             created_at=now, now=now) == 2      # 2.5 -> 2
    assert store_price_minor(base_price_minor=7, store_pricing=half, country="US", region=None, temperature="cold",
                             created_at=now, now=now) == 4      # 3.5 -> 4
    decayed = {"age_decay_per_day": "0.5", "age_floor": "0"}
    assert store_price_minor(base_price_minor=1000, store_pricing=decayed, country="US", region=None,
                             temperature=None, created_at=now - timedelta(days=2, hours=23), now=now) == 250


def test_filters_sorting_and_paging(client, db, network):
    buyer = new_advertiser(client, network)
    hot_ca = stored_lead(client, network)
    cold_ny = stored_lead(client, network, contact={"region": "NY", "city": "New York", "postal_code": "10001"})
    old_ca = stored_lead(client, network)
    set_lead(db, hot_ca, temperature="hot")
    set_lead(db, cold_ny, temperature="cold", age=timedelta(hours=2))
    set_lead(db, old_ca, temperature="warm", age=timedelta(days=5))
    assert listed(client, buyer) == [hot_ca, cold_ny, old_ca]                    # newest first
    assert listed(client, buyer, sort="oldest") == [old_ca, cold_ny, hot_ca]
    assert listed(client, buyer, region="NY") == [cold_ny]
    assert listed(client, buyer, temperature="hot") == [hot_ca]
    assert listed(client, buyer, country="us", max_age_hours=3) == [hot_ca, cold_ny]
    assert listed(client, buyer, vertical="car-insurance", limit=1) == [hot_ca]
    assert listed(client, buyer, vertical="no-such-vertical") == []
    # default prices: 18.00 × hot 1.5 = 27.00; × cold 0.6 = 10.80; × 0.95^5 = 13.93
    assert listed(client, buyer, sort="price_desc") == [hot_ca, old_ca, cold_ny]
    assert listed(client, buyer, min_price="11", max_price="27.00") == [hot_ca, old_ca]
    page = browse(client, buyer, sort="price_asc", limit=2).json()
    assert [p["lead_id"] for p in page["leads"]] == [cold_ny, old_ca] and page["next_offset"] == 2
    page = browse(client, buyer, sort="price_asc", limit=2, offset=2).json()
    assert [p["lead_id"] for p in page["leads"]] == [hot_ca] and page["next_offset"] is None
    bad = client.get(STORE, headers=buyer["headers"],
                     params={"temperature": "lukewarm", "sort": "random", "min_price": "9", "max_price": "3"})
    reasons = {e["field"]: e["reason"] for e in problem(bad, 422)["errors"]}
    assert set(reasons) == {"temperature", "sort", "min_price"}


def test_exclusive_purchase_takes_the_lead_out_of_the_store(client, db, network):
    first, second = new_advertiser(client, network), new_advertiser(client, network)
    lead_id = stored_lead(client, network)
    response = buy(client, first, lead_id, exclusive=True)
    assert response.status_code == 201, response.text
    sale = response.json()
    assert sale["channel"] == "store" and sale["exclusive"] is True and sale["price"] == "36.00"
    assert (sale["sold_count"], sale["max_sales"], sale["sold_label"]) == (1, 1, "sold 1 of 1")
    assert sale["consent_certificate_id"] and len(sale["consent_hash"]) == 64
    assert status_of(db, lead_id) == "sold"
    assert listed(client, second) == [] and listed(client, first) == []
    assert problem(buy(client, second, lead_id, exclusive=False), 409)["title"] == "LeadAlreadySold"
    assert problem(buy(client, second, lead_id, exclusive=True), 409)["title"] == "LeadAlreadySold"
    assert sales_of(db, lead_id) == 1
    # the buyer paid the exclusive price, the affiliate's payout was booked with it
    balance = client.get("/api/v1/balance", headers=first["headers"])
    assert balance.status_code == 200 and balance.json()["balance"] == "-36.00"
    with db() as session:
        ledger_view = trial_balance(session)
    assert ledger_view.balanced
    payable = [a for a in ledger_view.accounts if a.affiliate_id == network.affiliate["id"]]
    assert [a.balance for a in payable] == [Decimal("12.50")]      # the CPL payout, booked with the sale
    # the other advertiser sees neither the purchase nor its consent record; the buyer sees both
    assert [p["sale_id"] for p in client.get("/api/v1/purchases", headers=first["headers"]).json()] == [sale["sale_id"]]
    assert client.get("/api/v1/purchases", headers=second["headers"]).json() == []
    assert client.get(f"/api/v1/purchases/{sale['sale_id']}", headers=second["headers"]).status_code == 404
    certificate = sale["consent_certificate_id"]
    assert client.get(f"/api/v1/consents/{certificate}", headers=second["headers"]).status_code == 404


def test_shared_purchases_up_to_the_verticals_most(client, db, network):
    buyers = [new_advertiser(client, network) for _ in range(4)]
    lead_id = stored_lead(client, network)
    labels = []
    for n, buyer in enumerate(buyers[:3], start=1):
        response = buy(client, buyer, lead_id, exclusive=False)
        assert response.status_code == 201, response.text
        labels.append(response.json()["sold_label"])
        if n < 3:
            assert status_of(db, lead_id) == "accepted"
            [preview] = browse(client, buyers[3]).json()["leads"]
            assert preview["times_sold"] == n and preview["exclusive_available"] is False
            assert listed(client, buyer) == []            # nobody is offered what they own
    assert labels == ["sold 1 of 3", "sold 2 of 3", "sold 3 of 3"]
    assert status_of(db, lead_id) == "sold" and listed(client, buyers[3]) == []
    assert problem(buy(client, buyers[3], lead_id, exclusive=False), 409)["title"] == "LeadAlreadySold"
    assert problem(buy(client, buyers[0], lead_id, exclusive=False), 409)["title"] == "AdvertiserCannotBuy"
    assert sales_of(db, lead_id) == 3


def test_exclusive_is_refused_once_a_shared_sale_exists(client, db, network):
    first, second = new_advertiser(client, network), new_advertiser(client, network)
    lead_id = stored_lead(client, network)
    assert buy(client, first, lead_id, exclusive=False).status_code == 201
    assert problem(buy(client, second, lead_id, exclusive=True), 409)["title"] == "LeadAlreadySold"
    assert sales_of(db, lead_id) == 1 and status_of(db, lead_id) == "accepted"


def test_a_buyer_who_cannot_pay_gets_409_and_nothing_changes(client, db, network):
    broke = new_advertiser(client, network, credit_limit="0")
    lead_id = stored_lead(client, network)
    body = problem(buy(client, broke, lead_id, exclusive=True), 409)
    assert body["title"] == "AdvertiserCannotBuy" and "balance" in body["detail"]
    assert sales_of(db, lead_id) == 0 and status_of(db, lead_id) == "accepted"
    assert listed(client, broke) == [lead_id]


def test_leads_outside_the_store_are_not_found(client, db, network):
    buyer = new_advertiser(client, network)
    rejected = stored_lead(client, network)
    set_lead(db, rejected, status="rejected")
    assert problem(buy(client, buyer, rejected, exclusive=False), 404)
    assert problem(buy(client, buyer, 999_999, exclusive=False), 404)
    affiliate = client.get(STORE, headers=network.affiliate_headers())
    assert affiliate.status_code == 403


def test_a_targeted_offers_lead_is_offered_only_to_its_advertiser(client, db, network):
    owner, other = new_advertiser(client, network, credit_limit="0"), new_advertiser(client, network)
    offer = client.post("/api/v1/offers", headers=network.admin_headers, json={
        "name": "Acme's own quotes", "vertical": "car-insurance", "kind": "targeted", "advertiser_id": owner["id"],
        "payout_model": "cpl", "payout": "10.00", "revenue": "30.00", "landing_url": "https://acme.example/q"})
    assert offer.status_code == 201, offer.text
    # the owner cannot pay, so the targeted sale at intake fails and the lead is kept
    lead_id = stored_lead(client, network, body=person_lead(offer.json()["id"]))
    assert listed(client, other) == [] and listed(client, owner) == [lead_id]
    assert problem(buy(client, other, lead_id, exclusive=False), 404)


def test_leads_past_the_shelf_life_expire_through_the_beat_task(client, db, network):
    buyer = new_advertiser(client, network)
    set_vertical(db, network.vertical["id"], shelf_life_days=10)
    fresh = stored_lead(client, network)
    stale = stored_lead(client, network)
    half_sold = stored_lead(client, network)
    set_lead(db, stale, age=timedelta(days=10, minutes=1))
    assert buy(client, buyer, half_sold, exclusive=False).status_code == 201
    set_lead(db, half_sold, age=timedelta(days=11))
    assert listed(client, new_advertiser(client, network)) == [fresh]      # hidden even before the task runs
    assert "marketplace.expire_leads" in celery_app.conf.beat_schedule["marketplace-expire-leads"]["task"]
    enqueue("marketplace.expire_leads")            # the task by name; eager in tests, so it runs here
    assert (status_of(db, fresh), status_of(db, stale), status_of(db, half_sold)) == ("accepted", "expired", "sold")
    seen = client.get(f"/api/v1/leads/{stale}", headers=network.affiliate_headers())
    assert seen.status_code == 200 and seen.json()["status"] == "expired"
    assert problem(buy(client, buyer, stale, exclusive=False), 404)
