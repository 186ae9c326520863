"""Every failure becomes an application/problem+json answer here, and nowhere else."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import msgspec
import psycopg
from litestar import Request, Response
from litestar.openapi import ResponseSpec
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from leadmarket.errors import (Conflict, DomainError, InvalidInput, NotAuthenticated, NotFound, PermissionDenied,
                               ServiceUnavailable)

log = logging.getLogger("leadmarket.api")

STATUS: dict[type[DomainError], int] = {
    NotAuthenticated: 401, PermissionDenied: 403, NotFound: 404, Conflict: 409, InvalidInput: 422,
    ServiceUnavailable: 503,
}
# msgspec says where a body went wrong as `$.contact.phone` or `$.fields[0].type`.
_MSGSPEC_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")
# ... and names an unknown or missing field in the message, not in the path.
_NAMED_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<name>[^`]+)`")


def _body(title: str, status: int, detail: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body


def _problem(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return Response(body, status_code=body["status"], media_type="application/problem+json", headers=headers)


def domain_problem(_: Request, exc: DomainError) -> Response[dict[str, Any]]:
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
    errors = [{"field": e.field, "reason": e.reason} for e in exc.errors] if isinstance(exc, InvalidInput) else None
    headers = {"Retry-After": "5"} if status == 503 else None
    return _problem(_body(type(exc).__name__, status, str(exc), errors), headers)


def validation_problem(_: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar's body/parameter check (msgspec) in the same 422 shape as ours."""
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        message = str(item.get("message", "is invalid"))
        match = _MSGSPEC_PATH.match(message)
        path = (match.group("path") or "").lstrip(".") if match else ""
        reason = match.group("reason") if match else message
        # msgspec names a mapping's value `sub_ids[...]`; the client knows it as `sub_ids`
        field = (path or str(item.get("key") or "body")).replace("[...]", "")
        if field == "data" and item.get("source") == "body":
            field = "body"  # Litestar's name for the whole body, not a field the client sent
        if (named := _NAMED_FIELD.match(reason)) is not None:
            field = named["name"] if field == "body" else f"{field}.{named['name']}"
        errors.append({"field": field, "reason": reason})
    if not errors:
        errors = [{"field": "body", "reason": exc.detail or "is not valid"}]
    detail = exc.detail if exc.detail and not exc.detail.startswith("Validation failed for") else "Validation failed"
    return _problem(_body("InvalidInput", 422 if errors[0]["field"] != "body" else 400, detail, errors))


def http_problem(request: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    headers = dict(exc.headers or {})
    detail = str(exc.detail)
    if exc.status_code == 413:  # say what the limit is (LEADMARKET_MAX_BODY_BYTES)
        detail = f"The request body is larger than the {request.app.state.settings.max_body_bytes} bytes accepted."
    return _problem(_body(type(exc).__name__, exc.status_code, detail), headers or None)


# Seconds a client is told to wait when the database is unreachable, and between two log lines
# about it (an outage is logged once per window, not once per request).
DATABASE_RETRY_AFTER = 5
_database_logged_at = -float(DATABASE_RETRY_AFTER)


def database_problem(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    """PostgreSQL down, restarting or out of pooled connections: 503 with Retry-After. The service
    rolled its transaction back on the way out, so nothing of the request was written."""
    global _database_logged_at
    now = time.monotonic()
    if now - _database_logged_at >= DATABASE_RETRY_AFTER:
        _database_logged_at = now
        cause = getattr(exc, "orig", None) or exc
        log.warning("database unreachable on %s %s: %s (answering 503 for %ss)", request.method, request.url.path,
                    type(cause).__name__, DATABASE_RETRY_AFTER)
    return _problem(_body("ServiceUnavailable", 503, "The database is unreachable; retry shortly."),
                    {"Retry-After": str(DATABASE_RETRY_AFTER)})


def unexpected_problem(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    # The traceback goes to the log (which never holds request bodies), not to the client.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _problem(_body("InternalServerError", 500, "Something went wrong on our side; it was logged."))


EXCEPTION_HANDLERS = {
    DomainError: domain_problem,
    ValidationException: validation_problem,
    HTTPException: http_problem,
    # connection refused or cut, server restarting (DBAPI OperationalError), pool exhausted
    OperationalError: database_problem,
    PoolTimeout: database_problem,
    psycopg.OperationalError: database_problem,
    Exception: unexpected_problem,
}


class ProblemField(msgspec.Struct):
    field: str
    reason: str


class Problem(msgspec.Struct):
    """RFC 9457 problem details; `errors` lists every bad field on a 422."""

    title: str
    status: int
    detail: str
    errors: list[ProblemField] | None = None


def problems(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problems a handler can answer with."""
    text = {400: "Malformed request", 401: "Missing or unknown API key", 403: "Wrong role for this action",
            404: "Not found, or not yours", 409: "Conflicts with the current state", 413: "Body too large",
            422: "Invalid fields, each named with its reason", 503: "A dependency is down; retry later"}
    return {code: ResponseSpec(data_container=Problem, description=text[code], media_type="application/problem+json")
            for code in codes}
