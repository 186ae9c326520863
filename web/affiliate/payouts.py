"""Payouts history: the affiliate's own payouts with their status, period and amount, paged,
sorted and filtered by status (the same read finance's queue uses, scoped to the affiliate)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter
from litestar.response import Template

from api.deps import Caller, DbSession
from billing import payout_queue
from billing.payouts import STATUSES
from leadmarket.errors import InvalidInput
from web.affiliate.common import Order, PageNo, PerPage, Sort, keep, paging
from web.forms import FormState
from web.render import page

StatusFilter = Annotated[str | None, QueryParameter(name="status", required=False, max_length=20)]


@get("/affiliate/payouts", include_in_schema=False, sync_to_thread=True)
def payouts_list(request: Request[Any, Any, Any], session: DbSession, principal: Caller, status: StatusFilter = None,
                 page_no: PageNo = None, per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    values = {"status": status or ""}
    form = FormState(values=values)
    try:
        listing = payout_queue.queue_page(session, principal, paging(page_no, per_page, sort, order),
                                          status=status or None)
    except InvalidInput as exc:
        form = FormState.failed(values, exc)
        listing = payout_queue.queue_page(session, principal, paging(1, per_page, sort, order))
    return page(request, "affiliate/payouts.html", listing=listing, form=form,
                extra=keep(values) if not form.errors else "",
                status_choices=[("", "All")] + [(s, s) for s in STATUSES])


PAYOUT_ROUTES = [payouts_list]
