"""Screening rules. Each module looks at one side of a lead and returns `Signal`s: a reason code
and the points it adds to the fraud score (fraud/screen.py adds them up, capped at 100).

Weights are chosen against the default thresholds (review at 40, reject at 70): a signal that
alone means "a person should look" weighs 40-60, one that alone means "not a real lead" 70+,
a weak hint 10-35 (it only matters together with others).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Signal:
    code: str
    weight: int


def codes(signals: list[Signal]) -> set[str]:
    return {s.code for s in signals}
