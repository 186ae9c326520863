"""Traffic costs: affiliates report what their traffic cost, per day, offer and sub-ids."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, QueryParameter

from affiliates import costs
from affiliates.tracking_schemas import TrafficCostCreate, TrafficCostView
from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.clock import utcnow
from leadmarket.identity import Role


class TrafficCostController(Controller):
    path = "/api/v1/traffic-costs"
    tags = ["tracking"]

    @post(sync_to_thread=True, guards=[requires_role(Role.AFFILIATE)], responses=problems(400, 401, 403, 413, 422))
    def record(self, data: JSONBody[TrafficCostCreate], session: DbSession, principal: Caller) -> TrafficCostView:
        """Spend for one UTC day, offer and (optional) sub-ids, e.g. {"date": "2026-11-20",
        "offer_id": 3, "sub_ids": {"sub1": "fb"}, "amount": "10000.00", "currency": "USD"}. The
        same day, offer and sub-ids again replace the amount (`replaced` says so)."""
        return costs.record_traffic_cost(session, principal, data)

    @get(sync_to_thread=True, guards=[requires_role(Role.AFFILIATE, Role.ADMIN, Role.FINANCE)],
         responses=problems(400, 401, 403, 422))
    def list(self, session: DbSession, principal: Caller,
             start: Annotated[date | None, QueryParameter(name="from", required=False)] = None,
             end: Annotated[date | None, QueryParameter(name="to", required=False)] = None) -> list[TrafficCostView]:
        today = utcnow().date()
        return costs.list_traffic_costs(session, principal, start or today - timedelta(days=30), end or today)
