"""Purchases: the advertiser's bought leads (paged, sorted), each lead's full card, the CSV
export as a background job, and returning a lead with a reason inside the return window."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from api.deps import Caller, DbSession
from leadmarket import jobs
from leadmarket.errors import InvalidInput
from leadmarket.identity import Principal
from marketplace import purchases, returns
from marketplace.exports import PURCHASES_CSV, purchases_csv_params
from marketplace.returns import ReturnRefused, ReturnRequest
from web.advertiser.common import Order, PageNo, PerPage, Sort, paging
from web.forms import FormBody, FormState, text
from web.render import go, page

SaleId = Annotated[int, PathParameter(ge=1, le=2**62)]
StatusFilter = Annotated[str | None, QueryParameter(name="status", required=False, max_length=20)]
STATUSES = [("", "All"), ("sold", "Kept"), ("returned", "Returned")]


@get("/advertiser/purchases", include_in_schema=False, sync_to_thread=True)
def purchases_list(request: Request[Any, Any, Any], session: DbSession, principal: Caller, status: StatusFilter = None,
                   page_no: PageNo = None, per_page: PerPage = None, sort: Sort = None, order: Order = None
                   ) -> Template:
    form = FormState(values={"status": status or ""})
    try:
        listing = purchases.purchases_page(session, principal, paging(page_no, per_page, sort, order),
                                           status=status or None)
    except InvalidInput as exc:
        form = FormState.failed(form.values, exc)
        listing = purchases.purchases_page(session, principal, paging(1, per_page, sort, order))
    extra = f"&status={status}" if status and not form.errors else ""
    return page(request, "advertiser/purchases.html", listing=listing, form=form, statuses=STATUSES, extra=extra)


@post("/advertiser/purchases/export", include_in_schema=False, sync_to_thread=True, status_code=303)
def export(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller) -> Redirect:
    job = jobs.start_job(session, principal, PURCHASES_CSV, purchases_csv_params(text(data, "status") or None))
    return go(request, f"/jobs/{job.id}")


def _purchase_page(request: Request[Any, Any, Any], session: DbSession, principal: Principal, sale_id: int, *,
                   form: FormState | None = None, status_code: int = 200) -> Template:
    purchase = purchases.get_purchase(session, principal, sale_id)  # another advertiser's: NotFound, a 404 page
    options = returns.return_options(session, principal, sale_id)
    return page(request, "advertiser/purchase.html", purchase=purchase, options=options,
                form=form or FormState(values={"reason": ""}),
                reason_choices=[("", "Choose a reason")] + [
                    (code, f"{code.replace('_', ' ').capitalize()}: {why}") for code, why in options.reasons.items()], status_code=status_code)


@get("/advertiser/purchases/{sale_id:int}", include_in_schema=False, sync_to_thread=True)
def purchase_detail(request: Request[Any, Any, Any], sale_id: SaleId, session: DbSession, principal: Caller
                    ) -> Template:
    return _purchase_page(request, session, principal, sale_id)


@post("/advertiser/purchases/{sale_id:int}/return", include_in_schema=False, sync_to_thread=True, status_code=303)
def return_purchase(request: Request[Any, Any, Any], sale_id: SaleId, data: FormBody, session: DbSession,
                    principal: Caller) -> Template | Redirect:
    values = {"reason": text(data, "reason"), "note": text(data, "note")}
    try:
        filed = returns.request_return(session, principal, sale_id,
                                       ReturnRequest(reason=values["reason"], note=values["note"] or None))
    except InvalidInput as exc:
        return _purchase_page(request, session, principal, sale_id, form=FormState.failed(values, exc),
                              status_code=422)
    except ReturnRefused as exc:
        return _purchase_page(request, session, principal, sale_id,
                              form=FormState(values=values, errors={"reason": str(exc)}), status_code=409)
    if filed.status == "approved":
        notice = f"Return accepted: {filed.refund} {filed.currency} refunded to your balance."
    else:
        notice = "Return filed: it waits for review; the refund follows if it is approved."
    return go(request, f"/advertiser/purchases/{sale_id}", notice)


PURCHASE_ROUTES = [purchases_list, export, purchase_detail, return_purchase]
