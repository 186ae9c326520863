"""The affiliate's portal pages; `ROUTES` is what web/portal.py mounts (all behind the affiliate role guard)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from web.render import page


@get("/affiliate", include_in_schema=False, sync_to_thread=False)
def home(request: Request[Any, Any, Any]) -> Template:
    return page(request, "affiliate/home.html")


ROUTES: list[Any] = [home]
