"""Small shared field checks for account data (names, e-mails, URLs)."""

from __future__ import annotations

from urllib.parse import urlsplit

from leadmarket.errors import FieldError


def check_name(value: str, field: str = "name", limit: int = 200) -> FieldError | None:
    if not value.strip() or len(value) > limit:
        return FieldError(field, f"must be 1 to {limit} characters")
    return None


def check_http_url(value: str, field: str) -> FieldError | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000:
        return FieldError(field, "must be an http(s) URL of at most 2000 characters")
    return None
