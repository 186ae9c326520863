"""The advertiser's portal pages; `ROUTES` is what web/portal.py mounts (all behind the advertiser role guard)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from web.render import page


@get("/advertiser", include_in_schema=False, sync_to_thread=False)
def home(request: Request[Any, Any, Any]) -> Template:
    return page(request, "advertiser/home.html")


ROUTES: list[Any] = [home]
