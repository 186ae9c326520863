"""The payout review queue: filter, approve (alone or in bulk), hold, reject, pay, export the bank
batch, and run payouts for a period as a background job. Every decision is billing.payouts'."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from api.deps import Caller, DbSession
from billing import exports, payout_queue, payouts
from billing.payout_schemas import PayoutNote, PayoutPay, PayoutRunCreate
from leadmarket.errors import Conflict, FieldError, InvalidInput, ServiceUnavailable
from leadmarket.identity import Principal
from web.finance.common import Order, PageNo, PerPage, Sort, extra_args, local_day_start, paging, safe_back
from web.forms import FormBody, FormState, many, optional_decimal, text
from web.render import go, page

PayoutId = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]
StatusFilter = Annotated[str | None, QueryParameter(name="status", required=False)]
ExportStatus = Annotated[str | None, QueryParameter(name="status", required=False)]
NO_STORE = {"Cache-Control": "no-store"}


def _queue(request: Request[Any, Any, Any], session: DbSession, principal: Principal, *, status: str | None,
           page_no: int | None = None, per_page: int | None = None, sort: str | None = None,
           order: str | None = None, run_form: FormState | None = None, outcomes: list[Any] | None = None,
           bulk_error: str | None = None, status_code: int = 200) -> Template:
    chosen = status if status in payouts.STATUSES else None
    listing = payout_queue.queue_page(session, principal, paging(page_no, per_page, sort, order), status=chosen)
    here = "/finance" + (f"?status={chosen}" if chosen else "")
    return page(request, "finance/payouts.html", listing=listing, status=chosen, statuses=payouts.STATUSES,
                extra=extra_args(status=chosen), here=here, outcomes=outcomes or [], bulk_error=bulk_error,
                run_form=run_form or FormState(), status_code=status_code)


@get("/finance", include_in_schema=False, sync_to_thread=True)
def queue(request: Request[Any, Any, Any], session: DbSession, principal: Caller, status: StatusFilter = None,
          page_no: PageNo = None, per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    return _queue(request, session, principal, status=status, page_no=page_no, per_page=per_page, sort=sort,
                  order=order)


@post("/finance/payouts/approve", include_in_schema=False, sync_to_thread=True, status_code=200)
def bulk_approve(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller) -> Template:
    status = text(data, "status") or None
    ids = [int(raw) for raw in many(data, "payout_ids") if raw.isdigit()]
    try:
        outcomes = payout_queue.approve_payouts(session, principal, ids)
    except InvalidInput as exc:
        return _queue(request, session, principal, status=status, bulk_error=exc.errors[0].reason,
                      status_code=422)
    return _queue(request, session, principal, status=status, outcomes=outcomes)


@post("/finance/payouts/run", include_in_schema=False, sync_to_thread=True, status_code=303)
def start_run(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
              ) -> Template | Redirect:
    errors: list[FieldError] = []
    start = local_day_start(data, "period_start", principal.time_zone, errors)
    end = local_day_start(data, "period_end", principal.time_zone, errors, next_day=True)
    minimum = optional_decimal(data, "minimum", errors)
    try:
        if errors:
            raise InvalidInput(errors)
        job = exports.start_payout_run(session, principal, PayoutRunCreate(period_start=start, period_end=end,
                                                                           minimum=minimum))
    except InvalidInput as exc:
        return _queue(request, session, principal, status=None, run_form=FormState.failed(data, exc),
                      status_code=422)
    return go(request, f"/jobs/{job.id}", "Payout run started.")


@get("/finance/payouts/export.csv", include_in_schema=False, sync_to_thread=True)
def export(session: DbSession, principal: Caller, status: ExportStatus = None) -> Response[str]:
    body, batch = payouts.export_csv(session, principal, status=status or "approved")
    return Response(body, media_type="text/csv", headers={
        "X-Batch-Reference": batch, "Content-Disposition": f'attachment; filename="payouts-{batch}.csv"', **NO_STORE})


def _detail(request: Request[Any, Any, Any], session: DbSession, principal: Principal, payout_id: int,
            forms: dict[str, FormState] | None = None, status_code: int = 200, refusal: str | None = None
            ) -> Template:
    row = payout_queue.queue_row(session, principal, payout_id)
    forms = {"hold": FormState(), "reject": FormState(), "pay": FormState(values={"method": "bank"}), **(forms or {})}
    return page(request, "finance/payout.html", row=row, history=payout_queue.payout_history(session, payout_id),
                forms=forms, refusal=refusal, status_code=status_code)


@get("/finance/payouts/{payout_id:int}", include_in_schema=False, sync_to_thread=True)
def detail(request: Request[Any, Any, Any], payout_id: PayoutId, session: DbSession, principal: Caller) -> Template:
    return _detail(request, session, principal, payout_id)


@post("/finance/payouts/{payout_id:int}/approve", include_in_schema=False, sync_to_thread=True, status_code=303)
def approve(request: Request[Any, Any, Any], payout_id: PayoutId, data: FormBody, session: DbSession,
            principal: Caller) -> Template | Redirect:
    back = safe_back(text(data, "back"), f"/finance/payouts/{payout_id}")
    try:
        view = payouts.approve_payout(session, principal, payout_id)
    except Conflict as exc:
        if back.startswith("/finance/payouts/"):  # said beside the Approve button
            return _detail(request, session, principal, payout_id, status_code=409, refusal=str(exc))
        return go(request, back, f"Not approved: {exc}.", refused=True)
    if view.status == "approved":
        return go(request, back, f"Payout {payout_id} approved.")
    return go(request, back, f"Your approval of payout {payout_id} is recorded: {view.approvals} of "
                             f"{view.approvals_needed} approvals. Another finance user must approve too.")


@post("/finance/payouts/{payout_id:int}/hold", include_in_schema=False, sync_to_thread=True, status_code=303)
def hold(request: Request[Any, Any, Any], payout_id: PayoutId, data: FormBody, session: DbSession,
         principal: Caller) -> Template | Redirect:
    try:
        payouts.hold_payout(session, principal, payout_id, PayoutNote(note=text(data, "note")))
    except InvalidInput as exc:
        return _detail(request, session, principal, payout_id, {"hold": FormState.failed(data, exc)}, 422)
    except Conflict as exc:
        return go(request, f"/finance/payouts/{payout_id}", f"Not held: {exc}.", refused=True)
    return go(request, f"/finance/payouts/{payout_id}", f"Payout {payout_id} held.")


@post("/finance/payouts/{payout_id:int}/reject", include_in_schema=False, sync_to_thread=True, status_code=303)
def reject(request: Request[Any, Any, Any], payout_id: PayoutId, data: FormBody, session: DbSession,
           principal: Caller) -> Template | Redirect:
    try:
        payouts.reject_payout(session, principal, payout_id, PayoutNote(note=text(data, "note") or None))
    except InvalidInput as exc:
        return _detail(request, session, principal, payout_id, {"reject": FormState.failed(data, exc)}, 422)
    except Conflict as exc:
        return go(request, f"/finance/payouts/{payout_id}", f"Not rejected: {exc}.", refused=True)
    return go(request, f"/finance/payouts/{payout_id}", f"Payout {payout_id} rejected; its commission carries "
                                                        "into a later run.")


@post("/finance/payouts/{payout_id:int}/pay", include_in_schema=False, sync_to_thread=True, status_code=303)
def pay(request: Request[Any, Any, Any], payout_id: PayoutId, data: FormBody, session: DbSession,
        principal: Caller) -> Template | Redirect:
    try:
        view = payouts.pay_payout(session, principal, payout_id, PayoutPay(method=text(data, "method") or None,
                                                                          reference=text(data, "reference") or None))
    except InvalidInput as exc:
        return _detail(request, session, principal, payout_id, {"pay": FormState.failed(data, exc)}, 422)
    except (Conflict, ServiceUnavailable) as exc:
        return go(request, f"/finance/payouts/{payout_id}", f"Not paid: {exc}.", refused=True)
    return go(request, f"/finance/payouts/{payout_id}", f"Payout {payout_id} paid by {view.method} "
                                                        f"(reference {view.paid_reference}).")


PAYOUT_ROUTES = [queue, bulk_approve, start_run, export, detail, approve, hold, reject, pay]
