"""Traffic costs: upload a CSV of what traffic cost per day, offer and sub-ids; every bad row is
shown with its row number, field and reason, the good rows are kept; the costs reported so far."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.response import Template

from affiliates import costs
from affiliates.cost_imports import COLUMNS, EXAMPLE, CostImport, import_traffic_costs
from api.deps import Caller, DbSession
from leadmarket.errors import InvalidInput
from leadmarket.identity import Principal
from web.affiliate.common import Order, PageNo, PerPage, Sort, paging
from web.forms import FormState, UploadBody
from web.render import page


def _costs_page(request: Request[Any, Any, Any], session: DbSession, principal: Principal, *,
                form: FormState | None = None, result: CostImport | None = None, status_code: int = 200,
                page_no: int | None = None, per_page: int | None = None, sort: str | None = None,
                order: str | None = None) -> Template:
    listing = costs.traffic_costs_page(session, principal, paging(page_no, per_page, sort, order))
    return page(request, "affiliate/traffic_costs.html", listing=listing, form=form or FormState(), result=result,
                columns=COLUMNS, example=EXAMPLE, status_code=status_code)


@get("/affiliate/traffic-costs", include_in_schema=False, sync_to_thread=True)
def traffic_costs(request: Request[Any, Any, Any], session: DbSession, principal: Caller, page_no: PageNo = None,
                  per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    return _costs_page(request, session, principal, page_no=page_no, per_page=per_page, sort=sort, order=order)


@post("/affiliate/traffic-costs", include_in_schema=False, sync_to_thread=True, status_code=200)
def upload(request: Request[Any, Any, Any], data: UploadBody, session: DbSession, principal: Caller) -> Template:
    upload = data.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput.one("file", "choose a CSV file to upload")
        result = import_traffic_costs(session, principal, upload.file.read())
    except InvalidInput as exc:
        return _costs_page(request, session, principal, form=FormState.failed({}, exc), status_code=422)
    status = 200 if result.accepted or not result.errors else 422
    return _costs_page(request, session, principal, result=result, status_code=status)


TRAFFIC_COST_ROUTES = [traffic_costs, upload]
