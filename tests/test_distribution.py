"""Distribution at intake, over HTTP: which orders a lead matches, exclusive against shared by
revenue, targeted offers, caps and budgets per period, balances, one person per advertiser.

What a user notices: the affiliate's answer (`sold` or `accepted`, with the payout), each
advertiser's balance (every sale is charged to it), and the sales of each lead."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import text

from leadmarket.clock import utcnow
from marketplace import distribution
from marketplace.matching import TEMPERATURE_RANK, compile_book
from marketplace.orders import postal_key
from tests.order_support import headers, new_advertiser, person_lead, place_order, post
from tests.support import created

OFFER = "cpl_offer"


def balance(client, advertiser) -> Decimal:
    answer = client.get("/api/v1/balance", headers=headers(advertiser))
    assert answer.status_code == 200, answer.text
    return Decimal(answer.json()["balance"])


def sales_of(db, lead_id: int) -> list[tuple[int, int | None, int, bool]]:
    """(advertiser, order, price in cents, exclusive) of each sale of the lead, by advertiser."""
    with db() as session:
        return [tuple(row) for row in session.execute(text(
            "SELECT advertiser_id, order_id, price_minor, exclusive FROM sale WHERE lead_id = :lead"
            " ORDER BY advertiser_id"), {"lead": lead_id})]


def sell(client, network, **overrides) -> dict:
    return post(client, network, person_lead(network.cpl_offer["id"], **overrides))


# --------------------------------------------------------------------------- filters


def test_a_lead_is_sold_to_the_order_its_geography_matches(client, network, db):
    new_york = new_advertiser(client, network)
    bay_area = new_advertiser(client, network)
    canada = new_advertiser(client, network)
    place_order(client, new_york, price="40.00", filters={"countries": ["US"], "regions": ["NY"]})
    place_order(client, bay_area, price="25.00", filters={"countries": ["US"], "postal_prefixes": ["941"]})
    place_order(client, canada, price="50.00", filters={"countries": ["CA"]})

    san_francisco = sell(client, network, contact={"region": "CA", "postal_code": "94107"})
    oakland = sell(client, network, contact={"region": "CA", "city": "Oakland", "postal_code": "94607"})
    manhattan = sell(client, network, contact={"region": "ny", "city": "New York", "postal_code": "10001"})

    assert san_francisco["status"] == "sold" and san_francisco["payout"] == "12.50"
    assert sales_of(db, san_francisco["lead_id"]) == [(bay_area["id"], 2, 2500, False)]
    assert oakland["status"] == "accepted" and oakland["payout"] == "12.50"  # kept for the lead store
    assert sales_of(db, oakland["lead_id"]) == []
    assert manhattan["status"] == "sold"  # regions compare without case
    assert sales_of(db, manhattan["lead_id"]) == [(new_york["id"], 1, 4000, False)]
    assert balance(client, canada) == 0


def test_field_ranges_and_choices_decide_the_match(client, network, db):
    newer_full = new_advertiser(client, network)
    low_mileage = new_advertiser(client, network)
    place_order(client, newer_full, price="30.00",
                filters={"ranges": {"vehicle_year": {"min": 2015}}, "choices": {"coverage": ["full"]}})
    place_order(client, low_mileage, price="20.00", filters={"ranges": {"annual_mileage": {"max": 10000}}})

    both = sell(client, network, attributes={"vehicle_year": 2019, "coverage": "full", "annual_mileage": 8000})
    old_car = sell(client, network, attributes={"vehicle_year": 2009, "coverage": "full", "annual_mileage": 8000})
    liability = sell(client, network, attributes={"vehicle_year": 2019, "coverage": "liability"})
    no_mileage = sell(client, network, attributes={"vehicle_year": 2005, "coverage": "liability"})

    assert [a for a, *_ in sales_of(db, both["lead_id"])] == [newer_full["id"], low_mileage["id"]]
    assert [a for a, *_ in sales_of(db, old_car["lead_id"])] == [low_mileage["id"]]
    assert [a for a, *_ in sales_of(db, liability["lead_id"])] == []  # no mileage given: a range needs a value
    assert no_mileage["status"] == "accepted"
    assert balance(client, newer_full) == Decimal("-30.00") and balance(client, low_mileage) == Decimal("-40.00")


def test_minimum_temperature_and_maximum_fraud_score(client, network, db):
    warm_only = new_advertiser(client, network)
    spotless = new_advertiser(client, network)
    place_order(client, warm_only, price="30.00", filters={"min_temperature": "warm"})
    place_order(client, spotless, price="20.00", filters={"max_fraud_score": 0})

    warm_clean = sell(client, network)  # consent + 42 s on the form: warm, score 0
    cold = sell(client, network, meta={"form_seconds": 8})  # consent only: cold
    scored = sell(client, network, contact={"email": f"info+{random.randrange(10**9)}@gmail.com"})  # role mailbox

    assert {a for a, *_ in sales_of(db, warm_clean["lead_id"])} == {warm_only["id"], spotless["id"]}
    assert [a for a, *_ in sales_of(db, cold["lead_id"])] == [spotless["id"]]
    assert [a for a, *_ in sales_of(db, scored["lead_id"])] == [warm_only["id"]]
    leads = {lead["lead_id"]: client.get(f"/api/v1/leads/{lead['lead_id']}", headers=network.admin_headers).json()
             for lead in (cold, scored)}
    assert leads[cold["lead_id"]]["temperature"] == "cold" and leads[scored["lead_id"]]["fraud_score"] > 0


def test_an_order_buys_only_inside_its_schedule_in_its_time_zone(client, network, db):
    zone = "Asia/Tokyo"
    hour = datetime.now(ZoneInfo(zone)).hour
    now_and_next = [hour, (hour + 1) % 24]  # the next hour too, should the clock turn during the test
    closed_now = new_advertiser(client, network)
    open_now = new_advertiser(client, network)
    place_order(client, closed_now, price="50.00", time_zone=zone,
                schedule={"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                          "hours": [h for h in range(24) if h not in now_and_next]})
    place_order(client, open_now, price="10.00", time_zone=zone,
                schedule={"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "hours": now_and_next})

    lead = sell(client, network)

    assert sales_of(db, lead["lead_id"]) == [(open_now["id"], 2, 1000, False)]
    assert balance(client, closed_now) == 0


def test_a_paused_or_changed_order_is_matched_as_it_is_now(client, network, db):
    buyer = new_advertiser(client, network)
    order = place_order(client, buyer, price="20.00")
    assert sell(client, network)["status"] == "sold"

    client.patch(f"/api/v1/orders/{order['id']}", headers=headers(buyer), json={"status": "paused"})
    paused = sell(client, network)
    client.patch(f"/api/v1/orders/{order['id']}", headers=headers(buyer),
                 json={"status": "active", "filters": {"countries": ["GB"]}})
    elsewhere = sell(client, network)
    client.patch(f"/api/v1/orders/{order['id']}", headers=headers(buyer), json={"filters": {}, "price": "22.00"})
    again = sell(client, network)

    assert paused["status"] == "accepted" and elsewhere["status"] == "accepted"
    assert again["status"] == "sold" and sales_of(db, again["lead_id"])[0][2] == 2200
    assert balance(client, buyer) == Decimal("-42.00")


# --------------------------------------------------------------------------- exclusive or shared


def test_shared_sales_win_when_they_earn_more_than_the_exclusive_one(client, network, db):
    exclusive = new_advertiser(client, network)
    shared = [new_advertiser(client, network) for _ in range(4)]
    place_order(client, exclusive, price="55.00", exclusive=True)
    for buyer, price in zip(shared, ("20.00", "19.00", "18.00", "17.00"), strict=True):
        place_order(client, buyer, price=price)

    lead = sell(client, network)

    # 20 + 19 + 18 = 57 > 55; the vertical allows 3 shared sales, so the fourth buyer gets none
    assert lead["status"] == "sold" and lead["payout"] == "12.50"
    assert sales_of(db, lead["lead_id"]) == [(shared[0]["id"], 2, 2000, False), (shared[1]["id"], 3, 1900, False),
                                             (shared[2]["id"], 4, 1800, False)]
    assert [balance(client, b) for b in [exclusive, *shared]] == [0, Decimal("-20.00"), Decimal("-19.00"),
                                                                   Decimal("-18.00"), 0]


def test_the_exclusive_sale_wins_when_it_earns_more(client, network, db):
    exclusive = new_advertiser(client, network)
    shared = [new_advertiser(client, network) for _ in range(3)]
    place_order(client, exclusive, price="60.00", exclusive=True)
    for buyer in shared:
        place_order(client, buyer, price="20.00")

    tie = sell(client, network)  # 60 against 3 x 20: a tie goes to the exclusive sale (one call for the person)
    client.patch("/api/v1/orders/1", headers=headers(exclusive), json={"price": "59.99"})
    cheaper = sell(client, network)

    assert sales_of(db, tie["lead_id"]) == [(exclusive["id"], 1, 6000, True)]
    assert [exclusive_flag for *_, exclusive_flag in sales_of(db, cheaper["lead_id"])] == [False, False, False]
    with db() as session:
        counted = session.execute(text("SELECT lead_id, sales, max_sales, exclusive FROM lead_sale_count"
                                       " ORDER BY lead_id")).all()
    assert [tuple(c) for c in counted] == [(tie["lead_id"], 1, 1, True), (cheaper["lead_id"], 3, 3, False)]


def test_one_advertiser_buys_a_lead_once_however_many_orders_match(client, network, db):
    greedy = new_advertiser(client, network)
    other = new_advertiser(client, network)
    for price in ("30.00", "29.00", "28.00"):
        place_order(client, greedy, price=price)
    place_order(client, other, price="10.00")

    lead = sell(client, network)

    assert sales_of(db, lead["lead_id"]) == [(greedy["id"], 1, 3000, False), (other["id"], 4, 1000, False)]


def test_a_cpa_offer_sells_the_lead_but_pays_the_affiliate_on_conversion(client, network, db):
    buyer = new_advertiser(client, network)
    place_order(client, buyer, price="25.00")

    lead = post(client, network, person_lead(network.cpa_offer["id"]))

    assert lead["status"] == "sold" and lead["payout"] == "0.00"
    assert balance(client, buyer) == Decimal("-25.00")


# --------------------------------------------------------------------------- targeted offers


def targeted_offer(client, network, advertiser, revenue="35.00", payout_model="cpl") -> dict:
    return created(client.post("/api/v1/offers", headers=network.admin_headers, json={
        "name": "Acme direct quotes", "vertical": "car-insurance", "kind": "targeted",
        "advertiser_id": advertiser["id"], "payout_model": payout_model, "payout": "15.00", "revenue": revenue,
        "landing_url": "https://acme.example/quote?cid={click_id}"}))


def test_a_targeted_offer_sells_only_to_its_advertiser_at_the_offer_revenue(client, network, db):
    owner = new_advertiser(client, network)
    richer = new_advertiser(client, network)
    place_order(client, richer, price="90.00", exclusive=True)
    offer = targeted_offer(client, network, owner)

    lead = post(client, network, person_lead(offer["id"]))

    assert lead["status"] == "sold" and lead["payout"] == "15.00"
    assert sales_of(db, lead["lead_id"]) == [(owner["id"], None, 3500, True)]
    assert balance(client, owner) == Decimal("-35.00") and balance(client, richer) == 0


def test_a_targeted_cpa_lead_goes_to_its_advertiser_who_pays_per_conversion(client, network, db):
    owner = new_advertiser(client, network, credit_limit="0.00")
    offer = targeted_offer(client, network, owner, revenue="60.00", payout_model="cpa")

    lead = post(client, network, person_lead(offer["id"]))

    assert lead["status"] == "sold" and lead["payout"] == "0.00"
    assert sales_of(db, lead["lead_id"]) == [(owner["id"], None, 0, True)]
    assert balance(client, owner) == 0  # the 60.00 is charged when the conversion is reported


def test_a_targeted_lead_the_advertiser_cannot_pay_for_is_kept(client, network, db):
    broke = new_advertiser(client, network, credit_limit="50.00")
    offer = targeted_offer(client, network, broke, revenue="35.00")

    first = post(client, network, person_lead(offer["id"]))
    second = post(client, network, person_lead(offer["id"]))  # 70 would pass the 50 credit limit

    assert first["status"] == "sold" and second["status"] == "accepted" and second["payout"] == "15.00"
    assert balance(client, broke) == Decimal("-35.00")
    credited = client.post(f"/api/v1/advertisers/{broke['id']}/credits", headers=network.admin_headers,
                           json={"amount": "100.00", "note": "wire transfer"})
    assert credited.status_code == 201, credited.text
    assert post(client, network, person_lead(offer["id"]))["status"] == "sold"
    assert balance(client, broke) == Decimal("30.00")


# --------------------------------------------------------------------------- caps, budgets, balance


def test_a_spent_cap_or_budget_passes_the_lead_to_the_next_order(client, network, db):
    capped = new_advertiser(client, network)
    budgeted = new_advertiser(client, network)
    fallback = new_advertiser(client, network)
    place_order(client, capped, price="40.00", exclusive=True, caps={"daily": 2}, time_zone="America/Chicago")
    place_order(client, budgeted, price="30.00", exclusive=True, caps={"monthly_budget": "60.00"})
    place_order(client, fallback, price="10.00", exclusive=True)

    buyers = [sales_of(db, sell(client, network)["lead_id"])[0][0] for _ in range(6)]

    assert buyers == [capped["id"]] * 2 + [budgeted["id"]] * 2 + [fallback["id"]] * 2
    assert [balance(client, b) for b in (capped, budgeted, fallback)] == [Decimal("-80.00"), Decimal("-60.00"),
                                                                           Decimal("-20.00")]
    with db() as session:
        usage = session.execute(text("SELECT order_id, period, used, spent_minor FROM order_usage ORDER BY 1, 2")).all()
    assert [tuple(u) for u in usage] == [(1, "day", 2, 8000), (2, "month", 2, 6000)]


def test_an_hourly_cap_counts_in_the_current_hour_only(client, network, db, monkeypatch):
    buyer = new_advertiser(client, network)
    place_order(client, buyer, price="20.00", caps={"hourly": 1})

    first, second = sell(client, network), sell(client, network)
    an_hour_later = utcnow() + timedelta(minutes=61)
    monkeypatch.setattr(distribution, "utcnow", lambda: an_hour_later)  # the next lead comes in the next hour
    third = sell(client, network)

    assert [first["status"], second["status"], third["status"]] == ["sold", "accepted", "sold"]
    with db() as session:
        assert session.execute(text("SELECT count(*), sum(used) FROM order_usage")).one() == (2, 2)


def test_a_prepaid_advertiser_buys_down_to_minus_the_credit_limit_and_no_further(client, network, db):
    short = new_advertiser(client, network, credit_limit="45.00")
    backup = new_advertiser(client, network)
    place_order(client, short, price="20.00", exclusive=True)
    place_order(client, backup, price="5.00", exclusive=True)

    buyers = [sales_of(db, sell(client, network)["lead_id"])[0][0] for _ in range(4)]

    assert buyers == [short["id"], short["id"], backup["id"], backup["id"]]
    assert balance(client, short) == Decimal("-40.00")


def test_an_invoiced_advertiser_has_no_balance_limit(client, network, db):
    invoiced = new_advertiser(client, network, billing_mode="invoice", credit_limit="0.00")
    place_order(client, invoiced, price="20.00")

    answers = [sell(client, network)["status"] for _ in range(3)]

    assert answers == ["sold"] * 3 and balance(client, invoiced) == Decimal("-60.00")


# --------------------------------------------------------------------------- one person per advertiser


def test_a_person_is_not_sold_twice_to_one_advertiser_within_the_window(client, network, db):
    loyal = new_advertiser(client, network)
    other = new_advertiser(client, network)
    place_order(client, loyal, price="30.00", exclusive=True)
    place_order(client, other, price="10.00", exclusive=True)
    body = person_lead(network.cpl_offer["id"])
    first = post(client, network, body)
    # The lead is 31 days old, so intake's dedupe lets the person in again; but loyal's purchase
    # is recorded 5 days ago (as when a stored lead is bought later): within the 30-day window.
    age(db, days=31, sold_days=5)
    again = post(client, network, {**body, "meta": {**body["meta"], "ip": "192.0.2.250"}})
    age(db, days=31, sold_days=31)  # a month on, loyal may buy this person again
    later = post(client, network, {**body, "meta": {**body["meta"], "ip": "192.0.2.251"}})

    assert [first["status"], again["status"], later["status"]] == ["sold", "sold", "sold"]
    assert sales_of(db, first["lead_id"])[0][0] == loyal["id"]
    assert sales_of(db, again["lead_id"])[0][0] == other["id"]
    assert sales_of(db, later["lead_id"])[0][0] == loyal["id"]


def age(db, *, days: int, sold_days: int) -> None:
    with db() as session:
        session.execute(text("UPDATE lead SET created_at = created_at - make_interval(days => :d)"), {"d": days})
        session.execute(text("UPDATE dedupe_claim SET claimed_at = claimed_at - make_interval(days => :d)"),
                        {"d": days})
        session.execute(text("UPDATE person_sale SET sold_at = sold_at - make_interval(days => :d)"),
                        {"d": sold_days})
        session.commit()


# --------------------------------------------------------------------------- the compiled order book


def test_the_compiled_book_matches_exactly_what_the_filters_say():
    """The bitset book against a plain reading of every filter, over random orders and leads."""
    rng = random.Random(11)
    zones = ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Adelaide"]
    orders = []
    for i in range(400):
        orders.append(SimpleNamespace(
            id=i + 1, advertiser_id=rng.randint(1, 40), price_minor=rng.choice([500, 1000, 1500, 2000]),
            exclusive=rng.random() < 0.3, time_zone=rng.choice(zones),
            countries=rng.choice([[], ["US"], ["US", "CA"], ["GB"]]),
            regions=rng.choice([[], ["CA"], ["NY", "ca"], ["TX"]]),
            postal_prefixes=rng.choice([[], ["9"], ["941", "100"], ["94107"], ["SW1"]]),
            ranges=rng.choice([{}, {"year": {"min": 2010}}, {"year": {"max": 2015}},
                               {"year": {"min": 2012, "max": 2018}}, {"miles": {"max": 10000.5}}]),
            choices=rng.choice([{}, {"cover": ["full"]}, {"cover": ["full", "basic"]}, {"owner": [True]}]),
            min_temperature=rng.choice([None, "cold", "warm", "hot"]), max_fraud_score=rng.choice([None, 0, 20, 50]),
            schedule_slots=rng.choice([None, sorted(rng.sample(range(168), rng.randint(1, 168))),  # any shape
                                       sorted(d * 24 + h for d in rng.sample(range(7), rng.randint(1, 7))
                                              for h in rng.sample(range(24), rng.randint(1, 24)))])))
    book = compile_book(1, None, orders)
    start = datetime(2026, 3, 8, tzinfo=UTC)  # a DST change in New York
    for _ in range(600):
        lead = SimpleNamespace(
            country=rng.choice(["US", "CA", "GB"]), region=rng.choice([None, "CA", "NY", "Tx"]),
            postal_code=rng.choice([None, "94107", "10001", "SW1A 1AA", "90210"]),
            temperature=rng.choice([None, "cold", "warm", "hot"]), fraud_score=rng.choice([None, 0, 10, 20, 60]),
            attributes={k: v for k, v in {"year": rng.choice([None, 2008, 2012, 2015, 2020]),
                                          "miles": rng.choice([None, 9000, 10000.5, 12000]),
                                          "cover": rng.choice([None, "full", "basic"]),
                                          "owner": rng.choice([None, True, False])}.items() if v is not None})
        now = start + timedelta(minutes=rng.randint(0, 60 * 24 * 14))
        expected = sorted((o for o in orders if plainly_matches(o, lead, now)), key=lambda o: (-o.price_minor, o.id))
        assert [t.id for t in book.match(lead, now)] == [o.id for o in expected]


def plainly_matches(order, lead, now) -> bool:
    if order.countries and lead.country not in order.countries:
        return False
    if order.regions and (lead.region or "").casefold() not in {r.casefold() for r in order.regions}:
        return False
    if order.postal_prefixes and not (lead.postal_code and any(
            postal_key(lead.postal_code).startswith(p) for p in order.postal_prefixes)):
        return False
    if TEMPERATURE_RANK[lead.temperature or "cold"] < TEMPERATURE_RANK[order.min_temperature or "cold"]:
        return False
    if order.max_fraud_score is not None and (lead.fraud_score or 0) > order.max_fraud_score:
        return False
    for name, bounds in order.ranges.items():
        value = lead.attributes.get(name)
        if value is None or value < bounds.get("min", float("-inf")) or value > bounds.get("max", float("inf")):
            return False
    for name, values in order.choices.items():
        if lead.attributes.get(name) not in values:
            return False
    if order.schedule_slots is not None:
        local = now.astimezone(ZoneInfo(order.time_zone))
        if local.weekday() * 24 + local.hour not in order.schedule_slots:
            return False
    return True
