"""Blocklists for IP/CIDR, e-mail domain, phone and affiliate sub-id: the admin API and the screen."""

from __future__ import annotations

from sqlalchemy import select

from fraud.blocklists import containing_networks
from leadmarket.audit import AuditEvent
from tests.fraud_helpers import person_lead, post, staff_view
from tests.support import created, error_fields, problem

URL = "/api/v1/blocklist"


def block(client, network, **entry):
    return created(client.post(URL, headers=network.admin_headers, json=entry))


def test_entries_are_normalized_and_listed(client, network):
    affiliate_id = network.affiliate["id"]
    ip = block(client, network, kind="ip", value=" 203.0.113.7 ", note="form farm")
    net = block(client, network, kind="ip", value="198.18.0.77/24")
    v6 = block(client, network, kind="ip", value="2001:DB8:0:1::/64")
    domain = block(client, network, kind="email_domain", value="@Spam-Mail.COM")
    phone = block(client, network, kind="phone", value="+1 (415) 201-0000")
    sub = block(client, network, kind="sub_id", value="pop-under-7", affiliate_id=affiliate_id)

    assert [e["value"] for e in (ip, net, v6, domain, phone, sub)] == [
        "203.0.113.7/32", "198.18.0.0/24", "2001:db8:0:1::/64", "spam-mail.com", "+14152010000", "pop-under-7"]
    assert ip["note"] == "form farm" and ip["created_by"].startswith("admin:") and sub["affiliate_id"] == affiliate_id
    listed = client.get(URL, headers=network.admin_headers).json()
    assert [e["id"] for e in listed] == [ip["id"], net["id"], v6["id"], domain["id"], phone["id"], sub["id"]]
    only_ips = client.get(URL, params={"kind": "ip"}, headers=network.admin_headers).json()
    assert {e["value"] for e in only_ips} == {"203.0.113.7/32", "198.18.0.0/24", "2001:db8:0:1::/64"}


def test_a_blocklisted_lead_is_rejected_with_the_list_it_is_on(client, network):
    affiliate_id = network.affiliate["id"]
    block(client, network, kind="ip", value="198.18.0.0/24")
    block(client, network, kind="ip", value="2001:db8:0:1::/64")
    block(client, network, kind="email_domain", value="spam-mail.com")
    block(client, network, kind="phone", value="+14152010000")
    block(client, network, kind="sub_id", value="pop-under-7", affiliate_id=affiliate_id)
    offer = network.cpl_offer["id"]

    cases = {
        "blocklisted_ip": person_lead(offer, meta={"ip": "198.18.0.200"}),
        "blocklisted_email_domain": person_lead(offer, contact={"email": "ana@mx.spam-mail.com"}),
        "blocklisted_phone": person_lead(offer, contact={"phone": "(415) 201-0000"}),
        "blocklisted_sub_id": person_lead(offer, sub_ids={"sub1": "pop-under-7"}),
    }
    for reason, body in cases.items():
        decision = post(client, network, body)
        assert (decision["status"], decision["reason"], decision["payout"]) == ("rejected", reason, "0.00")
        lead = staff_view(client, network, decision["lead_id"])
        assert lead["fraud_score"] == 100 and lead["fraud_reasons"] == [reason]
    v6 = post(client, network, person_lead(offer, meta={"ip": "2001:db8:0:1::99"}))
    assert v6["reason"] == "blocklisted_ip"

    # just outside each entry is clean
    clean = [
        person_lead(offer, meta={"ip": "198.18.1.1"}), person_lead(offer, meta={"ip": "2001:db8:0:2::1"}),
        person_lead(offer, contact={"email": "ana@spam-mail.co"}), person_lead(offer, contact={"phone": "+14152010001"}),
        person_lead(offer, sub_ids={"sub1": "pop-under-8"}), person_lead(offer, sub_ids={"sub2": "pop-under-7"}),
    ]
    assert [post(client, network, body)["status"] for body in clean] == ["accepted"] * 6
    # the sub-id is blocked for one affiliate only
    other = post(client, network, person_lead(offer, sub_ids={"sub1": "pop-under-7"}), other=True)
    assert other["status"] == "accepted"


