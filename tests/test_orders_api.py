"""Orders over HTTP: an advertiser places, reads and changes their own orders; bad filters are
named field by field; nobody sees another advertiser's orders."""

from __future__ import annotations

from tests.order_support import headers, new_advertiser, place_order
from tests.support import count_rows, error_fields, problem

FULL_ORDER = {
    "vertical": "car-insurance", "name": "Bay Area full coverage", "price": "27.50", "exclusive": True,
    "filters": {"countries": ["us"], "regions": ["CA"], "postal_prefixes": ["941", "94 6"],
                "ranges": {"vehicle_year": {"min": 2015, "max": 2027}, "annual_mileage": {"max": 30000}},
                "choices": {"coverage": ["full"], "homeowner": [True]},
                "min_temperature": "warm", "max_fraud_score": 30},
    "caps": {"hourly": 5, "daily": 40, "monthly": 600, "daily_budget": "900.00", "monthly_budget": "12000.00"},
    "time_zone": "America/Los_Angeles",
    "schedule": {"days": ["mon", "tue", "wed", "thu", "friday"], "hours": [9, 10, 11, 12, 13, 14, 15, 16]},
    "delivery": {"webhook_url": "https://crm.acme.example/leads", "secret": "a-long-signing-secret-123"},
}


def test_an_advertiser_places_an_order_and_reads_it_back(client, network):
    buyer = new_advertiser(client, network)

    answer = client.post("/api/v1/orders", headers=headers(buyer), json=FULL_ORDER)

    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert order["advertiser_id"] == buyer["id"] and order["vertical"] == "car-insurance"
    assert order["price"] == "27.50" and order["currency"] == "USD" and order["exclusive"] is True
    assert order["status"] == "active" and order["time_zone"] == "America/Los_Angeles"
    assert order["filters"]["countries"] == ["US"]
    assert order["filters"]["postal_prefixes"] == ["941", "946"]
    assert order["filters"]["ranges"]["vehicle_year"] == {"min": 2015, "max": 2027}
    assert order["filters"]["choices"] == {"coverage": ["full"], "homeowner": [True]}
    assert order["caps"] == {"hourly": 5, "daily": 40, "monthly": 600, "daily_budget": "900.00",
                             "monthly_budget": "12000.00"}
    assert order["schedule"] == {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": list(range(9, 17))}
    assert order["delivery"] == {"webhook_url": "https://crm.acme.example/leads", "has_secret": True}
    assert "a-long-signing-secret-123" not in answer.text  # stored to sign deliveries, never shown

    read = client.get(f"/api/v1/orders/{order['id']}", headers=headers(buyer))
    listed = client.get("/api/v1/orders", headers=headers(buyer))
    assert read.status_code == 200 and read.json() == order
    assert listed.status_code == 200 and listed.json() == [order]


def test_a_minimal_order_buys_everything_always(client, network):
    buyer = new_advertiser(client, network)

    order = place_order(client, buyer, price="15")

    assert order["price"] == "15.00" and order["exclusive"] is False and order["schedule"] is None
    assert order["time_zone"] == "UTC" and order["caps"]["daily"] is None
    assert order["filters"] == {"countries": [], "regions": [], "postal_prefixes": [], "ranges": {}, "choices": {},
                                "min_temperature": None, "max_fraud_score": None}
    assert order["delivery"] == {"webhook_url": None, "has_secret": False}


def test_every_bad_filter_is_named_and_nothing_is_written(client, network, db):
    buyer = new_advertiser(client, network)
    body = {
        "vertical": "car-insurance", "price": "-5.00",
        "filters": {"countries": ["USA"],
                    "ranges": {"shoe_size": {"min": 1}, "vehicle_year": {"min": 2020, "max": 2010}, "coverage": {"min": 1}},
                    "choices": {"coverage": ["gold"], "vehicle_year": ["2019"]},
                    "min_temperature": "boiling", "max_fraud_score": 101},
        "caps": {"daily": -1, "daily_budget": "-10"},
        "time_zone": "Mars/Olympus_Mons",
        "schedule": {"days": ["mon", "funday"], "hours": [9, 24]},
        "delivery": {"webhook_url": "ftp://crm.example/x", "secret": "short"},
        "status": "sleeping",
    }

    answer = client.post("/api/v1/orders", headers=headers(buyer), json=body)

    errors = error_fields(answer)
    assert errors["filters.ranges.shoe_size"] == "is not a field of the car-insurance vertical"
    assert errors["filters.ranges.vehicle_year.min"] == "must not be greater than max"
    assert "integer or number field" in errors["filters.ranges.coverage"]
    assert "gold" in errors["filters.choices.coverage"]
    assert "use a range" in errors["filters.choices.vehicle_year"]
    assert "country code" in errors["filters.countries[0]"]
    assert errors["filters.min_temperature"] == "must be cold, warm or hot"
    assert errors["filters.max_fraud_score"] == "must be between 0 and 100"
    assert errors["price"] == "must not be negative"
    assert "between 0" in errors["caps.daily"] and errors["caps.daily_budget"] == "must not be negative"
    assert "IANA time zone" in errors["time_zone"]
    assert "weekday" in errors["schedule.days[1]"] and "0 to 23" in errors["schedule.hours[1]"]
    assert "schedule.days[0]" not in errors and "schedule.hours[0]" not in errors
    assert "http(s) URL" in errors["delivery.webhook_url"] and "16 to 200" in errors["delivery.secret"]
    assert errors["status"] == "must be active or paused"
    assert count_rows(db, "advertiser_order", "order_book_version") == {"advertiser_order": 0,
                                                                        "order_book_version": 0}


def test_an_unknown_vertical_or_a_field_it_lacks_is_named(client, network):
    buyer = new_advertiser(client, network)

    unknown = client.post("/api/v1/orders", headers=headers(buyer), json={"vertical": "yachts", "price": "5.00"})
    no_field = client.post("/api/v1/orders", headers=headers(buyer), json={
        "vertical": "car-insurance", "price": "5.00", "filters": {"choices": {"color": ["red"]}}})
    unknown_key = client.post("/api/v1/orders", headers=headers(buyer), json={
        "vertical": "car-insurance", "price": "5.00", "filters": {"age": {"min": 3}}})

    assert error_fields(unknown) == {"vertical": "no vertical with slug 'yachts'"}
    assert error_fields(no_field) == {"filters.choices.color": "is not a field of the car-insurance vertical"}
    assert "filters.age" in error_fields(unknown_key)


def test_a_time_zone_name_is_never_read_as_a_path(client, network):
    buyer = new_advertiser(client, network)

    answer = client.post("/api/v1/orders", headers=headers(buyer), json={
        "vertical": "car-insurance", "price": "5.00", "time_zone": "../../../etc/passwd"})

    assert "IANA time zone" in error_fields(answer)["time_zone"]


def test_an_order_in_another_currency_than_the_account_is_refused(client, network):
    euro_buyer = client.post("/api/v1/advertisers", headers=network.admin_headers, json={
        "name": "Euro Buyer", "email": "buy@euro.example", "billing_mode": "prepaid", "currency": "EUR"}).json()

    answer = client.post("/api/v1/orders", headers=headers(euro_buyer), json={"vertical": "car-insurance",
                                                                              "price": "5.00"})

    assert error_fields(answer) == {"vertical": "is priced in USD; your account is in EUR"}


def test_patch_changes_what_is_sent_and_keeps_the_rest(client, network):
    buyer = new_advertiser(client, network)
    order = place_order(client, buyer, **{k: v for k, v in FULL_ORDER.items() if k != "vertical"})

    changed = client.patch(f"/api/v1/orders/{order['id']}", headers=headers(buyer),
                           json={"price": "31.00", "status": "paused", "filters": {"countries": ["CA"]}})

    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["price"] == "31.00" and after["status"] == "paused"
    assert after["filters"]["countries"] == ["CA"] and after["filters"]["ranges"] == {}  # a section is replaced whole
    assert after["caps"] == order["caps"] and after["schedule"] == order["schedule"]
    assert after["delivery"] == order["delivery"] and after["updated_at"] > order["updated_at"]
    assert client.get(f"/api/v1/orders/{order['id']}", headers=headers(buyer)).json() == after


def test_a_bad_patch_is_refused_whole(client, network):
    buyer = new_advertiser(client, network)
    order = place_order(client, buyer)

    answer = client.patch(f"/api/v1/orders/{order['id']}", headers=headers(buyer),
                          json={"price": "40.00", "time_zone": "Nowhere/Special", "schedule": None})

    assert "IANA time zone" in error_fields(answer)["time_zone"]
    assert client.get(f"/api/v1/orders/{order['id']}", headers=headers(buyer)).json() == order
    vertical_change = client.patch(f"/api/v1/orders/{order['id']}", headers=headers(buyer),
                                   json={"vertical": "other"})
    assert "vertical" in error_fields(vertical_change)


def test_an_advertiser_never_sees_or_changes_another_advertisers_orders(client, network):
    mine, theirs = new_advertiser(client, network), new_advertiser(client, network)
    their_order = place_order(client, theirs)

    read = client.get(f"/api/v1/orders/{their_order['id']}", headers=headers(mine))
    patched = client.patch(f"/api/v1/orders/{their_order['id']}", headers=headers(mine), json={"status": "paused"})
    listed = client.get("/api/v1/orders", headers=headers(mine))

    problem(read, 404)
    problem(patched, 404)
    assert listed.json() == []
    assert client.get(f"/api/v1/orders/{their_order['id']}", headers=headers(theirs)).json()["status"] == "active"


def test_orders_are_for_advertisers_only(client, network):
    affiliate = client.post("/api/v1/orders", headers=network.affiliate_headers(),
                            json={"vertical": "car-insurance", "price": "5.00"})
    admin = client.get("/api/v1/orders", headers=network.admin_headers)
    anonymous = client.get("/api/v1/orders")

    problem(affiliate, 403)
    problem(admin, 403)
    problem(anonymous, 401)


def test_the_list_pages_and_filters_by_status(client, network):
    buyer = new_advertiser(client, network)
    ids = [place_order(client, buyer, price=f"{10 + i}.00", status="paused" if i % 2 else "active")["id"]
           for i in range(5)]

    first_page = client.get("/api/v1/orders?limit=2", headers=headers(buyer)).json()
    second_page = client.get("/api/v1/orders?limit=2&offset=2", headers=headers(buyer)).json()
    paused = client.get("/api/v1/orders?status=paused", headers=headers(buyer)).json()
    bad = client.get("/api/v1/orders?status=gone", headers=headers(buyer))

    assert [o["id"] for o in first_page + second_page] == ids[:4]
    assert [o["id"] for o in paused] == [ids[1], ids[3]]
    assert error_fields(bad) == {"status": "must be active or paused"}
