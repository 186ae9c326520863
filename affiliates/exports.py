"""Affiliate exports run as background jobs (leadmarket/jobs.py): the leads an affiliate posted, as
CSV, with the filters of the portal's leads page — the file its "Export CSV" button makes.

Whose leads is taken from who started the job (`job.owner_scope`), never from its params, so a job
can only ever export its starter's own leads. No contact data: the file says what happened to each
lead, as the page does.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from affiliates.lead_list import PostedLead, posted_lead, posted_leads_query
from leadmarket.accounts import zone
from leadmarket.errors import InvalidInput
from leadmarket.identity import Principal, Role
from leadmarket.jobs import Job, JobResult, Progress, job_kind
from marketplace.models import Lead

LEADS_CSV = "affiliate_leads_csv"
BATCH = 500
COLUMNS = ("lead_id", "posted_at", "offer_id", "offer", "status", "reason", "fraud_reasons", "payout", "currency",
           "country", "region", "sub1", "sub2", "sub3", "sub4", "sub5", "click_id", "source")


def leads_csv_params(principal: Principal, *, status: str | None = None, offer_id: int | None = None,
                     start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """The job params for an export of the caller's leads, checked (as the page checks them)
    before the job is queued; days are the caller's, so their time zone goes along."""
    posted_leads_query(principal, status=status, offer_id=offer_id, start=start, end=end)
    return {"status": status, "offer_id": offer_id, "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None, "time_zone": principal.time_zone}


@job_kind(LEADS_CSV)
def export_leads(session: Session, job: Job, progress: Progress) -> JobResult:
    kind, _, owner = job.owner_scope.partition(":")
    if kind != "affiliate" or not owner.isdigit():
        raise InvalidInput.one("kind", "only an affiliate exports their leads")
    params = job.params or {}
    principal = Principal(role=Role.AFFILIATE, affiliate_id=int(owner),
                          time_zone=zone(str(params.get("time_zone") or "UTC")).key)
    query = posted_leads_query(principal, status=params.get("status"), offer_id=params.get("offer_id"),
                               start=date.fromisoformat(params["from"]) if params.get("from") else None,
                               end=date.fromisoformat(params["to"]) if params.get("to") else None)
    total = session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    progress(0, total)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    done, after = 0, 0
    while True:
        # Keyset paging by lead id: each batch is one short read, whatever the export's size.
        rows = session.execute(query.where(Lead.id > after).order_by(Lead.id).limit(BATCH)).all()
        if not rows:
            break
        for lead, offer_name in rows:
            writer.writerow([_cell(v) for v in _line(posted_lead(lead, offer_name))])
        after = rows[-1][0].id
        done += len(rows)
        session.rollback()  # end the read before reporting progress in its own transaction
        progress(done, max(total, done))
    return JobResult(filename=f"leads-affiliate-{owner}.csv", content_type="text/csv; charset=utf-8",
                     body=out.getvalue().encode("utf-8"), summary=f"{done} lead{'s' if done != 1 else ''} exported.")


def _line(lead: PostedLead) -> list[Any]:
    return [lead.lead_id, lead.created_at.isoformat(), lead.offer_id, lead.offer_name, lead.status, lead.reason,
            " ".join(lead.fraud_reasons), lead.payout, lead.currency, lead.country, lead.region,
            *(lead.sub_ids.get(f"sub{i}") for i in range(1, 6)), lead.click_id, lead.source]


def _cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a leading =, +, - or @ would make it a formula (sub-ids
    and offer names are typed by people)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value
