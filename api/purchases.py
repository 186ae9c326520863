"""Advertisers' purchases: their sales with the full lead, delivery and return status; returns."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.identity import Role
from marketplace import purchases, returns
from marketplace.purchases import PurchaseView
from marketplace.returns import ReturnRequest, ReturnView

SaleId = Annotated[int, PathParameter(ge=1, le=2**62)]


class PurchaseController(Controller):
    path = "/api/v1/purchases"
    guards = [requires_role(Role.ADVERTISER)]
    tags = ["advertisers"]

    @get(sync_to_thread=True, responses=problems(400, 401, 403, 422))
    def list(self, session: DbSession, principal: Caller,
             limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
             offset: Annotated[int, QueryParameter(ge=0, le=2**31)] = 0) -> list[PurchaseView]:
        """Your purchases, newest first, each with the full lead, delivery and return status."""
        return purchases.list_purchases(session, principal, limit=limit, offset=offset)

    @get("/{sale_id:int}", sync_to_thread=True, responses=problems(400, 401, 403, 404, 422))
    def read(self, sale_id: SaleId, session: DbSession, principal: Caller) -> PurchaseView:
        return purchases.get_purchase(session, principal, sale_id)

    @post("/{sale_id:int}/return", sync_to_thread=True, responses=problems(400, 401, 403, 404, 409, 413, 422))
    def return_purchase(self, sale_id: SaleId, data: JSONBody[ReturnRequest], session: DbSession,
                        principal: Caller) -> ReturnView:
        """Return a bad lead within the vertical's return window, with a reason code
        (`not_interested` is not one). Approved at once for your auto-approved reasons, else
        pending for an admin; 409 outside the window, twice, or over your cap."""
        return returns.request_return(session, principal, sale_id, data)
