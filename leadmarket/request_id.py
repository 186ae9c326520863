"""The request ID: one per HTTP request, echoed in `X-Request-ID` and carried by every log line.

A client's own ID is kept when it is sane (1 to 128 characters of letters, digits and `._:-`), so
a partner can quote theirs to support; anything else is replaced by a fresh random one.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
NO_REQUEST = "-"
_SANE = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")

# Set for the duration of a request; Litestar's worker threads (anyio) run in a copy of the
# request's context, so sync handlers and services log the same ID.
request_id_var: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)


def current_request_id() -> str:
    return request_id_var.get()


def new_request_id() -> str:
    return os.urandom(16).hex()


def _from_headers(headers: Any) -> bytes | None:
    for name, value in headers:
        if name == HEADER:
            return value if _SANE.fullmatch(value) else None
    return None


class RequestIdMiddleware:
    """Pure ASGI: reads the header, sets the context variable, adds the header to the answer.

    It wraps the whole application (not one route), so a 404 for an unknown path, a 405 and a
    429 carry the ID too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = _from_headers(scope["headers"]) or new_request_id().encode()
        token = request_id_var.set(raw.decode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (HEADER, raw)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
