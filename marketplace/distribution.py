"""Distribution: what happens to a clean lead — sold to orders, or kept for the lead store.

Orders and sales arrive with the marketplace issue; until then a clean lead is `accepted`
into the store and the affiliate earns the offer's CPL payout (a CPA offer pays on conversion).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from affiliates.models import Offer
from marketplace.models import Lead


@dataclass(frozen=True)
class Outcome:
    status: str
    payout_minor: int
    reason: str | None = None
    duplicate_of: int | None = None


def distribute(session: Session, lead: Lead, offer: Offer) -> Outcome:
    return Outcome(status="accepted", payout_minor=offer.payout_minor if offer.payout_model == "cpl" else 0)
