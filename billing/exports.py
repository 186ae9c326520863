"""Billing's background jobs (leadmarket.jobs): a payout run for a period, with progress per
affiliate and a CSV of the payouts the period holds when it is done."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from billing import payout_runs
from billing.payout_schemas import PayoutRunCreate
from leadmarket import jobs
from leadmarket.accounts import User
from leadmarket.errors import PermissionDenied
from leadmarket.identity import STAFF_ROLES, Principal

PAYOUT_RUN = "payout_run"
RUN_CSV_COLUMNS = ["payout_id", "affiliate_id", "currency", "amount", "status", "approvals_needed", "hold_note"]


def start_payout_run(session: Session, principal: Principal, data: PayoutRunCreate) -> jobs.Job:
    """Check the run's input now (errors beside the form's fields), then queue the run as a job."""
    payout_runs.check_run(data)
    assert data.period_start is not None and data.period_end is not None
    return jobs.start_job(session, principal, PAYOUT_RUN, {
        "period_start": data.period_start.isoformat(), "period_end": data.period_end.isoformat(),
        "minimum": None if data.minimum is None else str(data.minimum)})


def _starter(session: Session, job: jobs.Job) -> Principal:
    """The finance user who queued the job: the run is drafted (and audited) in their name."""
    user = session.get(User, job.owner_user_id) if job.owner_user_id is not None else None
    if user is None or user.disabled_at is not None:
        raise PermissionDenied("the user who started this run can no longer run payouts")
    principal = user.principal()
    if principal.role not in STAFF_ROLES:
        raise PermissionDenied("only finance runs payouts")
    return principal


@jobs.job_kind(PAYOUT_RUN)
def run_payouts_job(session: Session, job: jobs.Job, progress: jobs.Progress) -> jobs.JobResult:
    principal = _starter(session, job)
    params = job.params
    data = PayoutRunCreate(period_start=datetime.fromisoformat(params["period_start"]),
                           period_end=datetime.fromisoformat(params["period_end"]),
                           minimum=None if params.get("minimum") is None else Decimal(params["minimum"]))
    run = payout_runs.run_payouts(session, principal, data, progress=progress)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(RUN_CSV_COLUMNS)
    for payout in run.payouts:
        writer.writerow([payout.id, payout.affiliate_id, payout.currency, str(payout.amount), payout.status,
                         payout.approvals_needed, _csv_safe(payout.hold_note or "")])
    start, end = run.period_start.date().isoformat(), run.period_end.date().isoformat()
    summary = (f"{run.drafted} new payout{'s' if run.drafted != 1 else ''} drafted; the period {start} to {end} "
               f"holds {len(run.payouts)} payout{'s' if len(run.payouts) != 1 else ''}. Review them under Payouts.")
    return jobs.JobResult(filename=f"payout-run-{start}-{end}.csv", content_type="text/csv",
                          body=out.getvalue().encode(), summary=summary)


def _csv_safe(text: str) -> str:
    """A spreadsheet must not run a note as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
