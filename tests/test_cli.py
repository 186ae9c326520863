"""The `leadmarket` command as an operator runs it: a real process, its stdout, and its effect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from leadmarket.identity import ApiKey
from leadmarket.registry import metadata

ROOT = Path(__file__).resolve().parent.parent


def leadmarket(*args: str, cwd: Path = ROOT, **env: str | None) -> subprocess.CompletedProcess[str]:
    """Run `leadmarket ARGS`; keyword arguments set (or, given None, remove) environment variables."""
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    environ.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run([sys.executable, "-m", "leadmarket.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_apikey_create_prints_only_a_working_admin_key(database_url, client):
    done = leadmarket("apikey", "create", "--role", "admin", "--name", "Ops on call", DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\n") and len(done.stdout.splitlines()) == 1
    key = done.stdout.strip()
    assert key.startswith("lmk_") and len(key) > 40
    # The key is usable at once: the admin bootstraps a network with it.
    created = client.post("/api/v1/verticals", headers={"X-API-Key": key}, json={
        "slug": "solar", "name": "Solar panels", "base_price": "15.00",
        "fields": [{"name": "roof_type", "type": "choice", "choices": ["flat", "pitched"], "required": True}]})
    assert created.status_code == 201, created.text
    assert [v["slug"] for v in client.get("/api/v1/verticals", headers={"X-API-Key": key}).json()] == ["solar"]


def test_apikey_create_for_finance_gives_a_finance_key(database_url, client):
    done = leadmarket("apikey", "create", "--role", "finance", "--name", "Finance team", DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert client.get("/api/v1/offers", headers={"X-API-Key": key}).status_code == 200
    refused = client.post("/api/v1/verticals", headers={"X-API-Key": key}, json={
        "slug": "solar", "name": "Solar panels", "base_price": "15.00", "fields": []})
    assert refused.status_code == 403, refused.text


def test_apikey_create_refuses_partner_roles_and_writes_nothing(database_url, db: sessionmaker[Session]):
    for role in ("advertiser", "affiliate"):
        done = leadmarket("apikey", "create", "--role", role, "--name", "Someone", DATABASE_URL=database_url)
        assert done.returncode == 2
        assert done.stdout == ""
        assert "--role" in done.stderr and "admin" in done.stderr
    blank = leadmarket("apikey", "create", "--role", "admin", "--name", "   ", DATABASE_URL=database_url)
    assert blank.returncode == 2 and blank.stdout == "" and "name" in blank.stderr
    with db() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_db_upgrade_builds_the_embedded_sqlite_database(tmp_path: Path):
    done = leadmarket("db", "upgrade", cwd=tmp_path)  # no DATABASE_URL: the SQLite file in this directory
    assert done.returncode == 0, done.stderr
    database = tmp_path / "leadmarket.sqlite3"
    assert database.is_file()
    engine = create_engine(f"sqlite:///{database}")
    try:
        tables = set(inspect(engine).get_table_names())
        assert tables == set(metadata().tables) | {"alembic_version"}
    finally:
        engine.dispose()
    again = leadmarket("db", "upgrade", cwd=tmp_path)  # already current: nothing to do, still fine
    assert again.returncode == 0, again.stderr
