"""Who is using the portal: the session cookie, role guards, and where a stranger is sent.

The guard puts the portal user's `Principal` where API keys put theirs (`request.user`), so page
handlers take the same `principal` dependency and call the same services as the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from leadmarket import accounts
from leadmarket.errors import DomainError, PermissionDenied
from leadmarket.identity import Principal, Role

SESSION_COOKIE = "lm_session"

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


class LoginRequired(DomainError):
    """No portal session (or an expired one): the browser is sent to the log-in page."""


async def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The portal user behind this request's cookie, looked up once per request."""
    user = connection.scope.get("user")
    if isinstance(user, Principal) and user.user_id is not None:
        return user
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    sessions = connection.app.state.sessions

    def lookup() -> Principal | None:
        with sessions() as session:
            return accounts.principal_for_session(session, token)

    principal = await anyio.to_thread.run_sync(lookup)
    if principal is not None:
        connection.scope["user"] = principal
    return principal


def portal_guard(*roles: Role) -> Guard:
    """Let in a logged-in portal user with one of `roles` (any role when none are given)."""
    allowed = frozenset(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = await current_user(connection)
        if principal is None:
            raise LoginRequired("please log in")
        if allowed and principal.role not in allowed:
            raise PermissionDenied("this page is for " + " or ".join(sorted(r.value for r in allowed)) + " users")

    return guard


HOME_BY_ROLE = {Role.ADVERTISER: "/advertiser", Role.AFFILIATE: "/affiliate", Role.FINANCE: "/finance",
                Role.ADMIN: "/admin"}

# The menu each role sees: (label, path). Sections add their pages here.
MENUS: dict[Role, list[tuple[str, str]]] = {
    Role.ADVERTISER: [("Dashboard", "/advertiser"), ("Lead store", "/advertiser/store"),
                      ("Purchases", "/advertiser/purchases"), ("Orders", "/advertiser/orders"),
                      ("Billing", "/advertiser/billing"), ("API & webhooks", "/advertiser/settings")],
    Role.AFFILIATE: [("Dashboard", "/affiliate"), ("Offers & links", "/affiliate/offers"),
                     ("Leads", "/affiliate/leads"), ("Traffic costs", "/affiliate/traffic-costs"),
                     ("Postbacks", "/affiliate/postbacks"), ("Payouts", "/affiliate/payouts"),
                     ("API", "/affiliate/api")],
    Role.FINANCE: [("Payouts", "/finance"), ("Settlement", "/finance/settlement"), ("Ledger", "/finance/ledger"),
                   ("Balances", "/finance/balances"), ("Audit log", "/finance/audit")],
    Role.ADMIN: [("Overview", "/admin"), ("Affiliates", "/admin/affiliates"), ("Advertisers", "/admin/advertisers"),
                 ("Offers", "/admin/offers"), ("Verticals", "/admin/verticals"), ("Review queue", "/admin/review"),
                 ("Blocklists", "/admin/blocklists"), ("Users", "/admin/users")],
}
