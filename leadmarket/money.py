"""Exact money: Decimal in code, integer minor units with a currency in the database."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from leadmarket.errors import FieldError, InvalidInput

MINOR_DIGITS = {"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "PLN": 2, "CHF": 2, "SEK": 2, "JPY": 0}
MAX_MINOR = 10**15


class InvalidAmount(InvalidInput):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__([FieldError(field, reason)])


def minor_digits(currency: str) -> int:
    try:
        return MINOR_DIGITS[currency]
    except KeyError:
        raise InvalidAmount("currency", f"unsupported currency {currency!r}") from None


def to_minor(amount: Decimal | str, currency: str, *, field: str = "amount", allow_negative: bool = False) -> int:
    """Decimal("12.50"), "USD" -> 1250; refuses amounts finer than the currency allows."""
    digits = minor_digits(currency)
    try:
        value = Decimal(amount) if not isinstance(amount, Decimal) else amount
    except (InvalidOperation, ValueError, TypeError):
        raise InvalidAmount(field, "must be a decimal amount such as \"12.50\"") from None
    if not value.is_finite():
        raise InvalidAmount(field, "must be a finite amount")
    if abs(value) >= Decimal(MAX_MINOR).scaleb(-digits):  # before quantize, which fails past 28 digits
        raise InvalidAmount(field, "is too large")
    if value != value.quantize(Decimal(1).scaleb(-digits)):
        raise InvalidAmount(field, f"has more than {digits} decimal places for {currency}")
    if value < 0 and not allow_negative:
        raise InvalidAmount(field, "must not be negative")
    minor = int(value.scaleb(digits))
    if abs(minor) >= MAX_MINOR:
        raise InvalidAmount(field, "is too large")
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    """1250, "USD" -> Decimal("12.50")."""
    digits = minor_digits(currency)
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def round_minor(value: Decimal) -> int:
    """Round a computed minor-unit amount once, half to even."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
