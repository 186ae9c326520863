"""Long work a person waits for (large CSV exports, payout runs): queued, run on a worker, its
progress visible while it runs and its result kept for download by the person who started it.

A domain registers a kind with `@job_kind("name")`; the function gets the session, the job and a
`progress(done, total)` callback, and returns a `JobResult` (a file) or None. `JOB_MODULES` lists
the modules that register kinds, so a worker knows them all.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from leadmarket import crypto
from leadmarket.clock import utcnow
from leadmarket.db import Base, JSONType, UTCDateTime
from leadmarket.errors import DomainError, InvalidInput, NotFound
from leadmarket.identity import Principal

log = logging.getLogger("leadmarket.jobs")

RESULT_RETENTION = timedelta(days=1)
JOB_MODULES = ("web.exports", "marketplace.exports", "affiliates.exports", "billing.exports")
STATUSES = ("queued", "running", "done", "failed")


@dataclass(frozen=True)
class JobResult:
    filename: str
    content_type: str
    body: bytes
    summary: str = ""


Progress = Callable[[int, int], None]
JobFunction = Callable[[Session, "Job", Progress], JobResult | None]
_KINDS: dict[str, JobFunction] = {}


def job_kind(name: str) -> Callable[[JobFunction], JobFunction]:
    def register(function: JobFunction) -> JobFunction:
        _KINDS[name] = function
        return function

    return register


def _load_kinds() -> None:
    for module in JOB_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


class Job(Base):
    __tablename__ = "background_job"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    owner_scope: Mapped[str] = mapped_column(String(64), index=True)  # Principal.scope of who started it
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("portal_user.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    result_name: Mapped[str | None] = mapped_column(String(200))
    result_type: Mapped[str | None] = mapped_column(String(100))
    result_body: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.done / self.total) if self.total else 0


def start_job(session: Session, principal: Principal, kind: str, params: dict[str, Any] | None = None) -> Job:
    """Queue a job for this caller and return it (committed; the worker picks it up)."""
    from leadmarket.celery_app import enqueue_swept

    _load_kinds()
    if kind not in _KINDS:
        raise InvalidInput.one("kind", f"unknown job kind {kind!r}")
    job = Job(kind=kind, owner_scope=principal.scope, owner_user_id=principal.user_id, params=params or {},
              status="queued", done=0, total=0, summary="", created_at=utcnow())
    session.add(job)
    session.commit()
    enqueue_swept("leadmarket.run_job", job.id)  # a broker outage leaves it queued for the sweeper
    return job


def requeue_stale(session: Session, older_than: datetime) -> int:
    """Queue again the jobs still waiting since before `older_than` (their message was lost, or the
    broker was down when they started); running one twice is harmless, `run_job` claims it once."""
    from leadmarket.celery_app import enqueue_swept

    stale = list(session.execute(select(Job.id).where(Job.status == "queued", Job.created_at < older_than)).scalars())
    session.rollback()
    return sum(1 for job_id in stale if enqueue_swept("leadmarket.run_job", job_id))


def run_job(session: Session, job_id: int) -> None:
    """Run a queued job once; a job already running or finished elsewhere is left alone."""
    _load_kinds()
    claimed = session.execute(update(Job).where(Job.id == job_id, Job.status == "queued")
                              .values(status="running")).rowcount
    session.commit()
    if not claimed:
        return
    job = session.get(Job, job_id)
    assert job is not None

    def progress(done: int, total: int) -> None:
        # Its own short transaction, so a person watching sees it move while the job works.
        session.execute(update(Job).where(Job.id == job_id).values(done=done, total=total))
        session.commit()

    try:
        result = _KINDS[job.kind](session, job, progress)
    except DomainError as exc:
        session.rollback()
        _finish(session, job_id, status="failed", error=str(exc))
        return
    except Exception:
        session.rollback()
        log.exception("job %s (%s) failed", job_id, job.kind)
        _finish(session, job_id, status="failed", error="the job failed; the team has been told")
        return
    values: dict[str, Any] = {"status": "done"}
    if result is not None:
        # Exports hold people's contact data: sealed like the leads they came from, purged after a day.
        values.update(result_name=result.filename, result_type=result.content_type,
                      result_body=crypto.seal(result.body, _purpose(job_id)), summary=result.summary)
    _finish(session, job_id, **values)


def _finish(session: Session, job_id: int, **values: Any) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(finished_at=utcnow(), **values))
    session.commit()


def job_for(session: Session, principal: Principal, job_id: int) -> Job:
    """A job its starter may see; anyone else's is NotFound."""
    job = session.execute(select(Job).where(Job.id == job_id, Job.owner_scope == principal.scope)
                          .execution_options(populate_existing=True)).scalar_one_or_none()
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def job_result(session: Session, principal: Principal, job_id: int) -> JobResult:
    job = job_for(session, principal, job_id)
    if job.status != "done" or job.result_body is None:
        raise NotFound(f"job {job_id} has no file (not finished, or expired after {RESULT_RETENTION})")
    return JobResult(job.result_name or "result", job.result_type or "application/octet-stream",
                     crypto.open_sealed(job.result_body, _purpose(job.id)), job.summary)


def _purpose(job_id: int) -> bytes:
    return f"job-result:{job_id}".encode()


def purge_results(session: Session, older_than: datetime) -> int:
    """Forget finished jobs' files (not the record that the job ran) once they are old."""
    purged = session.execute(update(Job).where(Job.finished_at < older_than, Job.result_body.is_not(None))
                             .values(result_body=None, summary=Job.summary + " (file expired)")).rowcount
    session.commit()
    return purged
