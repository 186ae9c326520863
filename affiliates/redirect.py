"""The click redirect, the hottest path: resolve the link from cache, append the click to the
Redis stream, and send the visitor on — no database round trip per click.

Async on purpose (the one async service): it waits only on Redis, and on the database only on a
cache miss or in the embedded default without Redis, both through a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote_plus

import anyio
import psycopg
import redis
import redis.asyncio as aioredis
import sqlalchemy.exc
from sqlalchemy.orm import Session

from affiliates import clicks
from affiliates.stream_writer import StreamWriter
from affiliates.tracking import (
    LinkTarget,
    link_key,
    link_target,
    plausible_code,
    targets,
)
from leadmarket.errors import ServiceUnavailable
from leadmarket.money import minor_digits
from leadmarket.settings import Settings

log = logging.getLogger("leadmarket.redirect")

COUNTRY_HEADERS = (b"cf-ipcountry", b"x-country-code", b"x-geo-country")
SUB_PARAMS = ("sub1", "sub2", "sub3", "sub4", "sub5")

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()
_lookups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[LinkTarget | None]]] = (
    weakref.WeakKeyDictionary())
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, StreamWriter]] = weakref.WeakKeyDictionary()


def async_redis(settings: Settings) -> aioredis.Redis | None:
    """One asyncio Redis client per event loop (its connections belong to that loop)."""
    if not settings.redis_url:
        return None
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5,
                                         max_connections=64)
        _clients[loop] = client
    return client


def stream_writer(settings: Settings) -> StreamWriter | None:
    """The click stream's writer for this event loop (None without Redis)."""
    if not settings.redis_url:
        return None
    writers = _writers.setdefault(asyncio.get_running_loop(), {})
    key = clicks.stream_key(settings)
    writer = writers.get(key)
    if writer is None:
        writer = writers[key] = StreamWriter(settings.redis_url, key, clicks.STREAM_MAXLEN)
    return writer


class NonceSource:
    """Random click-id nonces from the OS's CSPRNG, read 4 KiB at a time: one getrandom call per
    ~680 clicks instead of one per click (it was 5% of the redirect)."""

    SIZE = 6

    def __init__(self) -> None:
        self._buffer, self._at = b"", 0

    def next(self) -> str:
        if self._at + self.SIZE > len(self._buffer):
            self._buffer, self._at = os.urandom(4096 - 4096 % self.SIZE), 0
        start, self._at = self._at, self._at + self.SIZE
        return self._buffer[start:self._at].hex()


_nonces = NonceSource()  # used from the event loop thread only

# What a database that is down, restarting or out of connections raises through SQLAlchemy.
DATABASE_DOWN = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.TimeoutError, psycopg.OperationalError)
DATABASE_LOG_SECONDS = 10.0  # one log line per window while it lasts, not one per click
_database_logged_at = -DATABASE_LOG_SECONDS


@dataclass(frozen=True)
class Visit:
    """What the visitor's request tells about the click (untrusted, so bounded)."""

    query: Mapping[str, str]
    ip: str | None
    user_agent: str | None
    referrer: str | None
    country: str | None

    @classmethod
    def from_asgi(cls, query: Mapping[str, str], raw_headers: Iterable[tuple[bytes, bytes]], ip: str | None) -> Visit:
        """From the ASGI scope's raw header list (cheaper than building a headers mapping per click)."""
        user_agent = referrer = country = None
        for name, value in raw_headers:
            name = name.lower()
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"referer":
                referrer = value.decode("latin-1")
            elif name in COUNTRY_HEADERS and len(value) == 2 and value.isalpha():
                country = value.decode("latin-1").upper()
        return cls(query=query, ip=ip[:45] if ip else None, user_agent=user_agent or None,
                   referrer=referrer or None, country=country)


def query_values(raw: bytes) -> dict[str, str]:
    """A query string's parameters as `parse_qsl` reads them (blank values left out), the first
    value of a repeated name winning as with Litestar's `query_params.get`. Percent-decoding only
    where a pair has some: most clicks have none, and parse_qsl's generality cost 2-3 µs a click."""
    values: dict[str, str] = {}
    for pair in raw.decode("utf-8", "replace").split("&"):
        name, _, value = pair.partition("=")
        if not value:
            continue
        if "%" in pair or "+" in pair:
            name, value = unquote_plus(name), unquote_plus(value)
        values.setdefault(name, value)
    return values


def cost_minor(raw: str | None, currency: str) -> int | None:
    """The per-click cost from the `cost` parameter in the offer's currency; a bad value is ignored
    (the visitor is sent on either way)."""
    if not raw or len(raw) > 20:
        return None
    try:
        value = Decimal(raw)
        digits = minor_digits(currency)
        if not value.is_finite() or not 0 <= value <= 1_000_000 or value != value.quantize(Decimal(1).scaleb(-digits)):
            return None
    except (InvalidOperation, ValueError):
        return None
    return int(value.scaleb(digits))


