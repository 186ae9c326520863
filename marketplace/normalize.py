"""Contact normalization: phones to E.164 (phonenumbers), e-mails checked and lower-cased, names trimmed.

Each function returns the normalized value or raises ValueError with a human reason. `phone_type`
answers what kind of line a normalized number is; the fraud screen asks it of the number
validation has just read, so it remembers the answer instead of parsing the number again.
"""

from __future__ import annotations

import re
import threading
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS) - {"001"}
_SPACES = re.compile(r"\s+")


def clean_text(value: str) -> str:
    """NFC, trimmed, inner runs of white space folded to one space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def country(value: str) -> str:
    code = value.strip().upper()
    if code not in COUNTRIES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code such as \"US\"")
    return code


def phone(value: str, country_code: str | None) -> str:
    """A number as written by a person, read in the lead's country unless it starts with +."""
    try:
        number = phonenumbers.parse(value, country_code)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number") from None
    # A number is valid exactly when its region's metadata gives it a type (phonenumbers'
    # `is_valid_number` is that test), so one lookup both validates and classifies it.
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        where = f" for {country_code}" if country_code and not value.strip().startswith("+") else ""
        raise ValueError(f"is not a valid phone number{where}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    _PHONE_TYPES.remember(e164, kind)
    return e164


def phone_type(e164: str) -> int:
    """The `PhoneNumberType` of a number in E.164 (UNKNOWN when it is not a valid number)."""
    kind = _PHONE_TYPES.get(e164)
    if kind is None:
        try:
            kind = phonenumbers.number_type(phonenumbers.parse(e164, None))
        except phonenumbers.NumberParseException:
            kind = phonenumbers.PhoneNumberType.UNKNOWN
        _PHONE_TYPES.remember(e164, kind)
    return kind


class _Recent:
    """The answers for the last few hundred numbers: enough for the batches being decided, and few
    enough that the process does not keep a long list of people's numbers."""

    def __init__(self, size: int) -> None:
        self._size, self._items, self._lock = size, dict[str, int](), threading.Lock()

    def get(self, key: str) -> int | None:
        return self._items.get(key)

    def remember(self, key: str, value: int) -> None:
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()  # start over: cheaper than tracking age, and it is only a cache
            self._items[key] = value


_PHONE_TYPES = _Recent(256)


def email(value: str) -> str:
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid e-mail address{_reason_without(str(exc), value)}") from None
    return result.normalized.lower()


def _reason_without(reason: str, value: str) -> str:
    """": <reason>" unless the reason quotes a piece of the address: an error names the field and
    why, never the person's data."""
    pieces = [piece for piece in re.split(r"[@.\s]+", value.casefold()) if len(piece) >= 3]
    return "" if any(piece in reason.casefold() for piece in pieces) else f": {reason}"


def person_name(value: str) -> str:
    name = clean_text(value)
    if not name:
        raise ValueError("must not be empty")
    if len(name) > 100:
        raise ValueError("must be at most 100 characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ValueError("must not contain control characters")
    return name
