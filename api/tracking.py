"""Tracking links for affiliates, and the public click redirect `/r/{code}`."""

from __future__ import annotations

import os
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import MediaType
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter

from affiliates import redirect, tracking
from affiliates.tracking_schemas import (
    TrackingLinkCreate,
    TrackingLinkStatus,
    TrackingLinkView,
)
from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.identity import Role

NOT_FOUND_PAGE = (b"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Link not found</title>"
                  b"</head><body><h1>Link not found</h1><p>This link does not exist or is no longer active.</p>"
                  b"</body></html>")
MAX_CODE_LENGTH = 32


class TrackingLinkController(Controller):
    path = "/api/v1/tracking-links"
    tags = ["tracking"]

    @post(sync_to_thread=True, guards=[requires_role(Role.AFFILIATE)], responses=problems(400, 401, 403, 413, 422))
    def create(self, data: JSONBody[TrackingLinkCreate], session: DbSession, principal: Caller) -> TrackingLinkView:
        """A link for one offer, with optional default sub-ids; `url` is what the affiliate
        publishes, `form_url` the platform-hosted lead form of the same link."""
        return tracking.create_link(session, principal, data)

    @get(sync_to_thread=True, guards=[requires_role(Role.AFFILIATE, Role.ADMIN, Role.FINANCE)],
         responses=problems(401, 403))
    def list(self, session: DbSession, principal: Caller) -> list[TrackingLinkView]:
        return tracking.list_links(session, principal)

    @post("/{code:str}/status", sync_to_thread=True, status_code=200,
          guards=[requires_role(Role.AFFILIATE, Role.ADMIN)], responses=problems(400, 401, 403, 404, 413, 422))
    def set_status(self, code: Annotated[str, PathParameter(max_length=MAX_CODE_LENGTH)],
                   data: JSONBody[TrackingLinkStatus], session: DbSession, principal: Caller) -> TrackingLinkView:
        """Pause (`{"status": "paused"}`) or resume a link; a paused link's redirect answers 404."""
        return tracking.set_link_status(session, principal, code, data.status)


def _not_found() -> Response[bytes]:
    return Response(NOT_FOUND_PAGE, status_code=404, media_type=MediaType.HTML, headers={"cache-control": "no-store"})


@get("/r/{code:str}", tags=["public"], status_code=302, media_type=MediaType.HTML,
     responses={302: ResponseSpec(data_container=None, description="To the offer's landing page, macros filled"),
                404: ResponseSpec(data_container=None, description="Unknown or paused link (an HTML page)",
                                  media_type="text/html")})
async def click_redirect(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Record a click (click_id, sub1..sub5, IP, user agent, referrer, `cost`) and redirect.

    Takes the bare request and reads state and path from it: no dependency to resolve per click.
    """
    state, scope = request.app.state, request.scope
    client = scope.get("client")
    visit = redirect.Visit.from_asgi(request.query_params, scope["headers"], client[0] if client else None)
    location = await redirect.click_through(state.settings, state.sessions, scope["path_params"]["code"], visit)
    if location is None:
        return _not_found()
    return Response(b"", status_code=302, headers={"location": location, "cache-control": "no-store"})


@get("/bench/redirect", include_in_schema=False, status_code=302, media_type=MediaType.HTML)
async def bench_redirect() -> Response[bytes]:
    """The click benchmark's ceiling: the same server stack answering a redirect with no work."""
    return Response(b"", status_code=302, headers={"location": "https://landing.example/?cid=0",
                                                   "cache-control": "no-store"})


def tracking_handlers() -> list[Any]:
    """Every route of the affiliate side (issue 8); the bare redirect only when
    LEADMARKET_BENCH_REDIRECT=1 (tests/bench/click_load.py)."""
    from api.conversions import (
        ConversionController,
        PostbackController,
        issue_postback_token,
        receive_postback,
    )
    from api.forms import form_thanks, send_form, show_form
    from api.stats import read_stats
    from api.traffic_costs import TrafficCostController

    handlers: list[Any] = [TrackingLinkController, click_redirect, TrafficCostController, ConversionController,
                           issue_postback_token, receive_postback, PostbackController, read_stats, show_form,
                           send_form, form_thanks]
    if os.environ.get("LEADMARKET_BENCH_REDIRECT") == "1":
        handlers.append(bench_redirect)
    return handlers
