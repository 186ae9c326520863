"""The advertiser's dashboard: what they bought, spent and returned lately, their balance, a chart."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from api.deps import Caller, DbSession
from marketplace.advertiser_dashboard import advertiser_dashboard
from web.charts import bar_chart
from web.render import page


@get("/advertiser", include_in_schema=False, sync_to_thread=True)
def dashboard(request: Request[Any, Any, Any], session: DbSession, principal: Caller) -> Template:
    figures = advertiser_dashboard(session, principal)
    chart = bar_chart([d.day.strftime("%b %d") for d in figures.daily], [d.leads for d in figures.daily])
    return page(request, "advertiser/home.html", figures=figures, chart=chart)


DASHBOARD_ROUTES = [dashboard]
