"""The benchmark's ceiling: a bare endpoint that stores the posted JSON in one INSERT.

Mounted only when LEADMARKET_BENCH_CEILING=1 (tests/bench/intake_load.py sets it on a throwaway
database that has a `bench_ceiling` table; the product schema has none). It runs on the same
server, worker count, thread pool and database pool as intake, so the gap between the two is
what intake's own work costs: auth, validation, normalization, dedupe claims and the decision.
"""

from __future__ import annotations

import os

import anyio
from litestar import Request, post
from litestar.datastructures import State
from sqlalchemy import text

_INSERT = text("INSERT INTO bench_ceiling (body) VALUES (CAST(:body AS jsonb)) RETURNING id")


@post("/bench/ceiling", include_in_schema=False, status_code=201)
async def bench_ceiling(request: Request, state: State) -> dict[str, int]:
    body = (await request.body()).decode()

    def insert() -> int:
        with state.engine.begin() as conn:
            return int(conn.execute(_INSERT, {"body": body}).scalar_one())

    return {"id": await anyio.to_thread.run_sync(insert)}


def bench_handlers() -> list[object]:
    """The ceiling route when LEADMARKET_BENCH_CEILING=1, else nothing."""
    return [bench_ceiling] if os.environ.get("LEADMARKET_BENCH_CEILING") == "1" else []
