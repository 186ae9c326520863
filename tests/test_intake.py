"""The whole intake path over HTTP: the answer an affiliate reads, the row that backs it, reading it back."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from marketplace.models import DedupeClaim, Lead
from tests.support import count_rows, lead_body, post_lead, problem, stranger


def test_accepted_lead_answers_201_with_the_cpl_payout_as_a_string(client, network, db):
    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]))

    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    decision = answer.json()
    assert decision["status"] == "accepted" and decision["reason"] is None
    assert decision["payout"] == "12.50" and decision["currency"] == "USD"
    assert decision["duplicate_of"] is None
    assert isinstance(decision["lead_id"], int) and decision["lead_id"] >= 1
    with db() as session:  # a 2xx is backed by a committed row (invariant 1)
        lead = session.get_one(Lead, decision["lead_id"])
        assert (lead.status, lead.payout_minor, lead.currency) == ("accepted", 1250, "USD")
        assert lead.affiliate_id == network.affiliate["id"] and lead.offer_id == network.cpl_offer["id"]
        assert lead.vertical_id == network.vertical["id"]


def test_cpa_offer_pays_nothing_at_lead_time(client, network, db):
    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpa_offer["id"]))

    decision = answer.json()
    assert answer.status_code == 201 and decision["status"] == "accepted"
    assert decision["payout"] == "0.00" and decision["currency"] == "USD"
    with db() as session:
        assert session.get_one(Lead, decision["lead_id"]).payout_minor == 0


def test_lead_is_stored_normalized(client, network, db):
    body = lead_body(network.cpl_offer["id"], contact={
        "first_name": "  Ana \t  María ", "last_name": " de   la Cruz ", "email": "  Ana.DeLaCruz@Example.COM ",
        "phone": "(415) 263-0132", "country": "us", "region": " CA ", "city": " San   Francisco ",
        "postal_code": " 94107 ", "date_of_birth": "1988-02-29"},
        attributes={"vehicle_year": 2019.0, "coverage": "full", "current_insurer": "  Geico  ", "homeowner": False},
        sub_ids={"sub1": " campaign-7 ", "sub3": "banner"}, click_id=" clk_123 ",
        consent={"given_at": "2026-11-24T12:00:00+02:00", "ip": " 2001:DB8::1 "}, meta={"ip": " 203.0.113.7 "})

    answer = post_lead(client, network.affiliate["api_key"], body)

    assert answer.status_code == 201, answer.text
    with db() as session:
        lead = session.get_one(Lead, answer.json()["lead_id"])
        assert (lead.first_name, lead.last_name) == ("Ana María", "de la Cruz")
        assert lead.email == "ana.delacruz@example.com"
        assert lead.phone == "+14152630132"
        assert (lead.country, lead.region, lead.city, lead.postal_code) == ("US", "CA", "San Francisco", "94107")
        assert lead.date_of_birth.isoformat() == "1988-02-29"
        assert lead.attributes == {"vehicle_year": 2019, "coverage": "full", "current_insurer": "Geico",
                                   "homeowner": False}
        assert lead.sub_ids == {"sub1": "campaign-7", "sub3": "banner"} and lead.click_id == "clk_123"
        assert lead.consent["given_at"] == "2026-11-24T10:00:00+00:00" and lead.consent["ip"] == "2001:db8::1"
        assert lead.meta["ip"] == "203.0.113.7"
        claims = session.execute(select(DedupeClaim).where(DedupeClaim.lead_id == lead.id)).scalars().all()
        assert sorted(c.key_kind for c in claims) == ["email", "phone"]
        # the claim table holds keyed hashes, never the contact data itself
        assert all(lead.email not in c.key_digest and "4152630132" not in c.key_digest for c in claims)


def test_phone_with_country_prefix_is_read_in_its_own_country(client, network, db):
    body = lead_body(network.cpl_offer["id"], contact={"phone": "+44 20 7946 0958", "country": "GB"})

    answer = post_lead(client, network.affiliate["api_key"], body)

    assert answer.status_code == 201, answer.text
    with db() as session:
        assert session.get_one(Lead, answer.json()["lead_id"]).phone == "+442079460958"


def test_a_lead_reachable_by_email_only_or_phone_only_is_accepted(client, network):
    email_only = stranger(network.cpl_offer["id"])
    del email_only["contact"]["phone"]
    phone_only = stranger(network.cpl_offer["id"])
    del phone_only["contact"]["email"]

    for body in (email_only, phone_only):
        answer = post_lead(client, network.affiliate["api_key"], body)
        assert answer.status_code == 201 and answer.json()["status"] == "accepted", answer.text


def test_affiliate_reads_back_its_own_lead(client, network):
    body = lead_body(network.cpl_offer["id"], contact={"first_name": "  Maria   Luisa ", "email": "Reader.Person@GMail.com"},
                     sub_ids={"sub2": "x"})
    lead_id = post_lead(client, network.affiliate["api_key"], body).json()["lead_id"]

    answer = client.get(f"/api/v1/leads/{lead_id}", headers=network.affiliate_headers())

    assert answer.status_code == 200, answer.text
    lead = answer.json()
    assert lead["lead_id"] == lead_id and lead["offer_id"] == network.cpl_offer["id"]
    assert lead["status"] == "accepted" and lead["payout"] == "12.50" and lead["currency"] == "USD"
    assert lead["contact"]["email"] == "reader.person@gmail.com" and lead["contact"]["phone"].startswith("+1415")
    assert lead["contact"]["first_name"] == "Maria Luisa" and lead["contact"]["country"] == "US"
    assert lead["attributes"] == {"vehicle_year": 2019, "coverage": "full"}
    assert lead["sub_ids"] == {"sub2": "x"} and lead["created_at"].endswith("Z")


def test_another_affiliate_gets_404_exactly_as_for_a_missing_lead(client, network):
    lead_id = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"])).json()["lead_id"]

    foreign = client.get(f"/api/v1/leads/{lead_id}", headers=network.affiliate_headers(other=True))
    missing = client.get(f"/api/v1/leads/{lead_id + 1000}", headers=network.affiliate_headers(other=True))

    assert problem(foreign, 404)["title"] == problem(missing, 404)["title"]
    assert "gmail.com" not in foreign.text and "+1415" not in foreign.text


def test_advertiser_key_is_refused_on_lead_lookup_by_role_whatever_the_id(client, network):
    """Advertisers read leads through their purchases, never by id: the route refuses their role
    with 403 before any lookup, so the answer is the same for an existing and a missing lead."""
    lead_id = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"])).json()["lead_id"]
    headers = {"X-API-Key": network.advertiser["api_key"]}

    existing = client.get(f"/api/v1/leads/{lead_id}", headers=headers)
    missing = client.get(f"/api/v1/leads/{lead_id + 1000}", headers=headers)

    assert problem(existing, 403) == problem(missing, 403)
    assert "gmail.com" not in existing.text


def test_admin_reads_any_lead(client, network):
    lead_id = post_lead(client, network.other_affiliate["api_key"],
                        lead_body(network.cpl_offer["id"])).json()["lead_id"]

    answer = client.get(f"/api/v1/leads/{lead_id}", headers=network.admin_headers)

    assert answer.status_code == 200 and answer.json()["lead_id"] == lead_id


def test_paused_offer_takes_no_leads(client, network, db):
    from affiliates.models import Offer

    with db() as session:
        session.get_one(Offer, network.cpl_offer["id"]).status = "paused"
        session.commit()

    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"]))

    assert "offer_id" in {e["field"] for e in problem(answer, 422)["errors"]}
    assert count_rows(db, "lead")["lead"] == 0


def test_each_accepted_lead_is_its_own_committed_row(client, network, db):
    answers = [post_lead(client, network.affiliate["api_key"], stranger(network.cpl_offer["id"])) for _ in range(5)]

    ids = [a.json()["lead_id"] for a in answers]
    assert all(a.status_code == 201 and a.json()["status"] == "accepted" for a in answers)
    assert len(set(ids)) == 5
    with db() as session:
        rows = session.execute(select(Lead.id, Lead.payout_minor).where(Lead.id.in_(ids))).all()
        assert len(rows) == 5 and sum(r.payout_minor for r in rows) == 5 * 1250
        assert Decimal(sum(Decimal(a.json()["payout"]) for a in answers)) == Decimal("62.50")
