"""Problems a route can answer because of the middleware in front of it, not its handler: declared
once here in the OpenAPI document, so every route (also ones added later) says so.

Today that is the rate limiter's 429: every route it counts (leadmarket/ratelimit.py decides
which) may answer it, with `Retry-After`. Handlers declare their own problems with `problems()`.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi import ResponseSpec
from litestar.routes import HTTPRoute

from api.errors import Problem
from leadmarket.ratelimit import RateLimiter

TOO_MANY = ResponseSpec(data_container=Problem, media_type="application/problem+json",
                        description="Too many requests for this key or address; retry after `Retry-After` seconds")


def declare_rate_limits(app: Litestar, limiter: RateLimiter) -> None:
    """Add 429 to the documented answers of every route `limiter` counts requests of."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        probe: Any = {"path": route.path_format, "client": None, "headers": [(b"x-api-key", b"probe")]}
        if not limiter.buckets(probe):
            continue
        for handler in route.route_handlers:
            handler.responses = {429: TOO_MANY, **(handler.responses or {})}