def test_removing_an_entry_lets_leads_through_again_and_both_changes_are_audited(client, network, db):
    entry = block(client, network, kind="email_domain", value="spam-mail.com")
    def body(local: str):
        return person_lead(network.cpl_offer["id"], contact={"email": f"{local}@spam-mail.com"})

    assert post(client, network, body("ana"))["status"] == "rejected"

    assert client.delete(f"{URL}/{entry['id']}", headers=network.admin_headers).status_code == 204
    assert post(client, network, body("bea"))["status"] == "accepted"
    assert client.get(URL, headers=network.admin_headers).json() == []
    problem(client.delete(f"{URL}/{entry['id']}", headers=network.admin_headers), 404)
    with db() as session:
        events = session.execute(select(AuditEvent).where(AuditEvent.action.like("blocklist.%"))
                                 .order_by(AuditEvent.id)).scalars().all()
    assert [(e.action, e.subject_id, e.details["kind"]) for e in events] == [
        ("blocklist.add", str(entry["id"]), "email_domain"), ("blocklist.remove", str(entry["id"]), "email_domain")]


def test_bad_entries_are_refused_naming_every_field(client, network):
    def fields(**entry):
        return error_fields(client.post(URL, headers=network.admin_headers, json=entry))

    assert set(fields(kind="ip", value="203.0.113.300")) == {"value"}
    assert set(fields(kind="email_domain", value="not a domain")) == {"value"}
    assert "international" in fields(kind="phone", value="415 201 0000")["value"]
    assert set(fields(kind="phone", value="+1 415 201")) == {"value"}
    assert set(fields(kind="sub_id", value="x")) == {"affiliate_id"}
    assert fields(kind="sub_id", value="x", affiliate_id=999) == {"affiliate_id": "no such affiliate"}
    assert set(fields(kind="ip", value="203.0.113.1", affiliate_id=network.affiliate["id"])) == {"affiliate_id"}
    assert set(fields(kind="asn", value="AS64500")) == {"kind"}
    problem(client.get(URL, params={"kind": "asn"}, headers=network.admin_headers), 422)
    assert client.get(URL, headers=network.admin_headers).json() == []


def test_the_same_entry_twice_is_a_conflict(client, network):
    block(client, network, kind="ip", value="203.0.113.0/24")
    answer = client.post(URL, headers=network.admin_headers, json={"kind": "ip", "value": "203.0.113.99/24"})
    assert "already" in problem(answer, 409)["detail"]
    block(client, network, kind="sub_id", value="s1", affiliate_id=network.affiliate["id"])
    block(client, network, kind="sub_id", value="s1", affiliate_id=network.other_affiliate["id"])
    problem(client.post(URL, headers=network.admin_headers,
                        json={"kind": "sub_id", "value": "s1", "affiliate_id": network.affiliate["id"]}), 409)


def test_only_admins_manage_blocklists(client, network):
    problem(client.get(URL, headers=network.affiliate_headers()), 403)
    problem(client.post(URL, headers=network.affiliate_headers(), json={"kind": "ip", "value": "203.0.113.1"}), 403)
    problem(client.delete(f"{URL}/1", headers=network.affiliate_headers()), 403)
    problem(client.get(URL), 401)


def test_an_address_is_looked_up_as_every_network_that_holds_it():
    v4 = containing_networks("203.0.113.7")
    assert len(v4) == 33 and v4[:3] == ["203.0.113.7/32", "203.0.113.6/31", "203.0.113.4/30"]
    assert "203.0.113.0/24" in v4 and v4[-1] == "0.0.0.0/0"
    assert containing_networks("::ffff:203.0.113.7") == v4
    v6 = containing_networks("2001:db8:0:1::99")
    assert len(v6) == 129 and "2001:db8:0:1::/64" in v6 and "2001:db8::/32" in v6
    assert containing_networks("203.0.113.7", [24, 64, 32]) == ["203.0.113.7/32", "203.0.113.0/24"]
    assert containing_networks("2001:db8:0:1::99", [64, 24]) == ["2001:db8:0:1::/64", "2001:d00::/24"]
