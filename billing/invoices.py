"""Postpaid invoices: each month (UTC) an advertiser billed by invoice gets one Stripe invoice with
one line per offer (its vertical named too), settled once by Stripe's verified `invoice.paid`.

What a line bills: the advertiser's cash entries of the month in the ledger — sale (CPL) and
approved conversion (CPA) charges, less the refunds of returns — grouped by the sale's lead's
offer or the conversion's offer. A figure belongs to the month of its ledger transaction (a return
refunds in the month it is made), so a month's lines cannot change once the month is over: only
ended months are invoiced. Offers netting to zero get no line; a month netting to zero or less
gets no invoice (a credit stays on the advertiser's balance).

Issuing is once-only twice over. Our rows first: the unique (advertiser, period) makes a rerun
find the invoice drafted before. Then Stripe, step by step, each step recorded on our rows and
sent with an idempotency key derived from our ids (customer per advertiser, invoice, item per
line, finalize, send), so a retried call or run reuses what Stripe already made. No transaction
is open during a Stripe call. Payment: the `invoice.paid` event's id is stored in the same
transaction that posts `invoice:<id>` (Stripe clearing -> the advertiser's cash) and marks the
invoice paid.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, and_, case, cast, false, func, insert, literal, select, update
from sqlalchemy.orm import Session

from affiliates.cpa_models import Conversion
from affiliates.models import Offer
from billing import ledger, stripe_gateway
from billing.errors import PaymentProviderFailed
from billing.invoice_models import INVOICE_STATUSES, Invoice, InvoiceLine
from billing.invoice_schemas import InvoiceLineView, InvoicePage, InvoiceRunCreate, InvoiceRunView, InvoiceView
from billing.ledger import Entry
from billing.models import ADVERTISER_CASH, STRIPE_CLEARING, LedgerAccount, LedgerEntry, LedgerTransaction, StripeEvent
from leadmarket import audit
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.paging import limit_offset_errors
from leadmarket.errors import FieldError, InvalidInput, NotFound
from leadmarket.identity import STAFF_ROLES, Principal
from leadmarket.money import from_minor
from leadmarket.settings import Settings, current_settings
from leadmarket.upsert import insert_ignoring_conflict
from marketplace.models import Advertiser, Lead, Vertical
from marketplace.sale_models import Sale

log = logging.getLogger("leadmarket.billing.invoices")

MAX_PAGE = 100
_PERIOD = re.compile(r"(\d{4})-(\d{2})")


# --- the month ----------------------------------------------------------------------------------

def month_bounds(period: str) -> tuple[datetime, datetime]:
    """"2026-10" -> [2026-10-01T00:00Z, 2026-11-01T00:00Z)."""
    year, month = int(period[:4]), int(period[5:])
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def previous_period(now: datetime) -> str:
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def _check_period(raw: str | None, now: datetime) -> str:
    if raw is None or raw == "":
        raise InvalidInput.one("period", "is required (YYYY-MM, a calendar month in UTC)")
    match = _PERIOD.fullmatch(raw)
    if match is None or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 9998:  # 9999-12 ends in year 10000
        raise InvalidInput.one("period", "must be a month as YYYY-MM")
    if month_bounds(raw)[1] > now:
        raise InvalidInput.one("period", "must be a month that has ended (UTC)")
    return raw


# --- running: draft, then issue at Stripe -------------------------------------------------------

def run_invoices(session: Session, principal: Principal | None, data: InvoiceRunCreate, *,
                 now: datetime | None = None) -> InvoiceRunView:
    """Invoice one ended month: draft what is due, then issue every draft of the month at Stripe.

    Running a month again drafts nothing new and issues only what an earlier run left unfinished
    (a Stripe failure is counted in `failed`, not raised: the other invoices still go out).
    """
    period = _check_period(data.period, now or utcnow())
    settings = current_settings()
    stripe_gateway.client(settings)  # refuse before writing anything when payments are not configured
    created = draft_invoices(session, principal, period)
    issued, failed = _issue_all(session, settings, _unfinished(session, Invoice.period == period))
    return InvoiceRunView(period=period, created=created, issued=issued, failed=failed,
                          invoices=_views(session, invoices_visible_to(None).where(Invoice.period == period)))


def issue_last_month(session: Session, *, now: datetime | None = None) -> InvoiceRunView:
    """The beat task's work: last month's invoices, and any earlier invoice Stripe has not taken
    yet. Raises PaymentProviderFailed when some invoice is still unfinished, so the caller can
    say so (the next run tries again with the same idempotency keys)."""
    now = now or utcnow()
    run = run_invoices(session, None, InvoiceRunCreate(period=previous_period(now)), now=now)
    issued, failed = _issue_all(session, current_settings(), _unfinished(session, Invoice.period < run.period))
    run.issued += issued
    run.failed += failed
    if run.failed:
        raise PaymentProviderFailed()
    return run


def draft_invoices(session: Session, principal: Principal | None, period: str) -> int:
    """Write the month's invoice and lines for every invoiced advertiser with something to bill,
    each in its own transaction; returns how many are new (a rerun finds them and adds none)."""
    start, end = month_bounds(period)
    lines_by_advertiser: dict[int, list[Any]] = defaultdict(list)
    for row in _billable(session, start, end):
        if int(row.charged) - int(row.refunded) != 0:
            lines_by_advertiser[row.advertiser_id].append(row)
    names = _offer_names(session, {row.offer_id for rows in lines_by_advertiser.values() for row in rows})
    session.rollback()  # end the read before the writes
    created = 0
    for advertiser_id, rows in sorted(lines_by_advertiser.items()):
        total = sum(int(r.charged) - int(r.refunded) for r in rows)
        currency = rows[0].currency
        if total <= 0:
            log.info("advertiser %s: %s nets %s %s, nothing to invoice", advertiser_id, period, total, currency)
            continue
        now = utcnow()
        with transaction(session):
            invoice_id = insert_ignoring_conflict(
                session, Invoice, {"advertiser_id": advertiser_id, "period": period, "period_start": start,
                                   "period_end": end, "currency": currency, "amount_minor": total, "status": "draft",
                                   "created_at": now, "updated_at": now},
                conflict_columns=["advertiser_id", "period"], returning=Invoice.id)
            if invoice_id is None:
                continue  # drafted before (or by a concurrent run)
            session.execute(insert(InvoiceLine), [
                {"invoice_id": invoice_id, "offer_id": r.offer_id, "vertical_id": r.vertical_id,
                 "description": _describe(names[r.offer_id], r), "sales": int(r.sales),
                 "conversions": int(r.conversions), "returns": int(r.returns), "charged_minor": int(r.charged),
                 "refunded_minor": int(r.refunded), "amount_minor": int(r.charged) - int(r.refunded),
                 "currency": r.currency} for r in sorted(rows, key=lambda r: r.offer_id)])
            audit.record(session, principal, "invoice.draft", "invoice", invoice_id,
                         {"advertiser_id": advertiser_id, "period": period, "currency": currency,
                          "amount": str(from_minor(total, currency)), "lines": len(rows)})
        created += 1
    return created


def _billable(session: Session, start: datetime, end: datetime) -> list[Any]:
    """Per invoiced advertiser, offer and currency: what their cash accounts were charged by sale and
    conversion charges in [start, end), what reversals refunded, and how many of each."""

    def query(kind: str, offer_id: Any, vertical_id: Any, *joins: tuple[Any, Any]) -> list[Any]:
        charged = LedgerTransaction.kind == kind
        reversed_ = LedgerTransaction.kind == f"{kind}_reversal"
        statement = (
            select(LedgerAccount.advertiser_id, offer_id.label("offer_id"), vertical_id.label("vertical_id"),
                   LedgerEntry.currency,
                   (-func.coalesce(func.sum(case((charged, LedgerEntry.amount_minor), else_=0)), 0)).label("charged"),
                   func.coalesce(func.sum(case((reversed_, LedgerEntry.amount_minor), else_=0)), 0).label("refunded"),
                   func.count(case((charged, 1))).label("charges"),
                   func.count(case((reversed_, 1))).label("returns"))
            .select_from(LedgerTransaction)
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(LedgerAccount, and_(LedgerAccount.id == LedgerEntry.account_id, LedgerAccount.kind == ADVERTISER_CASH))
            .join(Advertiser, and_(Advertiser.id == LedgerAccount.advertiser_id, Advertiser.billing_mode == "invoice",
                                   Advertiser.currency == LedgerAccount.currency)))
        for target, on in joins:
            statement = statement.join(target, on)
        return session.execute(
            statement.where(LedgerTransaction.kind.in_([kind, f"{kind}_reversal"]),
                            LedgerTransaction.created_at >= start, LedgerTransaction.created_at < end)
            .group_by(LedgerAccount.advertiser_id, offer_id, vertical_id, LedgerEntry.currency)).all()

    # References are "sale:<id>" / "conversion:<id>" (billing.charging), as settlement joins them.
    sale_reference = literal("sale:") + cast(Sale.id, String)
    conversion_reference = literal("conversion:") + cast(Conversion.id, String)
    sales = query("sale", Lead.offer_id, Lead.vertical_id,
                  (Sale, LedgerTransaction.reference == sale_reference), (Lead, Lead.id == Sale.lead_id))
    conversions = query("conversion", Conversion.offer_id, Offer.vertical_id,
                        (Conversion, LedgerTransaction.reference == conversion_reference),
                        (Offer, Offer.id == Conversion.offer_id))
    merged: dict[tuple[int, int, str], _Line] = {}
    for rows, is_sale in ((sales, True), (conversions, False)):
        for row in rows:
            line = merged.setdefault((row.advertiser_id, row.offer_id, row.currency),
                                     _Line(row.advertiser_id, row.offer_id, row.vertical_id, row.currency))
            line.charged += int(row.charged)
            line.refunded += int(row.refunded)
            line.returns += int(row.returns)
            if is_sale:
                line.sales += int(row.charges)
            else:
                line.conversions += int(row.charges)
    return list(merged.values())


@dataclass
class _Line:
    advertiser_id: int
    offer_id: int
    vertical_id: int
    currency: str
    charged: int = 0
    refunded: int = 0
    sales: int = 0
    conversions: int = 0
    returns: int = 0


def _offer_names(session: Session, offer_ids: set[int]) -> dict[int, tuple[str, str]]:
    if not offer_ids:
        return {}
    rows = session.execute(select(Offer.id, Vertical.name, Offer.name).join(Vertical, Vertical.id == Offer.vertical_id)
                           .where(Offer.id.in_(offer_ids))).all()
    return {row.id: (row[1], row[2]) for row in rows}


def _describe(names: tuple[str, str], line: _Line) -> str:
    """"Car insurance — Car quotes: 3 leads, 1 return" (what the advertiser reads on the invoice)."""

    def counted(n: int, word: str) -> str | None:
        return f"{n} {word}{'' if n == 1 else 's'}" if n else None

    parts = [p for p in (counted(line.sales, "lead"), counted(line.conversions, "conversion"),
                         counted(line.returns, "return")) if p]
    return f"{names[0]} — {names[1]}: {', '.join(parts)}"[:500]


@dataclass(frozen=True)
class _Pending:
    """What issuing needs of an invoice, read before the Stripe calls (no session use during them)."""

    id: int
    advertiser_id: int
    period: str
    currency: str
    amount_minor: int
    stripe_customer_id: str | None
    stripe_invoice_id: str | None
    finalized: bool
    sent: bool
    lines: tuple[tuple[int, int, str, str | None], ...]  # id, amount_minor, description, stripe item id


def _unfinished(session: Session, condition: Any) -> list[int]:
    """Invoices still to be finalized or sent at Stripe (a paid one is finished whatever we knew)."""
    ids = session.execute(select(Invoice.id).where(
        condition, Invoice.status != "paid", (Invoice.finalized_at.is_(None)) | (Invoice.sent_at.is_(None)))
        .order_by(Invoice.id)).scalars().all()
    session.rollback()
    return list(ids)


def _issue_all(session: Session, settings: Settings, invoice_ids: list[int]) -> tuple[int, int]:
    issued = failed = 0
    for invoice_id in invoice_ids:
        try:
            issued += _issue(session, settings, invoice_id)
        except PaymentProviderFailed:
            failed += 1
            log.warning("invoice %s: Stripe did not take it this time; the next run tries again", invoice_id)
    return issued, failed


def _issue(session: Session, settings: Settings, invoice_id: int) -> bool:
    """Take one invoice through the Stripe steps it has not done; True when this call sent it."""
    pending = _pending(session, invoice_id)
    customer_id = pending.stripe_customer_id or _known_customer(session, pending.advertiser_id)
    if customer_id is None:
        name, email = session.execute(select(Advertiser.name, Advertiser.email)
                                      .where(Advertiser.id == pending.advertiser_id)).one()
        session.rollback()
        customer_id = stripe_gateway.create_customer(settings, advertiser_id=pending.advertiser_id, name=name,
                                                     email=email)
    if pending.stripe_customer_id is None:
        _record(session, invoice_id, Invoice.stripe_customer_id.is_(None), stripe_customer_id=customer_id)
    stripe_invoice_id = pending.stripe_invoice_id
    if stripe_invoice_id is None:
        created = stripe_gateway.create_invoice(settings, invoice_id=invoice_id, customer_id=customer_id,
                                                currency=pending.currency, period=pending.period)
        stripe_invoice_id = created.id
        _record(session, invoice_id, Invoice.stripe_invoice_id.is_(None), stripe_invoice_id=stripe_invoice_id)
    for line_id, amount_minor, description, item_id in pending.lines:
        if item_id is None:
            item_id = stripe_gateway.add_invoice_line(
                settings, line_id=line_id, invoice_id=invoice_id, stripe_invoice_id=stripe_invoice_id,
                customer_id=customer_id, amount_minor=amount_minor, currency=pending.currency,
                description=description)
            with transaction(session):
                session.execute(update(InvoiceLine).where(InvoiceLine.id == line_id,
                                                          InvoiceLine.stripe_invoice_item_id.is_(None))
                                .values(stripe_invoice_item_id=item_id))
    if not pending.finalized:
        draft = stripe_gateway.retrieve_invoice(settings, stripe_invoice_id)
        if draft.status == "draft" and (draft.amount_due, draft.currency) != (pending.amount_minor, pending.currency):
            log.error("invoice %s: Stripe's draft %s is due %s %s, ours %s %s; not finalizing", invoice_id,
                      stripe_invoice_id, draft.amount_due, draft.currency, pending.amount_minor, pending.currency)
            raise PaymentProviderFailed()
        final = draft if draft.status != "draft" else stripe_gateway.finalize_invoice(
            settings, invoice_id=invoice_id, stripe_invoice_id=stripe_invoice_id)
        now = utcnow()
        _record(session, invoice_id, Invoice.finalized_at.is_(None), finalized_at=now, stripe_number=final.number,
                hosted_invoice_url=final.hosted_invoice_url)
        # The webhook may have marked it paid meanwhile: only a draft becomes open.
        _record(session, invoice_id, Invoice.status == "draft", status="open")
    if pending.sent:
        return False
    stripe_gateway.send_invoice(settings, invoice_id=invoice_id, stripe_invoice_id=stripe_invoice_id)
    _record(session, invoice_id, Invoice.sent_at.is_(None), sent_at=utcnow())
    with transaction(session):
        audit.record(session, None, "invoice.issue", "invoice", invoice_id,
                     {"stripe_invoice_id": stripe_invoice_id, "amount": str(from_minor(pending.amount_minor,
                                                                                       pending.currency)),
                      "currency": pending.currency})
    return True


def _pending(session: Session, invoice_id: int) -> _Pending:
    invoice = session.execute(select(Invoice).where(Invoice.id == invoice_id)
                              .execution_options(populate_existing=True)).scalar_one()
    lines = session.execute(select(InvoiceLine.id, InvoiceLine.amount_minor, InvoiceLine.description,
                                   InvoiceLine.stripe_invoice_item_id)
                            .where(InvoiceLine.invoice_id == invoice_id).order_by(InvoiceLine.id)).all()
    pending = _Pending(id=invoice.id, advertiser_id=invoice.advertiser_id, period=invoice.period,
                       currency=invoice.currency, amount_minor=invoice.amount_minor,
                       stripe_customer_id=invoice.stripe_customer_id, stripe_invoice_id=invoice.stripe_invoice_id,
                       finalized=invoice.finalized_at is not None, sent=invoice.sent_at is not None,
                       lines=tuple((r.id, r.amount_minor, r.description, r.stripe_invoice_item_id) for r in lines))
    session.rollback()
    return pending


def _known_customer(session: Session, advertiser_id: int) -> str | None:
    """The advertiser's Stripe customer from an earlier invoice (Stripe forgets idempotency keys
    after a day, so next month's invoice must not create the customer again)."""
    found = session.execute(select(Invoice.stripe_customer_id).where(
        Invoice.advertiser_id == advertiser_id, Invoice.stripe_customer_id.is_not(None))
        .order_by(Invoice.id.desc()).limit(1)).scalar_one_or_none()
    session.rollback()
    return found


