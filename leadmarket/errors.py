"""Kinds of failure every domain raises; HTTP status codes are chosen in api/errors.py."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """A failure a caller can act on; its message is safe to show (no contact data, no secrets)."""


class NotFound(DomainError):
    """Does not exist, or exists but is not the caller's."""


class Conflict(DomainError):
    """The request clashes with the current state."""


class NotAuthenticated(DomainError):
    """No credentials, or credentials we do not know."""


class PermissionDenied(DomainError):
    """Known caller, wrong role for this action."""


class ServiceUnavailable(DomainError):
    """A dependency is down; the caller may retry later."""


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


class InvalidInput(DomainError):
    """One or more fields are wrong; `errors` lists every one with its reason."""

    def __init__(self, errors: list[FieldError] | FieldError, message: str = "Validation failed") -> None:
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__(message)

    @classmethod
    def one(cls, field: str, reason: str) -> InvalidInput:
        return cls([FieldError(field, reason)])
