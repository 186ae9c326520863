"""Billing request and response shapes (msgspec), shared by the API and the portal."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class AccountBalanceView(msgspec.Struct):
    id: int
    kind: str
    advertiser_id: int | None
    affiliate_id: int | None
    currency: str
    balance: Decimal


class CurrencyTotalView(msgspec.Struct):
    currency: str
    total: Decimal


class TrialBalanceView(msgspec.Struct):
    accounts: list[AccountBalanceView]
    totals: list[CurrencyTotalView]
    balanced: bool


class BalanceView(msgspec.Struct):
    """An advertiser's money: `available` is what they can still be charged (balance + credit limit
    when prepaid; invoiced advertisers are billed monthly and have no floor, so it is null)."""

    advertiser_id: int
    billing_mode: str
    currency: str
    balance: Decimal
    credit_limit: Decimal
    available: Decimal | None


class CreditCreate(msgspec.Struct, forbid_unknown_fields=True):
    amount: Decimal | None = None
    note: str | None = None


class CreditView(msgspec.Struct):
    transaction_id: int
    advertiser_id: int
    amount: Decimal
    currency: str
    note: str
    balance: Decimal


class TopupCreate(msgspec.Struct, forbid_unknown_fields=True):
    amount: Decimal | None = None


class TopupView(msgspec.Struct):
    topup_id: int
    status: str
    amount: Decimal
    currency: str
    client_secret: str | None = None


class WebhookReceipt(msgspec.Struct):
    received: bool
    applied: bool
