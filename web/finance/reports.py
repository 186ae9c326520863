"""Finance's reading pages: the settlement report with its chart, and the ledger explorer with the
trial balance and each account's entries."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import PathParameter, QueryParameter
from litestar.response import Template

from api.deps import DbSession
from billing import ledger, ledger_explorer, settlement
from leadmarket.clock import utcnow
from leadmarket.errors import InvalidInput
from web.charts import line_chart
from web.finance.common import Order, PageNo, PerPage, Sort, extra_args, page_of, paging
from web.forms import FormState
from web.render import page

From = Annotated[str | None, QueryParameter(name="from", required=False)]
To = Annotated[str | None, QueryParameter(name="to", required=False)]
GroupBy = Annotated[str | None, QueryParameter(name="group_by", required=False)]
Kind = Annotated[str | None, QueryParameter(name="kind", required=False)]
Currency = Annotated[str | None, QueryParameter(name="currency", required=False)]
AccountId = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]

GROUPINGS = [("offer", "Offer"), ("affiliate", "Affiliate"), ("advertiser", "Advertiser"), ("vertical", "Vertical")]
SETTLEMENT_SORTS: dict[str, Any] = {
    "name": lambda r: (r.currency, r.group.name.lower()), "revenue": lambda r: (r.currency, r.net_revenue),
    "commission": lambda r: (r.currency, r.commission), "traffic_cost": lambda r: (r.currency, r.traffic_cost or 0),
    "margin": lambda r: (r.currency, r.margin)}


@get("/finance/settlement", include_in_schema=False, sync_to_thread=True)
def settlement_report(request: Request[Any, Any, Any], session: DbSession, start: From = None, end: To = None,
                      group_by: GroupBy = None, page_no: PageNo = None, per_page: PerPage = None, sort: Sort = None,
                      order: Order = None) -> Template:
    today = utcnow().date()
    values = {"from": start or (today - timedelta(days=29)).isoformat(), "to": end or today.isoformat(),
              "group_by": group_by or "offer"}
    try:
        report = settlement.settlement(session, values["from"], values["to"], values["group_by"])
        series = settlement.settlement_series(session, values["from"], values["to"])
    except InvalidInput as exc:
        return page(request, "finance/settlement.html", form=FormState.failed(values, exc), report=None, rows=None,
                    charts=[], groupings=GROUPINGS, extra="", status_code=422)
    rows = page_of(report.rows, paging(page_no, per_page or 50, sort, order), SETTLEMENT_SORTS, "margin")
    charts = [(s.currency, line_chart([p.day.strftime("%m-%d") for p in s.points], [
        ("Net revenue", [p.net_revenue for p in s.points]), ("Commission", [p.commission for p in s.points]),
        ("Traffic cost", [p.traffic_cost for p in s.points]), ("Margin", [p.margin for p in s.points])],
        value_format="{:,} " + s.currency)) for s in series]
    return page(request, "finance/settlement.html", form=FormState(values=values), report=report, rows=rows,
                charts=charts, groupings=GROUPINGS, extra=extra_args(**values))


@get("/finance/ledger", include_in_schema=False, sync_to_thread=True)
def ledger_page(request: Request[Any, Any, Any], session: DbSession, kind: Kind = None, currency: Currency = None,
                page_no: PageNo = None, per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    trial = ledger.trial_balance(session)
    accounts = ledger_explorer.accounts_page(session, paging(page_no, per_page, sort, order), kind=kind or None,
                                             currency=currency or None)
    return page(request, "finance/ledger.html", trial=trial, accounts=accounts, kind=kind or "",
                currency=currency or "", kinds=ledger_explorer.account_kinds(session),
                currencies=[t.currency for t in trial.totals], extra=extra_args(kind=kind, currency=currency))


@get("/finance/ledger/accounts/{account_id:int}", include_in_schema=False, sync_to_thread=True)
def ledger_account(request: Request[Any, Any, Any], session: DbSession, account_id: AccountId, page_no: PageNo = None,
                   per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    account = ledger_explorer.get_account(session, account_id)
    entries = ledger_explorer.entries_page(session, account_id, paging(page_no, per_page, sort, order))
    return page(request, "finance/ledger_account.html", account=account, entries=entries)


REPORT_ROUTES = [settlement_report, ledger_page, ledger_account]
