"""What the advertiser's pages share: paging read from the query string, and form errors whose
domain field names carry a list index ("filters.countries[2]") shown beside the one input."""

from __future__ import annotations

import re
from collections.abc import Callable


from leadmarket.errors import FieldError, InvalidInput
from web.paging import Order, PageNo, PerPage, Sort, paging  # noqa: F401  (the section's pages import them from here)

_INDEX = re.compile(r"\[(\d+)\]")


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
