"""`GET /api/v1/purchases`: an advertiser's own sales, newest first, paged, each with the full lead."""

from __future__ import annotations

from tests.order_support import headers, new_advertiser, person_lead, place_order, post
from tests.support import problem


def buy(client, network, advertiser, n: int) -> list[dict]:
    bodies = [person_lead(network.cpl_offer["id"], sub_ids={"sub1": "spring"}) for _ in range(n)]
    for body in bodies:
        assert post(client, network, body)["status"] == "sold"
    return bodies


def test_an_advertiser_reads_its_purchases_newest_first_with_the_full_lead(client, network):
    advertiser = new_advertiser(client, network)
    place_order(client, advertiser, price="30.00", exclusive=True)
    bodies = buy(client, network, advertiser, 3)

    answer = client.get("/api/v1/purchases", headers=headers(advertiser))
    assert answer.status_code == 200, answer.text
    purchases = answer.json()
    assert [p["lead"]["contact"]["email"] for p in purchases] == [b["contact"]["email"] for b in reversed(bodies)]
    newest = purchases[0]
    assert newest["price"] == "30.00" and newest["currency"] == "USD" and newest["exclusive"] is True
    assert newest["status"] == "sold" and newest["sold_at"] and newest["return"] is None
    assert newest["times_sold"] == 1 and newest["max_sales"] == 1  # an exclusive lead: 1 of 1
    lead = newest["lead"]
    assert lead["contact"]["first_name"] == bodies[-1]["contact"]["first_name"]
    assert lead["contact"]["phone"].startswith("+1415")
    assert lead["attributes"] == {"vehicle_year": 2019, "coverage": "full"}
    assert lead["consent"]["text"].startswith("I agree") and lead["vertical"] == "car-insurance"
    assert newest["delivery"]["status"] == "no_endpoint" and newest["delivery"]["attempts"] == 0
    assert "affiliate_id" not in newest and "sub1" not in lead  # the source stays the network's

    page = client.get("/api/v1/purchases?limit=2&offset=1", headers=headers(advertiser)).json()
    assert [p["sale_id"] for p in page] == [p["sale_id"] for p in purchases[1:3]]

    one = client.get(f"/api/v1/purchases/{newest['sale_id']}", headers=headers(advertiser))
    assert one.status_code == 200 and one.json() == newest


def test_a_shared_purchase_shows_how_many_times_the_lead_was_sold(client, network):
    buyers = [new_advertiser(client, network) for _ in range(2)]
    for buyer in buyers:
        place_order(client, buyer, price="10.00")
    buy(client, network, buyers[0], 1)
    for buyer in buyers:
        [purchase] = client.get("/api/v1/purchases", headers=headers(buyer)).json()
        assert (purchase["times_sold"], purchase["max_sales"], purchase["exclusive"]) == (2, 3, False)


def test_another_advertisers_purchase_is_not_found_and_not_listed(client, network):
    owner, other = new_advertiser(client, network), new_advertiser(client, network)
    place_order(client, owner, price="30.00", exclusive=True)
    buy(client, network, owner, 1)
    [purchase] = client.get("/api/v1/purchases", headers=headers(owner)).json()

    assert client.get("/api/v1/purchases", headers=headers(other)).json() == []
    problem(client.get(f"/api/v1/purchases/{purchase['sale_id']}", headers=headers(other)), 404)
    problem(client.get("/api/v1/purchases/999999", headers=headers(owner)), 404)
    problem(client.get("/api/v1/purchases", headers=network.affiliate_headers()), 403)
