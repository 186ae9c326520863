"""Leads posted: the affiliate's own leads with their outcome and rejection reason, filtered by
status, offer and day, paged and sorted."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from affiliates import offers
from affiliates.exports import LEADS_CSV, leads_csv_params
from affiliates.lead_list import STATUSES, posted_leads_page
from api.deps import Caller, DbSession
from leadmarket import jobs
from leadmarket.errors import FieldError, InvalidInput
from web.affiliate.common import (
    From,
    Order,
    PageNo,
    PerPage,
    Sort,
    To,
    keep,
    optional_date,
    paging,
)
from web.forms import FormBody, FormState, optional_int, text
from web.render import go, page

StatusFilter = Annotated[str | None, QueryParameter(name="status", required=False, max_length=20)]
OfferFilter = Annotated[str | None, QueryParameter(name="offer_id", required=False, max_length=20)]


@get("/affiliate/leads", include_in_schema=False, sync_to_thread=True)
def leads_list(request: Request[Any, Any, Any], session: DbSession, principal: Caller, status: StatusFilter = None,
               offer_id: OfferFilter = None, start: From = None, end: To = None, page_no: PageNo = None,
               per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    values = {"status": status or "", "offer_id": offer_id or "", "from": start or "", "to": end or ""}
    errors: list[FieldError] = []
    chosen_offer = optional_int(values, "offer_id", errors)
    first, last = optional_date(values, "from", errors), optional_date(values, "to", errors)
    listing_request = paging(page_no, per_page, sort, order)
    form = FormState(values=values)
    try:
        if errors:
            raise InvalidInput(errors)
        listing = posted_leads_page(session, principal, listing_request, status=status or None,
                                    offer_id=chosen_offer, start=first, end=last)
    except InvalidInput as exc:
        form = FormState.failed(values, exc)
        listing = posted_leads_page(session, principal, paging(1, per_page, sort, order))
    filtered = any(values.values()) and not form.errors
    offer_choices = [("", "All offers")] + [(str(o.id), f"#{o.id} {o.name}")
                                            for o in offers.offers_visible_to(session, principal)]
    status_choices = [("", "All")] + [(s, s) for s in STATUSES]
    return page(request, "affiliate/leads.html", listing=listing, form=form, filtered=filtered,
                extra=keep(values) if not form.errors else "", offer_choices=offer_choices,
                status_choices=status_choices)


@post("/affiliate/leads/export", include_in_schema=False, sync_to_thread=True, status_code=303)
def export(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller) -> Redirect:
    values = {name: text(data, name) for name in ("status", "offer_id", "from", "to")}
    errors: list[FieldError] = []
    chosen_offer = optional_int(values, "offer_id", errors)
    first, last = optional_date(values, "from", errors), optional_date(values, "to", errors)
    try:
        if errors:
            raise InvalidInput(errors)
        params = leads_csv_params(principal, status=values["status"] or None, offer_id=chosen_offer, start=first,
                                  end=last)
    except InvalidInput as exc:
        return go(request, "/affiliate/leads", "Export refused: " + "; ".join(f"{e.field} {e.reason}" for e in exc.errors),
                  refused=True)
    job = jobs.start_job(session, principal, LEADS_CSV, params)
    return go(request, f"/jobs/{job.id}")


LEAD_ROUTES = [leads_list, export]
