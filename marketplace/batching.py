"""Intake batching: the lead posts one server process receives at the same moment share a transaction.

A post is queued with the process's `IntakeBatcher` and its caller waits: a request handler on the
event loop (`submit_async`, no thread held), any other caller in its own thread (`submit`). At most
DECIDERS threads take the queue in batches (at most MAX_BATCH posts), run each batch through
`intake.submit_leads` on a session of their own and answer every post of it. Under light load a
post is alone and is taken at once; under load, the posts that arrived while a batch was being
decided form the next one, so a transaction's and a statement's fixed costs are shared by all of
them. A decider waits for company (at most GATHER_SECONDS) only when its last batch had some: posts
answered together come back together. Two deciders overlap one batch's Python with the other's
database round trips. A decider with nothing to do for IDLE_SECONDS ends; the next post starts one.

A decider keeps its database connection from one batch to the next when they follow within
REUSE_SECONDS: under load that saves each batch the pool's checkout and liveness ping (a round
trip); a connection idle for longer goes back to the pool, and the next batch takes one the pool
has pinged. A kept connection whose server ended the session (a restart, a terminated backend)
shows it as a readable socket, checked with one non-blocking poll before each batch: it is
replaced by a pinged one, so such a connection costs no batch (one dropped while in use fails its
batch, as it did before). After a batch that met any error other than a post's own (a 4xx), the
connection goes back too.
"""

from __future__ import annotations

import asyncio
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from leadmarket.errors import DomainError, ServiceUnavailable
from marketplace.intake import Answer, LeadPost, submit_leads
from marketplace.schemas import LeadDecision

MAX_BATCH = 32  # enough to share the fixed costs; small enough to keep one batch's statements short
DECIDERS = 2
GATHER_SECONDS = 0.002
IDLE_SECONDS = 10.0
REUSE_SECONDS = 1.0


class _Waiting:
    """One queued post and how to hand its answer to whoever waits for it."""

    __slots__ = ("post", "deliver")

    def __init__(self, post: LeadPost, deliver: Callable[[Answer], None]) -> None:
        self.post = post
        self.deliver = deliver


class IntakeBatcher:
    """Gathers concurrent posts of one process into batches (see the module's docstring)."""

    def __init__(self, sessions: sessionmaker[Session], *, max_batch: int = MAX_BATCH,
                 deciders: int = DECIDERS) -> None:
        self._sessions = sessions
        self._max_batch, self._max_deciders = max_batch, deciders
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: deque[_Waiting] = deque()
        self._deciders = 0  # decider threads alive
        self._last_batch = 1  # how many posts the last batch took: the load, as this process sees it

    def submit(self, post: LeadPost) -> LeadDecision:
        """Take one post and answer it, from any thread; raises the post's error, as
        `intake.submit_lead` does."""
        done = threading.Event()
        box: list[Answer] = []

        def deliver(answer: Answer) -> None:
            box.append(answer)
            done.set()

        self._enqueue(_Waiting(post, deliver))
        done.wait()
        return _unwrap(box[0])

    async def submit_async(self, post: LeadPost) -> LeadDecision:
        """`submit` for a coroutine: the event loop goes on serving while the post is decided."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()

        def deliver(answer: Answer) -> None:
            try:
                loop.call_soon_threadsafe(_resolve, future, answer)
            except RuntimeError:  # the loop is closed (the server stopped): nobody waits any more
                pass

        self._enqueue(_Waiting(post, deliver))
        return _unwrap(await future)

    def _enqueue(self, waiting: _Waiting) -> None:
        with self._lock:
            self._queue.append(waiting)
            if self._deciders < self._max_deciders:
                self._deciders += 1
                threading.Thread(target=self._decide_loop, name="leadmarket-intake", daemon=True).start()
            self._arrived.notify_all()

    def _decide_loop(self) -> None:
        batch: list[_Waiting] = []
        connection = _Connection(self._sessions)
        try:
            while batch := self._next_batch():
                self._decide(batch, connection)
        finally:
            connection.close()
            if batch:  # the thread is dying with posts taken (an error in `_decide` itself)
                for waiting in batch:
                    waiting.deliver(ServiceUnavailable("intake stopped before deciding this lead; post it again"))
            with self._lock:
                self._deciders -= 1
                restart = bool(self._queue) and self._deciders == 0
                if restart:
                    self._deciders += 1
            if restart:  # posts queued while this thread decided to end: never leave them unserved
                threading.Thread(target=self._decide_loop, name="leadmarket-intake", daemon=True).start()

    def _next_batch(self) -> list[_Waiting]:
        """The next batch, once there is work; empty after IDLE_SECONDS without any."""
        with self._lock:
            idle_until = time.monotonic() + IDLE_SECONDS
            while True:
                while not self._queue:
                    left = idle_until - time.monotonic()
                    if left <= 0:
                        return []
                    self._arrived.wait(left)
                wanted, gather_until = min(self._max_batch, self._last_batch), time.monotonic() + GATHER_SECONDS
                while len(self._queue) < wanted and (left := gather_until - time.monotonic()) > 0:
                    self._arrived.wait(left)
                batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
                if batch:  # the other decider may have taken them while this one gathered
                    self._last_batch = len(batch)
                    return batch

    def _decide(self, batch: list[_Waiting], connection: _Connection) -> None:
        try:
            with connection.session() as session:
                answers: list[Answer] = submit_leads(session, [waiting.post for waiting in batch])
        except Exception as exc:  # every post of the batch gets the error; none waits forever
            answers = [exc] * len(batch)
        if any(isinstance(answer, Exception) and not isinstance(answer, DomainError) for answer in answers):
            connection.close()  # a database error may have left it broken: the next batch takes a pinged one
        for waiting, answer in zip(batch, answers, strict=True):
            waiting.deliver(answer)
        batch.clear()  # answered: `_decide_loop` must not answer them again


class _Connection:
    """One decider's database connection, kept between batches that follow closely (see the
    module's docstring). Used by its own thread only."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._connection: Connection | None = None
        self._used = 0.0

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the kept connection; it commits or rolls back its own transaction there."""
        if self._connection is not None and (
                self._connection.invalidated or time.monotonic() - self._used > REUSE_SECONDS
                or _closed_by_server(self._connection)):
            self.close()
        if self._connection is None:
            self._connection = self._sessions.kw["bind"].connect()  # checked out, and pinged, by the pool
        try:
            with self._sessions(bind=self._connection) as session:
                yield session
        finally:
            self._used = time.monotonic()

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()


def _closed_by_server(connection: Connection) -> bool:
    """Whether the server ended the session of an idle connection: a socket that is readable while
    no query is out holds the server's goodbye (or EOF). One non-blocking poll, no round trip."""
    pgconn = getattr(connection.connection.dbapi_connection, "pgconn", None)
    if pgconn is None:
        return False  # SQLite: no server
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.OperationalError):
        return True
    return bool(readable)


def _resolve(future: asyncio.Future[Answer], answer: Answer) -> None:
    if not future.done():  # the client went away (cancelled)
        future.set_result(answer)


def _unwrap(answer: Answer) -> LeadDecision:
    if isinstance(answer, Exception):
        raise answer
    return answer
