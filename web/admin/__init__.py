"""The admin's portal pages; `ROUTES` is what web/portal.py mounts behind the admin role guard."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from affiliates import accounts as affiliate_accounts
from affiliates import offers
from api.deps import DbSession
from fraud import review
from leadmarket import accounts
from leadmarket.paging import PageRequest
from marketplace import advertisers, verticals
from web.admin.directory import DIRECTORY_ROUTES
from web.admin.moderation import MODERATION_ROUTES
from web.admin.users import USER_ROUTES
from web.render import page


@get("/admin", include_in_schema=False, sync_to_thread=True)
def home(request: Request[Any, Any, Any], session: DbSession) -> Template:
    one = PageRequest(per_page=1)
    counts = {"review": review.review_count(session),
              "affiliates": affiliate_accounts.affiliates_page(session, one).total,
              "advertisers": advertisers.advertisers_page(session, one).total,
              "offers": offers.offers_page(session, one).total,
              "verticals": len(verticals.list_verticals(session)),
              "users": accounts.users_page(session, one).total}
    return page(request, "admin/home.html", counts=counts)


ROUTES: list[Any] = [home, *DIRECTORY_ROUTES, *MODERATION_ROUTES, *USER_ROUTES]
