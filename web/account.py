"""Portal pages every user has: log in and out, their own settings, and the progress and
result of long jobs they started."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from api.deps import Caller, DbSession
from leadmarket import accounts, jobs
from leadmarket.accounts import TooManyAttempts
from leadmarket.errors import InvalidInput, NotAuthenticated
from web.auth import HOME_BY_ROLE, SESSION_COOKIE, current_user, portal_guard
from web.forms import FormBody, FormState, text
from web.render import fragment, go, page

NO_STORE = {"Cache-Control": "no-store"}


def _safe_next(target: str | None) -> str | None:
    # Only a path on this site: "//evil.example" and "https://..." would be open redirects.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@get("/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], next_: Annotated[str | None, QueryParameter(name="next")] = None
                     ) -> Template | Redirect:
    principal = await current_user(request)
    if principal is not None:
        return Redirect(path=_safe_next(next_) or HOME_BY_ROLE[principal.role], status_code=303)
    return page(request, "portal/login.html", form=FormState(values={"next": _safe_next(next_) or ""}))


@post("/login", include_in_schema=False, sync_to_thread=True, status_code=303)
def log_in(request: Request[Any, Any, Any], data: FormBody, session: DbSession) -> Template | Redirect:
    email, password = text(data, "email"), str(data.get("password") or "")
    form = FormState(values={"email": email, "next": _safe_next(text(data, "next")) or ""})
    client_ip = request.client.host if request.client else "unknown"
    try:
        token = accounts.log_in(session, email, password, client_ip=client_ip)
    except TooManyAttempts as exc:
        form.errors["_"] = str(exc)
        return page(request, "portal/login.html", form=form, status_code=429)
    except NotAuthenticated as exc:
        form.errors["password"] = str(exc)
        return page(request, "portal/login.html", form=form, status_code=401)
    principal = accounts.principal_for_session(session, token)
    assert principal is not None
    target = form.values["next"] or HOME_BY_ROLE[principal.role]
    return Redirect(path=target, status_code=303, cookies=[
        Cookie(key=SESSION_COOKIE, value=token, max_age=int(accounts.SESSION_LIFETIME.total_seconds()), path="/",
               secure=True, httponly=True, samesite="lax")])


@post("/logout", include_in_schema=False, sync_to_thread=True, status_code=303)
def log_out(request: Request[Any, Any, Any], session: DbSession) -> Redirect:
    accounts.log_out(session, request.cookies.get(SESSION_COOKIE))
    return Redirect(path="/login", status_code=303,
                    cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", secure=True, httponly=True,
                                    samesite="lax")])


@get("/portal", include_in_schema=False, guards=[portal_guard()])
async def portal_home(principal: Caller) -> Redirect:
    return Redirect(path=HOME_BY_ROLE[principal.role], status_code=303)


@get("/account", include_in_schema=False, guards=[portal_guard()], sync_to_thread=False)
def account_page(request: Request[Any, Any, Any], principal: Caller) -> Template:
    return page(request, "portal/account.html", zones=sorted(accounts.TIME_ZONES), form=FormState(
        values={"time_zone": principal.time_zone}))


@post("/account/time-zone", include_in_schema=False, guards=[portal_guard()], sync_to_thread=True, status_code=303)
def change_time_zone(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
                     ) -> Template | Redirect:
    try:
        accounts.set_time_zone(session, principal, text(data, "time_zone"))
    except InvalidInput as exc:
        return page(request, "portal/account.html", zones=sorted(accounts.TIME_ZONES),
                    form=FormState.failed(data, exc), status_code=422)
    return go(request, "/account", "Time zone saved.")


@post("/account/password", include_in_schema=False, guards=[portal_guard()], sync_to_thread=True, status_code=303)
def change_password(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
                    ) -> Template | Redirect:
    try:
        accounts.change_password(session, principal, str(data.get("current_password") or ""),
                                 str(data.get("new_password") or ""))
    except InvalidInput as exc:
        return page(request, "portal/account.html", zones=sorted(accounts.TIME_ZONES),
                    form=FormState(values={"time_zone": principal.time_zone}, errors=FormState.failed({}, exc).errors),
                    status_code=422)
    return go(request, "/login", "Password changed. Please log in again.")


@get("/jobs/{job_id:int}", include_in_schema=False, guards=[portal_guard()], sync_to_thread=True)
def job_page(request: Request[Any, Any, Any], job_id: Annotated[int, PathParameter()], session: DbSession,
             principal: Caller) -> Template:
    job = jobs.job_for(session, principal, job_id)
    if request.headers.get("hx-request"):
        return fragment("portal/_job.html", job=job)
    return page(request, "portal/job.html", job=job)


@get("/jobs/{job_id:int}/download", include_in_schema=False, guards=[portal_guard()], sync_to_thread=True)
def job_download(job_id: Annotated[int, PathParameter()], session: DbSession, principal: Caller) -> Response[bytes]:
    result = jobs.job_result(session, principal, job_id)
    return Response(content=result.body, media_type=result.content_type, headers={
        "Content-Disposition": f'attachment; filename="{result.filename}"', **NO_STORE})


ACCOUNT_ROUTES = [login_page, log_in, log_out, portal_home, account_page, change_time_zone, change_password,
                  job_page, job_download]