def _record(session: Session, invoice_id: int, only_if: Any, **values: Any) -> None:
    with transaction(session):
        session.execute(update(Invoice).where(Invoice.id == invoice_id, only_if)
                        .values(**values, updated_at=utcnow()).execution_options(synchronize_session=False))


# --- payment ------------------------------------------------------------------------------------

def apply_invoice_paid(session: Session, event: dict[str, Any]) -> bool:
    """Settle our invoice from a verified `invoice.paid` event, once: the event id is stored and
    `invoice:<id>` posted in one transaction. Returns whether money moved."""
    paid_invoice = (event.get("data") or {}).get("object") or {}
    stripe_invoice_id = _text(paid_invoice.get("id"))
    with transaction(session):
        claimed = insert_ignoring_conflict(
            session, StripeEvent, {"id": event["id"], "type": event["type"], "object_id": stripe_invoice_id,
                                   "received_at": utcnow()},
            conflict_columns=["id"], returning=StripeEvent.id)
        if claimed is None:
            return False  # this event was applied before (or is being applied by its twin)
        invoice = _invoice_for(session, paid_invoice)
        if invoice is None:
            log.warning("Stripe event %s: invoice %s is not one of ours", event["id"], stripe_invoice_id)
            return False
        if invoice.status == "paid":
            return False  # a second report of the same payment
        amount_paid = paid_invoice.get("amount_paid")
        if (str(paid_invoice.get("currency", "")).upper() != invoice.currency or type(amount_paid) is not int
                or amount_paid <= 0):
            log.error("Stripe event %s: invoice %s expected %s %s, Stripe says %r %r", event["id"], invoice.id,
                      invoice.amount_minor, invoice.currency, amount_paid, paid_invoice.get("currency"))
            return False
        if amount_paid != invoice.amount_minor:
            log.warning("Stripe event %s: invoice %s billed %s, paid %s; crediting what was paid", event["id"],
                        invoice.id, invoice.amount_minor, amount_paid)
        cash = ledger.account(session, ADVERTISER_CASH, invoice.currency, advertiser_id=invoice.advertiser_id)
        clearing = ledger.account(session, STRIPE_CLEARING, invoice.currency)
        posted = ledger.post(session, f"invoice:{invoice.id}",
                             [Entry(clearing.id, -amount_paid, invoice.currency),
                              Entry(cash.id, amount_paid, invoice.currency)],
                             kind="invoice_payment", reference=f"invoice:{invoice.id}",
                             memo=f"Stripe {stripe_invoice_id}", created_by="stripe")
        now = utcnow()
        invoice.status = "paid"
        invoice.paid_at = now
        invoice.amount_paid_minor = amount_paid
        invoice.ledger_transaction_id = posted.transaction.id
        invoice.stripe_invoice_id = invoice.stripe_invoice_id or stripe_invoice_id
        invoice.updated_at = now
        audit.record(session, None, "invoice.paid", "invoice", invoice.id,
                     {"stripe_event_id": event["id"], "amount": str(from_minor(amount_paid, invoice.currency)),
                      "currency": invoice.currency})
        return not posted.replayed


