"""Erasure on a privacy request: the person's data goes, the lead, its sales and the money stay."""

from __future__ import annotations

from sqlalchemy import func, select, text

from leadmarket.audit import AuditEvent
from marketplace.models import DedupeClaim, Lead, PersonKey
from tests.support import Network, created, error_fields, post_lead, problem
from tests.test_personal_data import dump_database, leaked, person, traces


def money_records(db) -> dict[str, list]:
    tables = ("sale", "ledger_transaction", "ledger_entry", "lead_sale_count")
    with db() as session:
        return {t: [tuple(r) for r in session.execute(text(f'SELECT * FROM "{t}" ORDER BY 1'))] for t in tables}


def buy(client, advertiser: dict, lead_id: int) -> dict:
    return created(client.post(f"/api/v1/store/leads/{lead_id}/buy", headers={"X-API-Key": advertiser["api_key"]},
                               json={"exclusive": False}))


def new_buyer(client, network: Network, n: int) -> dict:
    return created(client.post("/api/v1/advertisers", headers=network.admin_headers, json={
        "name": f"Privacy Buyer {n}", "email": f"privacy{n}@buyer.example", "billing_mode": "prepaid",
        "credit_limit": "500.00"}))


def erase(client, network: Network, lead_id: int, reason: str = "GDPR art. 17 request #4711"):
    return client.post(f"/api/v1/leads/{lead_id}/erase", headers=network.admin_headers, json={"reason": reason})


def test_erasing_a_sold_lead_keeps_its_sales_and_money_and_buyers_see_erased(client, network: Network, db):
    body = person(network.cpl_offer["id"], profile_url="https://social.example/zephyrine")
    body["attributes"]["current_insurer"] = "told us: call Zephyrine at home"  # free text, may name the person
    lead_id = created(post_lead(client, network.affiliate["api_key"], body))["lead_id"]
    buyers = [new_buyer(client, network, n) for n in (1, 2)]
    sales = [buy(client, buyer, lead_id)["sale_id"] for buyer in buyers]
    before = money_records(db)
    trial = client.get("/api/v1/finance/trial-balance", headers=network.admin_headers).json()

    answer = erase(client, network, lead_id)
    assert answer.status_code == 200, answer.text
    erased = answer.json()
    assert (erased["lead_id"], erased["personal_data"], erased["already_erased"], erased["sales_kept"]) == (
        lead_id, "erased", False, 2)

    # the money did not move: sales, ledger and sale counts are as they were, the books still balance
    assert money_records(db) == before
    assert client.get("/api/v1/finance/trial-balance", headers=network.admin_headers).json() == trial
    # the person is gone from every table (hashes included), the lead row stays
    assert leaked(dump_database(db), traces(body) + ["social.example/zephyrine", "call Zephyrine"]) == []
    with db() as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None and lead.contact_sealed is None and lead.erased_at is not None
        assert (lead.status, lead.country, lead.city, lead.payout_minor) == ("accepted", "US", "San Francisco", 1250)
        assert lead.attributes == {"vehicle_year": 2019, "coverage": "full"}  # structured fields stay
        assert session.execute(select(func.count()).select_from(DedupeClaim)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(PersonKey)).scalar_one() == 0
        events = session.execute(select(AuditEvent).where(AuditEvent.action == "lead.erase")).scalars().all()
    assert [(e.subject_id, e.actor_role, e.details["reason"], e.details["sales_kept"]) for e in events] == [
        (str(lead_id), "admin", "GDPR art. 17 request #4711", 2)]

    # each buyer's purchase still stands and says the data was erased
    for buyer, sale_id in zip(buyers, sales, strict=True):
        purchase = client.get(f"/api/v1/purchases/{sale_id}", headers={"X-API-Key": buyer["api_key"]}).json()
        assert purchase["status"] == "sold" and purchase["price"]
        assert purchase["lead"]["personal_data"] == "erased" and purchase["lead"]["erased_at"]
        assert purchase["lead"]["contact"] == {"country": "US", "region": "CA", "city": "San Francisco"}
        assert "ip" not in (purchase["lead"]["consent"] or {}) and "page_url" not in purchase["lead"]["consent"]
        certificate = client.get(f"/api/v1/consents/{purchase['consent_certificate']['certificate_id']}",
                                 headers={"X-API-Key": buyer["api_key"]}).json()
        assert certificate["erased"] is True and certificate["ip"] is None and certificate["page_url"] is None
        assert certificate["hash"] == purchase["consent_certificate"]["sha256"]  # the proof stays
    view = client.get(f"/api/v1/leads/{lead_id}", headers=network.affiliate_headers()).json()
    assert view["personal_data"] == "erased" and set(view["contact"]) == {"country", "region", "city"}

    # a return of an erased lead still works through the books
    returned = client.post(f"/api/v1/purchases/{sales[0]}/return", headers={"X-API-Key": buyers[0]["api_key"]},
                           json={"reason": "bad_phone"})
    assert returned.status_code in (200, 201), returned.text


def test_erasure_is_idempotent(client, network: Network, db):
    lead_id = created(post_lead(client, network.affiliate["api_key"], person(network.cpl_offer["id"])))["lead_id"]
    first = erase(client, network, lead_id).json()
    again = erase(client, network, lead_id, reason="the same request, sent twice")
    assert again.status_code == 200
    assert again.json() == {**first, "already_erased": True}
    with db() as session:
        assert session.execute(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action == "lead.erase")).scalar_one() == 1


def test_an_erased_unsold_lead_leaves_the_store_and_its_person_may_post_again(client, network: Network, db):
    body = person(network.cpl_offer["id"])
    lead_id = created(post_lead(client, network.affiliate["api_key"], body))["lead_id"]
    buyer = new_buyer(client, network, 3)
    store = client.get("/api/v1/store/leads", headers={"X-API-Key": buyer["api_key"]}).json()
    assert lead_id in [lead["lead_id"] for lead in store["leads"]]
    assert erase(client, network, lead_id).status_code == 200
    store = client.get("/api/v1/store/leads", headers={"X-API-Key": buyer["api_key"]}).json()
    assert lead_id not in [lead["lead_id"] for lead in store["leads"]]
    problem(client.post(f"/api/v1/store/leads/{lead_id}/buy", headers={"X-API-Key": buyer["api_key"]},
                        json={"exclusive": False}), 404)
    # no keyed hash of the person is left to call the next post a duplicate
    again = created(post_lead(client, network.affiliate["api_key"], body))
    assert again["status"] == "accepted" and again["lead_id"] != lead_id


def test_only_admins_erase_and_bad_requests_change_nothing(client, network: Network, db):
    lead_id = created(post_lead(client, network.affiliate["api_key"], person(network.cpl_offer["id"])))["lead_id"]
    advertiser = {"X-API-Key": network.advertiser["api_key"]}
    for headers in (network.affiliate_headers(), advertiser):
        problem(client.post(f"/api/v1/leads/{lead_id}/erase", headers=headers, json={"reason": "please"}), 403)
    problem(client.post(f"/api/v1/leads/{lead_id}/erase", json={"reason": "please"}), 401)
    assert error_fields(erase(client, network, lead_id, reason="  ")) == {
        "reason": "is required: 1 to 500 characters saying why"}
    assert set(error_fields(erase(client, network, lead_id, reason="x" * 501))) == {"reason"}
    problem(erase(client, network, 999_999), 404)
    with db() as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None and lead.erased_at is None and lead.email
