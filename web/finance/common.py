"""What the finance pages share: paging and filters read from the query string, and where a form
may send the browser back to."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode


from leadmarket.accounts import zone
from leadmarket.errors import FieldError
from leadmarket.paging import Page, PageRequest
from web.forms import text
from web.paging import Order, PageNo, PerPage, Sort, paging  # noqa: F401  (the section's pages import them from here)

T = TypeVar("T")



def extra_args(**filters: Any) -> str:
    """Filters to carry through sort headers and the pager ("&status=draft")."""
    kept = {name: value for name, value in filters.items() if value not in (None, "")}
    return "&" + urlencode(kept) if kept else ""


def page_of(items: Sequence[T], request: PageRequest, sort_keys: dict[str, Callable[[T], Any]],
            default_sort: str) -> Page[T]:
    """Page and order a list already in memory (a report's rows) the way paginate() pages a query."""
    sort = request.sort if request.sort in sort_keys else default_sort
    ordered = sorted(items, key=sort_keys[sort], reverse=request.descending)
    start = (request.page - 1) * request.per_page
    return Page(items=ordered[start:start + request.per_page], request=PageRequest(
        page=request.page, per_page=request.per_page, sort=sort, descending=request.descending), total=len(items))


def local_day_start(values: dict[str, Any], name: str, time_zone: str, errors: list[FieldError], *,
                    next_day: bool = False) -> datetime | None:
    """A date typed in a form, as the aware start of that day (or of the day after) in the reader's zone."""
    raw = text(values, name)
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError(name, "must be a date as YYYY-MM-DD"))
        return None
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time.min, tzinfo=zone(time_zone))


def safe_back(raw: str, default: str) -> str:
    """A local finance page to return to after a form (never another site)."""
    return raw if raw.startswith("/finance") and not raw.startswith("//") and "\\" not in raw else default
