"""Conversions (advertisers report and decide), the public `/postback`, and affiliates' postbacks."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post, put, route
from litestar.params import JSONBody, PathParameter, QueryParameter

from affiliates import conversions, postbacks
from affiliates.conversion_schemas import (
    ConversionReport,
    ConversionView,
    PostbackTemplateSet,
    PostbackTemplateView,
    PostbackToken,
    PostbackView,
)
from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.identity import Role

ConversionId = Annotated[int, PathParameter(ge=1, le=2**62)]


class ConversionController(Controller):
    path = "/api/v1/conversions"
    tags = ["conversions"]

    @post(sync_to_thread=True, guards=[requires_role(Role.ADVERTISER)],
          responses=problems(400, 401, 403, 404, 413, 422, 503))
    def report(self, data: JSONBody[ConversionReport], session: DbSession, principal: Caller) -> ConversionView:
        """Report an action for a lead or a click. The same `external_id` again returns the first
        conversion with `replayed: true` and changes nothing. Over the offer's daily cap it is
        recorded with status `over_cap` (not paid)."""
        return conversions.report_conversion(session, principal, data)

    @get(sync_to_thread=True, guards=[requires_role(Role.ADVERTISER, Role.AFFILIATE, Role.ADMIN, Role.FINANCE)],
         responses=problems(401, 403))
    def list(self, session: DbSession, principal: Caller) -> list[ConversionView]:
        return conversions.list_conversions(session, principal)

    @post("/{conversion_id:int}/approve", sync_to_thread=True, status_code=200,
          guards=[requires_role(Role.ADVERTISER)], responses=problems(401, 403, 404, 409, 422))
    def approve(self, conversion_id: ConversionId, session: DbSession, principal: Caller) -> ConversionView:
        """Approve a pending conversion: the affiliate earns the offer's payout, you pay its revenue."""
        return conversions.decide_conversion(session, principal, conversion_id, "approved")

    @post("/{conversion_id:int}/reject", sync_to_thread=True, status_code=200,
          guards=[requires_role(Role.ADVERTISER)], responses=problems(401, 403, 404, 409, 422))
    def reject(self, conversion_id: ConversionId, session: DbSession, principal: Caller) -> ConversionView:
        return conversions.decide_conversion(session, principal, conversion_id, "rejected")


@post("/api/v1/postback-token", sync_to_thread=True, tags=["conversions"], guards=[requires_role(Role.ADVERTISER)],
      responses=problems(401, 403))
def issue_postback_token(session: DbSession, principal: Caller) -> PostbackToken:
    """A new secret for `/postback` (shown once; the previous one stops working), with a URL to copy."""
    return conversions.issue_postback_token(session, principal)


Text = Annotated[str | None, QueryParameter(required=False, max_length=300)]


@route("/postback", http_method=["GET", "POST"], sync_to_thread=True, status_code=200, tags=["public"],
       responses=problems(400, 401, 404, 422, 503))
def receive_postback(session: DbSession, token: Text = None, click_id: Text = None, event: Text = None,
                     amount: Text = None, external_id: Text = None, customer_id: Text = None,
                     status: Text = None,
                     lead_id: Annotated[int | None, QueryParameter(required=False, ge=1, le=2**62)] = None,
                     ) -> ConversionView:
    """Server-to-server conversion: `?token=…&click_id=…&event=…&external_id=…&amount=…` (query
    parameters on GET and POST). Unknown click → 404; the same external_id again → the first."""
    report = ConversionReport(event=event, external_id=external_id, click_id=click_id, lead_id=lead_id, amount=amount,
                              customer_id=customer_id, status=status)
    return conversions.receive_postback(session, token, report)


class PostbackController(Controller):
    path = "/api/v1/postbacks"
    tags = ["postbacks"]
    guards = [requires_role(Role.AFFILIATE)]

    @get(sync_to_thread=True, responses=problems(401, 403))
    def list(self, session: DbSession, principal: Caller) -> list[PostbackView]:
        """Your postbacks, newest first, with every call we made and what your server answered."""
        return postbacks.list_postbacks(session, principal)

    @put("/template", sync_to_thread=True, responses=problems(400, 401, 403, 413, 422))
    def set_template(self, data: JSONBody[PostbackTemplateSet], session: DbSession,
                     principal: Caller) -> PostbackTemplateView:
        """Your postback URL with macros ({click_id}, {lead_id}, {status}, {payout}, {event}, {sub1}…)
        and the events to call it for (default: all)."""
        return postbacks.set_template(session, principal, data)

    @get("/template", sync_to_thread=True, responses=problems(401, 403, 404))
    def get_template(self, session: DbSession, principal: Caller) -> PostbackTemplateView:
        return postbacks.get_template(session, principal)
