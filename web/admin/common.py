"""What the admin pages share: reading paging from the query string."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

from leadmarket.paging import PageRequest

PageNo = Annotated[int | None, QueryParameter(name="page", required=False)]
PerPage = Annotated[int | None, QueryParameter(name="per_page", required=False)]
Sort = Annotated[str | None, QueryParameter(name="sort", required=False)]
Order = Annotated[str | None, QueryParameter(name="order", required=False)]


def paging(page: int | None, per_page: int | None, sort: str | None, order: str | None) -> PageRequest:
    return PageRequest.of(page or 1, per_page or 25, sort, order)
