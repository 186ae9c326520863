"""Fuzzy person matching: blocking keys and the judgement of a pair of people. No database here.

Intake (through `marketplace.fuzzy_dedupe`) and `leadmarket dedupe` (`marketplace.person_batch`) use
the same `normalize_person` (`marketplace.person_normalize`), `blocking_keys` and `judge`, so the
command line answers what intake would.

How a pair is judged (`judge`), field by field, then summed like Fellegi-Sunter log-odds:

* Names are compared as tokens, accent-folded and lower-cased. First names agree when equal, when one
  is a nickname of the other (Jon/John, Bill/William, Bob/Robert: the `nicknames` list), when one is a
  truncation or initial of the other, or within a typo (Jaro-Winkler >= 0.92, or one edit or one
  transposition on names of four letters or more). First and last name swapped between the records
  count as agreeing.
* Two different first names mean two people (a household: spouses, siblings, twins). "Different" is
  far apart in spelling, or both known given names that are neither nicknames nor spelling variants
  of each other (John/Joan, Tom/Tim: one letter apart, yet two people).
* A different birth date means two people (parent and child of one name, siblings). Not different:
  day and month swapped, or one digit mistyped, or two neighbouring digits transposed.
* A changed house number in the same street (and postcode) still counts for the person; a different
  street or postcode counts a little against (people move), phone and e-mail likewise (people change
  them). Agreeing phones (also with one digit wrong or two swapped) and e-mails weigh a lot.
* Verdict: `match` when the sum reaches MATCH_SCORE, something personal agrees (first name, birth
  date, phone or e-mail) and a birth date, phone, e-mail or street address agrees besides the names;
  `weak` from WEAK_SCORE with that last condition; otherwise `different`. One name in one postcode
  or city is never enough: common names repeat there. A typo'd first name (not exact, not a
  nickname) with no birth date, phone or e-mail agreeing stays `weak`: in one household that is as
  likely John and Joan as one person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import jellyfish
from nicknames import NickNamer
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

from marketplace.person_normalize import PERSON_FIELDS, Name, Person, normalize_person

__all__ = ["DIFFERENT", "MATCH", "PERSON_FIELDS", "WEAK", "Judgement", "Person", "best_match", "blocking_keys",
           "judge", "normalize_person"]

MATCH, WEAK, DIFFERENT = "match", "weak", "different"
MATCH_SCORE = 11.0
WEAK_SCORE = 8.0

# Agreement levels for names, worst to best.
MISSING, NAME_DIFFERENT, NAME_SIMILAR, INITIAL, PREFIX, CLOSE, NICKNAME, EXACT = range(-1, 7)
NAME_LEVELS = {NAME_DIFFERENT: "different", NAME_SIMILAR: "similar", INITIAL: "initial", PREFIX: "truncated",
               CLOSE: "typo", NICKNAME: "nickname", EXACT: "exact"}
FIRST_WEIGHT = {NAME_DIFFERENT: -4.0, NAME_SIMILAR: 0.0, INITIAL: 1.0, PREFIX: 2.0, CLOSE: 2.5, NICKNAME: 3.5,
                EXACT: 4.0}
LAST_WEIGHT = {NAME_DIFFERENT: -2.5, NAME_SIMILAR: 0.5, INITIAL: 0.5, PREFIX: 2.0, CLOSE: 3.0, NICKNAME: 3.0,
               EXACT: 4.5}
DOB_WEIGHT = {"exact": 6.0, "swapped": 4.0, "typo": 3.5, "unreadable": 0.0, "different": -6.0}
PHONE_WEIGHT = {"exact": 6.0, "typo": 3.5, "different": -1.5}
EMAIL_WEIGHT = {"exact": 7.0, "local": 4.0, "close": 2.5, "different": -0.5}
ADDRESS_WEIGHT = {"same": 3.0, "close": 2.0, "number_changed": 1.0, "number_only": 0.0, "different": -1.5}
POSTCODE_WEIGHT = {"exact": 2.5, "close": 1.0, "different": -1.5}
CITY_WEIGHT = {"same": 1.0, "different": -0.5}
REGION_WEIGHT = {"same": 0.3, "different": -0.5}
COUNTRY_WEIGHT = {"same": 0.0, "different": -4.0}

_NICKNAMES = NickNamer()
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: str  # MATCH, WEAK or DIFFERENT
    score: float
    reasons: tuple[str, ...]


def blocking_keys(person: Person) -> list[str]:
    """Keys under which a person is filed and looked up; a candidate is anyone sharing one key.

    Several keys, each from other fields, so that a typo, a missing value or swapped names in one
    field leaves at least one key intact. Name codes are phonetic (metaphone) and used as a sorted
    pair, so first and last name may be swapped; birth dates use the sorted day/month.
    """
    names = sorted({c for c in (person.first.code, person.last.code) if c})
    dob = person.dob_key
    keys: list[str] = []
    if dob:
        keys += [f"cd|{code}|{dob}" for code in names]
        if person.postcode:
            keys.append(f"dp|{dob}|{person.postcode}")
        if person.house:
            keys.append(f"dh|{dob}|{person.house[0]}")
    if person.postcode:
        keys += [f"cp|{code}|{person.postcode}" for code in names]
        if person.house and person.street_flat:
            keys.append(f"ad|{person.postcode}|{person.house[0]}|{person.street_flat[:4]}")
    if person.city and person.first.code and person.last.code:
        # one name's code with the other's initial: a typo in a name or a postcode still meets here,
        # and the initial keeps a big city's bucket small
        city = person.city.replace(" ", "")
        keys += [f"cc|{person.first.code}|{person.last.joined[0]}|{city}",
                 f"cc|{person.last.code}|{person.first.joined[0]}|{city}"]
    if len(names) == 2:
        pair = "|".join(names)
        if person.street_flat:
            keys.append(f"ns|{pair}|{person.street_flat[:4]}")
        if dob:
            keys.append(f"ny|{pair}|{dob[:4]}")
    if person.phone:
        keys.append(f"ph|{person.phone}")
    if len(person.email_local) >= 3:
        keys.append(f"em|{person.email_local}")
    return keys


# --- comparing one field ----------------------------------------------------------------------

@lru_cache(maxsize=65536)
def _nickname_group(name: str) -> frozenset[str]:
    return frozenset(_NICKNAMES.canonicals_of(name))


@lru_cache(maxsize=1)
def _known_given_names() -> frozenset[str]:
    names: set[str] = set()
    for canonical, nicks in _NICKNAMES.nickname_lookup.items():
        names.add(canonical)
        names.update(nicks)
    return frozenset(n for n in names if " " not in n)


def _is_nickname(a: str, b: str) -> bool:
    """One is a nickname of the other, or both of one full name (Jon and Johnny of John). The list
    also runs backwards (Bill "has nickname" William), so a shared name shorter than both (Bill, of
    William and Robert) does not join two names."""
    if a in _NICKNAMES.nicknames_of(b) or b in _NICKNAMES.nicknames_of(a):
        return True
    shortest = min(len(a), len(b))
    return any(len(shared) >= shortest for shared in _nickname_group(a) & _nickname_group(b))


def _spelling_variant(a: str, b: str) -> bool:
    """Sara/Sarah, Phillip/Philip, Anne/Ann, Catherine/Katherine: one name spelled two ways, where
    Jon/Joan or Tom/Tim are two names."""
    if len(a) == len(b) and OSA.distance(a, b) == 1 and Levenshtein.distance(a, b) == 2:
        return True  # two neighbouring letters swapped: Ian/Ina is a slip, not a sister
    short, long = (a, b) if len(a) < len(b) else (b, a)
    if len(long) == len(short) + 1:
        for i, ch in enumerate(long):
            if long[:i] + long[i + 1:] == short and (ch == "h" or (ch == "e" and i == len(short))
                                                      or (i and long[i - 1] == ch)):
                return True
    return min(len(a), len(b)) >= 5 and jellyfish.metaphone(a) == jellyfish.metaphone(b)


@lru_cache(maxsize=1 << 18)
def _token_level(a: str, b: str, *, given: bool) -> int:
    if a == b:
        return EXACT
    if given and _is_nickname(a, b):
        return NICKNAME
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) == 1:
        return INITIAL if long[0] == short else NAME_DIFFERENT
    if len(short) >= 3 and long.startswith(short):
        return PREFIX
    if given and short in _known_given_names() and long in _known_given_names() and not _spelling_variant(a, b):
        return NAME_DIFFERENT
    edits = OSA.distance(a, b)
    similarity = JaroWinkler.similarity(a, b)
    if len(short) >= 4 and (edits == 1 or similarity >= 0.92):
        return CLOSE
    if edits == 1 or similarity >= 0.84 or (len(short) >= 6 and edits == 2):
        return NAME_SIMILAR
    if len(short) >= 4 and a[0] == b[0] and jellyfish.metaphone(a) == jellyfish.metaphone(b):
        return NAME_SIMILAR
    return NAME_DIFFERENT


def name_level(a: Name, b: Name, *, given: bool) -> int:
    """How well two names agree; a middle name matching counts at most as CLOSE."""
    if not a.tokens or not b.tokens:
        return MISSING
    if a.joined == b.joined:
        return EXACT
    best = _token_level(a.tokens[0], b.tokens[0], given=given)
    if len(a.tokens) > 1 or len(b.tokens) > 1:
        best = max(best, min(_token_level(a.joined, b.joined, given=False), CLOSE))
        for i, x in enumerate(a.tokens):
            for j, y in enumerate(b.tokens):
                if (i or j) and min(len(x), len(y)) > 1:
                    best = max(best, min(_token_level(x, y, given=given), CLOSE))
    return best


def _dob_level(a: str, b: str) -> str:
    if a == b:
        return "exact"
    if len(a) == len(b) == 8 and a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]:
        return "swapped"
    if OSA.distance(a, b) <= 1 or (len(b) == 8 and OSA.distance(a, b[:4] + b[6:8] + b[4:6]) <= 1):
        return "typo"
    # Only two dates read as dates (eight digits) are "another birth date"; a date written in a way
    # we could not read (two-digit years, stray digits) tells nothing either way.
    return "different" if len(a) == len(b) == 8 else "unreadable"


def _address_level(a: Person, b: Person) -> str:
    numbers_same = bool(set(a.house) & set(b.house)) if a.house and b.house else None
    street = 0.0
    if a.street_flat and b.street_flat:
        street = max(fuzz.ratio(a.street_flat, b.street_flat), fuzz.token_sort_ratio(a.street, b.street))
        if min(len(a.street_flat), len(b.street_flat)) >= 5:
            street = max(street, fuzz.token_set_ratio(a.street, b.street))
    if street >= 88:
        return "number_changed" if numbers_same is False else "same"
    if street >= 72 and numbers_same is not False:
        return "close"
    if numbers_same and (not a.street_flat or not b.street_flat or street >= 50):
        return "number_only"
    return "different"


def _postcode_level(a: str, b: str) -> str:
    if a == b:
        return "exact"
    return "close" if OSA.distance(a, b) == 1 else "different"


def _phone_level(a: str, b: str) -> str:
    if a == b:
        return "exact"
    return "typo" if len(a) == len(b) and OSA.distance(a, b) == 1 else "different"


def _email_level(a: Person, b: Person) -> str:
    if a.email_local == b.email_local:
        return "exact" if a.email_domain == b.email_domain else ("local" if len(a.email_local) >= 4 else "different")
    if a.email_domain == b.email_domain and JaroWinkler.similarity(a.email_local, b.email_local) >= 0.93:
        return "close"
    return "different"


# --- judging a pair ---------------------------------------------------------------------------

def _names(a: Person, b: Person) -> tuple[int, int, bool]:
    first = name_level(a.first, b.first, given=True)
    last = name_level(a.last, b.last, given=False)
    if a.first.tokens and a.last.tokens and b.first.tokens and b.last.tokens and (first < CLOSE or last < CLOSE):
        first_x = name_level(a.first, b.last, given=False)
        last_x = name_level(a.last, b.first, given=False)
        if max(first_x, last_x) >= CLOSE and min(first_x, last_x) >= NAME_SIMILAR and \
                FIRST_WEIGHT[first_x] + LAST_WEIGHT[last_x] > \
                FIRST_WEIGHT[first] + LAST_WEIGHT[last]:
            return first_x, last_x, True
    return first, last, False


def judge(a: Person, b: Person) -> Judgement:
    """Are `a` and `b` one person? The rules are in the module docstring. A pair that a household
    rule separates is answered at once, its score counting only the fields read so far."""
    reasons: list[str] = []
    score = 0.0
    first, last, swapped = _names(a, b)
    if swapped:
        reasons.append("names_swapped")
    if first != MISSING:
        score += FIRST_WEIGHT[first]
        reasons.append(f"first_name:{NAME_LEVELS[first]}")
    if last != MISSING:
        score += LAST_WEIGHT[last]
        reasons.append(f"last_name:{NAME_LEVELS[last]}")
    # Household and family rules: another first name, another birth date, Jr/Sr -> two people.
    if first == NAME_DIFFERENT:
        return Judgement(DIFFERENT, score, (*reasons, "another_first_name"))
    dob = _dob_level(a.dob, b.dob) if a.dob and b.dob else None
    if dob is not None:
        score += DOB_WEIGHT[dob]
        reasons.append(f"date_of_birth:{dob}")
        if dob == "different":
            return Judgement(DIFFERENT, score, (*reasons, "another_date_of_birth"))
    if a.suffix and b.suffix and a.suffix != b.suffix:
        return Judgement(DIFFERENT, score, (*reasons, "another_generation"))

    phone = _phone_level(a.phone, b.phone) if a.phone and b.phone else None
    if phone is not None:
        score += PHONE_WEIGHT[phone]
        reasons.append(f"phone:{phone}")
    email = _email_level(a, b) if a.email_local and b.email_local else None
    if email is not None:
        score += EMAIL_WEIGHT[email]
        reasons.append(f"email:{email}")
    contact = dob in ("exact", "swapped", "typo") or phone not in (None, "different") or email in ("exact", "local")
    strong_contact = dob in ("exact", "swapped") or phone == "exact" or email in ("exact", "local")
    # Something only this person has, beyond the names: an exact first name or nickname; a typo'd
    # first name needs a birth date, phone or e-mail agreeing, a merely similar one an exact one.
    if first in (EXACT, NICKNAME):
        personal = True
    else:
        personal = strong_contact if first in (NAME_SIMILAR, INITIAL) else contact
    other_agreement = contact
    if (a.house or a.street_flat) and (b.house or b.street_flat):
        address = _address_level(a, b)
        score += ADDRESS_WEIGHT[address]
        reasons.append(f"address:{address}")
        other_agreement |= address in ("same", "close", "number_changed")
    if a.postcode and b.postcode:
        score += POSTCODE_WEIGHT[_postcode_level(a.postcode, b.postcode)]
    if a.city and b.city:
        same_city = a.city == b.city or JaroWinkler.similarity(a.city, b.city) >= 0.9
        score += CITY_WEIGHT["same" if same_city else "different"]
    if a.region and b.region:
        score += REGION_WEIGHT["same" if a.region == b.region else "different"]
    if a.country and b.country:
        score += COUNTRY_WEIGHT["same" if a.country == b.country else "different"]

    if score >= MATCH_SCORE and personal and other_agreement:
        return Judgement(MATCH, score, tuple(reasons))
    if score >= WEAK_SCORE and other_agreement:
        return Judgement(WEAK, score, tuple(reasons))
    return Judgement(DIFFERENT, score, tuple(reasons))


_RANK = {MATCH: 2, WEAK: 1, DIFFERENT: 0}


def best_match(person: Person, candidates: Iterable[tuple[K, Person]]) -> tuple[K, Judgement] | None:
    """The candidate most likely the same person (match before weak, then score, then the earliest
    in the order given); None when every candidate is another person."""
    best: tuple[K, Judgement] | None = None
    for key, other in candidates:
        judgement = judge(person, other)
        if judgement.verdict == DIFFERENT:
            continue
        if best is None or (_RANK[judgement.verdict], judgement.score) > (_RANK[best[1].verdict], best[1].score):
            best = (key, judgement)
    return best
