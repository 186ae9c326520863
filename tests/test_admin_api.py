"""The admin API that bootstraps a network: verticals, advertisers, affiliates, offers — happy paths,
every 422 with its field, 409 on a taken slug or e-mail, and nothing written when refused."""

from __future__ import annotations

import pytest

from tests.support import CAR_INSURANCE_FIELDS, admin_key, count_rows, created, error_fields, lead_body, problem

ACCOUNT_TABLES = ("vertical", "advertiser", "affiliate", "offer", "api_key")


@pytest.fixture
def admin(db):
    return {"X-API-Key": admin_key(db)}


def vertical_body(**overrides):
    return {"slug": "car-insurance", "name": "Car insurance", "fields": CAR_INSURANCE_FIELDS,
            "dedupe_window_days": 30, "max_shared_sales": 3, "base_price": "18.00", **overrides}


def offer_body(**overrides):
    return {"name": "Car insurance quotes", "vertical": "car-insurance", "kind": "marketplace", "payout_model": "cpl",
            "payout": "12.50", "revenue": "20.00", "landing_url": "https://quotes.example/car?cid={click_id}",
            **overrides}


def test_create_vertical(client, admin):
    vertical = created(client.post("/api/v1/verticals", headers=admin, json=vertical_body()))

    assert vertical["slug"] == "car-insurance" and vertical["name"] == "Car insurance"
    assert vertical["base_price"] == "18.00" and vertical["currency"] == "USD"
    assert (vertical["dedupe_window_days"], vertical["max_shared_sales"]) == (30, 3)
    assert [f["name"] for f in vertical["fields"]] == [f["name"] for f in CAR_INSURANCE_FIELDS]
    assert vertical["fields"][1] == {"name": "coverage", "type": "choice", "required": True,
                                     "choices": ["liability", "full"]}
    listed = client.get("/api/v1/verticals", headers=admin)
    assert listed.status_code == 200 and [v["slug"] for v in listed.json()] == ["car-insurance"]


def test_vertical_in_another_currency(client, admin):
    vertical = created(client.post("/api/v1/verticals", headers=admin,
                                   json=vertical_body(slug="viajes", currency="eur", base_price="4.5")))
    assert (vertical["currency"], vertical["base_price"]) == ("EUR", "4.50")


VERTICAL_REFUSALS = [
    ({"slug": "Car Insurance"}, {"slug"}),
    ({"slug": ""}, {"slug"}),
    ({"name": "  "}, {"name"}),
    ({"base_price": "1.005"}, {"base_price"}),
    ({"base_price": 1.005}, {"base_price"}),
    ({"base_price": "-1.00"}, {"base_price"}),
    ({"base_price": "NaN"}, {"base_price"}),
    ({"currency": "XYZ"}, {"currency"}),
    ({"dedupe_window_days": -1}, {"dedupe_window_days"}),
    ({"max_shared_sales": 0}, {"max_shared_sales"}),
    ({"fields": [{"name": "age", "type": "integer"}, {"name": "age", "type": "string"}]}, {"fields[1].name"}),
    ({"fields": [{"name": "Age", "type": "integer"}]}, {"fields[0].name"}),
    ({"fields": [{"name": "age", "type": "float"}]}, {"fields[0].type"}),
    ({"fields": [{"name": "plan", "type": "choice"}]}, {"fields[0].choices"}),
    ({"fields": [{"name": "plan", "type": "choice", "choices": ["a", "a"]}]}, {"fields[0].choices"}),
    ({"fields": [{"name": "plan", "type": "choice", "choices": ["a", ""]}]}, {"fields[0].choices"}),
    ({"fields": [{"name": "x" * 64, "type": "string"}]}, {"fields[0].name"}),
    ({"fields": [{"name": "age", "type": "integer", "min": 65, "max": 18}]}, {"fields[0].min"}),
    ({"fields": [{"name": "ok", "type": "boolean", "min": 1}]}, {"fields[0].min"}),
]


def test_vertical_refusals_name_the_field(client, admin, db):
    wrong = []
    for overrides, expected in VERTICAL_REFUSALS:
        answer = client.post("/api/v1/verticals", headers=admin, json=vertical_body(**overrides))
        if set(error_fields(answer)) != expected:
            wrong.append((overrides, answer.json()))

    assert wrong == []
    assert count_rows(db, "vertical")["vertical"] == 0


