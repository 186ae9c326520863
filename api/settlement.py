"""The settlement report for finance: revenue, returns, commission, traffic cost and margin."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from api.auth import requires_role
from api.deps import DbSession
from api.errors import problems
from billing import settlement
from billing.settlement_schemas import SettlementReport
from leadmarket.identity import Role


class SettlementController(Controller):
    path = "/api/v1/finance/settlement"
    guards = [requires_role(Role.FINANCE, Role.ADMIN)]
    tags = ["finance"]

    @get(sync_to_thread=True, responses=problems(401, 403, 422))
    def report(self, session: DbSession,
               start: Annotated[str | None, QueryParameter(name="from", required=False,
                                                           description="first UTC day, YYYY-MM-DD")] = None,
               end: Annotated[str | None, QueryParameter(name="to", required=False,
                                                         description="last UTC day (included), YYYY-MM-DD")] = None,
               group_by: Annotated[str | None, QueryParameter(
                   required=False, description="offer (default), affiliate, advertiser or vertical")] = None,
               ) -> SettlementReport:
        """Per group and currency, and a total per currency: revenue, returns, net revenue,
        commission, traffic cost, margin and margin % over `from`..`to` (both included, at most
        366 days). Rounding and sources: billing/settlement.py."""
        return settlement.settlement(session, start, end, group_by)
