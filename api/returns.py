"""Returns for staff and affiliates: admins approve or reject pending returns; the returns report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.identity import Role
from marketplace import returns
from marketplace.returns import ReturnRules, ReturnRulesView, ReturnsReport, ReturnView

ReturnId = Annotated[int, PathParameter(ge=1, le=2**62)]
AdvertiserId = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]


class ReturnController(Controller):
    path = "/api/v1/returns"
    tags = ["returns"]

    @post("/{return_id:int}/approve", sync_to_thread=True, guards=[requires_role(Role.ADMIN)], status_code=200,
          responses=problems(400, 401, 403, 404, 409, 422))
    def approve(self, return_id: ReturnId, session: DbSession, principal: Caller) -> ReturnView:
        """Approve a pending return: the advertiser is refunded, the affiliate's share clawed back."""
        return returns.decide_return(session, principal, return_id, approve=True)

    @post("/{return_id:int}/reject", sync_to_thread=True, guards=[requires_role(Role.ADMIN)], status_code=200,
          responses=problems(400, 401, 403, 404, 409, 422))
    def reject(self, return_id: ReturnId, session: DbSession, principal: Caller) -> ReturnView:
        return returns.decide_return(session, principal, return_id, approve=False)

    @get("/report", sync_to_thread=True, guards=[requires_role(Role.ADMIN, Role.FINANCE, Role.AFFILIATE)],
         responses=problems(400, 401, 403, 422))
    def report(self, session: DbSession, principal: Caller,
               since: Annotated[datetime | None, QueryParameter(required=False)] = None,
               until: Annotated[datetime | None, QueryParameter(required=False)] = None) -> ReturnsReport:
        """Returns by reason and by source (affiliate, sub1): all for staff, your own leads' for an affiliate."""
        return returns.returns_report(session, principal, since=since, until=until)

    @get("/rules/{advertiser_id:int}", sync_to_thread=True,
         guards=[requires_role(Role.ADMIN, Role.FINANCE, Role.ADVERTISER)], responses=problems(400, 401, 403, 404, 422))
    def read_rules(self, advertiser_id: AdvertiserId, session: DbSession, principal: Caller) -> ReturnRulesView:
        """An advertiser's return rules (staff: anyone's; an advertiser: its own) and the reason codes."""
        return returns.get_rules(session, principal, advertiser_id)

    @put("/rules/{advertiser_id:int}", sync_to_thread=True, guards=[requires_role(Role.ADMIN)],
         responses=problems(400, 401, 403, 404, 413, 422))
    def set_rules(self, advertiser_id: AdvertiserId, data: JSONBody[ReturnRules], session: DbSession,
                  principal: Caller) -> ReturnRulesView:
        """Replace an advertiser's return rules: auto-approved reasons, caps per billing period
        (count, percent of purchases, a floor of returns always allowed); left out = default."""
        return returns.set_rules(session, principal, advertiser_id, data)
