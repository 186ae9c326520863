"""The affiliate's dashboard: clicks, leads by outcome, rejections by reason, earnings, traffic
cost, EPC and ROI for a chosen period (default the last 30 days), with daily charts."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from affiliates.dashboard import affiliate_dashboard
from api.deps import Caller, DbSession
from leadmarket.errors import FieldError, InvalidInput
from web.affiliate.common import From, To, optional_date
from web.charts import bar_chart, line_chart
from web.forms import FormState
from web.render import page


@get("/affiliate", include_in_schema=False, sync_to_thread=True)
def dashboard(request: Request[Any, Any, Any], session: DbSession, principal: Caller, start: From = None,
              end: To = None) -> Template:
    values = {"from": start or "", "to": end or ""}
    errors: list[FieldError] = []
    first, last = optional_date(values, "from", errors), optional_date(values, "to", errors)
    form = FormState(values=values)
    try:
        if errors:
            raise InvalidInput(errors)
        figures = affiliate_dashboard(session, principal, start=first, end=last)
    except InvalidInput as exc:
        form = FormState.failed(values, exc)
        figures = affiliate_dashboard(session, principal)
    if not form.errors:
        form = FormState(values={"from": figures.start.isoformat(), "to": figures.end.isoformat()})
    labels = [d.day.strftime("%b %d") for d in figures.daily]
    traffic = line_chart(labels, [("Clicks", [d.clicks for d in figures.daily]),
                                  ("Leads", [d.leads for d in figures.daily])])
    earnings = bar_chart(labels, [d.earnings for d in figures.daily], value_format="{:,.2f} " + figures.currency)
    main = figures.money[0] if figures.money else None
    return page(request, "affiliate/home.html", figures=figures, form=form, main=main, traffic_chart=traffic,
                earnings_chart=earnings)


DASHBOARD_ROUTES = [dashboard]
