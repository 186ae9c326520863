"""Payout endpoints: finance runs, reviews, exports and pays payouts; an affiliate reads its own;
an admin sets an affiliate's Stripe Connect account."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from billing import payout_runs, payouts
from billing.payout_schemas import (PayoutNote, PayoutPage, PayoutPay, PayoutRunCreate, PayoutRunView, PayoutView,
                                    StripeAccountSet, StripeAccountView)
from leadmarket.identity import Role

Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]  # payout and affiliate keys are 32-bit integer columns
Status = Annotated[str | None, QueryParameter(required=False)]
AffiliateFilter = Annotated[int | None, QueryParameter(required=False, ge=1, le=2**31 - 1)]
Limit = Annotated[int, QueryParameter(ge=1, le=payouts.MAX_PAGE)]
Offset = Annotated[int, QueryParameter(ge=0, le=2**31)]


class FinancePayoutController(Controller):
    path = "/api/v1/finance/payouts"
    guards = [requires_role(Role.FINANCE, Role.ADMIN)]
    tags = ["finance"]

    @post("/run", sync_to_thread=True, responses=problems(400, 401, 403, 413, 422))
    def run(self, data: JSONBody[PayoutRunCreate], session: DbSession, principal: Caller) -> PayoutRunView:
        """Draft one payout per affiliate whose matured commission reaches the minimum; running the
        same period again drafts nothing new and answers the same payouts."""
        return payout_runs.run_payouts(session, principal, data)

    @get(sync_to_thread=True, responses=problems(401, 403, 422))
    def list_payouts(self, session: DbSession, principal: Caller, status: Status = None,
             affiliate_id: AffiliateFilter = None, limit: Limit = 50, offset: Offset = 0) -> PayoutPage:
        return payouts.list_payouts(session, principal, status=status, affiliate_id=affiliate_id, limit=limit,
                                    offset=offset)

    @get("/export.csv", sync_to_thread=True, responses=problems(401, 403, 422), media_type="text/csv")
    def export(self, session: DbSession, principal: Caller, status: Annotated[str, QueryParameter()] = "approved",
               ) -> Response[str]:
        """The bank batch: one row per payout; `batch_reference` (also the X-Batch-Reference header)
        is what `pay` with method `bank` records."""
        body, batch = payouts.export_csv(session, principal, status=status)
        return Response(body, media_type="text/csv", headers={
            "X-Batch-Reference": batch, "Content-Disposition": f'attachment; filename="payouts-{batch}.csv"'})

    @get("/{payout_id:int}", sync_to_thread=True, responses=problems(401, 403, 404, 422))
    def read(self, payout_id: Id, session: DbSession, principal: Caller) -> PayoutView:
        return payouts.get_payout(session, principal, payout_id)

    @post("/{payout_id:int}/approve", sync_to_thread=True, status_code=200, responses=problems(401, 403, 404, 409, 422))
    def approve(self, payout_id: Id, session: DbSession, principal: Caller) -> PayoutView:
        """Approve; above the configured amount a second, different finance user must approve too."""
        return payouts.approve_payout(session, principal, payout_id)

    @post("/{payout_id:int}/hold", sync_to_thread=True, status_code=200,
          responses=problems(400, 401, 403, 404, 409, 413, 422))
    def hold(self, payout_id: Id, data: JSONBody[PayoutNote], session: DbSession, principal: Caller) -> PayoutView:
        return payouts.hold_payout(session, principal, payout_id, data)

    @post("/{payout_id:int}/reject", sync_to_thread=True, status_code=200,
          responses=problems(400, 401, 403, 404, 409, 413, 422))
    def reject(self, payout_id: Id, data: JSONBody[PayoutNote], session: DbSession, principal: Caller) -> PayoutView:
        return payouts.reject_payout(session, principal, payout_id, data)

    @post("/{payout_id:int}/pay", sync_to_thread=True, status_code=200,
          responses=problems(400, 401, 403, 404, 409, 413, 422, 503))
    def pay(self, payout_id: Id, data: JSONBody[PayoutPay], session: DbSession, principal: Caller) -> PayoutView:
        """Pay an approved payout by `stripe` (Connect transfer) or `bank` (with the export's batch
        reference). Paying a paid payout again is refused with 409."""
        return payouts.pay_payout(session, principal, payout_id, data)


class AffiliatePayoutController(Controller):
    path = "/api/v1/payouts"
    guards = [requires_role(Role.AFFILIATE)]
    tags = ["affiliates"]

    @get(sync_to_thread=True, responses=problems(401, 403, 422))
    def list_own(self, session: DbSession, principal: Caller, status: Status = None, limit: Limit = 50,
             offset: Offset = 0) -> PayoutPage:
        """The calling affiliate's own payouts."""
        return payouts.list_payouts(session, principal, status=status, limit=limit, offset=offset)


class AdminPayoutController(Controller):
    path = "/api/v1/admin/payouts"
    guards = [requires_role(Role.ADMIN)]
    tags = ["admin"]

    @post("/{payout_id:int}/clear-hold", sync_to_thread=True, status_code=200,
          responses=problems(400, 401, 403, 404, 409, 413, 422))
    def clear_hold(self, payout_id: Id, data: JSONBody[PayoutNote], session: DbSession,
                   principal: Caller) -> PayoutView:
        """Clear a fraud hold: the payout returns to draft for finance's approval."""
        return payouts.clear_fraud_hold(session, principal, payout_id, data)

    @post("/{payout_id:int}/forfeit", sync_to_thread=True, status_code=200,
          responses=problems(400, 401, 403, 404, 409, 413, 422))
    def forfeit(self, payout_id: Id, data: JSONBody[PayoutNote], session: DbSession, principal: Caller) -> PayoutView:
        """Forfeit a fraud-held payout (a note is required): its commission is never paid."""
        return payouts.forfeit_payout(session, principal, payout_id, data)


@put("/api/v1/affiliates/{affiliate_id:int}/stripe-account", sync_to_thread=True, tags=["admin"],
     guards=[requires_role(Role.ADMIN)], responses=problems(400, 401, 403, 404, 413, 422))
def set_stripe_account(affiliate_id: Id, data: JSONBody[StripeAccountSet], session: DbSession,
                       principal: Caller) -> StripeAccountView:
    """Set (or clear, with null) the affiliate's Stripe Connect account id that `stripe` payouts go to."""
    return payouts.set_stripe_account(session, principal, affiliate_id, data)


PAYOUT_HANDLERS = [FinancePayoutController, AffiliatePayoutController, AdminPayoutController, set_stripe_account]
