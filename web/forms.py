"""Portal forms: the body annotation, and turning a domain `InvalidInput` into errors shown
beside each field (the validators are the domain's; the portal never re-implements one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar.params import MultipartBody, URLEncodedBody

from leadmarket.errors import FieldError, InvalidInput

FormBody = URLEncodedBody[dict[str, Any]]
UploadBody = MultipartBody[dict[str, Any]]


@dataclass
class FormState:
    """What a form shows: the values typed (so nothing is lost on an error) and each field's error."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def failed(cls, values: dict[str, Any], exc: InvalidInput) -> FormState:
        return cls(values=dict(values), errors=field_errors(exc))

    def value(self, name: str, default: Any = "") -> Any:
        return self.values.get(name, default)

    @property
    def general_errors(self) -> list[str]:
        """Errors whose field the form does not show (shown above the form instead)."""
        return [f"{name}: {reason}" if name else reason for name, reason in self.errors.items()
                if name.startswith("_")]


def field_errors(exc: InvalidInput) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors:
        errors.setdefault(error.field, error.reason)
    return errors


def text(values: dict[str, Any], name: str) -> str:
    raw = values.get(name, "")
    if isinstance(raw, list):
        raw = raw[-1] if raw else ""
    return str(raw).strip()


def many(values: dict[str, Any], name: str) -> list[str]:
    """A repeated field (checkboxes, multi-selects) as a list, whatever the parser gave."""
    raw = values.get(name)
    if raw is None or raw == "":
        return []
    return [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]


def optional_int(values: dict[str, Any], name: str, errors: list[FieldError]) -> int | None:
    raw = text(values, name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors.append(FieldError(name, "must be a whole number"))
        return None


def optional_decimal(values: dict[str, Any], name: str, errors: list[FieldError]) -> Decimal | None:
    raw = text(values, name).replace(",", "")
    if not raw:
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        errors.append(FieldError(name, "must be an amount like 12.50"))
        return None
    if not amount.is_finite():
        errors.append(FieldError(name, "must be an amount like 12.50"))
        return None
    return amount


def checkbox(values: dict[str, Any], name: str) -> bool:
    return text(values, name).lower() in ("on", "true", "1", "yes")
