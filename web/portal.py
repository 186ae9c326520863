"""The portal's routes in one Router: account pages, then each role's section behind its guard.
Portal errors render as pages (web/errors.py), never as the API's problem JSON."""

from __future__ import annotations

from litestar import Router
from litestar.config.csrf import CSRFConfig
from litestar.static_files import create_static_files_router

from leadmarket.identity import Role
from leadmarket.settings import Settings
from web import admin, advertiser, affiliate, finance
from web.account import ACCOUNT_ROUTES
from web.auth import portal_guard
from web.errors import PORTAL_EXCEPTION_HANDLERS
from web.templates_dir import STATIC


def portal_routers() -> list[Router]:
    sections = [
        Router(path="/", route_handlers=list(advertiser.ROUTES), guards=[portal_guard(Role.ADVERTISER)],
               exception_handlers=PORTAL_EXCEPTION_HANDLERS, include_in_schema=False),
        Router(path="/", route_handlers=list(affiliate.ROUTES), guards=[portal_guard(Role.AFFILIATE)],
               exception_handlers=PORTAL_EXCEPTION_HANDLERS, include_in_schema=False),
        Router(path="/", route_handlers=list(finance.ROUTES), guards=[portal_guard(Role.FINANCE)],
               exception_handlers=PORTAL_EXCEPTION_HANDLERS, include_in_schema=False),
        Router(path="/", route_handlers=list(admin.ROUTES), guards=[portal_guard(Role.ADMIN)],
               exception_handlers=PORTAL_EXCEPTION_HANDLERS, include_in_schema=False),
    ]
    account = Router(path="/", route_handlers=ACCOUNT_ROUTES, exception_handlers=PORTAL_EXCEPTION_HANDLERS,
                     include_in_schema=False)
    static = create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False,
                                        cache_control=None)
    return [account, *sections, static]


# Machine-to-machine paths authenticate by key, token or signature, never by cookie: no CSRF there.
CSRF_EXEMPT = ["^/api/", "^/r/", "^/postback", "^/webhooks/", "^/f/", "^/healthz", "^/schema", "^/static/",
               "^/bench"]


def portal_csrf(settings: Settings) -> CSRFConfig:
    """Double-submit CSRF tokens on every portal form (hidden `_csrf_token`; HTMX sends the header).
    Templates print `csrf_token()` through autoescaping, never `csrf_input` (see PYSEC-2026-2604)."""
    return CSRFConfig(secret=settings.secret_key, cookie_name="lm_csrf", cookie_secure=True, cookie_httponly=True,
                      cookie_samesite="lax", exclude=CSRF_EXEMPT)
