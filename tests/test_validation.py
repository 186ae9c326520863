"""Lead validation (marketplace/validation.py, marketplace/fields.py): one 422 names every bad field,
nothing is written, and the corrected lead is then accepted."""

from __future__ import annotations

import pytest

from tests.support import count_rows, error_fields, lead_body, make_offer, make_vertical, post_lead, problem

WRITTEN = ("lead", "dedupe_claim", "idempotency_record")

ALL_TYPES = [
    {"name": "loan_amount", "type": "number", "required": True, "min": 500, "max": 50000},
    {"name": "term_months", "type": "integer", "min": 6, "max": 84},
    {"name": "purpose", "type": "choice", "required": True, "choices": ["car", "home", "debt"]},
    {"name": "employed", "type": "boolean", "required": True},
    {"name": "start_date", "type": "date"},
    {"name": "employer", "type": "string", "min": 2, "max": 40},
    {"name": "channel", "type": "string", "choices": ["web", "phone"]},
    {"name": "notes", "type": "string"},
]


@pytest.fixture
def loans(client, network):
    """A loans vertical using every field type, and a CPL offer on it."""
    make_vertical(client, network.admin_headers, "loans", ALL_TYPES)
    return make_offer(client, network.admin_headers, "loans", payout="7.25", revenue="11.00")


def loan_body(offer_id, **attributes):
    values = {"loan_amount": "2500.50", "purpose": "car", "employed": True, **attributes}
    body = lead_body(offer_id)
    body["attributes"] = {k: v for k, v in values.items() if v is not ...}
    return body


def test_one_answer_names_every_bad_field_and_nothing_is_written(client, network, db):
    body = lead_body(network.cpl_offer["id"], click_id="x" * 65,
                     sub_ids={"sub1": "ok", "x": "not a sub-id key", "sub2": "y" * 256},
                     contact={"first_name": "   ", "email": "maria@@example", "phone": "415 555 2671", "country": "GB",
                              "postal_code": "94107!", "date_of_birth": "2999-01-01", "profile_url": "ftp://x"},
                     attributes={"vehicle_year": 1900, "coverage": "comprehensive", "homeowner": "yes",
                                 "annual_mileage": 12.5, "current_insurer": "z" * 61, "favourite_colour": "red"},
                     consent={"text": "  ", "given_at": "2026-11-24T10:00:00", "ip": "999.1.1.1",
                              "page_url": "javascript:alert(1)"},
                     meta={"ip": "localhost", "form_seconds": -1, "user_agent": "u" * 1001})
    del body["contact"]["last_name"]

    answer = post_lead(client, network.affiliate["api_key"], body)

    fields = error_fields(answer)
    assert set(fields) == {
        "click_id", "sub_ids.x", "sub_ids.sub2",
        "contact.first_name", "contact.last_name", "contact.email", "contact.phone", "contact.postal_code",
        "contact.date_of_birth", "contact.profile_url",
        "attributes.vehicle_year", "attributes.coverage", "attributes.homeowner", "attributes.annual_mileage",
        "attributes.current_insurer", "attributes.favourite_colour",
        "consent.text", "consent.given_at", "consent.ip", "consent.page_url",
        "meta.ip", "meta.form_seconds", "meta.user_agent",
    }
    assert fields["contact.phone"] == "is not a valid phone number for GB"
    assert fields["contact.last_name"] == "is required"
    assert fields["attributes.vehicle_year"] == "must be at least 1980"
    assert fields["attributes.coverage"] == "must be one of liability, full"
    assert fields["attributes.homeowner"] == "must be true or false"
    assert fields["attributes.annual_mileage"] == "must be a whole number"
    assert fields["attributes.current_insurer"] == "must be at most 60 characters"
    assert "not a field of the car-insurance vertical" in fields["attributes.favourite_colour"]
    assert "time zone" in fields["consent.given_at"]
    assert fields["contact.date_of_birth"] == "must not be in the future"
    assert fields["sub_ids.x"] == "sub-id keys are sub1 to sub5"
    assert "IPv4 or IPv6" in fields["meta.ip"] and "IPv4 or IPv6" in fields["consent.ip"]
    # no contact data is echoed back in the reasons
    assert "maria@@example" not in answer.text and "2671" not in answer.text
    assert count_rows(db, *WRITTEN) == dict.fromkeys(WRITTEN, 0)


