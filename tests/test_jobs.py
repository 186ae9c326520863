"""Background jobs people wait for: run once, progress visible, the file sealed at rest, shown only
to whoever started the job, purged after a day, and re-queued when their message was lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text, update

from leadmarket import jobs
from leadmarket.clock import utcnow
from leadmarket.errors import NotFound
from leadmarket.identity import Principal, Role

RUNS: list[int] = []


@jobs.job_kind("test_export")
def _export(session, job, progress):
    RUNS.append(job.id)
    for done in range(1, 4):
        progress(done, 3)
    return jobs.JobResult("people.csv", "text/csv", b"name,email\nAnn,ann@example.com\n", summary="1 row")


FINANCE = Principal(role=Role.FINANCE, api_key_id=None, user_id=None, name="f1")
OTHER = Principal(role=Role.FINANCE, api_key_id=77, name="f2")


def test_a_job_runs_once_and_only_its_starter_gets_the_sealed_file(db, settings):
    RUNS.clear()
    with db() as session:
        job = jobs.start_job(session, FINANCE, "test_export")  # eager in tests: it ran already
        jobs.run_job(session, job.id)                           # a redelivered message does nothing
        assert RUNS == [job.id]
        done = jobs.job_for(session, FINANCE, job.id)
        assert (done.status, done.done, done.total, done.percent) == ("done", 3, 3, 100)
        assert jobs.job_result(session, FINANCE, job.id).body.startswith(b"name,email\nAnn")
        with pytest.raises(NotFound):
            jobs.job_for(session, OTHER, job.id)
        stored = session.execute(text("SELECT result_body FROM background_job WHERE id = :id"), {"id": job.id}).scalar_one()
    assert b"ann@example.com" not in bytes(stored)  # contact data sealed at rest


def test_old_files_are_purged_and_lost_jobs_requeued(db, settings):
    RUNS.clear()
    with db() as session:
        job = jobs.start_job(session, FINANCE, "test_export")
        session.execute(update(jobs.Job).where(jobs.Job.id == job.id).values(finished_at=utcnow() - timedelta(days=2)))
        session.commit()
        assert jobs.purge_results(session, utcnow() - jobs.RESULT_RETENTION) == 1
        with pytest.raises(NotFound):
            jobs.job_result(session, FINANCE, job.id)
        lost = jobs.Job(kind="test_export", owner_scope=FINANCE.scope, params={}, status="queued", done=0, total=0,
                        summary="", created_at=utcnow() - timedelta(minutes=10))
        session.add(lost)
        session.commit()
        assert jobs.requeue_stale(session, utcnow() - timedelta(minutes=2)) == 1
        assert jobs.job_for(session, FINANCE, lost.id).status == "done"


def test_an_unknown_kind_is_refused(db, settings):
    with db() as session, pytest.raises(jobs.InvalidInput):
        jobs.start_job(session, FINANCE, "no_such_kind")
