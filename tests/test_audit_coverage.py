"""Every finance and admin action is audited: the app's routes are walked, every mutating route an
admin or finance key may call is exercised for real, and each must leave an audit_event row
naming the caller's key. A new staff route without a recipe here fails the completeness test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from leadmarket.audit import AuditEvent
from leadmarket.db import transaction
from leadmarket.identity import Role, create_api_key
from tests.billing_support import fund
from tests.store_support import set_vertical
from tests.support import Network, created, principal_for, stranger
from tests.test_payouts import PERIOD, earn
from tests.test_returns import bought, buyer, file_return
from tests.test_review_queue import review_lead

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
STAFF = {Role.ADMIN, Role.FINANCE}

# Staff routes that are not a person's decision, with the reason they write no audit row.
EXEMPT = {
    "POST /api/v1/calls": "the telephony provider's webhook (an integration posting with the network key); "
                          "the call row it writes is its record",
}
# Staff routes whose recipe waits for their owner's work to land (listed so the gap stays visible).
AWAITING = {
    "POST /api/v1/finance/invoices/run": "invoicing needs Stripe and a closed month of invoice-mode sales; "
                                         "its run audits each draft (invoice.draft)",
}


def staff_mutations(app: Any) -> set[str]:
    """`METHOD /path` of every mutating route whose guards let an admin or finance key in."""
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            roles = set().union(*(getattr(guard, "roles", ()) for guard in handler.resolve_guards()))
            if roles & STAFF:
                found |= {f"{method} {route.path}" for method in handler.http_methods & MUTATING}
    return found


@dataclass
class Staff:
    client: Any
    network: Network
    db: sessionmaker[Session]
    admin: dict[str, str]
    finance: dict[str, str]
    other_finance: dict[str, str]

    def payout(self) -> int:
        """A drafted payout of the affiliate's matured commission (drafted by the other finance key)."""
        fund(self.db, self.network.advertiser["id"], "1000.00")
        set_vertical(self.db, self.network.vertical["id"], return_window_days=0)
        earn(self.db, self.network, "80.00")
        run = self.client.post("/api/v1/finance/payouts/run", headers=self.other_finance, json=PERIOD)
        return created(run)["payouts"][0]["id"]

    def fraud_held_payout(self) -> int:
        payout_id = self.payout()
        with self.db() as session, transaction(session):
            session.execute(text("UPDATE payout SET status = 'held', hold_kind = 'fraud', hold_note = 'flagged' "
                                 "WHERE id = :id"), {"id": payout_id})
        return payout_id

    def pending_return(self) -> int:
        advertiser = buyer(self.client, self.network)
        sale = bought(self.client, self.network, advertiser)
        answer = file_return(self.client, advertiser, sale["sale_id"], "fraud")
        assert answer.json()["status"] == "pending", answer.text
        return answer.json()["id"]


def _key(db: sessionmaker[Session], role: Role, name: str) -> dict[str, str]:
    with db() as session, transaction(session):
        return {"X-API-Key": create_api_key(session, role=role, name=name)[1]}


Recipe = Callable[[Staff], tuple[dict[str, str], Any]]


def _admin(call: Callable[[Staff], Any]) -> Recipe:
    return lambda s: (s.admin, call(s))


def _finance(call: Callable[[Staff], Any]) -> Recipe:
    return lambda s: (s.finance, call(s))


def _payout_action(action: str, body: dict[str, Any], *, approve_first: bool = False) -> Recipe:
    def run(s: Staff) -> tuple[dict[str, str], Any]:
        payout_id = s.payout()
        if approve_first:
            assert s.client.post(f"/api/v1/finance/payouts/{payout_id}/approve", headers=s.other_finance,
                                 json={}).status_code == 200
        return s.finance, s.client.post(f"/api/v1/finance/payouts/{payout_id}/{action}", headers=s.finance, json=body)
    return run


def _blocklist_remove(s: Staff) -> Any:
    second_admin = _key(s.db, Role.ADMIN, "second admin")
    entry = created(s.client.post("/api/v1/blocklist", headers=second_admin, json={"kind": "ip", "value": "192.0.2.9"}))
    return s.client.delete(f"/api/v1/blocklist/{entry['id']}", headers=s.admin)


def _link_status(s: Staff) -> Any:
    link = created(s.client.post("/api/v1/tracking-links", headers=s.network.affiliate_headers(),
                                 json={"offer_id": s.network.cpl_offer["id"]}))
    return s.client.post(f"/api/v1/tracking-links/{link['code']}/status", headers=s.admin, json={"status": "paused"})


