"""Database plumbing: the declarative Base, portable column types, engines, sessions, transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out, on PostgreSQL (timestamptz) and on SQLite (which stores naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite would open transactions itself, only before the first write, so a
            # SAVEPOINT issued first would commit on release; SQLAlchemy's documented fix is to
            # turn that off and emit BEGIN ourselves.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN")

        return engine
    # QueuePool closes a connection returned to a full pool, so with an overflow every load above
    # pool_size connected and disconnected (a PostgreSQL backend each time) on every request.
    # Keeping all the connections it may open has the same maximum and none of that churn.
    # hide_parameters: a statement's values (a phone looked up on the blocklist, a lead's IP network)
    # stay out of SQL echo logs and out of the text of database errors that reach a log.
    # connect_timeout: a database that silently stopped answering fails a request in seconds (a 503
    # the client may retry) instead of holding it, and a pool slot, until TCP gives up.
    return create_engine(url, pool_size=2 * pool_size, max_overflow=0, pool_pre_ping=True, hide_parameters=True,
                         connect_args={"connect_timeout": 5})


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Commit all the block wrote, or nothing. Only the outermost use case calls it."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint an INSERT/UPDATE broke (PostgreSQL); on SQLite a best guess
    from the message, `uq_<table>_<columns>` as the naming convention would have named it."""
    diag = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    if diag:
        return str(diag)
    message = str(exc.orig)
    if "UNIQUE constraint failed:" in message:
        columns = message.split("UNIQUE constraint failed:", 1)[1].strip().split(", ")
        table = columns[0].split(".")[0]
        return "uq_" + table + "_" + "_".join(c.split(".")[1] for c in columns)
    return None


_engines: dict[str, Engine] = {}


def shared_engine(url: str | None = None) -> Engine:
    """One engine per database URL per process (the app, workers and the CLI share it)."""
    from leadmarket.settings import current_settings

    settings = current_settings()
    url = url or settings.database_url
    if url not in _engines:
        _engines[url] = make_engine(url, pool_size=settings.db_pool_size)
    return _engines[url]


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session on the shared engine, for Celery tasks and CLI commands."""
    with Session(shared_engine(), expire_on_commit=False) as session:
        yield session
