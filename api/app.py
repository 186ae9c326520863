"""The Litestar app factory: routes, dependencies, auth, errors, OpenAPI and templates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
from api.auth import ApiKeyAuthentication, provide_principal
from api.errors import EXCEPTION_HANDLERS
from api.health import healthz
from api.leads import LeadController
from leadmarket.celery_app import configure_celery
from leadmarket.db import make_sessionmaker, shared_engine
from leadmarket.logging import configure_logging
from leadmarket.settings import Settings, configure
from web.pages import home

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"


def provide_session(state: State) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> Litestar:
    settings = configure(settings or Settings.from_env())
    configure_logging()
    configure_celery(settings)
    engine = engine or shared_engine(settings.database_url)
    state = State({"settings": settings, "engine": engine, "sessions": make_sessionmaker(engine)})
    return Litestar(
        route_handlers=[healthz, home, VerticalController, AdvertiserController, AffiliateController,
                        OfferController, LeadController],
        dependencies={"session": Provide(provide_session),
                      "principal": Provide(provide_principal, sync_to_thread=False)},
        middleware=[DefineMiddleware(ApiKeyAuthentication)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(title="Leadmarket API", version="1.0.0", path="/schema"),
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        request_max_body_size=settings.max_body_bytes,
        state=state,
        debug=False,
    )
