"""Marketplace request and response shapes (msgspec), shared by the API and the portal.

Request fields a person must fill are still typed optional here: the domain validator checks
them all at once, so a 422 can name every bad field instead of the first.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec


class FieldSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    type: str
    required: bool = False
    choices: list[str] | None = None
    min: int | float | None = None
    max: int | float | None = None
    label: str | None = None


class VerticalCreate(msgspec.Struct, forbid_unknown_fields=True):
    slug: str
    name: str
    fields: list[FieldSpec]
    base_price: Decimal
    dedupe_window_days: int = 30
    max_shared_sales: int = 3
    currency: str | None = None


class VerticalView(msgspec.Struct):
    id: int
    slug: str
    name: str
    fields: list[dict[str, Any]]
    dedupe_window_days: int
    max_shared_sales: int
    base_price: Decimal
    currency: str
    created_at: datetime


class AdvertiserCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    email: str
    billing_mode: str = "prepaid"
    credit_limit: Decimal | None = None
    currency: str | None = None


class AdvertiserView(msgspec.Struct):
    id: int
    name: str
    email: str
    billing_mode: str
    credit_limit: Decimal
    currency: str
    status: str
    created_at: datetime


class AdvertiserCreated(AdvertiserView):
    api_key: str = ""


class Contact(msgspec.Struct):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    profile_url: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    postal_code: str | None = None
    address: str | None = None
    date_of_birth: str | None = None


class Consent(msgspec.Struct):
    text: str | None = None
    given_at: datetime | None = None
    ip: str | None = None
    page_url: str | None = None


class LeadMeta(msgspec.Struct):
    ip: str | None = None
    user_agent: str | None = None
    form_seconds: float | None = None


class LeadSubmission(msgspec.Struct):
    offer_id: int | None = None
    contact: Contact | None = None
    click_id: str | None = None
    sub_ids: dict[str, str] | None = None
    attributes: dict[str, Any] = {}
    consent: Consent | None = None
    meta: LeadMeta | None = None


class LeadDecision(msgspec.Struct, omit_defaults=False):
    lead_id: int
    status: str
    payout: Decimal
    currency: str
    reason: str | None = None
    duplicate_of: int | None = None


class LeadView(msgspec.Struct):
    lead_id: int
    offer_id: int
    status: str
    reason: str | None
    duplicate_of: int | None
    payout: Decimal
    currency: str
    click_id: str | None
    sub_ids: dict[str, str]
    contact: dict[str, Any]
    attributes: dict[str, Any]
    fraud_score: int | None
    fraud_reasons: list[str]
    temperature: str | None
    created_at: datetime
    targeted: bool | None = None
    source: str = "api"
    personal_data: str = "present"  # "erased" after a privacy request: contact keeps only the geography
