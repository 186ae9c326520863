"""Paging and sorting read from a portal page's query string (`?page=2&per_page=50&sort=id&order=asc`).
Odd values fall back to defaults in `PageRequest.of` rather than failing the page."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

from leadmarket.paging import PageRequest

PageNo = Annotated[int | None, QueryParameter(name="page", required=False)]
PerPage = Annotated[int | None, QueryParameter(name="per_page", required=False)]
Sort = Annotated[str | None, QueryParameter(name="sort", required=False, max_length=40)]
Order = Annotated[str | None, QueryParameter(name="order", required=False, max_length=4)]


def paging(page: int | None, per_page: int | None, sort: str | None, order: str | None) -> PageRequest:
    return PageRequest.of(page or 1, per_page or 25, sort, order)
