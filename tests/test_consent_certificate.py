"""Consent certificates: sealed at intake, shown to the lead's buyers and admins, verifiable by hash."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import update

from leadmarket.db import transaction
from marketplace.models import ConsentCertificate
from tests.order_support import person_lead
from tests.store_support import new_advertiser, stored_lead
from tests.support import problem


def recomputed_hash(record: dict) -> str:
    """The documented canonical form, rebuilt from the record's fields as a buyer would."""
    given_at = datetime.fromisoformat(record["given_at"]).astimezone(UTC)
    canonical = {"certificate_id": record["certificate_id"], "lead_id": record["lead_id"], "text": record["text"],
                 "given_at": given_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "ip": record["ip"],
                 "page_url": record["page_url"]}
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def bought_lead(client, network, buyer, **consent):
    body = person_lead(network.cpl_offer["id"], consent={"text": "Ich stimme zu, kontaktiert zu werden — für Angebote.",
                                                         "ip": "198.51.100.23", **consent})
    lead_id = stored_lead(client, network, body=body)
    response = client.post(f"/api/v1/store/leads/{lead_id}/buy", headers=buyer["headers"], json={"exclusive": False})
    assert response.status_code == 201, response.text
    return body, response.json()


def test_a_buyer_verifies_the_consent_record_by_its_hash(client, db, network):
    buyer = new_advertiser(client, network)
    body, sale = bought_lead(client, network, buyer)
    assert sale["sold_label"] == "sold 1 of 3"
    response = client.get(f"/api/v1/consents/{sale['consent_certificate_id']}", headers=buyer["headers"])
    assert response.status_code == 200, response.text
    record = response.json()
    consent = body["consent"]
    assert record["lead_id"] == sale["lead_id"] and record["text"] == consent["text"]
    assert record["ip"] == "198.51.100.23" and record["page_url"] == consent["page_url"]
    assert datetime.fromisoformat(record["given_at"]) == \
        datetime.fromisoformat(consent["given_at"])
    assert record["hash_algorithm"] == "sha256" and record["hash"] == sale["consent_hash"]
    assert recomputed_hash(record) == record["hash"]
    assert hashlib.sha256(record["canonical"].encode()).hexdigest() == record["hash"]
    # the admin sees the same record
    admin = client.get(f"/api/v1/consents/{sale['consent_certificate_id']}", headers=network.admin_headers)
    assert admin.status_code == 200 and admin.json()["hash"] == record["hash"]


def test_a_tampered_record_no_longer_matches_its_hash(client, db, network):
    buyer = new_advertiser(client, network)
    _, sale = bought_lead(client, network, buyer)
    with db() as session, transaction(session):
        session.execute(update(ConsentCertificate).values(text="I agree to everything.")
                        .where(ConsentCertificate.certificate_id == sale["consent_certificate_id"]))
    record = client.get(f"/api/v1/consents/{sale['consent_certificate_id']}", headers=buyer["headers"]).json()
    assert recomputed_hash(record) != record["hash"] == sale["consent_hash"]


def test_only_buyers_of_the_lead_and_admins_see_the_certificate(client, db, network):
    buyer, stranger = new_advertiser(client, network), new_advertiser(client, network)
    _, sale = bought_lead(client, network, buyer)
    path = f"/api/v1/consents/{sale['consent_certificate_id']}"
    problem(client.get(path, headers=stranger["headers"]), 404)
    problem(client.get(path, headers=network.affiliate_headers()), 403)
    problem(client.get(path), 401)
    problem(client.get("/api/v1/consents/00000000-0000-4000-8000-000000000000", headers=buyer["headers"]), 404)


def test_every_lead_with_consent_is_sealed_at_intake(client, db, network):
    lead_id = stored_lead(client, network)
    with db() as session:
        certificate = session.query(ConsentCertificate).filter_by(lead_id=lead_id).one()
    assert len(certificate.sha256) == 64 and certificate.text.startswith("I agree")


def test_the_purchase_carries_the_certificate_its_buyer_can_verify(client, db, network):
    buyer = new_advertiser(client, network)
    _, sale = bought_lead(client, network, buyer)
    purchases = client.get("/api/v1/purchases", headers=buyer["headers"])
    assert purchases.status_code == 200, purchases.text
    (purchase,) = [p for p in purchases.json() if p["lead"]["lead_id"] == sale["lead_id"]]
    certificate = purchase["consent_certificate"]
    assert certificate == {"certificate_id": sale["consent_certificate_id"], "sha256": sale["consent_hash"]}
    record = client.get(f"/api/v1/consents/{certificate['certificate_id']}", headers=buyer["headers"]).json()
    assert recomputed_hash(record) == certificate["sha256"]
    assert purchase["times_sold"] == 1 and purchase["max_sales"] == 3
