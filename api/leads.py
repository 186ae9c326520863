"""Lead intake and lead lookup for affiliates."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import HeaderParameter, JSONBody, PathParameter

from api.deps import Caller, DbSession

from api.auth import requires_role
from api.errors import problems
from leadmarket.identity import Role
from marketplace import intake
from marketplace.schemas import LeadDecision, LeadSubmission, LeadView


class LeadController(Controller):
    path = "/api/v1/leads"
    tags = ["leads"]

    @post(guards=[requires_role(Role.AFFILIATE)], responses=problems(400, 401, 403, 409, 413, 422, 503))
    async def submit(self, data: JSONBody[LeadSubmission], principal: Caller, state: State,
                     idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key",
                                                                            required=False)] = None,
                     ) -> LeadDecision:
        """Post a lead. 201 means the lead and its outcome are committed; retry with the same
        Idempotency-Key to get the same answer."""
        # Concurrent posts of this process share a transaction (marketplace/batching.py); the
        # event loop goes on serving while this one is decided.
        return await state.intake.submit_async(intake.LeadPost(principal, data, idempotency_key))

    @get("/{lead_id:int}", sync_to_thread=True, guards=[requires_role(Role.AFFILIATE, Role.ADMIN, Role.FINANCE)],
         responses=problems(401, 403, 404, 422))
    def read(self, lead_id: Annotated[int, PathParameter(ge=1, le=2**62)], session: DbSession,
             principal: Caller) -> LeadView:
        return intake.get_lead(session, principal, lead_id)
