"""Admin pages for portal users: list, create (any role, tied to an advertiser or affiliate), disable."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from affiliates import accounts as affiliate_accounts
from api.deps import Caller, DbSession
from leadmarket import accounts
from leadmarket.errors import FieldError, InvalidInput
from marketplace import advertisers
from web.paging import Order, PageNo, PerPage, Sort, paging
from web.forms import FormBody, FormState, optional_int, text
from web.render import go, page


def _render(request: Request[Any, Any, Any], session: DbSession, form: FormState, listing_request: Any,
            status_code: int = 200) -> Template:
    return page(request, "admin/users.html", listing=accounts.users_page(session, listing_request), form=form,
                advertiser_choices=[("", "—")] + [(str(a.id), a.name) for a in advertisers.list_advertisers(session)],
                affiliate_choices=[("", "—")] + [(str(a.id), a.name)
                                                  for a in affiliate_accounts.list_affiliates(session)],
                zones=sorted(accounts.TIME_ZONES), status_code=status_code)


@get("/admin/users", include_in_schema=False, sync_to_thread=True)
def users_list(request: Request[Any, Any, Any], session: DbSession, page_no: PageNo = None, per_page: PerPage = None,
               sort: Sort = None, order: Order = None) -> Template:
    return _render(request, session, FormState(values={"role": "advertiser", "time_zone": "UTC"}),
                   paging(page_no, per_page, sort, order))


@post("/admin/users", include_in_schema=False, sync_to_thread=True, status_code=303)
def users_create(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
                 ) -> Template | Redirect:
    errors: list[FieldError] = []
    values = {name: text(data, name) for name in ("email", "name", "role", "advertiser_id", "affiliate_id",
                                                   "time_zone")}
    advertiser_id = optional_int(data, "advertiser_id", errors)
    affiliate_id = optional_int(data, "affiliate_id", errors)
    try:
        if errors:
            raise InvalidInput(errors)
        user = accounts.create_user(session, email=values["email"], password=str(data.get("password") or ""),
                                    role=values["role"], name=values["name"], advertiser_id=advertiser_id,
                                    affiliate_id=affiliate_id, time_zone=values["time_zone"] or "UTC",
                                    created_by=principal)
        session.commit()
    except InvalidInput as exc:
        session.rollback()
        return _render(request, session, FormState.failed(values, exc), paging(1, 25, None, None), status_code=422)
    return go(request, "/admin/users", f"User {user.email} created; they can log in now.")


@post("/admin/users/{user_id:int}/disable", include_in_schema=False, sync_to_thread=True, status_code=303)
def users_disable(request: Request[Any, Any, Any], user_id: Annotated[int, PathParameter()], session: DbSession,
                  principal: Caller) -> Redirect:
    accounts.disable_user(session, principal, user_id)
    return go(request, "/admin/users", "User disabled and signed out everywhere.")


USER_ROUTES = [users_list, users_create, users_disable]
