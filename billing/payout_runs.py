"""Drafting payouts: one per affiliate, currency and period, from matured commission.

What a payout covers: the affiliate's payable ledger entries not covered by another live payout —
commission (a positive entry) once it is older than its vertical's return window at run time and
was posted before the period's end; clawbacks (negative entries) as soon as they exist, so a
return is never paid out. Entries below the minimum, negative totals and the entries of a
rejected payout stay uncovered and carry into the next run; the partial unique index on
`payout_entry` refuses an entry covered by two live payouts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from affiliates.cpa_models import Conversion
from affiliates.models import Offer
from billing.models import AFFILIATE_PAYABLE, LedgerAccount, LedgerEntry, LedgerTransaction
from billing.payout_models import Payout, PayoutEntry
from billing.payout_schemas import PayoutRunCreate, PayoutRunView
from billing.payouts import MAX_NOTE_LENGTH, payout_views
from fraud.anomalies import anomaly_report
from leadmarket import audit
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import FieldError, InvalidInput
from leadmarket.identity import Principal
from leadmarket.money import MINOR_DIGITS, from_minor
from leadmarket.settings import current_settings
from marketplace.models import Lead, Vertical
from marketplace.sale_models import Sale

MAX_PERIOD = timedelta(days=366)
_PAYOUT_TRANSACTION_KINDS = "payout"  # the payout postings themselves are never commission


def run_payouts(session: Session, principal: Principal, data: PayoutRunCreate, *,
                now: datetime | None = None, progress: Callable[[int, int], None] | None = None) -> PayoutRunView:
    """Draft one payout per affiliate and currency whose matured commission reaches the minimum.

    Idempotent for the same period: a payout exists once per (affiliate, currency, period), and
    a repeated run answers the payouts drafted before. Each affiliate is drafted in its own short
    transaction holding its payable account's row, so two runs never cover one entry twice and a
    sale posting to that account waits only for that affiliate's draft. `progress(done, total)`
    is called after each affiliate's draft has committed (a background job shows it).
    """
    settings = current_settings()
    start, end, minimum = _check_run(data, settings.payout_minimum)
    now = now or utcnow()
    accounts = session.execute(select(LedgerAccount.id, LedgerAccount.affiliate_id, LedgerAccount.currency)
                               .where(LedgerAccount.kind == AFFILIATE_PAYABLE).order_by(LedgerAccount.id)).all()
    flagged = fraud_flags(session, now)
    drafted = 0
    for done, account in enumerate(accounts, start=1):
        with transaction(session):
            drafted += _draft_one(session, principal, account, start, end, minimum, now,
                                  settings.payout_second_approval_over, flagged.get(account.affiliate_id))
        if progress is not None:
            progress(done, len(accounts))
    payouts = session.execute(select(Payout).where(Payout.period_start == start, Payout.period_end == end)
                              .order_by(Payout.id).execution_options(populate_existing=True)).scalars().all()
    views = payout_views(session, payouts)
    session.rollback()  # close the read transaction
    return PayoutRunView(period_start=start, period_end=end, minimum=minimum, drafted=drafted, payouts=views)


def check_run(data: PayoutRunCreate) -> None:
    """Refuse a run's input (InvalidInput naming every bad field) before it is queued as a job."""
    _check_run(data, current_settings().payout_minimum)


def _check_run(data: PayoutRunCreate, default_minimum: Decimal) -> tuple[datetime, datetime, Decimal]:
    errors: list[FieldError] = []
    start, end = data.period_start, data.period_end
    for name, value in (("period_start", start), ("period_end", end)):
        if value is None:
            errors.append(FieldError(name, "is required"))
        elif value.tzinfo is None:
            errors.append(FieldError(name, "needs a time zone (e.g. 2026-11-01T00:00:00Z)"))
    if not errors and start is not None and end is not None:
        if start >= end:
            errors.append(FieldError("period_end", "must be after period_start"))
        elif end - start > MAX_PERIOD:
            errors.append(FieldError("period_end", "a period is at most 366 days"))
    minimum = default_minimum if data.minimum is None else data.minimum
    if not minimum.is_finite() or minimum <= 0 or minimum > Decimal(10) ** 12:
        errors.append(FieldError("minimum", "must be more than zero"))
    if errors:
        raise InvalidInput(errors)
    assert start is not None and end is not None
    return start, end, minimum


def _minor_ceiling(amount: Decimal, currency: str) -> int:
    """A threshold in minor units, rounded up (a payout must reach the whole threshold)."""
    return int((amount.scaleb(MINOR_DIGITS[currency])).to_integral_value(rounding=ROUND_CEILING))


