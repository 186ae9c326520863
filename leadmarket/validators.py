"""Small shared field checks for account data (names, e-mails, URLs)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec

from leadmarket.errors import FieldError, InvalidInput


def check_name(value: str, field: str = "name", limit: int = 200) -> FieldError | None:
    if not value.strip() or len(value) > limit:
        return FieldError(field, f"must be 1 to {limit} characters")
    return None


def nul_fields(value: Any, path: str = "") -> list[FieldError]:
    """Every string in a decoded body holding a NUL character (PostgreSQL text and JSONB cannot
    store one), named by its path (`contact.city`, `fields[0].choices[1]`)."""
    if not path and not _may_hold_nul(value):
        return []  # the common case, answered by one encode in C instead of a walk in Python
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)
    if isinstance(value, str):
        return [FieldError(path or "body", "must not contain NUL characters")] if "\x00" in value else []
    if isinstance(value, dict):
        return [e for key, item in value.items()
                for e in nul_fields(item, f"{path}.{key}" if path else str(key)) + nul_fields(key, path)]
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in nul_fields(item, f"{path}[{i}]")]
    return []


def _may_hold_nul(value: Any) -> bool:
    """False when JSON-encoding `value` shows no NUL (JSON writes it as an escape, in keys too)."""
    try:
        return b"\\u0000" in msgspec.json.encode(value)
    except (TypeError, msgspec.EncodeError):
        return True  # not JSON-shaped: let the walk decide


def reject_nul(value: Any) -> None:
    """Refuse a body the database could not store, before any query sees it."""
    if errors := nul_fields(value):
        raise InvalidInput(errors)


def check_http_url(value: str, field: str) -> FieldError | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000:
        return FieldError(field, "must be an http(s) URL of at most 2000 characters")
    return None
