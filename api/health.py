"""Liveness and readiness: the database must answer; Redis is reported, not required."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from api.errors import problems
from leadmarket.errors import ServiceUnavailable
from leadmarket.redis_client import redis_status


@get("/healthz", sync_to_thread=True, tags=["health"], responses=problems(503))
def healthz(state: State) -> dict[str, str]:
    try:
        with state.sessions() as session:
            session.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise ServiceUnavailable("database unreachable") from exc
    return {"status": "ok", "database": "ok", "redis": redis_status(state.settings)}
