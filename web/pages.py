"""Public pages: the landing page that says what this server is and where to start."""

from __future__ import annotations

from litestar import get
from litestar.response import Template


@get("/", include_in_schema=False, sync_to_thread=False)
def home() -> Template:
    return Template(template_name="home.html")
