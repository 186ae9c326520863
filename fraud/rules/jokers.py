"""Jokers and test data: "Test Test", "asdf", one key held down, digits in a name, 555 numbers.

Names are compared case-folded and without accents' case; a "run" is four or more letters in
keyboard or alphabet order. Each check is written so that real names stay clean: no real
given name or surname is a keyboard run of four, three equal letters in a row, or has digits.
"""

from __future__ import annotations

import re
import unicodedata

from fraud.rules import Signal
from marketplace.models import Lead

NAME_TEST = Signal("name_test", 60)
NAME_KEYBOARD = Signal("name_keyboard_run", 50)
NAME_REPEATED = Signal("name_repeated_char", 50)
NAME_SAME = Signal("name_first_equals_last", 40)
NAME_DIGITS = Signal("name_digits", 40)
PHONE_FAKE = Signal("phone_fake", 70)

TEST_NAMES = frozenset({
    "test", "tester", "testing", "asdf", "qwerty", "fake", "dummy", "sample", "example", "none", "null", "nobody",
    "unknown", "na", "n/a", "xxx", "xx", "abc", "foo", "bar", "foobar", "lorem", "ipsum", "blah", "noname",
})
PLACEHOLDER_PEOPLE = frozenset({("john", "doe"), ("jane", "doe"), ("john", "smith test"), ("max", "mustermann"),
                                ("erika", "mustermann")})
# Keyboard rows (QWERTY, QWERTZ, AZERTY) both ways, and the alphabet. Four keys from a row's
# edge ("asdf", "qwer", "poiu") or any five in a row ("werty") are a mash; four from the middle
# are not ("erty" is in Doherty, "reza" in Tereza), nor is any alphabet run shorter than five
# but "abcd".
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "qwertzuiop", "yxcvbnm", "azertyuiop", "qsdfghjklm", "wxcvbn",
         "abcdefghijklmnopqrstuvwxyz")
KEYBOARD_RUNS = frozenset(
    row[i:i + 5] for base in _ROWS for row in (base, base[::-1]) for i in range(len(row) - 4)
) | {"qwer", "asdf", "zxcv", "poiu", "lkjh", "mnbv", "abcd"}
# any of the runs, found by one search in C (longest first, as `in` would find any of them)
_KEYBOARD = re.compile("|".join(re.escape(run) for run in sorted(KEYBOARD_RUNS, key=len, reverse=True)))
_REPEAT = re.compile(r"([a-z])\1{2,}")
_DIGIT = re.compile(r"\d")
_ROMAN = re.compile(r"^(ii|iii|iv|vi|vii|viii)$")
_WORD = re.compile(r"[^\W\d_]+|\d+")


def _fold(name: str) -> str:
    stripped = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in stripped if not unicodedata.combining(ch))


def name_signals(first_name: str, last_name: str) -> list[Signal]:
    first, last = _fold(first_name).strip(), _fold(last_name).strip()
    signals: set[Signal] = set()
    for name in (first, last):
        words = _WORD.findall(name)
        if name in TEST_NAMES or any(w in TEST_NAMES for w in words):
            signals.add(NAME_TEST)
        for word in words:
            if _KEYBOARD.search(word):
                signals.add(NAME_KEYBOARD)
            if _ROMAN.match(word):
                continue  # "Koch III"
            # "aaa", "xx"; not the doubled CJK given names (婷婷) nor Thai spellings.
            if _REPEAT.search(word) or (len(word) >= 2 and len(set(word)) == 1 and word.isascii()):
                signals.add(NAME_REPEATED)
        if _DIGIT.search(name):
            signals.add(NAME_DIGITS)
    if first and first == last:
        signals.add(NAME_SAME)
    if (first, last) in PLACEHOLDER_PEOPLE:
        signals.add(NAME_TEST)
    return sorted(signals, key=lambda s: (-s.weight, s.code))


def _longest_step_run(digits: str, step: int) -> int:
    """The longest stretch where each digit is the previous one plus `step` (mod 10)."""
    best = run = 1
    for a, b in zip(digits, digits[1:]):
        run = run + 1 if (int(a) + step) % 10 == int(b) else 1
        best = max(best, run)
    return best


def phone_is_fake(e164: str) -> bool:
    """Reserved fiction numbers and keyboard-mash numbers that still pass as valid.

    North America: exchange 555 (555-0100..0199 is reserved for fiction; the rest of 555 is
    directory services, never a person's line). Anywhere: seven equal digits, or seven digits
    counting up or down (1234567, 456-7890), in the national number.
    """
    if e164.startswith("+1") and len(e164) == 12 and e164[5:8] == "555":
        return True
    national = e164[1:]
    # Drop the country code's digits loosely: runs are long enough that it does not matter.
    if re.search(r"(\d)\1{6}", national):
        return True
    return _longest_step_run(national, 1) >= 7 or _longest_step_run(national, -1) >= 7


def check(lead: Lead) -> list[Signal]:
    signals = name_signals(lead.first_name, lead.last_name)
    if lead.phone and phone_is_fake(lead.phone):
        signals.append(PHONE_FAKE)
    return signals
