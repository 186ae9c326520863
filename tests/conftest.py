"""Test fixtures: a throwaway PostgreSQL database built by Alembic, our own Redis index, the app."""

from __future__ import annotations

import io
import logging
import os
import secrets
from collections.abc import Iterator

import pytest
import redis
from litestar.testing import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from leadmarket.celery_app import configure_celery
from leadmarket.db import make_engine
from leadmarket.logging import RequestIdFilter, configure_logging
from leadmarket.migrate import upgrade
from leadmarket.registry import metadata
from leadmarket.settings import Settings, configure
from tests.support import Network, build_network

pytest_plugins = ["tests.portal_fixtures"]

# Buyers, ping-post buyers and postback receivers in tests are servers on 127.0.0.1; processes the
# tests start (server, worker, demo) inherit this too. tests/test_outbound.py checks the default.
os.environ["LEADMARKET_ALLOW_PRIVATE_CALLBACKS"] = "1"

PG_SERVER = os.environ.get("LEADMARKET_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("LEADMARKET_TEST_REDIS", "redis://127.0.0.1:6379/11")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"leadmarket_test_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    try:
        upgrade(url)  # the schema production gets
        yield url
    finally:
        from leadmarket.db import _engines

        for engine in _engines.values():
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    settings = Settings(database_url=database_url, redis_url=REDIS_URL, secret_key="test-secret-key",
                        public_base_url="http://testserver", redis_prefix=f"lmtest:{secrets.token_hex(4)}:",
                        tasks_eager=True,  # tasks run in-process, through their real code
                        allow_private_callbacks=True,
                        # Every test client calls from one IP ("testclient") with a few keys, and the
                        # suite makes well over the production quota a minute; the limits themselves
                        # are tested in test_rate_limits.py with quotas of their own.
                        rate_limit_api_key=1_000_000, rate_limit_api_ip=1_000_000)
    configure(settings)
    configure_celery(settings)
    return settings


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url, pool_size=20)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine, settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A session factory on the test database; every row written is removed after the test, and
    so is every Redis key under this run's prefix (velocity windows, caches, the click stream)."""
    yield sessionmaker(engine, expire_on_commit=False)
    tables = ", ".join(f'"{t.name}"' for t in metadata().sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    client = redis.Redis.from_url(settings.redis_url)
    try:
        for key in client.scan_iter(match=settings.redis_prefix + "*", count=1000):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def redis_db(settings: Settings) -> Iterator[redis.Redis]:
    """Redis on our own index; after the test only the keys under this run's prefix are deleted,
    so parallel runs and other users of the server keep theirs."""
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    for key in client.scan_iter(match=settings.redis_prefix + "*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def client(settings: Settings, engine: Engine, db: sessionmaker[Session]) -> Iterator[TestClient]:
    from api.auth import ApiKeyAuthentication

    ApiKeyAuthentication._cache.clear()
    app = create_app(settings, engine=engine)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def network(client: TestClient, db: sessionmaker[Session]) -> Network:
    """A small network built through the admin API: one vertical, two affiliates, offers."""
    return build_network(client, db)


@pytest.fixture
def app_log() -> Iterator[io.StringIO]:
    """What the app's own log handler writes (request ids included), as an operator reads it."""
    configure_logging()
    handler = next(h for h in logging.getLogger("leadmarket").handlers
                   if any(isinstance(f, RequestIdFilter) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
