"""What the advertiser's pages share: paging read from the query string, and form errors whose
domain field names carry a list index ("filters.countries[2]") shown beside the one input."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from litestar.params import QueryParameter

from leadmarket.errors import FieldError, InvalidInput
from leadmarket.paging import PageRequest

PageNo = Annotated[int | None, QueryParameter(name="page", required=False)]
PerPage = Annotated[int | None, QueryParameter(name="per_page", required=False)]
Sort = Annotated[str | None, QueryParameter(name="sort", required=False)]
Order = Annotated[str | None, QueryParameter(name="order", required=False)]
_INDEX = re.compile(r"\[(\d+)\]")


def paging(page: int | None, per_page: int | None, sort: str | None, order: str | None) -> PageRequest:
    return PageRequest.of(page or 1, per_page or 25, sort, order)


def without_indexes(exc: InvalidInput, items: Callable[[str], list[str]] | None = None) -> InvalidInput:
    """One input holds a whole list: its items' errors go beside that input, naming the item
    (`items(name)` gives the list the form sent under that name)."""
    errors = []
    for error in exc.errors:
        name = _INDEX.sub("", error.field)
        index = _INDEX.search(error.field)
        values = items(name) if items is not None and index else []
        position = int(index.group(1)) if index else -1
        reason = f"{values[position]}: {error.reason}" if 0 <= position < len(values) else error.reason
        errors.append(FieldError(name, reason))
    return InvalidInput(errors)