async def resolve(settings: Settings, sessions: Callable[[], Session], code: str) -> LinkTarget | None:
    """The link's target from the process cache, then Redis, then (once) the database.

    Single flight: when a hot link's cache entry expires, the clicks arriving meanwhile wait for
    one lookup instead of each starting their own (a herd that once exhausted the Redis and
    database pools and stalled the redirect for seconds).
    """
    found, target = targets.get(code)
    if found:
        return target
    loop = asyncio.get_running_loop()
    inflight = _lookups.setdefault(loop, {})
    waiting = inflight.get(code)
    if waiting is not None:
        return await asyncio.shield(waiting)
    future: asyncio.Future[LinkTarget | None] = loop.create_future()
    future.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved, even if nobody waited
    inflight[code] = future
    try:
        target = await _lookup(settings, sessions, code)
    except BaseException as exc:
        future.set_exception(exc)
        raise
    else:
        future.set_result(target)
        return target
    finally:
        del inflight[code]


async def _lookup(settings: Settings, sessions: Callable[[], Session], code: str) -> LinkTarget | None:
    client = async_redis(settings)
    if client is not None:
        try:
            fields = await client.hgetall(link_key(settings, code))
            if fields:
                target = LinkTarget.from_redis(code, fields)
                targets.put(code, target)
                return target
        except redis.RedisError as exc:
            log.warning("link cache unavailable, reading the database: %s", type(exc).__name__)

    def read() -> LinkTarget | None:
        with sessions() as session:
            return link_target(session, code)

    try:
        target = await anyio.to_thread.run_sync(read)
    except DATABASE_DOWN as exc:
        # Keep redirecting a link we knew (its Redis copy expired or Redis lost it): the click
        # still goes to the stream; a link never seen here cannot be answered honestly.
        found, last = targets.last_known(code)
        if not found:
            raise ServiceUnavailable("the link store is unreachable; retry shortly") from exc
        _log_database_down(type(getattr(exc, "orig", None) or exc).__name__)
        targets.put(code, last)  # ask the database again only after another TTL
        return last
    targets.put(code, target)
    if target is not None and client is not None:
        try:
            await client.hset(link_key(settings, code), mapping=target.to_redis())
            await client.expire(link_key(settings, code), 3600)
        except redis.RedisError:
            pass  # the next miss reads the database again
    return target


def _log_database_down(cause: str) -> None:
    global _database_logged_at
    now = time.monotonic()
    if now - _database_logged_at >= DATABASE_LOG_SECONDS:
        _database_logged_at = now
        log.warning("database unreachable (%s): redirecting from last known link targets", cause)


def _storable(value: str | None, limit: int) -> str | None:
    """`value` cut to its column's length; None for nothing. PostgreSQL text cannot hold a NUL: one
    left in would fail the flush of its whole stream batch."""
    if not value:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:limit] or None


async def record_click(settings: Settings, sessions: Callable[[], Session], target: LinkTarget,
                       visit: Visit) -> tuple[str, tuple[str | None, ...]]:
    """Record one click and return its click_id and sub-ids (the query's, else the link's)."""
    query = visit.query
    sub_ids = tuple(_storable(query.get(name) or default, 255) for name, default in zip(SUB_PARAMS, target.defaults))
    cost = cost_minor(query.get("cost"), target.currency)
    user_agent = _storable(visit.user_agent, 500)
    referrer = _storable(visit.referrer, 1000)
    nonce = _nonces.next()
    writer = stream_writer(settings)
    if writer is not None:
        fields = clicks.entry_fields(nonce=nonce, link_id=target.link_id, affiliate_id=target.affiliate_id,
                                     offer_id=target.offer_id, currency=target.currency, sub_ids=sub_ids, ip=visit.ip,
                                     user_agent=user_agent, referrer=referrer, country=visit.country, cost_minor=cost)
        try:
            return clicks.click_id_for(await writer.append(fields), nonce), sub_ids
        except redis.RedisError as exc:
            log.warning("click stream unavailable, writing the click to the database: %s", type(exc).__name__)
    # No Redis (the embedded default), or Redis failing: one synchronous insert, off the event loop.
    now = datetime.now(UTC)
    click_id = clicks.click_id_for(f"{int(now.timestamp() * 1000)}-0", secrets.token_hex(8))
    row = {"click_id": click_id, "link_id": target.link_id, "affiliate_id": target.affiliate_id,
           "offer_id": target.offer_id, "currency": target.currency, **dict(zip(SUB_PARAMS, sub_ids)),
           "ip": visit.ip, "user_agent": user_agent, "referrer": referrer, "country": visit.country,
           "cost_minor": cost, "clicked_at": now}

    def write() -> None:
        with sessions() as session:
            clicks.store_click_now(session, row)

    await anyio.to_thread.run_sync(write)
    return click_id, sub_ids


async def click_through(settings: Settings, sessions: Callable[[], Session], code: str,
                        visit: Visit) -> str | None:
    """The landing URL to send the visitor to after recording the click; None for an unknown or
    paused link."""
    if not plausible_code(code):
        return None
    target = await resolve(settings, sessions, code)
    if target is None or not target.active:
        return None
    click_id, sub_ids = await record_click(settings, sessions, target, visit)
    return target.landing(click_id, sub_ids)
