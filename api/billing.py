"""Money endpoints: the trial balance, advertisers' balances and manual credits, Stripe top-ups
and the Stripe webhook."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import HeaderParameter, JSONBody, PathParameter, RawBody

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from billing import balances, ledger, topups
from billing.schemas import (BalanceView, CreditCreate, CreditView, TopupCreate, TopupView, TrialBalanceView,
                             WebhookReceipt)
from leadmarket.identity import Role

Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]  # advertiser and topup keys are 32-bit integer columns
IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)]


class FinanceController(Controller):
    path = "/api/v1/finance"
    guards = [requires_role(Role.FINANCE, Role.ADMIN)]
    tags = ["finance"]

    @get("/trial-balance", sync_to_thread=True, responses=problems(401, 403))
    def trial_balance(self, session: DbSession) -> TrialBalanceView:
        """Every ledger account with its balance (summed from its entries), and per currency the
        total of all balances, which is zero."""
        return ledger.trial_balance(session)


class CreditController(Controller):
    path = "/api/v1/advertisers"
    guards = [requires_role(Role.ADMIN, Role.FINANCE)]
    tags = ["finance"]

    @post("/{advertiser_id:int}/credits", sync_to_thread=True, responses=problems(400, 401, 403, 404, 409, 413, 422))
    def credit(self, advertiser_id: Id, data: JSONBody[CreditCreate], session: DbSession, principal: Caller,
               idempotency_key: IdempotencyKey = None) -> CreditView:
        """Credit an advertiser's balance by hand; `note` (the reason) is required and audited."""
        return balances.credit_advertiser(session, principal, advertiser_id, data, idempotency_key=idempotency_key)


class BalanceController(Controller):
    path = "/api/v1/balance"
    guards = [requires_role(Role.ADVERTISER)]
    tags = ["advertisers"]

    @get(sync_to_thread=True, responses=problems(401, 403))
    def read(self, session: DbSession, principal: Caller) -> BalanceView:
        """The calling advertiser's balance, credit limit and what is still available to spend."""
        return balances.advertiser_balance(session, principal)


class TopupController(Controller):
    path = "/api/v1/topups"
    tags = ["advertisers"]

    @post(sync_to_thread=True, guards=[requires_role(Role.ADVERTISER)],
          responses=problems(400, 401, 403, 409, 413, 422, 503))
    def create(self, data: JSONBody[TopupCreate], session: DbSession, principal: Caller,
               idempotency_key: IdempotencyKey = None) -> TopupView:
        """Start a top-up: confirm the answer's client_secret with Stripe.js; the balance grows when
        Stripe reports the payment succeeded."""
        return topups.create_topup(session, principal, data, idempotency_key=idempotency_key)

    @get("/{topup_id:int}", sync_to_thread=True, guards=[requires_role(Role.ADVERTISER, Role.FINANCE, Role.ADMIN)],
         responses=problems(401, 403, 404, 422))
    def read(self, topup_id: Id, session: DbSession, principal: Caller) -> TopupView:
        return topups.get_topup(session, principal, topup_id)


@post("/webhooks/stripe", sync_to_thread=True, status_code=200, tags=["webhooks"], responses=problems(400, 503))
def stripe_webhook(body: RawBody, session: DbSession,
                   signature: Annotated[str | None, HeaderParameter(name="Stripe-Signature", required=False)] = None,
                   ) -> WebhookReceipt:
    """Stripe's events, verified by signature; a payment that succeeded credits its top-up once."""
    return topups.apply_stripe_event(session, body, signature)


BILLING_HANDLERS = [FinanceController, CreditController, BalanceController, TopupController, stripe_webhook]
