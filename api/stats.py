"""Affiliate stats, served from the rollup tables."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import get
from litestar.params import QueryParameter

from affiliates import stats
from affiliates.stats_schemas import StatsReport
from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.identity import Role


@get("/api/v1/stats", sync_to_thread=True, tags=["stats"],
     guards=[requires_role(Role.AFFILIATE, Role.ADMIN, Role.FINANCE)], responses=problems(400, 401, 403, 422))
def read_stats(session: DbSession, principal: Caller,
               start: Annotated[date | None, QueryParameter(name="from", required=False)] = None,
               end: Annotated[date | None, QueryParameter(name="to", required=False)] = None,
               group_by: Annotated[str | None, QueryParameter(required=False, max_length=200)] = None,
               offer_id: Annotated[int | None, QueryParameter(required=False, ge=1, le=2**31 - 1)] = None,
               affiliate_id: Annotated[int | None, QueryParameter(required=False, ge=1, le=2**31 - 1)] = None,
               ) -> StatsReport:
    """Clicks, leads, conversions, commission, traffic cost, profit and ROI per group (UTC days,
    `from`..`to` inclusive, default the last 7). `group_by`: comma-separated from day, offer,
    sub1..sub5, country (staff also: affiliate); default "day,offer". Affiliates see their own;
    staff see all, or one with `affiliate_id`. Kept current by the rollup workers (clicks within
    seconds, leads and conversions within a minute)."""
    return stats.affiliate_stats(session, principal, start=start, end=end, group_by=group_by,
                                 affiliate_id=affiliate_id, offer_id=offer_id)