def _draft_one(session: Session, principal: Principal, account: Any, start: datetime, end: datetime,
               minimum: Decimal, now: datetime, second_over: Decimal, fraud_reason: str | None) -> int:
    # The account row lock serializes drafts for one affiliate (a concurrent run of an overlapping
    # period waits here, then sees the entries this one covered).
    session.execute(select(LedgerAccount.id).where(LedgerAccount.id == account.id).with_for_update())
    existing = session.execute(select(Payout.id).where(
        Payout.affiliate_id == account.affiliate_id, Payout.currency == account.currency,
        Payout.period_start == start, Payout.period_end == end)).scalar_one_or_none()
    if existing is not None:
        return 0
    covered = (select(PayoutEntry.id).where(PayoutEntry.ledger_entry_id == LedgerEntry.id,
                                            PayoutEntry.released.is_(False)).exists())
    rows = session.execute(
        select(LedgerEntry.id, LedgerEntry.amount_minor, LedgerTransaction.reference, LedgerTransaction.created_at)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == account.id, ~covered,
               ~LedgerTransaction.kind.startswith(_PAYOUT_TRANSACTION_KINDS),
               or_(LedgerEntry.amount_minor < 0, LedgerTransaction.created_at < end))
        .order_by(LedgerEntry.id)).all()
    windows = _return_windows(session, [row.reference for row in rows if row.amount_minor > 0])
    chosen = [row for row in rows if row.amount_minor < 0
              or row.created_at + timedelta(days=windows(row.reference)) <= now]
    amount_minor = sum(row.amount_minor for row in chosen)
    if amount_minor <= 0 or amount_minor < _minor_ceiling(minimum, account.currency):
        return 0
    needed = 2 if amount_minor > _minor_ceiling(second_over, account.currency) else 1
    payout = Payout(affiliate_id=account.affiliate_id, currency=account.currency, period_start=start,
                    period_end=end, cutoff_at=now, amount_minor=amount_minor, entry_count=len(chosen),
                    status="held" if fraud_reason else "draft", hold_kind="fraud" if fraud_reason else None,
                    hold_note=fraud_reason, approvals_needed=needed, created_at=now, updated_at=now)
    session.add(payout)
    session.flush()
    session.execute(insert(PayoutEntry), [{"payout_id": payout.id, "ledger_entry_id": row.id,
                                           "amount_minor": row.amount_minor, "released": False} for row in chosen])
    audit.record(session, principal, "payout.draft", "payout", payout.id,
                 {"affiliate_id": account.affiliate_id, "currency": account.currency,
                  "amount": str(from_minor(amount_minor, account.currency)), "entries": len(chosen),
                  "period_start": start.isoformat(), "period_end": end.isoformat(),
                  "cutoff_at": now.isoformat(), "approvals_needed": needed, "fraud_hold": fraud_reason})
    return 1


def fraud_flags(session: Session, now: datetime) -> dict[int, str]:
    """affiliate id -> why the anomaly report (its defaults: the last 7 days) flags it; a flagged
    affiliate's payouts are drafted on a fraud hold that only an admin clears or forfeits."""
    report = anomaly_report(session, now=now, limit=1_000_000)
    reasons: dict[int, list[str]] = {}
    for group in report.groups:
        if group.flagged:
            metrics = ", ".join(f"{f.metric} {f.rate:.2f} vs {f.baseline:.2f}" for f in group.flags)
            reasons.setdefault(group.affiliate_id, []).append(f"sub1 {group.sub1 or '(none)'}: {metrics}")
    return {affiliate_id: ("fraud anomaly report: " + "; ".join(lines))[:MAX_NOTE_LENGTH]
            for affiliate_id, lines in reasons.items()}


def _return_windows(session: Session, references: Iterable[str]) -> Any:
    """reference -> the return window (days) of the vertical its sale or conversion belongs to;
    a reference we cannot place waits the longest window of any vertical."""
    sale_ids, conversion_ids = set(), set()
    for reference in references:
        kind, _, number = (reference or "").partition(":")
        if number.isdigit():
            (sale_ids if kind == "sale" else conversion_ids if kind == "conversion" else set()).add(int(number))
    days: dict[str, int] = {}
    if sale_ids:
        for sale_id, window in session.execute(
                select(Sale.id, Vertical.return_window_days).join(Lead, Lead.id == Sale.lead_id)
                .join(Vertical, Vertical.id == Lead.vertical_id).where(Sale.id.in_(sale_ids))):
            days[f"sale:{sale_id}"] = window
    if conversion_ids:
        for conversion_id, window in session.execute(
                select(Conversion.id, Vertical.return_window_days).join(Offer, Offer.id == Conversion.offer_id)
                .join(Vertical, Vertical.id == Offer.vertical_id).where(Conversion.id.in_(conversion_ids))):
            days[f"conversion:{conversion_id}"] = window
    longest = session.execute(select(func.max(Vertical.return_window_days))).scalar_one_or_none() or 0
    return lambda reference: days.get(reference or "", longest)
