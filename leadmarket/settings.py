"""Settings read once from the environment, with an embedded default for a first run."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SQLITE_PATH = "leadmarket.sqlite3"


def _default_database_url() -> str:
    return f"sqlite:///{Path(DEFAULT_SQLITE_PATH).resolve()}"


def normalize_database_url(url: str) -> str:
    """Let operators write the usual `postgresql://` and still get psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=_default_database_url)
    redis_url: str | None = None
    secret_key: str = "insecure-development-key"
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None
    max_body_bytes: int = 1_048_576
    db_pool_size: int = 10
    public_base_url: str = "http://127.0.0.1:8000"
    currency: str = "USD"
    redis_prefix: str = "lm:"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        database_url = env.get("DATABASE_URL") or _default_database_url()
        secret = env.get("LEADMARKET_SECRET_KEY")
        if not secret:
            # A first run must work without configuration; a random key only
            # means dedupe hashes do not survive a restart of that first run.
            secret = "insecure-development-key" if database_url.startswith("sqlite") else secrets.token_hex(32)
        return cls(
            database_url=normalize_database_url(database_url),
            redis_url=env.get("REDIS_URL") or None,
            secret_key=secret,
            stripe_api_key=env.get("STRIPE_API_KEY") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
            max_body_bytes=int(env.get("LEADMARKET_MAX_BODY_BYTES", "1048576")),
            db_pool_size=int(env.get("LEADMARKET_DB_POOL_SIZE", "10")),
            public_base_url=env.get("LEADMARKET_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
            currency=env.get("LEADMARKET_CURRENCY", "USD").upper(),
            redis_prefix=env.get("LEADMARKET_REDIS_PREFIX", "lm:"),
        )


_current: Settings | None = None


def configure(settings: Settings) -> Settings:
    """Make `settings` the process's settings (the app factory and the CLI call this once)."""
    global _current
    _current = settings
    return settings


def current_settings() -> Settings:
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current
