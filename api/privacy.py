"""Privacy requests for admins: erase one lead's personal data (marketplace/privacy.py)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, post
from litestar.params import JSONBody, PathParameter

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.identity import Role
from marketplace import privacy
from marketplace.privacy import ErasureRequest, LeadErasure

LeadId = Annotated[int, PathParameter(ge=1, le=2**62)]


class PrivacyController(Controller):
    path = "/api/v1/leads"
    tags = ["privacy"]

    @post("/{lead_id:int}/erase", sync_to_thread=True, guards=[requires_role(Role.ADMIN)], status_code=200,
          responses=problems(400, 401, 403, 404, 413, 422))
    def erase(self, lead_id: LeadId, data: JSONBody[ErasureRequest], session: DbSession,
              principal: Caller) -> LeadErasure:
        """Erase the lead's personal data for a privacy request: contact data, keyed hashes and free-text
        attributes go; the lead, its sales, ledger entries and payouts stay, and buyers see "erased".
        Repeating the request changes nothing (`already_erased`)."""
        return privacy.erase_lead(session, principal, lead_id, data)
