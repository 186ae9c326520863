"""What can go wrong with a payout."""

from __future__ import annotations

from leadmarket.errors import Conflict


class PayoutStateConflict(Conflict):
    def __init__(self, payout_id: int, action: str, status: str) -> None:
        super().__init__(f"payout {payout_id} is {status}; it cannot be {action}")


class AlreadyApproved(Conflict):
    def __init__(self, payout_id: int) -> None:
        super().__init__(f"you already approved payout {payout_id}; a second approval must come from another "
                         "finance user")


class NoStripeAccount(Conflict):
    def __init__(self, affiliate_id: int) -> None:
        super().__init__(f"affiliate {affiliate_id} has no Stripe account; an admin sets it, or pay by bank")
