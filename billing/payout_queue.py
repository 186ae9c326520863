"""Finance's payout review queue as people read it: payouts paged and sorted with their
affiliate's name, who did what to one payout, and bulk approval with an outcome per payout.

Every decision goes through billing.payouts (approve_payout and friends); this module only reads
and loops, so the portal and the API cannot disagree about what a payout may do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from affiliates.models import Affiliate
from billing import payouts
from billing.payout_models import Payout
from billing.payout_schemas import PayoutView
from leadmarket import audit
from leadmarket.errors import Conflict, FieldError, InvalidInput, NotFound
from leadmarket.identity import Principal
from leadmarket.paging import Page, PageRequest, paginate

MAX_BULK = 200
SORT_COLUMNS = {"id": Payout.id, "amount": Payout.amount_minor, "status": Payout.status,
                "affiliate": Affiliate.name, "period": Payout.period_start, "created": Payout.created_at}


@dataclass(frozen=True)
class QueueRow:
    payout: PayoutView
    affiliate_name: str

    @property
    def can_approve(self) -> bool:
        return self.payout.status == "draft" or (self.payout.status == "held" and self.payout.hold_kind == "finance")

    @property
    def can_hold(self) -> bool:
        return self.payout.status in ("draft", "approved")

    @property
    def can_pay(self) -> bool:
        return self.payout.status == "approved" or (self.payout.status == "paying" and self.payout.method == "stripe")


@dataclass(frozen=True)
class BulkOutcome:
    """What happened to one payout of a bulk approval: `approved`, `recorded` (an approval counted,
    another approver still needed) or `refused`, with the reason a person reads."""

    payout_id: int
    outcome: str
    reason: str


def queue_page(session: Session, principal: Principal, request: PageRequest, *, status: str | None = None,
               affiliate_id: int | None = None) -> Page[QueueRow]:
    if status is not None and status not in payouts.STATUSES:
        raise InvalidInput.one("status", f"must be one of {', '.join(payouts.STATUSES)}")
    query = (payouts.payouts_visible_to(principal).add_columns(Affiliate.name)
             .join(Affiliate, Affiliate.id == Payout.affiliate_id))
    if status is not None:
        query = query.where(Payout.status == status)
    if affiliate_id is not None:
        query = query.where(Payout.affiliate_id == affiliate_id)
    found = paginate(session, query.execution_options(populate_existing=True), request, SORT_COLUMNS, "id",
                     scalars=False)
    views = payouts.payout_views(session, [row[0] for row in found.items])
    return Page(items=[QueueRow(view, row[1]) for view, row in zip(views, found.items)], request=found.request,
                total=found.total)


def queue_row(session: Session, principal: Principal, payout_id: int) -> QueueRow:
    view = payouts.get_payout(session, principal, payout_id)
    name = session.execute(select(Affiliate.name).where(Affiliate.id == view.affiliate_id)).scalar_one()
    return QueueRow(view, name)


def payout_history(session: Session, payout_id: int) -> list[audit.AuditEvent]:
    """Who drafted, approved, held, rejected, exported and paid this payout, oldest first."""
    return audit.events_for(session, "payout", payout_id)


def approve_payouts(session: Session, principal: Principal, payout_ids: Iterable[int]) -> list[BulkOutcome]:
    """Approve each payout on its own (one refusal never undoes another's approval)."""
    chosen = list(dict.fromkeys(payout_ids))
    if not chosen:
        raise InvalidInput.one("payout_ids", "choose at least one payout")
    if len(chosen) > MAX_BULK:
        raise InvalidInput([FieldError("payout_ids", f"choose at most {MAX_BULK} payouts at once")])
    outcomes = []
    for payout_id in chosen:
        try:
            view = payouts.approve_payout(session, principal, payout_id)
        except (Conflict, NotFound) as exc:
            outcomes.append(BulkOutcome(payout_id, "refused", str(exc)))
            continue
        if view.status == "approved":
            outcomes.append(BulkOutcome(payout_id, "approved", "approved"))
        else:
            outcomes.append(BulkOutcome(payout_id, "recorded",
                                        f"{view.approvals} of {view.approvals_needed} approvals: "
                                        "another finance user must approve too"))
    return outcomes
