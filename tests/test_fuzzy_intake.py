"""Fuzzy dedupe in intake, over HTTP: the same person under a typo is a duplicate naming the first
lead; another person of the household is a lead of their own."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from marketplace.intake import submit_lead
from marketplace.models import PersonKey
from tests.support import lead_body, post_lead, principal_for, submission

MARIA = {"first_name": "Maria", "last_name": "Lopez", "date_of_birth": "1990-05-31", "address": "250 Brannan Street",
         "city": "San Francisco", "region": "CA", "postal_code": "94107", "phone": "+1 415 263 0123",
         "email": "maria.lopez.sf@gmail.com"}


def post(client, network, contact, *, other=False):
    key = (network.other_affiliate if other else network.affiliate)["api_key"]
    answer = post_lead(client, key, lead_body(network.cpl_offer["id"], contact=contact))
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_typod_repost_is_rejected_as_a_duplicate_naming_the_first_lead(client, network):
    first = post(client, network, MARIA)
    again = post(client, network, {**MARIA, "first_name": "Mraia", "phone": "+1 (415) 263-0132",
                                   "email": "mlopez90@yahoo.com", "address": "250 Brannan St"}, other=True)

    assert first["status"] == "accepted"
    assert (again["status"], again["reason"], again["duplicate_of"]) == ("rejected", "duplicate", first["lead_id"])
    assert again["payout"] == "0.00"
    view = client.get(f"/api/v1/leads/{again['lead_id']}", headers=network.affiliate_headers(other=True)).json()
    assert (view["status"], view["reason"], view["duplicate_of"]) == ("rejected", "duplicate", first["lead_id"])


def test_a_nickname_and_a_new_email_are_still_the_same_person(client, network):
    first = post(client, network, {**MARIA, "first_name": "Elizabeth"})
    again = post(client, network, {**MARIA, "first_name": "Liz", "email": "liz@outlook.com", "phone": "+1 415 555 0199",
                                   "address": "252 Brannan Street"})

    assert (again["status"], again["duplicate_of"]) == ("rejected", first["lead_id"])


def test_a_household_member_is_accepted(client, network):
    first = post(client, network, MARIA)
    husband = post(client, network, {**MARIA, "first_name": "Carlos", "date_of_birth": "1987-02-10",
                                     "phone": "+1 415 263 0177", "email": "carlos.lopez@gmail.com"})

    assert first["status"] == "accepted"
    assert (husband["status"], husband["duplicate_of"]) == ("accepted", None)
    assert husband["payout"] == "12.50"


def test_twins_are_two_leads(client, network):
    post(client, network, MARIA)
    twin = post(client, network, {**MARIA, "first_name": "Sofia", "phone": "+1 415 263 0188",
                                  "email": "sofia.lopez@gmail.com"})

    assert (twin["status"], twin["duplicate_of"]) == ("accepted", None)


def test_a_weaker_match_goes_to_review_naming_the_lead_it_may_repeat(client, network):
    first = post(client, network, MARIA)
    maybe = post(client, network, {**MARIA, "first_name": "Mariia", "date_of_birth": None,
                                   "phone": "+1 415 263 0150", "email": "mlopez@outlook.com"})

    assert (maybe["status"], maybe["reason"], maybe["duplicate_of"]) == ("review", "possible_duplicate",
                                                                          first["lead_id"])
    assert maybe["payout"] == "0.00"


def test_a_third_spelling_matching_only_the_second_names_the_first_lead(client, network):
    first = post(client, network, MARIA)
    second = post(client, network, {**MARIA, "first_name": "Mraia", "phone": "+1 415 777 8899",
                                    "email": "maria.l@outlook.com"})
    # Shares the second post's phone and e-mail, and neither the address nor the birth date.
    third = post(client, network, {**MARIA, "last_name": "Lopes", "phone": "+1 415 777 8899",
                                   "email": "maria.l@outlook.com", "address": None, "date_of_birth": None}, other=True)

    assert second["duplicate_of"] == first["lead_id"]
    assert (third["status"], third["reason"], third["duplicate_of"]) == ("rejected", "duplicate", first["lead_id"])


def test_people_in_another_vertical_are_not_compared(client, network):
    from tests.support import CAR_INSURANCE_FIELDS, make_offer, make_vertical

    make_vertical(client, network.admin_headers, "home-insurance", CAR_INSURANCE_FIELDS)
    offer = make_offer(client, network.admin_headers, "home-insurance")
    post(client, network, MARIA)
    body = lead_body(offer["id"], contact={**MARIA, "first_name": "Mraia", "phone": "+1 415 263 0132",
                                           "email": "mlopez90@yahoo.com"})

    answer = post_lead(client, network.affiliate["api_key"], body).json()

    assert (answer["status"], answer["duplicate_of"]) == ("accepted", None)


def test_blocking_keys_are_keyed_hashes_filed_for_each_lead(client, network, db):
    first = post(client, network, MARIA)
    dup = post(client, network, {**MARIA, "first_name": "Mraia", "phone": "+1 415 263 0132", "email": "m@yahoo.com"})

    with db() as session:
        rows = session.execute(select(PersonKey).where(PersonKey.lead_id.in_([first["lead_id"], dup["lead_id"]])))
        keys = rows.scalars().all()
    by_lead = {lead_id: {k.key_hash for k in keys if k.lead_id == lead_id}
               for lead_id in (first["lead_id"], dup["lead_id"])}
    assert len(by_lead[first["lead_id"]]) >= 8
    assert by_lead[first["lead_id"]] & by_lead[dup["lead_id"]]  # how the typo found the first lead
    assert all(isinstance(k.key_hash, int) for k in keys)  # 64-bit HMACs: no name, date or phone stored


def test_one_person_posted_at_once_by_two_affiliates_with_typos_is_one_lead(client, network, db):
    spellings = [{**MARIA, "phone": "+1 415 263 0123", "email": "maria.lopez.sf@gmail.com"},
                 {**MARIA, "first_name": "Mraia", "phone": "+1 415 263 0132", "email": "mlopez90@yahoo.com"},
                 {**MARIA, "last_name": "Lopes", "phone": "+1 415 263 0213", "email": "maria1990@outlook.com"},
                 {**MARIA, "first_name": "Marai", "phone": "+1 415 263 1023", "email": "ml.sf@icloud.com"}]
    principals = [principal_for(db, network.affiliate["api_key"]),
                  principal_for(db, network.other_affiliate["api_key"])]
    start = threading.Barrier(len(spellings))

    def post_at_once(i: int):
        body = submission(lead_body(network.cpl_offer["id"], contact=spellings[i]))
        start.wait()
        with db() as session:
            return submit_lead(session, principals[i % 2], body)

    with ThreadPoolExecutor(len(spellings)) as pool:
        decisions = list(pool.map(post_at_once, range(len(spellings))))

    accepted = [d for d in decisions if d.status == "accepted"]
    assert len(accepted) == 1, [(d.status, d.reason) for d in decisions]
    assert all((d.status, d.reason, d.duplicate_of) == ("rejected", "duplicate", accepted[0].lead_id)
               for d in decisions if d is not accepted[0])
