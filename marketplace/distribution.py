"""Distribution: what happens to a clean lead — sold to its targeted advertiser or to matching
orders, or kept for the lead store. Runs inside intake's transaction, so the answer the
affiliate gets (`sold` or `accepted`) is committed with the sales and their charges.

The affiliate earns the offer's CPL payout for a clean lead either way (a CPA offer pays on
conversion); when the lead is sold the payout is booked in the ledger with the sales.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from affiliates.models import Offer
from leadmarket.clock import utcnow
from marketplace import matching, sales
from marketplace.models import Lead


@dataclass(frozen=True)
class Outcome:
    status: str
    payout_minor: int
    reason: str | None = None
    duplicate_of: int | None = None


def distribute(session: Session, lead: Lead, offer: Offer) -> Outcome:
    """Sell the lead now — at intake, or when a reviewer approves it later — or keep it."""
    payout_minor = offer.payout_minor if offer.payout_model == "cpl" else 0
    now = utcnow()
    if offer.kind == "targeted":
        sold = sales.sell_targeted(session, lead, offer, now=now) is not None
    else:
        matches = matching.match(session, lead, now=now)
        sold = bool(sales.sell_to_orders(session, lead, offer, matches, now=now))
    return Outcome(status="sold" if sold else "accepted", payout_minor=payout_minor)
