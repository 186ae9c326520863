"""Invoice request and response shapes (msgspec), shared by the API and the portal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec


class InvoiceRunCreate(msgspec.Struct, forbid_unknown_fields=True):
    period: str | None = None  # "YYYY-MM", a calendar month (UTC) that has ended


class InvoiceLineView(msgspec.Struct):
    id: int
    offer_id: int
    vertical_id: int
    description: str
    sales: int
    conversions: int
    returns: int
    charged: Decimal
    refunded: Decimal
    amount: Decimal


class InvoiceView(msgspec.Struct):
    id: int
    advertiser_id: int
    period: str
    currency: str
    amount: Decimal
    status: str
    stripe_invoice_id: str | None
    number: str | None
    hosted_invoice_url: str | None
    amount_paid: Decimal | None
    created_at: datetime
    finalized_at: datetime | None
    sent_at: datetime | None
    paid_at: datetime | None
    lines: list[InvoiceLineView]


class InvoicePage(msgspec.Struct):
    invoices: list[InvoiceView]
    next_offset: int | None


class InvoiceRunView(msgspec.Struct):
    period: str
    created: int   # invoices drafted by this run; a repeated run drafts none
    issued: int    # invoices this run finalized and sent at Stripe
    failed: int    # invoices Stripe did not take this time; the next run tries them again
    invoices: list[InvoiceView]
