"""API-key authentication for /api/ paths, role guards, and the `principal` dependency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from leadmarket.api_keys import on_revoke
from leadmarket.errors import NotAuthenticated, PermissionDenied
from leadmarket.identity import Principal, Role, authenticate, digest

# A key lookup is cached briefly per process: revoking a key takes effect within this many seconds.
KEY_CACHE_SECONDS = 5.0


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    _cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        if not connection.scope["path"].startswith("/api/"):
            return AuthenticationResult(user=None, auth=None)  # public pages, redirects, webhooks
        raw = connection.headers.get("x-api-key")
        if not raw:
            raise NotAuthenticated("missing X-API-Key header")
        key = digest(raw.strip())
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return AuthenticationResult(user=cached[1], auth=None)
        sessions = connection.app.state.sessions

        def lookup() -> Principal:
            with sessions() as session:
                return authenticate(session, raw)

        principal = await anyio.to_thread.run_sync(lookup)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + KEY_CACHE_SECONDS, principal)
        return AuthenticationResult(user=principal, auth=None)


def requires_role(*roles: Role) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    allowed = frozenset(roles)

    # async: Litestar runs a sync guard in the thread pool, a hop that costs more than the check
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # Litestar's own answer (the Allow header, no data); its auth middleware skips OPTIONS
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal):
            raise NotAuthenticated("missing X-API-Key header")
        if principal.role not in allowed:
            raise PermissionDenied(f"this action needs the {' or '.join(sorted(r.value for r in allowed))} role")

    guard.roles = allowed  # type: ignore[attr-defined]  # read by tests that walk the routes
    return guard


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.user
    if not isinstance(principal, Principal):
        raise NotAuthenticated("missing X-API-Key header")
    return principal


# A key revoked in this process stops here at once, not after its cache entry ages out.
on_revoke(lambda key_digest: ApiKeyAuthentication._cache.pop(key_digest, None))