def test_corrected_lead_then_posts_as_accepted_not_duplicate(client, network, db):
    good = lead_body(network.cpl_offer["id"], contact={"phone": "(415) 263-0177"})
    bad = lead_body(network.cpl_offer["id"], contact={**good["contact"], "country": "GB"},
                    attributes={"vehicle_year": 2030}, meta={"ip": "nope"})

    refused = post_lead(client, network.affiliate["api_key"], bad, idempotency_key="lead-42")
    assert set(error_fields(refused)) == {"contact.phone", "attributes.vehicle_year", "meta.ip"}
    assert count_rows(db, *WRITTEN) == dict.fromkeys(WRITTEN, 0)

    answer = post_lead(client, network.affiliate["api_key"], good, idempotency_key="lead-42")
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "accepted" and answer.json()["reason"] is None
    assert count_rows(db, "lead")["lead"] == 1


CONTACT_RULES = [
    ({"phone": "415 555 2671", "country": "GB"}, "contact.phone", "is not a valid phone number for GB"),
    ({"phone": "+1 123 456 7890"}, "contact.phone", "is not a valid phone number"),
    ({"phone": "call me maybe"}, "contact.phone", "is not a phone number"),
    ({"email": "not-an-address"}, "contact.email", "is not a valid e-mail address"),
    ({"country": "XX"}, "contact.country", "ISO 3166-1"),
    ({"country": None}, "contact.country", "is required"),
    ({"first_name": "A\u0007b"}, "contact.first_name", "control characters"),
    ({"last_name": "x" * 101}, "contact.last_name", "at most 100"),
    ({"city": "c" * 101}, "contact.city", "at most 100"),
    ({"region": "r" * 101}, "contact.region", "at most 100"),
    ({"address": "a" * 301}, "contact.address", "at most 300"),
    ({"postal_code": "9410 7 ()"}, "contact.postal_code", "letters, digits"),
    ({"profile_url": "facebook.com/maria"}, "contact.profile_url", "http(s) URL"),
    ({"first_name": ""}, "contact.first_name", "must not be empty"),
    ({"date_of_birth": "31/05/1990"}, "contact.date_of_birth", "must be a date"),
    ({"date_of_birth": "1850-01-01"}, "contact.date_of_birth", "120 years"),
    ({"email": None, "phone": None}, "contact.phone", "give a phone, an e-mail or a profile_url"),
]


def test_contact_rules(client, network, db):
    wrong = []
    for contact, field, reason in CONTACT_RULES:
        answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"], contact=contact))
        fields = error_fields(answer)
        if set(fields) != {field} or reason not in fields[field]:
            wrong.append((contact, fields))

    assert wrong == []
    assert count_rows(db, "lead")["lead"] == 0


def test_missing_sections_are_named(client, network):
    body = lead_body(network.cpl_offer["id"])
    for section in ("contact", "meta"):
        del body[section]

    fields = error_fields(post_lead(client, network.affiliate["api_key"], body))

    assert {"contact", "meta.ip"} <= set(fields)


def test_consent_is_optional_but_checked_when_given(client, network):
    body = lead_body(network.cpl_offer["id"])
    del body["consent"]
    assert post_lead(client, network.affiliate["api_key"], body).status_code == 201  # screening may still weigh it

    fields = error_fields(post_lead(client, network.affiliate["api_key"],
                                    lead_body(network.cpl_offer["id"], consent={"given_at": None})))
    assert fields == {"consent.given_at": "is required"}


def test_required_attributes(client, network, loans, db):
    answer = post_lead(client, network.affiliate["api_key"],
                       loan_body(loans["id"], loan_amount=..., purpose="", employed=None))

    assert error_fields(answer) == {"attributes.loan_amount": "is required", "attributes.purpose": "is required",
                                    "attributes.employed": "is required"}
    assert count_rows(db, "lead")["lead"] == 0


