"""Paging and sorting for lists people read page by page (portal tables): a request, a page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from leadmarket.errors import FieldError

T = TypeVar("T")
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    per_page: int = 25
    sort: str | None = None
    descending: bool = True

    @classmethod
    def of(cls, page: Any = 1, per_page: Any = 25, sort: Any = None, order: Any = None) -> PageRequest:
        """From query-string values; anything odd falls back to the defaults instead of failing."""
        def number(value: Any, default: int) -> int:
            try:
                return max(1, int(value))
            except (TypeError, ValueError):
                return default
        return cls(page=number(page, 1), per_page=min(number(per_page, 25), MAX_PER_PAGE),
                   sort=str(sort) if sort else None, descending=(order != "asc"))

    def with_page(self, page: int) -> PageRequest:
        return replace(self, page=page)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    request: PageRequest
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.request.per_page))

    @property
    def has_previous(self) -> bool:
        return self.request.page > 1

    @property
    def has_next(self) -> bool:
        return self.request.page < self.pages

    @property
    def first_index(self) -> int:
        return 0 if not self.total else (self.request.page - 1) * self.request.per_page + 1

    @property
    def last_index(self) -> int:
        return min(self.total, self.request.page * self.request.per_page)


def limit_offset_errors(limit: int, offset: int, max_limit: int) -> list[FieldError]:
    """The API's `limit`/`offset` paging, checked the same way for every list that offers it."""
    errors = []
    if not 1 <= limit <= max_limit:
        errors.append(FieldError("limit", f"must be between 1 and {max_limit}"))
    if offset < 0:
        errors.append(FieldError("offset", "must not be negative"))
    return errors


def paginate(session: Session, query: Select[Any], request: PageRequest,
             sort_columns: Mapping[str, ColumnElement[Any]], default_sort: str, *, scalars: bool = True) -> Page[Any]:
    """Run `query` for one page, ordered by a whitelisted column (unknown sort names use the
    default), with a stable tie-break on the first sort column's table id if it has one."""
    sort = request.sort if request.sort in sort_columns else default_sort
    column = sort_columns[sort]
    order = column.desc() if request.descending else column.asc()
    total = session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    rows = session.execute(query.order_by(order).limit(request.per_page)
                           .offset((request.page - 1) * request.per_page))
    items = list(rows.scalars()) if scalars else list(rows.all())
    return Page(items=items, request=replace(request, sort=sort), total=total)
