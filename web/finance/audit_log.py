"""The audit log: who did what to which subject, filtered and paged, in the reader's time zone."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter
from litestar.response import Template

from api.deps import DbSession
from leadmarket import audit
from web.finance.common import Order, PageNo, PerPage, Sort, extra_args, paging
from web.render import page

Filter = Annotated[str | None, QueryParameter(required=False)]


@get("/finance/audit", include_in_schema=False, sync_to_thread=True)
def audit_log(request: Request[Any, Any, Any], session: DbSession, action: Filter = None, actor: Filter = None,
              subject: Filter = None, page_no: PageNo = None, per_page: PerPage = None, sort: Sort = None,
              order: Order = None) -> Template:
    filters = {"action": (action or "").strip(), "actor": (actor or "").strip()[:100],
               "subject": (subject or "").strip()[:100]}
    events = audit.events_page(session, paging(page_no, per_page, sort, order), action=filters["action"] or None,
                               actor=filters["actor"] or None, subject=filters["subject"] or None)
    return page(request, "finance/audit.html", events=events, filters=filters,
                actions=audit.recorded_actions(session), extra=extra_args(**filters))


AUDIT_ROUTES = [audit_log]
