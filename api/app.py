"""The Litestar app factory: routes, dependencies, auth, errors, OpenAPI and templates."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
from litestar import Litestar
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.template.config import TemplateConfig
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.admin import AdvertiserController, AffiliateController, OfferController, VerticalController
from api.api_keys import ApiKeyController
from api.auth import ApiKeyAuthentication, provide_principal
from api.bench import bench_handlers
from api.billing import BILLING_HANDLERS
from api.calls import CALL_HANDLERS
from api.errors import EXCEPTION_HANDLERS
from api.fraud import FRAUD_CONTROLLERS
from api.input_guard import refuse_nul_input
from api.invoices import INVOICE_HANDLERS
from api.openapi_problems import declare_rate_limits
from api.health import healthz
from api.leads import LeadController
from api.orders import OrderController
from api.payouts import PAYOUT_HANDLERS
from api.privacy import PrivacyController
from api.store import ConsentController, StoreController
from api.purchases import PurchaseController
from api.returns import ReturnController
from api.settlement import SettlementController
from api.ping_post import PingBuyerController, PingPostController
from api.tracking import click_front, tracking_handlers
from leadmarket.celery_app import configure_celery
from leadmarket.db import make_sessionmaker, shared_engine
from leadmarket.logging import configure_logging
from leadmarket.ratelimit import RateLimiter, RateLimitMiddleware
from leadmarket.request_id import RequestIdMiddleware
from leadmarket.settings import Settings, configure
from marketplace.batching import IntakeBatcher
from web.pages import home
from web.portal import portal_csrf, portal_routers
from web.render import configure_templates

SYNC_THREADS = 40
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"


async def provide_session(state: State) -> AsyncIterator[Session]:
    """One session per request. Closing it is I/O only when the handler left a transaction open
    (a read); only then does it go to the thread pool. Litestar runs a sync generator's cleanup
    in the pool always, a thread hop per request that a write, already committed, does not need."""
    session = state.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await anyio.to_thread.run_sync(session.close)
        else:
            session.close()


def size_thread_pool() -> None:
    """Sync handlers run on the event loop's default executor, which Python sizes by the CPU count
    (six threads on two cores): too few for handlers that mostly wait on the database. Give it as
    many threads as anyio's default limiter gives `to_thread` (the rest of the app's thread hops)."""
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="leadmarket-sync"))


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> Litestar:
    settings = configure(settings or Settings.from_env())
    configure_logging()
    configure_celery(settings)
    engine = engine or shared_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    state = State({"settings": settings, "engine": engine, "sessions": sessions, "intake": IntakeBatcher(sessions)})
    limiter = RateLimiter(settings)
    app = Litestar(
        route_handlers=[healthz, home, VerticalController, AdvertiserController, AffiliateController,
                        OfferController, LeadController, *bench_handlers(), *FRAUD_CONTROLLERS,
                        *tracking_handlers(), *BILLING_HANDLERS, OrderController, *CALL_HANDLERS,
                        PurchaseController, ReturnController, PingBuyerController, PingPostController,
                        StoreController, ConsentController, SettlementController,
                        *PAYOUT_HANDLERS, *INVOICE_HANDLERS, PrivacyController, ApiKeyController, *portal_routers()],
        dependencies={"session": Provide(provide_session),
                      "principal": Provide(provide_principal, sync_to_thread=False)},
        # rate limits first: a flood of unknown keys is turned away before any key lookup
        middleware=[DefineMiddleware(RateLimitMiddleware, limiter=limiter),
                    DefineMiddleware(ApiKeyAuthentication)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        before_request=refuse_nul_input,  # a NUL in any input is a 422, never a failed query
        openapi_config=OpenAPIConfig(title="Leadmarket API", version="1.0.0", path="/schema"),
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine,
                                       engine_callback=configure_templates),
        csrf_config=portal_csrf(settings),
        request_max_body_size=settings.max_body_bytes,
        state=state,
        on_startup=[size_thread_pool],
        debug=False,
    )
    declare_rate_limits(app, limiter)  # 429 in the OpenAPI document of every limited route
    # Around the whole app, not per route: a 404 for an unknown path carries an X-Request-ID too.
    # Inside it, the click front answers GET /r/{code} before Litestar routes anything.
    app.asgi_handler = RequestIdMiddleware(click_front(app.asgi_handler, state, limiter))
    return app


def served_app() -> Litestar:
    """The app as `leadmarket serve` runs it, one per server process. After startup the objects it
    keeps for its lifetime (modules, routes, templates: about 225,000) are frozen out of the
    garbage collector's passes, whose full passes otherwise pause a busy process for ~125 ms every
    few tens of seconds. Not in `create_app`: tests make many apps, and frozen garbage stays."""
    app = create_app()
    app.on_startup.append(_freeze_heap)
    return app


def _freeze_heap() -> None:
    gc.collect()
    gc.freeze()
