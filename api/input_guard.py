"""One refusal for NUL characters anywhere in an API request's input, before a handler or a query sees it.

PostgreSQL text and JSONB cannot hold a NUL, so a NUL that reaches a query fails there as a 500
(fuzzing found it in tracking-link sub-ids, conversion click ids, postback templates, store
filters, consent ids and ping ids). Services that other doors call refuse it too
(`leadmarket.validators.reject_nul`); this hook covers every API route at once, including the
ones added later: a 422 naming each field (`sub_ids.sub1`, `vertical`, `certificate_id`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request

from leadmarket.errors import FieldError, InvalidInput
from leadmarket.validators import nul_fields

REASON = "must not contain NUL characters"


async def refuse_nul_input(request: Request[Any, Any, Any]) -> None:
    """Litestar `before_request` hook for the JSON API and `/postback`: path and query parameters,
    and JSON or form bodies. Other routes answer browsers or Stripe in their own way: the click
    redirect's plain 404 page, the hosted form's error page, the webhook's signature check."""
    path = request.scope["path"]
    if not (path.startswith("/api/") or path == "/postback"):
        return
    errors = [FieldError(name, REASON) for name, value in request.path_params.items()
              if isinstance(value, str) and "\x00" in value]
    errors += [FieldError(name.replace("\x00", "") or "query", REASON)
               for name, value in request.query_params.multi_items() if "\x00" in name or "\x00" in str(value)]
    if request.method in ("POST", "PUT", "PATCH"):
        content_type = request.headers.get("content-type", "")
        # cached: the handler reads the same bytes. Not a multipart body: the CSRF middleware has
        # already streamed it into the form (uncached), and reading it again would wait forever.
        body = b"" if content_type.startswith("multipart/") else await request.body()
        if b"\\u0000" in body and "json" in content_type:  # JSON writes a NUL only as \u0000
            try:
                errors += nul_fields(msgspec.json.decode(body))
            except msgspec.DecodeError:
                pass  # malformed JSON: the handler's decoder answers it
        elif b"%00" in body and "application/x-www-form-urlencoded" in content_type:
            errors += [FieldError(name.replace("\x00", "") or "body", REASON)
                       for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True)
                       if "\x00" in name or "\x00" in value]
    if errors:
        raise InvalidInput(errors)
