"""What the affiliate's pages share: paging and sorting read from the query string, a period's
days read from a form, and the query string a table's links keep (filters survive paging)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar.params import QueryParameter

from leadmarket.errors import FieldError
from web.forms import text
from web.paging import Order, PageNo, PerPage, Sort, paging  # noqa: F401  (the section's pages import them from here)

From = Annotated[str | None, QueryParameter(name="from", required=False, max_length=40)]
To = Annotated[str | None, QueryParameter(name="to", required=False, max_length=40)]


def optional_date(values: dict[str, Any], name: str, errors: list[FieldError]) -> date | None:
    raw = text(values, name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError(name, "must be a date as YYYY-MM-DD"))
        return None


def keep(values: dict[str, Any]) -> str:
    """`&name=value...` of the filters that are set, for sort headers and the pager."""
    chosen = {name: value for name, value in values.items() if value not in (None, "")}
    return "&" + urlencode(chosen) if chosen else ""
