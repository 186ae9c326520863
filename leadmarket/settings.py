"""Settings read once from the environment, with an embedded default for a first run."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
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
    # Run Celery tasks in the calling process even when Redis is configured (tests, one-box runs).
    tasks_eager: bool = False
    # Fraud screen (fraud/): velocity windows, the default minimum form time, consent age, GeoIP.
    geoip_path: str | None = None
    velocity_ip_max: int = 10
    velocity_ip_window_seconds: int = 3600
    velocity_sub_max: int = 1000
    velocity_sub_window_seconds: int = 3600
    velocity_stacking_window_seconds: int = 86400
    velocity_retry_seconds: float = 5.0
    min_form_seconds: int = 5
    consent_max_age_hours: int = 72
    # Click checks: a lead this soon after its click is scripted; this long after, stale.
    click_min_seconds: float = 3.0
    click_max_age_days: int = 30
    # The click flush takes over stream entries another flusher has held this long (it died).
    click_claim_idle_seconds: float = 60.0
    # Payouts: a run drafts none below this amount (it carries over); above the second amount a
    # payout needs two different finance users' approvals. Both in the payout's currency units.
    payout_minimum: Decimal = Decimal("50.00")
    payout_second_approval_over: Decimal = Decimal("1000.00")
    # Personal data (leadmarket/crypto.py): data keys "kid:base64key,..." (first seals, all open;
    # unset: one derived from secret_key), and the key of the keyed hashes (unset: secret_key).
    data_keys: str | None = None
    hash_key: str | None = None
    # Rate limits (leadmarket/ratelimit.py): requests per window, per API key and per client IP on
    # /api/, per IP on the click and form routes (/r/, /f/) and on /postback; 0 turns one off.
    rate_limits: bool = True
    rate_limit_window_seconds: int = 60
    rate_limit_api_key: int = 6000
    rate_limit_api_ip: int = 12000
    rate_limit_click_ip: int = 1200
    rate_limit_postback_ip: int = 6000
    # How long a rotated API key keeps working beside its successor (a request may ask for less).
    # Buyer webhooks, ping-post buyers and postbacks may reach private addresses (leadmarket/outbound.py).
    allow_private_callbacks: bool = False
    api_key_rotation_grace_seconds: int = 86400

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
            tasks_eager=env.get("LEADMARKET_TASKS_EAGER", "") in ("1", "true", "yes"),
            geoip_path=env.get("LEADMARKET_GEOIP_PATH") or None,
            velocity_ip_max=int(env.get("LEADMARKET_VELOCITY_IP_MAX", "10")),
            velocity_ip_window_seconds=int(env.get("LEADMARKET_VELOCITY_IP_WINDOW_SECONDS", "3600")),
            velocity_sub_max=int(env.get("LEADMARKET_VELOCITY_SUB_MAX", "1000")),
            velocity_sub_window_seconds=int(env.get("LEADMARKET_VELOCITY_SUB_WINDOW_SECONDS", "3600")),
            velocity_stacking_window_seconds=int(env.get("LEADMARKET_VELOCITY_STACKING_WINDOW_SECONDS", "86400")),
            velocity_retry_seconds=float(env.get("LEADMARKET_VELOCITY_RETRY_SECONDS", "5")),
            min_form_seconds=int(env.get("LEADMARKET_MIN_FORM_SECONDS", "5")),
            consent_max_age_hours=int(env.get("LEADMARKET_CONSENT_MAX_AGE_HOURS", "72")),
            click_min_seconds=float(env.get("LEADMARKET_CLICK_MIN_SECONDS", "3")),
            click_max_age_days=int(env.get("LEADMARKET_CLICK_MAX_AGE_DAYS", "30")),
            click_claim_idle_seconds=float(env.get("LEADMARKET_CLICK_CLAIM_IDLE_SECONDS", "60")),
            payout_minimum=Decimal(env.get("LEADMARKET_PAYOUT_MINIMUM", "50.00")),
            payout_second_approval_over=Decimal(env.get("LEADMARKET_PAYOUT_SECOND_APPROVAL_OVER", "1000.00")),
            data_keys=env.get("LEADMARKET_DATA_KEYS") or None,
            hash_key=env.get("LEADMARKET_HASH_KEY") or None,
            rate_limits=env.get("LEADMARKET_RATE_LIMITS", "on").lower() not in ("0", "off", "false", "no"),
            rate_limit_window_seconds=int(env.get("LEADMARKET_RATE_LIMIT_WINDOW_SECONDS", "60")),
            rate_limit_api_key=int(env.get("LEADMARKET_RATE_LIMIT_API_KEY", "6000")),
            rate_limit_api_ip=int(env.get("LEADMARKET_RATE_LIMIT_API_IP", "12000")),
            rate_limit_click_ip=int(env.get("LEADMARKET_RATE_LIMIT_CLICK_IP", "1200")),
            rate_limit_postback_ip=int(env.get("LEADMARKET_RATE_LIMIT_POSTBACK_IP", "6000")),
            api_key_rotation_grace_seconds=int(env.get("LEADMARKET_API_KEY_ROTATION_GRACE_SECONDS", "86400")),
            allow_private_callbacks=env.get("LEADMARKET_ALLOW_PRIVATE_CALLBACKS", "") in ("1", "true", "yes"),
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
