"""What can go wrong when money moves."""

from __future__ import annotations

from leadmarket.errors import Conflict, DomainError, ServiceUnavailable


class UnbalancedTransaction(ValueError):
    """A caller built entries that do not sum to zero per currency: a bug, never the user's fault."""


class InsufficientFunds(Conflict):
    def __init__(self, advertiser_id: int) -> None:
        self.advertiser_id = advertiser_id
        super().__init__(f"advertiser {advertiser_id} has not enough balance and credit for this charge")


class LedgerKeyReused(Conflict):
    def __init__(self, key: str) -> None:
        super().__init__(f"ledger key {key!r} was already posted with other entries")


class ChargeNotFound(Conflict):
    def __init__(self, reference: str) -> None:
        super().__init__(f"nothing was charged for {reference!r}, so there is nothing to reverse")


class CurrencyMismatch(Conflict):
    def __init__(self, advertiser_id: int, currency: str) -> None:
        super().__init__(f"advertiser {advertiser_id} is not billed in {currency}")


class PaymentsNotConfigured(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("payments are not configured on this server")


class PaymentProviderFailed(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("the payment provider did not answer as expected; try again later")


class WebhookRejected(DomainError):
    """A webhook we cannot trust or read (answered 400, so the sender knows it was not applied)."""
