"""Marketplace exports run as background jobs (leadmarket/jobs.py): an advertiser's purchases as CSV,
with the full lead of each — the file the portal's "Export CSV" button makes.

Whose purchases is taken from who started the job (`job.owner_scope`), never from its params, so
a job can only ever export its starter's own purchases.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadmarket.errors import InvalidInput
from leadmarket.identity import Principal, Role
from leadmarket.jobs import Job, JobResult, Progress, job_kind
from marketplace.purchases import SALE_STATUSES, PurchaseView, purchase_view, purchases_of
from marketplace.sale_models import Sale

PURCHASES_CSV = "advertiser_purchases_csv"
BATCH = 500
COLUMNS = ("sale_id", "sold_at", "status", "channel", "order_id", "exclusive", "price", "currency", "lead_id",
           "vertical", "first_name", "last_name", "email", "phone", "profile_url", "country", "region", "city",
           "postal_code", "address", "date_of_birth", "temperature", "attributes", "return_status", "return_reason",
           "refund")
_NUMBER = re.compile(r"^[+-]?[0-9][0-9 ().-]*$")


def purchases_csv_params(status: str | None) -> dict[str, Any]:
    """The job params for an export of the caller's purchases, checked before the job is queued."""
    if status is not None and status not in SALE_STATUSES:
        raise InvalidInput.one("status", "must be sold or returned")
    return {"status": status}


@job_kind(PURCHASES_CSV)
def export_purchases(session: Session, job: Job, progress: Progress) -> JobResult:
    kind, _, owner = job.owner_scope.partition(":")
    if kind != "advertiser" or not owner.isdigit():
        raise InvalidInput.one("kind", "only an advertiser exports purchases")
    principal = Principal(role=Role.ADVERTISER, advertiser_id=int(owner))
    query = purchases_of(principal)
    status = (job.params or {}).get("status")
    if status is not None:
        query = query.where(Sale.status == status)
    total = session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    progress(0, total)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    done, after = 0, 0
    while True:
        # Keyset paging by sale id: each batch is one short read, whatever the export's size.
        rows = session.execute(query.where(Sale.id > after).order_by(Sale.id).limit(BATCH)).all()
        if not rows:
            break
        for row in rows:
            writer.writerow([_cell(v) for v in _line(purchase_view(row))])
        after = rows[-1][0].id
        done += len(rows)
        session.rollback()  # end the read before reporting progress in its own transaction
        progress(done, max(total, done))
    body = out.getvalue().encode("utf-8")
    return JobResult(filename=f"purchases-advertiser-{owner}.csv", content_type="text/csv; charset=utf-8",
                     body=body, summary=f"{done} purchase{'s' if done != 1 else ''} exported.")


def _line(purchase: PurchaseView) -> list[Any]:
    contact, lead, returned = purchase.lead.contact, purchase.lead, purchase.return_
    return [purchase.sale_id, purchase.sold_at.isoformat(), purchase.status, purchase.channel, purchase.order_id,
            purchase.exclusive, purchase.price, purchase.currency, lead.lead_id, lead.vertical,
            *(contact.get(k) for k in ("first_name", "last_name", "email", "phone", "profile_url", "country",
                                       "region", "city", "postal_code", "address", "date_of_birth")),
            lead.temperature, json.dumps(lead.attributes, sort_keys=True, default=str),
            returned.status if returned else None, returned.reason if returned else None,
            returned.refund if returned else None]


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula (a phone like +1415... stays as it is)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in ("+", "-") and not _NUMBER.match(text)):
        return "'" + text
    return text