ATTRIBUTE_RULES = [
    ({"loan_amount": 499.99}, {"attributes.loan_amount": "must be at least 500"}),
    ({"loan_amount": "50000.01"}, {"attributes.loan_amount": "must be at most 50000"}),
    ({"loan_amount": "lots"}, {"attributes.loan_amount": "must be a number"}),
    ({"loan_amount": "Infinity"}, {"attributes.loan_amount": "must be a finite number"}),
    ({"loan_amount": True}, {"attributes.loan_amount": "must be a number"}),
    ({"term_months": 5}, {"attributes.term_months": "must be at least 6"}),
    ({"term_months": 85}, {"attributes.term_months": "must be at most 84"}),
    ({"term_months": "12"}, {"attributes.term_months": "must be a whole number"}),
    ({"term_months": False}, {"attributes.term_months": "must be a whole number"}),
    ({"purpose": "Car"}, {"attributes.purpose": "must be one of car, home, debt"}),
    ({"purpose": 1}, {"attributes.purpose": "must be one of car, home, debt"}),
    ({"employed": "true"}, {"attributes.employed": "must be true or false"}),
    ({"employed": 1}, {"attributes.employed": "must be true or false"}),
    ({"start_date": "2026-02-30"}, {"attributes.start_date": "must be a date such as \"2026-01-31\""}),
    ({"start_date": 20260101}, {"attributes.start_date": "must be a date such as \"2026-01-31\""}),
    ({"employer": "A"}, {"attributes.employer": "must be at least 2 characters"}),
    ({"employer": "x" * 41}, {"attributes.employer": "must be at most 40 characters"}),
    ({"employer": 42}, {"attributes.employer": "must be a string"}),
    ({"channel": "fax"}, {"attributes.channel": "must be one of web, phone"}),
    ({"notes": "n" * 2001}, {"attributes.notes": "must be at most 2000 characters"}),
    ({"term_months": 12.5}, {"attributes.term_months": "must be a whole number"}),
    ({"salary": 1}, {"attributes.salary": "is not a field of the loans vertical"}),
]


def test_attribute_rules(client, network, loans, db):
    wrong = []
    for attributes, reasons in ATTRIBUTE_RULES:
        fields = error_fields(post_lead(client, network.affiliate["api_key"], loan_body(loans["id"], **attributes)))
        if fields != reasons:
            wrong.append((attributes, fields))

    assert wrong == []
    assert count_rows(db, "lead")["lead"] == 0


def test_attribute_values_are_stored_in_their_type(client, network, loans, db):
    from marketplace.models import Lead

    answer = post_lead(client, network.affiliate["api_key"], loan_body(
        loans["id"], loan_amount=500, term_months=84.0, employed=False, start_date="2027-01-31", employer="  Acme ",
        channel="web", notes=""))

    assert answer.status_code == 201, answer.text
    assert answer.json()["payout"] == "7.25"
    with db() as session:
        assert session.get_one(Lead, answer.json()["lead_id"]).attributes == {
            "loan_amount": 500, "term_months": 84, "purpose": "car", "employed": False,
            "start_date": "2027-01-31", "employer": "Acme", "channel": "web"}


def test_decimal_string_amounts_are_read_exactly(client, network, loans, db):
    from marketplace.models import Lead

    answer = post_lead(client, network.affiliate["api_key"], loan_body(loans["id"], loan_amount="2500.50"))

    with db() as session:
        assert session.get_one(Lead, answer.json()["lead_id"]).attributes["loan_amount"] == 2500.5


def test_every_problem_in_a_field_list_is_a_problem_json(client, network):
    answer = post_lead(client, network.affiliate["api_key"],
                       lead_body(network.cpl_offer["id"], attributes={"vehicle_year": "old"}))

    body = problem(answer, 422)
    assert body["title"] == "InvalidInput" and body["errors"] == [
        {"field": "attributes.vehicle_year", "reason": "must be a whole number"}]


def test_lead_reachable_by_profile_url_only(client, network, db):
    from marketplace.models import Lead

    body = lead_body(network.cpl_offer["id"], contact={"email": None, "phone": None,
                                                        "profile_url": " https://social.example/maria.lopez "})

    answer = post_lead(client, network.affiliate["api_key"], body)

    assert answer.status_code == 201, answer.text
    with db() as session:
        lead = session.get_one(Lead, answer.json()["lead_id"])
        assert (lead.profile_url, lead.email, lead.phone) == ("https://social.example/maria.lopez", None, None)


def test_blank_sub_ids_are_dropped_and_limits_hold(client, network, db):
    from marketplace.models import Lead

    kept = post_lead(client, network.affiliate["api_key"], lead_body(
        network.cpl_offer["id"], sub_ids={"sub1": "   ", "sub5": "s" * 255}, click_id="c" * 64))
    refused = post_lead(client, network.affiliate["api_key"], lead_body(
        network.cpl_offer["id"], click_id="tab\there", consent={"text": "t" * 5001},
        meta={"form_seconds": 86400.5}))

    assert kept.status_code == 201, kept.text
    with db() as session:
        assert session.get_one(Lead, kept.json()["lead_id"]).sub_ids == {"sub5": "s" * 255}
    assert error_fields(refused) == {"click_id": "must be 1 to 64 printable characters",
                                     "consent.text": "must be at most 5000 characters",
                                     "meta.form_seconds": "must be between 0 and 86400"}
