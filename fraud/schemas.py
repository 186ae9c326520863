"""Fraud request and response shapes (msgspec), shared by the API and the portal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
import msgspec


class BlocklistCreate(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    value: str
    affiliate_id: int | None = None
    note: str | None = None


class BlocklistEntryView(msgspec.Struct):
    id: int
    kind: str
    value: str
    affiliate_id: int | None
    note: str | None
    created_by: str
    created_at: datetime


class TargetCondition(msgspec.Struct, forbid_unknown_fields=True):
    """One test a targeted lead passes: `field` is a vertical attribute or country/region/city/postal_code."""

    field: str
    one_of: list[str | int | float | bool] | None = None
    min: float | None = None
    max: float | None = None
    present: bool | None = None


class QualityRules(msgspec.Struct, forbid_unknown_fields=True):
    """How a vertical's leads get a temperature and a targeted flag; fraud/quality.py explains each."""

    intent_field: str | None = None
    hot_within_days: int = 30
    warm_within_days: int = 90
    hot_values: list[str] = []
    warm_values: list[str] = []
    engaged_form_seconds: int = 30
    complete_at: float = 0.75
    warm_at: int = 2
    hot_at: int = 4
    target_countries: list[str] = []
    target_conditions: list[TargetCondition] = []
    target_needs_consent: bool = True


class VerticalScreeningUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change; `quality_rules: null` goes back to the defaults."""

    review_at: int | msgspec.UnsetType = msgspec.UNSET
    reject_at: int | msgspec.UnsetType = msgspec.UNSET
    quality_rules: QualityRules | None | msgspec.UnsetType = msgspec.UNSET


class VerticalScreeningView(msgspec.Struct):
    vertical_id: int
    slug: str
    review_at: int
    reject_at: int
    quality_rules: QualityRules
    quality_rules_are_defaults: bool


class OfferScreeningUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change; `null` removes the override (the vertical's or default applies)."""

    review_at: int | None | msgspec.UnsetType = msgspec.UNSET
    reject_at: int | None | msgspec.UnsetType = msgspec.UNSET
    min_form_seconds: int | None | msgspec.UnsetType = msgspec.UNSET


class OfferScreeningView(msgspec.Struct):
    offer_id: int
    review_at: int | None
    reject_at: int | None
    min_form_seconds: int | None
    effective_review_at: int
    effective_reject_at: int
    effective_min_form_seconds: int


class ReviewLeadView(msgspec.Struct):
    lead_id: int
    offer_id: int
    affiliate_id: int
    vertical_id: int
    sub_ids: dict[str, str]
    country: str
    fraud_score: int | None
    fraud_reasons: list[str]
    temperature: str | None
    targeted: bool | None
    created_at: datetime


class ReviewDecisionBody(msgspec.Struct, forbid_unknown_fields=True):
    note: str | None = None


class ReviewOutcome(msgspec.Struct, omit_defaults=False):
    lead_id: int
    status: str
    reason: str | None
    payout: Decimal
    currency: str
    reviewed_by: str
    reviewed_at: datetime
    note: str | None = None


class AnomalyFlag(msgspec.Struct):
    metric: str
    rate: float
    baseline: float
    z: float


class AnomalyRow(msgspec.Struct, omit_defaults=False):
    affiliate_id: int
    sub1: str | None
    leads: int
    rejected: int
    rejection_rate: float
    rejection_rate_by_reason: dict[str, float]
    duplicate_rate: float
    review_rate: float
    return_rate: float | None
    conversion_rate: float | None
    flagged: bool
    flags: list[AnomalyFlag]


class AnomalyBaseline(msgspec.Struct, omit_defaults=False):
    leads: int
    rejection_rate: float
    rejection_rate_by_reason: dict[str, float]
    duplicate_rate: float
    review_rate: float
    return_rate: float | None
    conversion_rate: float | None


class AnomalyReport(msgspec.Struct, omit_defaults=False):
    since: datetime
    until: datetime
    min_leads: int
    z_threshold: float
    min_difference: float
    method: str
    notes: list[str]
    baseline: AnomalyBaseline
    groups: list[AnomalyRow]