def _erase(s: Staff) -> Any:
    lead = created(s.client.post("/api/v1/leads", headers=s.network.affiliate_headers(),
                                 json=stranger(s.network.cpl_offer["id"])))
    return s.client.post(f"/api/v1/leads/{lead['lead_id']}/erase", headers=s.admin,
                         json={"reason": "privacy request #1"})


def _revoke_key(s: Staff) -> Any:
    spare = created(s.client.post("/api/v1/api-keys", headers=s.finance, json={"name": "spare"}))
    return s.client.post(f"/api/v1/api-keys/{spare['id']}/revoke", headers=s.finance)


RECIPES: dict[str, Recipe] = {
    "POST /api/v1/verticals": _admin(lambda s: s.client.post("/api/v1/verticals", headers=s.admin, json={
        "slug": "travel", "name": "Travel", "dedupe_window_days": 30, "max_shared_sales": 2, "base_price": "9.00",
        "fields": [{"name": "destination", "type": "string", "required": True}]})),
    "POST /api/v1/advertisers": _admin(lambda s: s.client.post("/api/v1/advertisers", headers=s.admin, json={
        "name": "Zeta Cover", "email": "buy@zetacover.example", "billing_mode": "prepaid"})),
    "POST /api/v1/affiliates": _admin(lambda s: s.client.post("/api/v1/affiliates", headers=s.admin, json={
        "name": "North Ads", "email": "ops@northads.example"})),
    "POST /api/v1/offers": _admin(lambda s: s.client.post("/api/v1/offers", headers=s.admin, json={
        "name": "More quotes", "vertical": "car-insurance", "kind": "marketplace", "payout_model": "cpl",
        "payout": "5.00", "revenue": "9.00", "landing_url": "https://quotes.example/more?cid={click_id}"})),
    "PATCH /api/v1/offers/{offer_id:int}/screening": _admin(lambda s: s.client.patch(
        f"/api/v1/offers/{s.network.cpl_offer['id']}/screening", headers=s.admin, json={"min_form_seconds": 20})),
    "PATCH /api/v1/verticals/{vertical_id:int}/screening": _admin(lambda s: s.client.patch(
        f"/api/v1/verticals/{s.network.vertical['id']}/screening", headers=s.admin, json={"review_at": 45})),
    "POST /api/v1/advertisers/{advertiser_id:int}/credits": _finance(lambda s: s.client.post(
        f"/api/v1/advertisers/{s.network.advertiser['id']}/credits", headers=s.finance,
        json={"amount": "25.00", "note": "goodwill for a late delivery"})),
    "PUT /api/v1/affiliates/{affiliate_id:int}/stripe-account": _admin(lambda s: s.client.put(
        f"/api/v1/affiliates/{s.network.affiliate['id']}/stripe-account", headers=s.admin,
        json={"stripe_account_id": "acct_1Bright"})),
    "POST /api/v1/blocklist": _admin(lambda s: s.client.post("/api/v1/blocklist", headers=s.admin,
                                                             json={"kind": "ip", "value": "198.51.100.0/24"})),
    "DELETE /api/v1/blocklist/{entry_id:int}": _admin(_blocklist_remove),
    "POST /api/v1/ping-buyers": _admin(lambda s: s.client.post("/api/v1/ping-buyers", headers=s.admin, json={
        "advertiser_id": s.network.advertiser["id"], "vertical": "car-insurance",
        "ping_url": "https://buyer.example/ping", "post_url": "https://buyer.example/post", "secret": "a-signing-secret-of-32-characters"})),
    "PUT /api/v1/returns/rules/{advertiser_id:int}": _admin(lambda s: s.client.put(
        f"/api/v1/returns/rules/{s.network.advertiser['id']}", headers=s.admin, json={"cap_count": 5})),
    "POST /api/v1/returns/{return_id:int}/approve": _admin(lambda s: s.client.post(
        f"/api/v1/returns/{s.pending_return()}/approve", headers=s.admin)),
    "POST /api/v1/returns/{return_id:int}/reject": _admin(lambda s: s.client.post(
        f"/api/v1/returns/{s.pending_return()}/reject", headers=s.admin)),
    "POST /api/v1/review/leads/{lead_id:int}/approve": _admin(lambda s: s.client.post(
        f"/api/v1/review/leads/{review_lead(s.client, s.network)}/approve", headers=s.admin, json={})),
    "POST /api/v1/review/leads/{lead_id:int}/reject": _admin(lambda s: s.client.post(
        f"/api/v1/review/leads/{review_lead(s.client, s.network)}/reject", headers=s.admin,
        json={"note": "a made-up person"})),
    "POST /api/v1/tracking-links/{code:str}/status": _admin(_link_status),
    "POST /api/v1/tracking-numbers": _admin(lambda s: s.client.post("/api/v1/tracking-numbers", headers=s.admin, json={
        "number": "+14158023900", "offer_id": s.network.cpl_offer["id"], "affiliate_id": s.network.affiliate["id"]})),
    "POST /api/v1/leads/{lead_id:int}/erase": _admin(_erase),
    "POST /api/v1/finance/payouts/run": lambda s: (s.finance, (
        fund(s.db, s.network.advertiser["id"], "1000.00"),
        set_vertical(s.db, s.network.vertical["id"], return_window_days=0),
        earn(s.db, s.network, "80.00"),
        s.client.post("/api/v1/finance/payouts/run", headers=s.finance, json=PERIOD))[-1]),
    "POST /api/v1/finance/payouts/{payout_id:int}/approve": _payout_action("approve", {}),
    "POST /api/v1/finance/payouts/{payout_id:int}/hold": _payout_action("hold", {"note": "bank details unverified"}),
    "POST /api/v1/finance/payouts/{payout_id:int}/reject": _payout_action("reject", {"note": "duplicate account"}),
    "POST /api/v1/finance/payouts/{payout_id:int}/pay": _payout_action(
        "pay", {"method": "bank", "reference": "BATCH-7"}, approve_first=True),
    "POST /api/v1/admin/payouts/{payout_id:int}/clear-hold": _admin(lambda s: s.client.post(
        f"/api/v1/admin/payouts/{s.fraud_held_payout()}/clear-hold", headers=s.admin, json={"note": "checked"})),
    "POST /api/v1/admin/payouts/{payout_id:int}/forfeit": _admin(lambda s: s.client.post(
        f"/api/v1/admin/payouts/{s.fraud_held_payout()}/forfeit", headers=s.admin, json={"note": "bot traffic"})),
    "POST /api/v1/api-keys": _finance(lambda s: s.client.post("/api/v1/api-keys", headers=s.finance,
                                                              json={"name": "finance laptop"})),
    "POST /api/v1/api-keys/rotate": _finance(lambda s: s.client.post("/api/v1/api-keys/rotate", headers=s.finance,
                                                                     json={"grace_seconds": 60})),
    "POST /api/v1/api-keys/{key_id:int}/revoke": _finance(_revoke_key),
}