def _invoice_for(session: Session, paid_invoice: dict[str, Any]) -> Invoice | None:
    """Our invoice by the id in the Stripe invoice's metadata (there even when the event beat our
    own write of the Stripe id), checked against the Stripe id; else by the Stripe id."""
    stripe_invoice_id = _text(paid_invoice.get("id"))
    ours = _text((paid_invoice.get("metadata") or {}).get("invoice_id"))
    if ours is not None and ours.isdigit() and int(ours) < 2**31:
        invoice = session.get(Invoice, int(ours), with_for_update=True, populate_existing=True)
        if invoice is not None and invoice.stripe_invoice_id in (None, stripe_invoice_id):
            return invoice
    if stripe_invoice_id is None:
        return None
    return session.execute(select(Invoice).where(Invoice.stripe_invoice_id == stripe_invoice_id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one_or_none()


def _text(value: Any) -> str | None:
    return value[:255] if isinstance(value, str) and value else None


# --- reading ------------------------------------------------------------------------------------

def invoices_visible_to(principal: Principal | None) -> Any:
    """The one scoping query: staff (and the system) see every invoice, an advertiser its own."""
    query = select(Invoice)
    if principal is None or principal.role in STAFF_ROLES:
        return query
    if principal.advertiser_id is not None:
        return query.where(Invoice.advertiser_id == principal.advertiser_id)
    return query.where(false())


def list_invoices(session: Session, principal: Principal, *, advertiser_id: int | None = None,
                  period: str | None = None, status: str | None = None, limit: int = 50,
                  offset: int = 0) -> InvoicePage:
    errors = []
    if period is not None and (_PERIOD.fullmatch(period) is None or not 1 <= int(period[5:]) <= 12):
        errors.append(FieldError("period", "must be a month as YYYY-MM"))
    if status is not None and status not in INVOICE_STATUSES:
        errors.append(FieldError("status", f"must be one of {', '.join(INVOICE_STATUSES)}"))
    errors += limit_offset_errors(limit, offset, MAX_PAGE)
    if errors:
        raise InvalidInput(errors)
    query = invoices_visible_to(principal)
    if advertiser_id is not None:
        query = query.where(Invoice.advertiser_id == advertiser_id)
    if period is not None:
        query = query.where(Invoice.period == period)
    if status is not None:
        query = query.where(Invoice.status == status)
    views = _views(session, query.order_by(Invoice.period.desc(), Invoice.id.desc()).limit(limit + 1).offset(offset))
    more = len(views) > limit
    return InvoicePage(invoices=views[:limit], next_offset=offset + limit if more else None)


def get_invoice(session: Session, principal: Principal, invoice_id: int) -> InvoiceView:
    """An invoice with its lines; another advertiser's is NotFound."""
    views = _views(session, invoices_visible_to(principal).where(Invoice.id == invoice_id))
    if not views:
        raise NotFound(f"invoice {invoice_id} not found")
    return views[0]


def _views(session: Session, query: Any) -> list[InvoiceView]:
    invoices = session.execute(query.execution_options(populate_existing=True)).scalars().all()
    lines: dict[int, list[InvoiceLine]] = defaultdict(list)
    if invoices:
        for line in session.execute(select(InvoiceLine).where(InvoiceLine.invoice_id.in_([i.id for i in invoices]))
                                    .order_by(InvoiceLine.id).execution_options(populate_existing=True)).scalars():
            lines[line.invoice_id].append(line)
    views = [_view(invoice, lines[invoice.id]) for invoice in invoices]
    session.rollback()  # close the read transaction
    return views


def _view(invoice: Invoice, lines: list[InvoiceLine]) -> InvoiceView:
    def money(minor: int) -> Any:
        return from_minor(minor, invoice.currency)

    return InvoiceView(
        id=invoice.id, advertiser_id=invoice.advertiser_id, period=invoice.period, currency=invoice.currency,
        amount=money(invoice.amount_minor), status=invoice.status, stripe_invoice_id=invoice.stripe_invoice_id,
        number=invoice.stripe_number, hosted_invoice_url=invoice.hosted_invoice_url,
        amount_paid=money(invoice.amount_paid_minor) if invoice.amount_paid_minor is not None else None,
        created_at=invoice.created_at, finalized_at=invoice.finalized_at, sent_at=invoice.sent_at,
        paid_at=invoice.paid_at,
        lines=[InvoiceLineView(id=line.id, offer_id=line.offer_id, vertical_id=line.vertical_id,
                               description=line.description, sales=line.sales, conversions=line.conversions,
                               returns=line.returns, charged=money(line.charged_minor),
                               refunded=money(line.refunded_minor), amount=money(line.amount_minor))
               for line in lines])
