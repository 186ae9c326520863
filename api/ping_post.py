"""Ping-post: affiliates ping and post, admins manage external buyers and watch their health."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, QueryParameter

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.identity import Role
from marketplace import ping_logs, ping_post
from marketplace.ping_schemas import (
    PingAnswer,
    PingBuyerCreate,
    PingBuyerHealth,
    PingBuyerView,
    PingLogEntry,
    PingRequest,
    PostDecision,
    PostSubmission,
)


class PingBuyerController(Controller):
    path = "/api/v1/ping-buyers"
    guards = [requires_role(Role.ADMIN)]
    tags = ["admin"]

    @post(sync_to_thread=True, responses=problems(400, 401, 403, 413, 422))
    def create(self, data: JSONBody[PingBuyerCreate], session: DbSession, principal: Caller) -> PingBuyerView:
        """Register an advertiser's external ping and post endpoints for one vertical; every request
        to them is signed with `secret` (HMAC-SHA256 over "timestamp.body")."""
        return ping_post.create_ping_buyer(session, data, principal)

    @get(sync_to_thread=True, responses=problems(401, 403))
    def list(self, session: DbSession) -> list[PingBuyerView]:
        return ping_post.list_ping_buyers(session)

    @get("/health", sync_to_thread=True, responses=problems(400, 401, 403, 422))
    def health(self, session: DbSession,
               days: Annotated[int, QueryParameter(ge=1, le=366)] = 30) -> list[PingBuyerHealth]:
        """Per buyer over the last `days`: accept rate, post-reject rate, timeout rate, median response time."""
        return ping_logs.buyer_health(session, days=days)


class PingPostController(Controller):
    path = "/api/v1"
    tags = ["ping-post"]

    @post("/ping", sync_to_thread=True, status_code=200, guards=[requires_role(Role.AFFILIATE)],
          responses=problems(400, 401, 403, 413, 422))
    def ping(self, data: JSONBody[PingRequest], session: DbSession, principal: Caller) -> PingAnswer:
        """Auction a lead without its contact data among the vertical's external buyers; the best
        bid and a ping id to post the full lead with before `expires_at`."""
        return ping_post.ping(session, principal, data)

    @post("/post", sync_to_thread=True, guards=[requires_role(Role.AFFILIATE)],
          responses=problems(400, 401, 403, 404, 409, 413, 422, 503))
    def post(self, data: JSONBody[PostSubmission], session: DbSession, principal: Caller) -> PostDecision:
        """Post the full lead of a ping: sold to the best bidder that accepts it, else distributed
        as any lead. 201 means the lead and its outcome are committed."""
        return ping_post.post_lead(session, principal, data)

    @get("/pings", sync_to_thread=True,
         guards=[requires_role(Role.AFFILIATE, Role.ADVERTISER, Role.ADMIN, Role.FINANCE)],
         responses=problems(400, 401, 403, 422))
    def pings(self, session: DbSession, principal: Caller,
              limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
              offset: Annotated[int, QueryParameter(ge=0, le=2**31)] = 0) -> list[PingLogEntry]:
        """Auction logs, newest first: an affiliate's own pings, an advertiser's own bids, staff all."""
        return ping_logs.list_pings(session, principal, limit=limit, offset=offset)
