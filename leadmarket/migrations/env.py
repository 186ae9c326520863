"""Alembic environment: the models' metadata, and the URL from the config or DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from leadmarket.partitions import include_name, include_object
from leadmarket.registry import metadata
from leadmarket.settings import Settings, normalize_database_url

config = context.config
target_metadata = metadata()


def database_url() -> str:
    return normalize_database_url(config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url)


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(database_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite", include_name=include_name,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
