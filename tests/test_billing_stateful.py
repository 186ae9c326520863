"""A property-based stateful test of the money (Hypothesis): random sequences of Stripe top-ups (their
webhooks verified, duplicated, re-reported under new event ids, failures arriving late), sales,
returns, conversions and payout runs, approvals and payments — and after every step the ledger's
invariants: the trial balance is zero, every transaction sums to zero, cached balances equal their
entries, no prepaid balance is below minus its credit limit, and each Stripe event took effect once.

Services are called as the API calls them; webhooks go through the real endpoint with a real
signature; the PaymentIntents come from our Stripe fake through the SDK. A simple model (dicts
of expected balances) says what each step must do, so a refused charge or an ignored event is
checked too, not only the totals.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import json
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings as hypothesis_settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test
from litestar.testing import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from billing import charging, ledger, topups
from billing.errors import ChargeNotFound, InsufficientFunds
from billing.models import ADVERTISER_CASH, AFFILIATE_PAYABLE, LedgerAccount, LedgerEntry, LedgerTransaction, Topup
from billing.payout_models import PayoutEntry
from billing.payout_runs import run_payouts
from billing.payout_schemas import PayoutPay, PayoutRunCreate
from billing.payouts import approve_payout, pay_payout
from billing.reconcile import reconcile_balances
from billing.schemas import TopupCreate
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import Conflict
from leadmarket.identity import Principal, Role
from leadmarket.settings import Settings, configure
from tests.store_support import set_vertical
from tests.stripe_fake import StripeFake
from tests.support import created

WEBHOOK_SECRET = "whsec_stateful"
FINANCE = [Principal(role=Role.FINANCE, api_key_id=n, name=f"finance {n}") for n in (9001, 9002)]
CREDIT_LIMITS = (3000, 0)  # minor units: one advertiser may owe 30.00, the other nothing
_serial = itertools.count(1)


@dataclasses.dataclass
class TopupEvents:
    topup_id: int
    amount_minor: int
    advertiser: int  # index into the machine's advertisers
    events: dict[str, dict[str, Any]]  # kind ("succeeded", "reported_again", "failed") -> the event


def sign(payload: bytes) -> str:
    timestamp = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class BillingMachine(RuleBasedStateMachine):
    # Set by the test before the machine runs.
    db: sessionmaker[Session]
    app: TestClient
    advertisers: list[int]  # prepaid, with CREDIT_LIMITS
    affiliates: list[int]

    topup_events = Bundle("topup_events")
    sales = Bundle("sales")
    payouts = Bundle("payouts")

    def __init__(self) -> None:
        super().__init__()
        # The parties live across examples (the database keeps every example's rows, which the
        # global invariants still cover); the model starts from what the ledger says now.
        with self.db() as session:
            cash = dict(session.execute(select(LedgerAccount.advertiser_id, LedgerAccount.balance_minor).where(
                LedgerAccount.kind == ADVERTISER_CASH, LedgerAccount.advertiser_id.in_(self.advertisers))).all())
            payable = dict(session.execute(select(LedgerAccount.affiliate_id, LedgerAccount.balance_minor).where(
                LedgerAccount.kind == AFFILIATE_PAYABLE, LedgerAccount.affiliate_id.in_(self.affiliates))).all())
            covered = select(PayoutEntry.id).where(PayoutEntry.ledger_entry_id == LedgerEntry.id,
                                                   PayoutEntry.released.is_(False)).exists()
            uncovered = dict(session.execute(
                select(LedgerAccount.affiliate_id, func.sum(LedgerEntry.amount_minor))
                .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
                .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
                .where(LedgerAccount.kind == AFFILIATE_PAYABLE, LedgerAccount.affiliate_id.in_(self.affiliates),
                       ~LedgerTransaction.kind.startswith("payout"), ~covered)
                .group_by(LedgerAccount.affiliate_id)).all())
        self.cash = [cash.get(a, 0) for a in self.advertisers]               # expected cash balances (minor)
        self.payable = [payable.get(a, 0) for a in self.affiliates]          # expected payable balances
        self.uncovered = [int(uncovered.get(a) or 0) for a in self.affiliates]  # payable no payout covers yet
        self.topups: set[int] = set()      # top-ups started in this example
        self.credited: set[int] = set()    # ... whose money arrived
        self.closed: set[int] = set()      # ... marked failed before any success
        self.seen_events: set[str] = set()
        self.charges: dict[str, tuple[int, int, int, int]] = {}  # reference -> advertiser, affiliate, price, payout
        self.returned: set[str] = set()
        self.payout_state: dict[int, tuple[int, int, str]] = {}  # payout id -> affiliate, amount, status
        self.last_period: dict[str, Any] | None = None
        self.drafted_in_last_period: set[int] = set()  # affiliates (indexes) with a payout in last_period
        self.period_base = utcnow() - timedelta(days=1)
        self.tag = next(_serial)

    # --- Stripe top-ups and their webhooks ---------------------------------------------------------

    @rule(target=topup_events, advertiser=st.integers(0, 1), amount_minor=st.integers(100, 8000))
    def start_topup(self, advertiser: int, amount_minor: int) -> TopupEvents:
        principal = Principal(role=Role.ADVERTISER, advertiser_id=self.advertisers[advertiser])
        with self.db() as session:
            view = topups.create_topup(session, principal, TopupCreate(amount=Decimal(amount_minor).scaleb(-2)))
            intent_id = session.execute(select(Topup.stripe_payment_intent_id).where(Topup.id == view.topup_id)
                                        ).scalar_one()
        assert view.status == "pending" and intent_id is not None
        self.topups.add(view.topup_id)
        intent = {"id": intent_id, "object": "payment_intent", "amount": amount_minor, "currency": "usd",
                  "metadata": {"topup_id": str(view.topup_id), "advertiser_id": str(self.advertisers[advertiser])}}
        prefix = f"evt_{self.tag}_{view.topup_id}"
        succeeded = {**intent, "status": "succeeded", "amount_received": amount_minor}
        failed = {**intent, "status": "requires_payment_method", "amount_received": 0,
                  "last_payment_error": {"code": "card_declined"}}
        return TopupEvents(view.topup_id, amount_minor, advertiser, {
            "succeeded": {"id": f"{prefix}_ok", "type": "payment_intent.succeeded", "data": {"object": succeeded}},
            "reported_again": {"id": f"{prefix}_ok2", "type": "payment_intent.succeeded",
                               "data": {"object": succeeded}},
            "failed": {"id": f"{prefix}_declined", "type": "payment_intent.payment_failed",
                       "data": {"object": failed}}})

    @rule(topup=topup_events, kind=st.sampled_from(["succeeded", "reported_again", "failed"]))
    def deliver_webhook(self, topup: TopupEvents, kind: str) -> None:
        """Any event of any top-up, again and again, in any order."""
        event = topup.events[kind]
        payload = json.dumps(event).encode()
        response = self.app.post("/webhooks/stripe", content=payload,
                                 headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload)})
        assert response.status_code == 200, response.text
        first_time = event["id"] not in self.seen_events
        self.seen_events.add(event["id"])
        if kind == "failed":
            expected = first_time and topup.topup_id not in self.credited
            if expected:
                self.closed.add(topup.topup_id)
        else:
            expected = first_time and topup.topup_id not in self.credited
            if expected:
                self.credited.add(topup.topup_id)
                self.cash[topup.advertiser] += topup.amount_minor
        assert response.json() == {"received": True, "applied": expected}, (kind, event["id"])

    @rule(topup=topup_events)
    def deliver_a_forged_webhook(self, topup: TopupEvents) -> None:
        payload = json.dumps(topup.events["succeeded"]).encode()
        forged = self.app.post("/webhooks/stripe", content=payload, headers={
            "Content-Type": "application/json", "Stripe-Signature": sign(payload + b" ")})
        assert forged.status_code == 400

    # --- sales, conversions, returns ---------------------------------------------------------------

    def _charge(self, kind: str, advertiser: int, affiliate: int, price: int, share: int) -> Any:
        payout = price * share // 100
        reference = f"{kind}-stateful:{self.tag}:{next(_serial)}"
        charge = charging.charge_sale if kind == "sale" else charging.charge_conversion
        amount = {"price_minor": price} if kind == "sale" else {"revenue_minor": price}
        affords = self.cash[advertiser] - price >= -CREDIT_LIMITS[advertiser]
        try:
            with self.db() as session, transaction(session):
                charge(session, reference=reference, advertiser_id=self.advertisers[advertiser],
                       affiliate_id=self.affiliates[affiliate], payout_minor=payout, currency="USD", **amount)
        except InsufficientFunds:
            assert not affords, f"{kind} of {price} refused with cash {self.cash[advertiser]}"
            return reference  # never charged: returning it must be refused (the bundle's size stays
            # independent of the database, as Hypothesis needs to replay a sequence)
        assert affords, f"{kind} of {price} taken below the credit limit (cash {self.cash[advertiser]})"
        self.cash[advertiser] -= price
        self.payable[affiliate] += payout
        self.uncovered[affiliate] += payout
        self.charges[reference] = (advertiser, affiliate, price, payout)
        return reference

    @rule(target=sales, advertiser=st.integers(0, 1), affiliate=st.integers(0, 1), price=st.integers(1, 1500),
          share=st.integers(0, 100))
    def sell(self, advertiser: int, affiliate: int, price: int, share: int) -> Any:
        return self._charge("sale", advertiser, affiliate, price, share)

    @rule(advertiser=st.integers(0, 1), affiliate=st.integers(0, 1), price=st.integers(1, 2500),
          share=st.integers(0, 100))
    def convert(self, advertiser: int, affiliate: int, price: int, share: int) -> None:
        self._charge("conversion", advertiser, affiliate, price, share)

    @rule(reference=sales)
    def return_sale(self, reference: str) -> None:
        """Returned, perhaps again (a retried return refunds once), perhaps after its payout was paid."""
        try:
            with self.db() as session, transaction(session):
                posted = charging.reverse_sale(session, reference, memo="stateful return")
        except ChargeNotFound:
            assert reference not in self.charges
            return
        assert posted.replayed == (reference in self.returned)
        if reference not in self.returned:
            advertiser, affiliate, price, payout = self.charges[reference]
            self.returned.add(reference)
            self.cash[advertiser] += price
            self.payable[affiliate] -= payout
            self.uncovered[affiliate] -= payout

    # --- payouts -----------------------------------------------------------------------------------

    @rule(target=payouts)
    def run_payouts(self) -> Any:
        start = self.period_base + timedelta(seconds=next(_serial))
        self.last_period = {"period_start": start, "period_end": start + timedelta(days=30)}
        self.drafted_in_last_period = set()
        return self._run(self.last_period)

    @rule(target=payouts)
    def rerun_last_period(self) -> Any:
        """The same period again: an affiliate drafted in it gets nothing new; one that had nothing
        due then and has commission now is drafted under it."""
        if self.last_period is None:
            return multiple(None, None)
        return self._run(self.last_period)

    def _run(self, period: dict[str, Any]) -> Any:
        with self.db() as session:
            result = run_payouts(session, FINANCE[0], PayoutRunCreate(**period, minimum=Decimal("0.01")))
        mine = {p.affiliate_id: p for p in result.payouts if p.affiliate_id in self.affiliates}
        drafted: list[int | None] = []  # one per affiliate, None when nothing new was drafted
        for index, affiliate_id in enumerate(self.affiliates):
            if index in self.drafted_in_last_period:
                assert mine[affiliate_id].id in self.payout_state  # the one drafted before
                drafted.append(None)
            elif self.uncovered[index] > 0:
                payout = mine[affiliate_id]
                assert payout.id not in self.payout_state and int(payout.amount.scaleb(2)) == self.uncovered[index]
                self.payout_state[payout.id] = (index, self.uncovered[index], "draft")
                self.uncovered[index] = 0
                self.drafted_in_last_period.add(index)
                drafted.append(payout.id)
            else:
                assert affiliate_id not in mine
                drafted.append(None)
        assert result.drafted >= sum(1 for payout_id in drafted if payout_id is not None)
        return multiple(*drafted)

    @rule(payout_id=payouts)
    def approve(self, payout_id: int | None) -> None:
        if payout_id is None:
            return
        affiliate, amount, status = self.payout_state[payout_id]
        try:
            for principal in FINANCE:  # above the second-approval amount it takes two people
                with self.db() as session:
                    view = approve_payout(session, principal, payout_id)
                if view.status == "approved":
                    break
        except Conflict:
            assert status != "draft"
            return
        assert status == "draft" and view.status == "approved"
        self.payout_state[payout_id] = (affiliate, amount, "approved")

    @rule(payout_id=payouts)
    def pay(self, payout_id: int | None) -> None:
        """Bank payment; paying a draft or paying twice is refused and moves nothing."""
        if payout_id is None:
            return
        affiliate, amount, status = self.payout_state[payout_id]
        try:
            with self.db() as session:
                view = pay_payout(session, FINANCE[1], payout_id, PayoutPay(method="bank", reference=f"B{payout_id}"))
        except Conflict:
            assert status != "approved"
            return
        assert status == "approved" and view.status == "paid"
        self.payout_state[payout_id] = (affiliate, amount, "paid")
        self.payable[affiliate] -= amount

    @rule(payout_id=payouts)
    def settle(self, payout_id: int | None) -> None:
        """Approve and pay in one go (the usual path), so sequences reach paid payouts often."""
        self.approve(payout_id)
        self.pay(payout_id)

    # --- invariants, after every step ----------------------------------------------------------------

    @invariant()
    def ledger_holds(self) -> None:
        with self.db() as session:
            trial = ledger.trial_balance(session)
            assert trial.balanced and all(total.total == 0 for total in trial.totals), trial.totals
            unbalanced = session.execute(
                select(LedgerEntry.transaction_id, LedgerEntry.currency).group_by(
                    LedgerEntry.transaction_id, LedgerEntry.currency).having(func.sum(LedgerEntry.amount_minor) != 0)
            ).all()
            assert unbalanced == []
            report = reconcile_balances(session)
            assert report.ok, report.as_dict()
            below = session.execute(text(
                "SELECT a.id FROM ledger_account a JOIN advertiser adv ON adv.id = a.advertiser_id"
                " WHERE a.kind = 'advertiser_cash' AND adv.billing_mode = 'prepaid'"
                " AND a.currency = adv.currency AND a.balance_minor < -adv.credit_limit_minor")).all()
            assert below == []

    @invariant()
    def balances_match_the_model(self) -> None:
        with self.db() as session:
            cash = dict(session.execute(select(LedgerAccount.advertiser_id, LedgerAccount.balance_minor).where(
                LedgerAccount.kind == ADVERTISER_CASH, LedgerAccount.advertiser_id.in_(self.advertisers))).all())
            payable = dict(session.execute(select(LedgerAccount.affiliate_id, LedgerAccount.balance_minor).where(
                LedgerAccount.kind == AFFILIATE_PAYABLE, LedgerAccount.affiliate_id.in_(self.affiliates))).all())
        assert [cash.get(a, 0) for a in self.advertisers] == self.cash
        assert [payable.get(a, 0) for a in self.affiliates] == self.payable

    @invariant()
    def each_topup_is_credited_once(self) -> None:
        with self.db() as session:
            credits = session.execute(select(LedgerTransaction.reference, func.count()).where(
                LedgerTransaction.kind == "topup").group_by(LedgerTransaction.reference)).all()
            statuses = dict(session.execute(select(Topup.id, Topup.status).where(Topup.id.in_(self.topups))).all())
        assert all(count == 1 for _, count in credits)
        mine = {reference for reference, _ in credits} & {f"topup:{t}" for t in self.topups}
        assert mine == {f"topup:{t}" for t in self.credited}
        for topup_id, status in statuses.items():
            expected = ("succeeded" if topup_id in self.credited else "failed" if topup_id in self.closed
                        else "pending")
            assert status == expected, (topup_id, status)


def test_money_stays_consistent_over_random_sequences(settings: Settings, engine, db, client, network):
    fake = StripeFake.start()
    configured = dataclasses.replace(settings, stripe_api_key="sk_test_local", stripe_api_base=fake.url,
                                     stripe_webhook_secret=WEBHOOK_SECRET)
    set_vertical(db, network.vertical["id"], return_window_days=0)  # commission matures at once
    try:
        with TestClient(create_app(configured, engine=engine), raise_server_exceptions=False) as app:
            admin = network.admin_headers
            BillingMachine.db, BillingMachine.app = db, app
            BillingMachine.advertisers = [created(app.post("/api/v1/advertisers", headers=admin, json={
                "name": f"Stateful Buyer {i}", "email": f"buyer{i}@stateful.example", "billing_mode": "prepaid",
                "credit_limit": str(Decimal(limit).scaleb(-2))}))["id"] for i, limit in enumerate(CREDIT_LIMITS)]
            BillingMachine.affiliates = [created(app.post("/api/v1/affiliates", headers=admin, json={
                "name": f"Stateful Publisher {i}", "email": f"pub{i}@stateful.example"}))["id"] for i in range(2)]
            run_state_machine_as_test(BillingMachine, settings=hypothesis_settings(
                max_examples=15, stateful_step_count=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    finally:
        configure(settings)
        fake.stop()
