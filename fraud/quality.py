"""Lead quality: temperature (cold / warm / hot) and targeted (fits what the vertical's buyers sell).

The rules, with the defaults of `QualityRules` (a vertical may replace any of them):

Temperature counts points from what the person did and said:
  * consent given (text and time) ........................... +1
    no consent at all -> cold, whatever else (nobody may call them);
  * completeness: share of the optional fields filled (phone, e-mail, region, city, postal
    code, address, birth date and the vertical's optional attributes) >= `complete_at` (0.75) +1
  * time spent on the form >= `engaged_form_seconds` (30 s) .. +1
  * stated intent, read from `intent_field` (by default the first vertical field named
    purchase_date, start_date, move_date, purchase_timeframe or timeframe, or any other
    date field ending in `_date` but not a birth date):
      - a date within `hot_within_days` (30) from the lead's day, or a value in `hot_values` +2
      - a date within `warm_within_days` (90), or a value in `warm_values` ................ +1
      - a date in the past or further out, or another value ................................ 0
  hot  = points >= `hot_at` (4) AND the stated intent is near (no one is hot without saying so);
  warm = points >= `warm_at` (2); cold otherwise.

Targeted = consent given (when `target_needs_consent`), the lead's country in
`target_countries` (when any are listed), and every `target_conditions` entry holds for its
field (`one_of` a list, within `min`/`max`, or `present`). With no conditions listed every
consented lead is targeted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import msgspec

from fraud.schemas import QualityRules, TargetCondition
from leadmarket.errors import FieldError, InvalidInput
from marketplace import normalize
from marketplace.models import Lead, Vertical

DEFAULT_RULES = QualityRules()
INTENT_FIELD_NAMES = ("purchase_date", "start_date", "move_date", "purchase_timeframe", "timeframe")
CONTACT_EXTRAS = ("email", "phone", "region", "city", "postal_code", "address", "date_of_birth")
CONTACT_TARGET_FIELDS = ("country", "region", "city", "postal_code")


@dataclass(frozen=True)
class Quality:
    temperature: str
    targeted: bool
    points: int
    intent: str | None  # "hot", "warm", "far" or None when no intent was stated


def rules_for(vertical: Vertical) -> QualityRules:
    if not vertical.quality_rules:
        return DEFAULT_RULES
    return msgspec.convert(vertical.quality_rules, QualityRules)


def intent_field(vertical: Vertical, rules: QualityRules) -> dict[str, Any] | None:
    specs = {spec["name"]: spec for spec in vertical.fields}
    if rules.intent_field is not None:
        return specs.get(rules.intent_field)
    for name in INTENT_FIELD_NAMES:
        if name in specs:
            return specs[name]
    return next((s for s in vertical.fields if s["type"] == "date" and s["name"].endswith("_date")
                 and "birth" not in s["name"]), None)


def _intent(lead: Lead, spec: dict[str, Any] | None, rules: QualityRules, today: date) -> str | None:
    if spec is None:
        return None
    value = lead.attributes.get(spec["name"])
    if value is None:
        return None
    if spec["type"] == "date":
        days = (date.fromisoformat(value) - today).days
        if 0 <= days <= rules.hot_within_days:
            return "hot"
        if 0 <= days <= rules.warm_within_days:
            return "warm"
        return "far"
    text = str(value)
    if text in rules.hot_values:
        return "hot"
    if text in rules.warm_values:
        return "warm"
    return "far"


def completeness(lead: Lead, vertical: Vertical) -> float:
    optional = [s["name"] for s in vertical.fields if not s.get("required")]
    filled = sum(getattr(lead, name) is not None for name in CONTACT_EXTRAS)
    filled += sum(lead.attributes.get(name) not in (None, "") for name in optional)
    return filled / (len(CONTACT_EXTRAS) + len(optional))


def _has_consent(lead: Lead) -> bool:
    return bool(lead.consent and lead.consent.get("text") and lead.consent.get("given_at"))


def _field_value(lead: Lead, field: str) -> Any:
    return getattr(lead, field) if field in CONTACT_TARGET_FIELDS else lead.attributes.get(field)


def condition_holds(lead: Lead, condition: TargetCondition) -> bool:
    value = _field_value(lead, condition.field)
    if condition.present is not None and (value is not None) != condition.present:
        return False
    if condition.one_of is not None and (value is None or str(value) not in {str(v) for v in condition.one_of}):
        return False
    if condition.min is not None or condition.max is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if condition.min is not None and value < condition.min:
            return False
        if condition.max is not None and value > condition.max:
            return False
    return True


def classify(lead: Lead, vertical: Vertical, now: datetime) -> Quality:
    rules = rules_for(vertical)
    consent = _has_consent(lead)
    intent = _intent(lead, intent_field(vertical, rules), rules, now.date())
    points = int(consent)
    points += completeness(lead, vertical) >= rules.complete_at
    form_seconds = (lead.meta or {}).get("form_seconds")
    points += form_seconds is not None and form_seconds >= rules.engaged_form_seconds
    points += {"hot": 2, "warm": 1}.get(intent or "", 0)
    if not consent:
        temperature = "cold"
    elif points >= rules.hot_at and intent == "hot":
        temperature = "hot"
    elif points >= rules.warm_at:
        temperature = "warm"
    else:
        temperature = "cold"
    targeted = ((consent or not rules.target_needs_consent)
                and (not rules.target_countries or lead.country in rules.target_countries)
                and all(condition_holds(lead, c) for c in rules.target_conditions))
    return Quality(temperature=temperature, targeted=bool(targeted), points=points, intent=intent)


def check_rules(rules: QualityRules, vertical: Vertical) -> QualityRules:
    """The rules if they make sense for this vertical; else InvalidInput naming every problem."""
    errors: list[FieldError] = []
    at = "quality_rules"
    specs = {spec["name"]: spec for spec in vertical.fields}
    if rules.intent_field is not None:
        spec = specs.get(rules.intent_field)
        if spec is None:
            errors.append(FieldError(f"{at}.intent_field", f"is not a field of the {vertical.slug} vertical"))
        elif spec["type"] not in ("date", "choice", "string"):
            errors.append(FieldError(f"{at}.intent_field", "must be a date, choice or string field"))
    if not 0 <= rules.hot_within_days <= rules.warm_within_days <= 3650:
        errors.append(FieldError(f"{at}.hot_within_days",
                                 "must satisfy 0 <= hot_within_days <= warm_within_days <= 3650"))
    if not 0 <= rules.engaged_form_seconds <= 86400:
        errors.append(FieldError(f"{at}.engaged_form_seconds", "must be between 0 and 86400"))
    if not 0.0 <= rules.complete_at <= 1.0:
        errors.append(FieldError(f"{at}.complete_at", "must be a share between 0 and 1"))
    if not 0 <= rules.warm_at <= rules.hot_at <= 5:
        errors.append(FieldError(f"{at}.warm_at",
                                 "must satisfy 0 <= warm_at <= hot_at <= 5 (the most points a lead gets)"))
    countries = []
    for i, code in enumerate(rules.target_countries):
        try:
            countries.append(normalize.country(code))
        except ValueError as exc:
            errors.append(FieldError(f"{at}.target_countries[{i}]", str(exc)))
    for i, condition in enumerate(rules.target_conditions):
        if condition.field not in specs and condition.field not in CONTACT_TARGET_FIELDS:
            errors.append(FieldError(f"{at}.target_conditions[{i}].field",
                                     f"is not a field of the {vertical.slug} vertical nor a contact place field"))
        if condition.one_of is None and condition.min is None and condition.max is None and condition.present is None:
            errors.append(FieldError(f"{at}.target_conditions[{i}]", "give one_of, min, max or present"))
        if condition.min is not None and condition.max is not None and condition.min > condition.max:
            errors.append(FieldError(f"{at}.target_conditions[{i}].min", "must not be greater than max"))
    if errors:
        raise InvalidInput(errors)
    return msgspec.structs.replace(rules, target_countries=countries)
