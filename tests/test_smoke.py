"""The shortest path through the product: build a network, post a lead, read it back."""

from tests.support import lead_body


def test_affiliate_posts_a_lead_and_reads_it_back(client, network):
    answer = client.post("/api/v1/leads", headers=network.affiliate_headers(),
                         json=lead_body(network.cpl_offer["id"]))
    assert answer.status_code == 201, answer.text
    decision = answer.json()
    assert decision["status"] == "accepted" and decision["payout"] == "12.50" and decision["currency"] == "USD"
    lead = client.get(f"/api/v1/leads/{decision['lead_id']}", headers=network.affiliate_headers())
    assert lead.status_code == 200, lead.text
    assert lead.json()["contact"]["phone"].startswith("+1415")
    assert client.get(f"/api/v1/leads/{decision['lead_id']}",
                      headers=network.affiliate_headers(other=True)).status_code == 404
