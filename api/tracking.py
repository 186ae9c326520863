"""Tracking links for affiliates, and the public click redirect `/r/{code}` with the raw ASGI front
that answers it."""

from __future__ import annotations

import os
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from affiliates import redirect, tracking
from affiliates.tracking_schemas import (
    TrackingLinkCreate,
    TrackingLinkStatus,
    TrackingLinkView,
)
from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import EXCEPTION_HANDLERS, problems
from leadmarket.identity import Role
from leadmarket.ratelimit import RateLimiter, admit
from leadmarket.settings import Settings

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

    ClickFront answers the usual form, `GET /r/{code}`, before Litestar routes it; this handler
    serves what Litestar normalises onto the same route (`/r/{code}/`), and declares the route
    for the OpenAPI document.
    """
    state, scope = request.app.state, request.scope
    client = scope.get("client")
    visit = redirect.Visit.from_asgi(request.query_params, scope["headers"], client[0] if client else None)
    location = await redirect.click_through(state.settings, state.sessions, scope["path_params"]["code"], visit)
    if location is None:
        return _not_found()
    return Response(b"", status_code=302, headers={"location": location, "cache-control": "no-store"})


BARE_REDIRECT_PATH = "/bench/redirect"
BARE_LOCATION = b"https://landing.example/?cid=0"
_REDIRECT_HEADERS = ((b"cache-control", b"no-store"), (b"content-type", b"text/html; charset=utf-8"),
                     (b"content-length", b"0"))
_NOT_FOUND_HEADERS = ((b"cache-control", b"no-store"), (b"content-type", b"text/html; charset=utf-8"),
                      (b"content-length", str(len(NOT_FOUND_PAGE)).encode()))
_EMPTY_BODY: Message = {"type": "http.response.body", "body": b""}


class ClickFront:
    """Pure ASGI in front of Litestar for the hottest path: `GET /r/{code}` is answered here from
    the scope, without a Litestar request, routing, kwargs or response objects (they cost more
    than the click's own work); everything else goes on to Litestar.

    With `bare_redirect` (the click benchmark) it also answers `GET /bench/redirect`, a fixed 302,
    on this same layer and through the same rate-limit step, so the ceiling the click is measured
    against is what this stack costs a redirect that does no work.
    """

    def __init__(self, app: ASGIApp, *, state: State, limiter: RateLimiter, bare_redirect: bool) -> None:
        self.app, self.limiter, self.bare_redirect = app, limiter, bare_redirect
        self.settings: Settings = state.settings
        self.sessions = state.sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith("/r/") and path.find("/", 3) < 0:  # one segment; Litestar routes the rest
                await self._click(scope, receive, send, path[3:])
                return
            if self.bare_redirect and path == BARE_REDIRECT_PATH:
                await self._bare(scope, send)
                return
        await self.app(scope, receive, send)

    async def _click(self, scope: Scope, receive: Receive, send: Send, code: str) -> None:
        limits = await admit(self.limiter, scope, send)
        if limits is None:
            return  # answered 429
        client = scope.get("client")
        visit = redirect.Visit.from_asgi(redirect.query_values(scope["query_string"]), scope["headers"],
                                         client[0] if client else None)
        try:
            location = await redirect.click_through(self.settings, self.sessions, code, visit)
        except Exception as exc:  # the answer Litestar's exception handlers give everywhere else
            await _problem(scope, receive, send, exc, limits)
            return
        if location is None:
            await send({"type": "http.response.start", "status": 404, "headers": [*_NOT_FOUND_HEADERS, *limits]})
            await send({"type": "http.response.body", "body": NOT_FOUND_PAGE})
            return
        await _send_redirect(send, location.encode(), limits)

    async def _bare(self, scope: Scope, send: Send) -> None:
        limits = await admit(self.limiter, scope, send)  # the same step a click takes (no bucket here)
        if limits is not None:
            await _send_redirect(send, BARE_LOCATION, limits)


async def _send_redirect(send: Send, location: bytes, limits: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": 302,
                "headers": [(b"location", location), *_REDIRECT_HEADERS, *limits]})
    await send(_EMPTY_BODY)


async def _problem(scope: Scope, receive: Receive, send: Send, exc: Exception,
                   limits: list[tuple[bytes, bytes]]) -> None:
    """Answer an exception of the click path with the app's own handler for it (503 while the
    link store is unreachable, a logged 500 for a bug), the rate-limit headers added."""
    handler = next(EXCEPTION_HANDLERS[kind] for kind in type(exc).__mro__ if kind in EXCEPTION_HANDLERS)
    request: Request[Any, Any, Any] = Request(scope, receive)
    response = handler(request, exc)  # type: ignore[operator]
    asgi_response = response.to_asgi_response(app=None, request=request)

    async def send_with_limits(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *limits]
        await send(message)

    await asgi_response(scope, receive, send_with_limits)


def tracking_handlers() -> list[Any]:
    """Every route of the affiliate side (issue 8); ClickFront answers most clicks before them."""
    from api.conversions import (
        ConversionController,
        PostbackController,
        issue_postback_token,
        receive_postback,
    )
    from api.forms import form_thanks, send_form, show_form
    from api.stats import read_stats
    from api.traffic_costs import TrafficCostController

    return [TrackingLinkController, click_redirect, TrafficCostController, ConversionController, issue_postback_token,
            receive_postback, PostbackController, read_stats, show_form, send_form, form_thanks]


def click_front(app: ASGIApp, state: State, limiter: RateLimiter) -> ClickFront:
    """The click front around `app`; the bare redirect only when LEADMARKET_BENCH_REDIRECT=1
    (tests/bench/click_load.py)."""
    return ClickFront(app, state=state, limiter=limiter,
                      bare_redirect=os.environ.get("LEADMARKET_BENCH_REDIRECT") == "1")
