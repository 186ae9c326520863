"""Appending clicks to the Redis stream from the redirect, many per round trip.

Clicks that arrive while one batch is on the wire go together in the next (group commit): at low
load a click goes alone at once, under load one write and one read serve dozens. The batch is
written as raw RESP on one connection owned by this writer and the replies are parsed by hiredis:
per click that is a few microseconds, where a general-purpose client's pipeline costs tens (it
was a third of the redirect's CPU). Everything else talks to Redis through redis-py.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import unquote, urlsplit

import hiredis
import redis

TIMEOUT_SECONDS = 0.5


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(arg) for arg in args)


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(data), data)


def _encode(value: str | int) -> bytes:
    return _bulk(value.encode() if isinstance(value, str) else b"%d" % value)


# Encoded field names and values kept for the next click: most of a click repeats (its link,
# offer and currency, the visitor's browser, the campaign's sub-ids), and a lookup costs a
# quarter of encoding. Bounded: once full, values not in it are encoded each time.
CACHED_VALUES = 4096


class StreamWriter:
    def __init__(self, url: str, key: str, maxlen: int) -> None:
        self._url, self._key, self._maxlen = url, key.encode(), str(maxlen).encode()
        self._head = b"".join(_bulk(part) for part in (b"XADD", self._key, b"MAXLEN", b"~", self._maxlen, b"*"))
        self._encoded: dict[str | int, bytes] = {}
        self._waiting: list[tuple[bytes, asyncio.Future[str]]] = []
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def append(self, fields: dict[str, str | int]) -> str:
        """XADD one entry; its stream id ("<ms>-<seq>"). Raises redis.RedisError when Redis fails."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._waiting.append((self._xadd(fields), future))
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    async with asyncio.timeout(TIMEOUT_SECONDS):
                        replies = await self._send(batch)
                except (TimeoutError, OSError, EOFError, redis.RedisError, hiredis.ProtocolError) as exc:
                    self._close()
                    error = exc if isinstance(exc, redis.RedisError) else redis.ConnectionError(type(exc).__name__)
                    replies = [error] * len(batch)
                for (_, future), reply in zip(batch, replies):
                    if future.done():
                        continue
                    if isinstance(reply, Exception):
                        future.set_exception(reply if isinstance(reply, redis.RedisError)
                                             else redis.ResponseError(str(reply)))
                    else:
                        future.set_result(reply.decode())
        finally:
            self._draining = False

    def _xadd(self, fields: dict[str, str | int]) -> bytes:
        """One entry's XADD as RESP, encoded while the click is at hand (not when its batch goes)."""
        parts = [b"*%d\r\n" % (6 + 2 * len(fields)), self._head]
        encoded = self._encoded
        for name, value in fields.items():
            for item in (name, value):
                data = encoded.get(item)
                if data is None:
                    data = _encode(item)
                    if len(encoded) < CACHED_VALUES:
                        encoded[item] = data
                parts.append(data)
        return b"".join(parts)

    async def _send(self, batch: list[tuple[bytes, asyncio.Future[str]]]) -> list[object]:
        if self._writer is None:
            await self._connect()
        assert self._reader is not None and self._writer is not None
        self._writer.write(b"".join(command for command, _ in batch))
        return await self._replies(len(batch))

    async def _replies(self, count: int) -> list[object]:
        assert self._reader is not None
        replies: list[object] = []
        parser = self._parser
        while len(replies) < count:
            reply = parser.gets()
            if reply is not False:
                replies.append(reply)
                continue
            data = await self._reader.read(65536)
            if not data:
                raise EOFError("redis closed the connection")
            parser.feed(data)
        return replies

    async def _connect(self) -> None:
        parts = urlsplit(self._url)
        context = ssl.create_default_context() if parts.scheme == "rediss" else None
        self._reader, self._writer = await asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 6379,
                                                                   ssl=context)
        self._parser = hiredis.Reader()
        setup = []
        if parts.password:
            user = unquote(parts.username) if parts.username else None
            password = unquote(parts.password)
            setup.append(_command(b"AUTH", *([user.encode()] if user else []), password.encode()))
        db = parts.path.strip("/")
        if db and db != "0":
            setup.append(_command(b"SELECT", db.encode()))
        if setup:
            self._writer.write(b"".join(setup))
            for reply in await self._replies(len(setup)):
                if isinstance(reply, Exception):
                    raise redis.ConnectionError(f"redis refused the connection setup: {reply}")

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
