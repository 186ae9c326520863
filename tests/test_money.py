"""Exact money (leadmarket/money.py): Decimal in code, integer minor units beside a currency in tables."""

from __future__ import annotations

from decimal import Decimal

import pytest

from leadmarket.errors import InvalidInput
from leadmarket.money import from_minor, round_minor, to_minor


@pytest.mark.parametrize(("amount", "currency", "minor"), [
    ("12.50", "USD", 1250), (Decimal("12.5"), "EUR", 1250), ("0", "GBP", 0), ("0.01", "USD", 1),
    ("12.5000", "USD", 1250), ("1e2", "USD", 10000), ("1250", "JPY", 1250), ("999999999.99", "USD", 99999999999),
])
def test_to_minor(amount, currency, minor):
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (1250, "USD", "12.50"), (1, "EUR", "0.01"), (0, "USD", "0.00"), (1250, "JPY", "1250"), (-705, "USD", "-7.05"),
])
def test_from_minor_keeps_the_currency_digits(minor, currency, text):
    assert str(from_minor(minor, currency)) == text


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY", "GBP"])
def test_round_trip(currency):
    for minor in (0, 1, 7, 99, 100, 101, 1250, 123456789, 10**14):
        assert to_minor(from_minor(minor, currency), currency) == minor
        assert to_minor(str(from_minor(minor, currency)), currency) == minor
    assert to_minor(from_minor(-1250, currency), currency, allow_negative=True) == -1250


@pytest.mark.parametrize(("amount", "currency", "reason"), [
    ("1.005", "USD", "has more than 2 decimal places for USD"),
    ("0.001", "EUR", "has more than 2 decimal places for EUR"),
    ("12.5", "JPY", "has more than 0 decimal places for JPY"),
    ("-1.00", "USD", "must not be negative"),
    ("NaN", "USD", "must be a finite amount"),
    ("Infinity", "USD", "must be a finite amount"),
    ("twelve", "USD", "must be a decimal amount such as \"12.50\""),
    ("1e13", "USD", "is too large"),
])
def test_refuses_amounts_it_cannot_hold_exactly(amount, currency, reason):
    with pytest.raises(InvalidInput) as refused:
        to_minor(amount, currency, field="payout")

    assert [(e.field, e.reason) for e in refused.value.errors] == [("payout", reason)]


def test_refuses_unknown_currency():
    with pytest.raises(InvalidInput) as refused:
        to_minor("1.00", "XYZ")
    assert refused.value.errors[0].field == "currency"
    with pytest.raises(InvalidInput):
        from_minor(100, "XYZ")


def test_round_minor_rounds_half_to_even_once():
    assert [round_minor(Decimal(v)) for v in ("2.5", "3.5", "-2.5", "2.4999", "2.5001")] == [2, 4, -2, 2, 3]


def test_money_never_passes_through_float():
    assert to_minor("0.10", "USD") + to_minor("0.20", "USD") == to_minor("0.30", "USD")
    assert from_minor(to_minor("0.10", "USD") + to_minor("0.20", "USD"), "USD") == Decimal("0.30")
    assert isinstance(from_minor(30, "USD"), Decimal)
