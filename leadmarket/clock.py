"""The one source of the current time: aware UTC, always."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
