"""A vertical's field schema: which field types exist, how a definition is checked, how a value is."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from leadmarket.errors import FieldError

FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "choice")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_STRING = 2000


def check_definitions(fields: list[dict[str, Any]], path: str = "fields") -> list[FieldError]:
    """Every problem in a vertical's field list, each named by its path (`fields[2].max`)."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, spec in enumerate(fields):
        at = f"{path}[{i}]"
        name, kind = spec.get("name"), spec.get("type")
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            errors.append(FieldError(f"{at}.name", "must be lower-case letters, digits and _ starting with a letter"))
        elif name in seen:
            errors.append(FieldError(f"{at}.name", f"duplicates field {name!r}"))
        else:
            seen.add(name)
        if kind not in FIELD_TYPES:
            errors.append(FieldError(f"{at}.type", f"must be one of {', '.join(FIELD_TYPES)}"))
        choices = spec.get("choices")
        if kind == "choice" and not choices:
            errors.append(FieldError(f"{at}.choices", "a choice field needs at least one choice"))
        if choices is not None and (not isinstance(choices, list) or len(set(map(str, choices))) != len(choices)
                                    or any(not isinstance(c, str) or not c for c in choices)):
            errors.append(FieldError(f"{at}.choices", "must be a list of distinct non-empty strings"))
        low, high = spec.get("min"), spec.get("max")
        if (low is not None or high is not None) and kind not in ("integer", "number", "string"):
            errors.append(FieldError(f"{at}.min", "min and max apply to integer, number and string fields"))
        if low is not None and high is not None and low > high:
            errors.append(FieldError(f"{at}.min", "must not be greater than max"))
    return errors


def check_value(spec: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    """The value as stored, or a human reason why it is not acceptable for this field."""
    kind, low, high = spec["type"], spec.get("min"), spec.get("max")
    if kind == "string":
        if not isinstance(value, str):
            return None, "must be a string"
        value = value.strip()
        if len(value) > (high if high is not None else MAX_STRING):
            return None, f"must be at most {high if high is not None else MAX_STRING} characters"
        if low is not None and len(value) < low:
            return None, f"must be at least {low} characters"
        if spec.get("choices") and value not in spec["choices"]:
            return None, f"must be one of {', '.join(spec['choices'])}"
        return value, None
    if kind == "choice":
        if not isinstance(value, str) or value not in spec["choices"]:
            return None, f"must be one of {', '.join(spec['choices'])}"
        return value, None
    if kind == "boolean":
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if kind == "date":
        if not isinstance(value, str):
            return None, "must be a date such as \"2026-01-31\""
        try:
            return date.fromisoformat(value).isoformat(), None
        except ValueError:
            return None, "must be a date such as \"2026-01-31\""
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                return None, "must be a whole number"
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None, "must be a number"
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None, "must be a number"
        if not number.is_finite():
            return None, "must be a finite number"
        value = int(number) if number == number.to_integral_value() else float(number)
    if low is not None and value < low:
        return None, f"must be at least {low}"
    if high is not None and value > high:
        return None, f"must be at most {high}"
    return value, None
