"""Payout request and response shapes (msgspec), shared by the API and the portal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec


class PayoutRunCreate(msgspec.Struct, forbid_unknown_fields=True):
    period_start: datetime | None = None
    period_end: datetime | None = None
    minimum: Decimal | None = None  # default: the payout_minimum setting


class PayoutView(msgspec.Struct):
    id: int
    affiliate_id: int
    currency: str
    amount: Decimal
    period_start: datetime
    period_end: datetime
    cutoff_at: datetime
    entry_count: int
    status: str
    approvals_needed: int
    approvals: int
    hold_kind: str | None
    hold_note: str | None
    method: str | None
    paid_reference: str | None
    paid_at: datetime | None
    created_at: datetime


class PayoutRunView(msgspec.Struct):
    period_start: datetime
    period_end: datetime
    minimum: Decimal
    drafted: int  # new in this run; a repeated run drafts none
    payouts: list[PayoutView]


class PayoutPage(msgspec.Struct):
    payouts: list[PayoutView]
    next_offset: int | None


class PayoutNote(msgspec.Struct, forbid_unknown_fields=True):
    note: str | None = None


class PayoutPay(msgspec.Struct, forbid_unknown_fields=True):
    method: str | None = None      # "stripe" or "bank"
    reference: str | None = None   # bank: the batch reference from the CSV export


class StripeAccountSet(msgspec.Struct, forbid_unknown_fields=True):
    stripe_account_id: str | None = None


class StripeAccountView(msgspec.Struct):
    affiliate_id: int
    stripe_account_id: str | None
