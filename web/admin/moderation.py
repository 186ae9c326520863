"""Admin pages that judge traffic: the fraud review queue (with the screen's reasons) and blocklists."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from api.deps import Caller, DbSession
from fraud import blocklists, review
from fraud.models import BLOCKLIST_KINDS
from fraud.schemas import BlocklistCreate
from leadmarket.errors import Conflict, FieldError, InvalidInput
from web.paging import Order, PageNo, PerPage, Sort, paging
from web.forms import FormBody, FormState, optional_int, text
from web.render import go, page

REVIEW_PAGE = 25
AfterId = Annotated[int | None, QueryParameter(name="after", required=False)]
Kind = Annotated[str | None, QueryParameter(name="kind", required=False)]


def _review_page(request: Request[Any, Any, Any], session: DbSession, after: int | None,
                 forms: dict[int, FormState] | None = None, status_code: int = 200) -> Template:
    leads = review.review_queue(session, limit=REVIEW_PAGE + 1, after_id=after)
    more = len(leads) > REVIEW_PAGE
    leads = leads[:REVIEW_PAGE]
    return page(request, "admin/review.html", leads=leads, waiting=review.review_count(session), after=after,
                next_after=leads[-1].lead_id if more else None, forms=forms or {}, status_code=status_code)


@get("/admin/review", include_in_schema=False, sync_to_thread=True)
def review_list(request: Request[Any, Any, Any], session: DbSession, after: AfterId = None) -> Template:
    return _review_page(request, session, after)


@post("/admin/review/{lead_id:int}", include_in_schema=False, sync_to_thread=True, status_code=303)
def review_decide(request: Request[Any, Any, Any], lead_id: Annotated[int, PathParameter()], data: FormBody,
                  session: DbSession, principal: Caller) -> Template | Redirect:
    decision, note = text(data, "decision"), text(data, "note") or None
    try:
        if decision == "approve":
            outcome = review.approve(session, principal, lead_id, note)
        elif decision == "reject":
            outcome = review.reject(session, principal, lead_id, note)
        else:
            raise InvalidInput.one("decision", "choose approve or reject")
    except InvalidInput as exc:
        return _review_page(request, session, None, {lead_id: FormState.failed(data, exc)}, status_code=422)
    except Conflict as exc:
        return go(request, "/admin/review", str(exc), refused=True)
    return go(request, "/admin/review", f"Lead {lead_id} {'approved' if decision == 'approve' else 'rejected'}: "
                                        f"now {outcome.status}.")


@get("/admin/blocklists", include_in_schema=False, sync_to_thread=True)
def blocklist_list(request: Request[Any, Any, Any], session: DbSession, kind: Kind = None, page_no: PageNo = None,
                   per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    chosen = kind if kind in BLOCKLIST_KINDS else None
    listing = blocklists.entries_page(session, paging(page_no, per_page, sort, order), chosen)
    return page(request, "admin/blocklists.html", listing=listing, kind=chosen, kinds=BLOCKLIST_KINDS,
                form=FormState(values={"kind": chosen or "ip"}))


@post("/admin/blocklists", include_in_schema=False, sync_to_thread=True, status_code=303)
def blocklist_add(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
                  ) -> Template | Redirect:
    errors: list[FieldError] = []
    values = {name: text(data, name) for name in ("kind", "value", "affiliate_id", "note")}
    affiliate_id = optional_int(data, "affiliate_id", errors)
    try:
        if errors:
            raise InvalidInput(errors)
        entry = blocklists.add_entry(session, principal, BlocklistCreate(
            kind=values["kind"], value=values["value"], affiliate_id=affiliate_id, note=values["note"] or None))
    except InvalidInput as exc:
        form = FormState.failed(values, exc)
    except Conflict as exc:
        form = FormState(values=values, errors={"value": str(exc)})
    else:
        return go(request, f"/admin/blocklists?kind={entry.kind}", f"Blocked {entry.kind} {entry.value}.")
    listing = blocklists.entries_page(session, paging(1, 25, None, None))
    return page(request, "admin/blocklists.html", listing=listing, kind=None, kinds=BLOCKLIST_KINDS, form=form,
                status_code=422)


@post("/admin/blocklists/{entry_id:int}/delete", include_in_schema=False, sync_to_thread=True, status_code=303)
def blocklist_remove(request: Request[Any, Any, Any], entry_id: Annotated[int, PathParameter()], session: DbSession,
                     principal: Caller) -> Redirect:
    blocklists.remove_entry(session, principal, entry_id)
    return go(request, "/admin/blocklists", "Entry removed.")


MODERATION_ROUTES = [review_list, review_decide, blocklist_list, blocklist_add, blocklist_remove]