def test_vertical_refusal_lists_every_bad_field(client, admin):
    answer = client.post("/api/v1/verticals", headers=admin, json=vertical_body(
        slug="Bad Slug", base_price="1.005", max_shared_sales=99,
        fields=[{"name": "x", "type": "choice"}, {"name": "x", "type": "integer", "min": 5, "max": 1}]))

    fields = error_fields(answer)
    assert set(fields) == {"slug", "base_price", "max_shared_sales", "fields[0].choices", "fields[1].name",
                           "fields[1].min"}
    assert fields["base_price"] == "has more than 2 decimal places for USD"
    assert fields["fields[1].name"] == "duplicates field 'x'"
    assert fields["fields[1].min"] == "must not be greater than max"


def test_duplicate_vertical_slug_is_409(client, admin, db):
    created(client.post("/api/v1/verticals", headers=admin, json=vertical_body()))

    answer = client.post("/api/v1/verticals", headers=admin, json=vertical_body(name="Other"))

    assert "car-insurance" in problem(answer, 409)["detail"]
    assert count_rows(db, "vertical")["vertical"] == 1


def test_create_affiliate_shows_its_key_once_and_the_key_works(client, admin, db):
    affiliate = created(client.post("/api/v1/affiliates", headers=admin,
                                    json={"name": "  Bright Traffic ", "email": "Ops@BrightTraffic.example"}))

    assert affiliate["name"] == "Bright Traffic" and affiliate["email"] == "ops@brighttraffic.example"
    assert affiliate["status"] == "active" and affiliate["api_key"].startswith("lmk_")
    offers = client.get("/api/v1/offers", headers={"X-API-Key": affiliate["api_key"]})
    assert offers.status_code == 200
    listed = client.get("/api/v1/affiliates", headers=admin).json()
    assert [a["id"] for a in listed] == [affiliate["id"]] and "api_key" not in listed[0]


def test_create_advertiser(client, admin):
    advertiser = created(client.post("/api/v1/advertisers", headers=admin, json={
        "name": "Acme Insurance", "email": "Leads@Acme-Insurance.example", "billing_mode": "invoice",
        "credit_limit": "2500"}))

    assert advertiser["email"] == "leads@acme-insurance.example" and advertiser["billing_mode"] == "invoice"
    assert advertiser["credit_limit"] == "2500.00" and advertiser["currency"] == "USD"
    assert advertiser["api_key"].startswith("lmk_")
    listed = client.get("/api/v1/advertisers", headers=admin).json()
    assert [a["id"] for a in listed] == [advertiser["id"]] and "api_key" not in listed[0]


ACCOUNT_REFUSALS = [
    ("/api/v1/affiliates", {"name": "", "email": "nobody"}, {"name", "email"}),
    ("/api/v1/advertisers", {"name": "A", "email": "a@example.com", "billing_mode": "cash"}, {"billing_mode"}),
    ("/api/v1/advertisers", {"name": "A", "email": "a@example.com", "credit_limit": "0.001"}, {"credit_limit"}),
    ("/api/v1/advertisers", {"name": "A", "email": "a@example.com", "credit_limit": "-5"}, {"credit_limit"}),
    ("/api/v1/advertisers", {"name": "x" * 201, "email": "a@", "currency": "ABC"}, {"name", "email", "currency"}),
]


def test_account_refusals_name_the_field(client, admin, db):
    wrong = []
    for path, body, expected in ACCOUNT_REFUSALS:
        answer = client.post(path, headers=admin, json=body)
        if set(error_fields(answer)) != expected:
            wrong.append((path, body, answer.json()))

    assert wrong == []
    assert count_rows(db, "advertiser", "affiliate", "api_key") == {"advertiser": 0, "affiliate": 0, "api_key": 1}


@pytest.mark.parametrize("path", ["/api/v1/affiliates", "/api/v1/advertisers"])
def test_taken_email_is_409_whatever_its_case(client, admin, db, path):
    created(client.post(path, headers=admin, json={"name": "First", "email": "team@example.com"}))

    answer = client.post(path, headers=admin, json={"name": "Second", "email": "TEAM@example.com"})

    assert "e-mail" in problem(answer, 409)["detail"] and "team@example.com" not in answer.text
    assert count_rows(db, "api_key")["api_key"] == 2  # admin + the first account's key; no orphan key


