"""Charging for what was bought: a sale (CPL) or an approved conversion (CPA) is one ledger
transaction — the advertiser pays the price, the affiliate earns the payout, the platform keeps
the margin — and a return reverses it exactly.

These are helpers for the marketplace and tracking use cases: they add to the caller's
transaction and never commit, so the sale (or conversion) row and its money commit together.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import ledger
from billing.errors import ChargeNotFound, CurrencyMismatch
from billing.ledger import Entry, Posted
from billing.models import ADVERTISER_CASH, AFFILIATE_PAYABLE, PLATFORM_REVENUE, LedgerEntry, LedgerTransaction
from leadmarket.errors import NotFound
from marketplace.models import Advertiser


def charge_sale(session: Session, *, reference: str, advertiser_id: int, affiliate_id: int, price_minor: int,
                payout_minor: int, currency: str, created_by: str = "system") -> Posted | None:
    """Charge one sale, once per `reference` (e.g. "sale:123"); None when nothing moves (both 0).

    Raises InsufficientFunds when a prepaid advertiser's balance plus credit limit does not cover
    the price; the caller's transaction is then as it was, so it may offer the lead elsewhere.
    """
    return _charge(session, "sale", reference, advertiser_id, affiliate_id, price_minor, payout_minor, currency,
                   created_by)


def charge_conversion(session: Session, *, reference: str, advertiser_id: int, affiliate_id: int,
                      revenue_minor: int, payout_minor: int, currency: str,
                      created_by: str = "system") -> Posted | None:
    """Charge one approved conversion (e.g. "conversion:45"), like a sale priced at `revenue_minor`."""
    return _charge(session, "conversion", reference, advertiser_id, affiliate_id, revenue_minor, payout_minor,
                   currency, created_by)


def reverse_sale(session: Session, reference: str, *, memo: str | None = None, created_by: str = "system") -> Posted:
    """Undo a sale's charge: refund the advertiser, claw back the affiliate's payout (their payable
    may go negative and is netted in their next payout) and the platform's margin. Once per sale."""
    return _reverse(session, reference, memo, created_by)


def reverse_conversion(session: Session, reference: str, *, memo: str | None = None,
                       created_by: str = "system") -> Posted:
    return _reverse(session, reference, memo, created_by)


def charge_key(reference: str) -> str:
    return f"charge:{reference}"


def reversal_key(reference: str) -> str:
    return f"reversal:{reference}"


def _charge(session: Session, kind: str, reference: str, advertiser_id: int, affiliate_id: int, price_minor: int,
            payout_minor: int, currency: str, created_by: str) -> Posted | None:
    if price_minor < 0 or payout_minor < 0:
        raise ValueError("a price and a payout are never negative")
    advertiser_currency = session.execute(select(Advertiser.currency).where(Advertiser.id == advertiser_id)
                                          ).scalar_one_or_none()
    if advertiser_currency is None:
        raise NotFound(f"advertiser {advertiser_id} not found")
    if advertiser_currency != currency:
        raise CurrencyMismatch(advertiser_id, currency)
    cash = ledger.account(session, ADVERTISER_CASH, currency, advertiser_id=advertiser_id)
    payable = ledger.account(session, AFFILIATE_PAYABLE, currency, affiliate_id=affiliate_id)
    revenue = ledger.account(session, PLATFORM_REVENUE, currency)
    entries = [Entry(account.id, amount, currency) for account, amount in
               ((cash, -price_minor), (payable, payout_minor), (revenue, price_minor - payout_minor)) if amount]
    if not entries:
        return None
    return ledger.post(session, charge_key(reference), entries, kind=kind, reference=reference, created_by=created_by)


def _reverse(session: Session, reference: str, memo: str | None, created_by: str) -> Posted:
    charged = select(LedgerTransaction).where(LedgerTransaction.idempotency_key == charge_key(reference))
    original = session.execute(charged).scalar_one_or_none()
    if original is None:
        raise ChargeNotFound(reference)
    entries = [Entry(e.account_id, -e.amount_minor, e.currency) for e in session.execute(
        select(LedgerEntry).where(LedgerEntry.transaction_id == original.id).order_by(LedgerEntry.id)).scalars()]
    return ledger.post(session, reversal_key(reference), entries, kind=f"{original.kind}_reversal",
                       reference=reference, memo=memo, created_by=created_by)