@pytest.fixture
def staff(client, network, db) -> Staff:
    return Staff(client=client, network=network, db=db, admin=network.admin_headers,
                 finance=_key(db, Role.FINANCE, "Fran (finance)"), other_finance=_key(db, Role.FINANCE, "Omar (finance)"))


def _audit_rows_by(db: sessionmaker[Session], key_id: int) -> list[AuditEvent]:
    with db() as session:
        return list(session.execute(select(AuditEvent).where(AuditEvent.actor_key_id == key_id)
                                    .order_by(AuditEvent.id)).scalars())


def test_every_staff_mutation_has_a_recipe(client):
    routes = staff_mutations(client.app)
    missing = routes - RECIPES.keys() - EXEMPT.keys() - AWAITING.keys()
    assert not missing, ("admin/finance routes that change state without an audit recipe here; add one (and an "
                         f"audit.record in the service): {sorted(missing)}")
    assert not (RECIPES.keys() - routes), f"recipes for routes that are gone: {sorted(RECIPES.keys() - routes)}"


@pytest.mark.parametrize("route", sorted(RECIPES))
def test_the_action_is_audited_with_its_actor(staff, route):
    callers = {"admin": principal_for(staff.db, staff.admin["X-API-Key"]),
               "finance": principal_for(staff.db, staff.finance["X-API-Key"])}
    before = {role: len(_audit_rows_by(staff.db, p.api_key_id)) for role, p in callers.items()}

    headers, answer = RECIPES[route](staff)

    assert 200 <= answer.status_code < 300, f"{route}: {answer.status_code} {answer.text}"
    role = "admin" if headers is staff.admin else "finance"
    rows = _audit_rows_by(staff.db, callers[role].api_key_id)
    assert len(rows) > before[role], f"{route} answered {answer.status_code} but wrote no audit row naming its caller"
    latest = rows[-1]
    assert (latest.actor_role, latest.actor_name) == (role, callers[role].name)
    assert latest.action and latest.subject_type and latest.subject_id