def test_create_offers(client, admin, db):
    created(client.post("/api/v1/verticals", headers=admin, json=vertical_body()))
    advertiser = created(client.post("/api/v1/advertisers", headers=admin,
                                     json={"name": "Acme", "email": "buy@acme.example"}))

    cpl = created(client.post("/api/v1/offers", headers=admin, json=offer_body()))
    cpa = created(client.post("/api/v1/offers", headers=admin, json=offer_body(
        name="Policies", payout_model="cpa", payout="40", revenue="60.00")))
    targeted = created(client.post("/api/v1/offers", headers=admin, json=offer_body(
        name="Acme only", kind="targeted", advertiser_id=advertiser["id"], payout="9.99", revenue="15.00")))

    assert (cpl["kind"], cpl["payout_model"], cpl["payout"], cpl["revenue"]) == ("marketplace", "cpl", "12.50", "20.00")
    assert (cpa["payout_model"], cpa["payout"]) == ("cpa", "40.00")
    assert (targeted["kind"], targeted["advertiser_id"], targeted["payout"]) == ("targeted", advertiser["id"], "9.99")
    assert cpl["vertical"] == "car-insurance" and cpl["currency"] == "USD" and cpl["status"] == "active"
    assert cpl["landing_url"] == "https://quotes.example/car?cid={click_id}"
    assert [o["id"] for o in client.get("/api/v1/offers", headers=admin).json()] == [
        cpl["id"], cpa["id"], targeted["id"]]


OFFER_REFUSALS = [
    ({"kind": "targeted"}, {"advertiser_id"}),
    ({"kind": "targeted", "advertiser_id": 999}, {"advertiser_id"}),
    ({"advertiser_id": 1}, {"advertiser_id"}),
    ({"payout": "25.00", "revenue": "20.00"}, {"payout"}),
    ({"payout": "1.005"}, {"payout"}),
    ({"payout": "-1"}, {"payout"}),
    ({"landing_url": "not a url"}, {"landing_url"}),
    ({"landing_url": "javascript:alert(1)"}, {"landing_url"}),
    ({"landing_url": "ftp://files.example/x"}, {"landing_url"}),
    ({"vertical": "crypto"}, {"vertical"}),
    ({"kind": "exclusive"}, {"kind"}),
    ({"payout_model": "cps"}, {"payout_model"}),
    ({"payout_model": "cpa", "revenue": None}, {"revenue"}),
    ({"name": " "}, {"name"}),
]


def test_offer_refusals_name_the_field(client, admin, db):
    created(client.post("/api/v1/verticals", headers=admin, json=vertical_body()))
    wrong = []
    for overrides, expected in OFFER_REFUSALS:
        answer = client.post("/api/v1/offers", headers=admin, json=offer_body(**overrides))
        if set(error_fields(answer)) != expected:
            wrong.append((overrides, answer.json()))

    assert wrong == []
    assert count_rows(db, "offer")["offer"] == 0


def test_offer_for_a_new_vertical_takes_leads(client, admin, db):
    """The admin API alone is enough to open a market and take a lead."""
    created(client.post("/api/v1/verticals", headers=admin, json=vertical_body()))
    offer = created(client.post("/api/v1/offers", headers=admin, json=offer_body(payout="3.10")))
    affiliate = created(client.post("/api/v1/affiliates", headers=admin, json={"name": "P", "email": "p@x.example"}))

    answer = client.post("/api/v1/leads", headers={"X-API-Key": affiliate["api_key"]}, json=lead_body(offer["id"]))

    assert answer.status_code == 201 and answer.json()["payout"] == "3.10"


def test_unknown_fields_in_admin_bodies_are_refused(client, admin, db):
    answer = client.post("/api/v1/affiliates", headers=admin,
                         json={"name": "A", "email": "a@x.example", "role": "admin"})

    assert "role" in error_fields(answer)
    assert count_rows(db, "affiliate")["affiliate"] == 0
