"""How portal pages fail: a stranger is sent to log in, a wrong role sees 403, someone else's
record (or none) 404 — as pages, not JSON. HTMX requests get the same status and a small fragment."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException, ValidationException
from litestar.response import Redirect, Template
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from leadmarket.errors import DomainError, NotFound, PermissionDenied, ServiceUnavailable
from web.auth import LoginRequired

log = logging.getLogger("leadmarket.web")


def _error_page(request: Request[Any, Any, Any], status: int, title: str, detail: str) -> Template:
    return Template(template_name="portal/error.html", status_code=status,
                    context={"status": status, "title": title, "detail": detail})


def login_required(request: Request[Any, Any, Any], _: LoginRequired) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    path = "/login?next=" + quote(target, safe="")
    if request.headers.get("hx-request"):
        return Response(content="", status_code=401, headers={"HX-Redirect": path})
    return Redirect(path=path, status_code=303)


def portal_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, (PermissionDenied, PermissionDeniedException)):
        return _error_page(request, 403, "Not for your role", str(exc) if isinstance(exc, DomainError) else
                           "This page belongs to another role.")
    if isinstance(exc, (NotFound, NotFoundException)):
        return _error_page(request, 404, "Not found", "There is nothing here, or it is not yours to see.")
    if isinstance(exc, ServiceUnavailable):
        return _error_page(request, 503, "Try again shortly", str(exc))
    if isinstance(exc, (OperationalError, PoolTimeout, psycopg.OperationalError)):  # database down or saturated
        page = _error_page(request, 503, "Try again shortly", "The database is unreachable; nothing was changed.")
        page.headers["Retry-After"] = "5"
        return page
    if isinstance(exc, DomainError):
        return _error_page(request, 400, "That did not work", str(exc))
    if isinstance(exc, ValidationException):
        return _error_page(request, 400, "That address is not quite right", "A parameter in the address is not valid.")
    if isinstance(exc, HTTPException):
        return _error_page(request, exc.status_code, "That did not work", exc.detail)
    log.exception("portal page failed: %s %s", request.method, request.url.path)
    return _error_page(request, 500, "Something went wrong", "We could not show this page. Please try again.")


# Every key the app registers is repeated here: Litestar picks the handler by the exception's
# class first and the layer second, so the app's database handler would answer a page with JSON.
PORTAL_EXCEPTION_HANDLERS: dict[Any, Any] = {
    LoginRequired: login_required,
    DomainError: portal_problem,
    HTTPException: portal_problem,
    ValidationException: portal_problem,
    OperationalError: portal_problem,
    PoolTimeout: portal_problem,
    psycopg.OperationalError: portal_problem,
    Exception: portal_problem,
}
