"""Call tracking: affiliates' tracking numbers and the telephony provider's call webhook."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import JSONBody

from affiliates import calls
from affiliates.call_schemas import (
    CallOutcome,
    CallReport,
    TrackingNumberCreate,
    TrackingNumberView,
)
from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.identity import Role


class TrackingNumberController(Controller):
    path = "/api/v1/tracking-numbers"
    tags = ["calls"]

    @post(sync_to_thread=True, guards=[requires_role(Role.AFFILIATE, Role.ADMIN)],
          responses=problems(400, 401, 403, 409, 413, 422))
    def register(self, data: JSONBody[TrackingNumberCreate], session: DbSession,
                 principal: Caller) -> TrackingNumberView:
        """A phone number (E.164) whose callers become leads of `offer_id` for the affiliate (an
        affiliate registers for themself; an admin names `affiliate_id`). 409 when it is taken."""
        return calls.register_number(session, principal, data)

    @get(sync_to_thread=True, guards=[requires_role(Role.AFFILIATE, Role.ADMIN, Role.FINANCE)],
         responses=problems(401, 403))
    def list(self, session: DbSession, principal: Caller) -> list[TrackingNumberView]:
        return calls.list_numbers(session, principal)


class CallController(Controller):
    path = "/api/v1/calls"
    tags = ["calls"]

    @post(sync_to_thread=True, guards=[requires_role(Role.ADMIN)], responses=problems(400, 401, 403, 413, 422))
    def report(self, data: JSONBody[CallReport], session: DbSession, principal: Caller) -> CallOutcome:
        """The telephony provider's webhook for a finished call, with the network's integration
        (admin) key. A call longer than its offer's `min_call_seconds` (60 when unset) becomes a
        lead, deduplicated on the caller's number and screened; a shorter one is `too_short`.
        The same `call_id` again is answered as the first time and changes nothing."""
        return calls.receive_call(session, principal, data)


CALL_HANDLERS = [TrackingNumberController, CallController]
