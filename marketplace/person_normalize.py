"""Person records in comparable form: names folded and split, dates read, addresses and phones reduced.

`normalize_person` takes any mapping with some of PERSON_FIELDS (a CSV row, a lead's columns) and
never fails: what cannot be read is left empty, and an empty field simply takes no part in a match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import jellyfish

PERSON_FIELDS = ("first_name", "last_name", "date_of_birth", "address", "city", "postal_code", "region",
                 "country", "phone", "email")

_TITLES = frozenset("mr mrs ms miss mx dr prof sir dame rev fr".split())
_SUFFIXES = {"jr": "jr", "junior": "jr", "sr": "sr", "senior": "sr", "ii": "ii", "iii": "iii", "iv": "iv",
             "2nd": "ii", "3rd": "iii"}
_STREET_WORDS = {
    "street": "st", "str": "st", "road": "rd", "avenue": "ave", "av": "ave", "drive": "dr", "drv": "dr",
    "court": "ct", "crt": "ct", "crescent": "cres", "cr": "cres", "cresc": "cres", "place": "pl", "lane": "ln",
    "boulevard": "blvd", "circuit": "cct", "terrace": "tce", "parade": "pde", "highway": "hwy", "close": "cl",
    "square": "sq", "north": "n", "south": "s", "east": "e", "west": "w", "apartment": "apt", "suite": "ste",
    "village": "vlg", "vlge": "vlg", "mount": "mt", "circle": "cir", "parkway": "pkwy", "grove": "gr",
    "gardens": "gdns", "esplanade": "esp", "heights": "hts", "point": "pt", "route": "rte", "trail": "trl",
}
_UNIT_WORDS = frozenset("unit apt ste flat no number po box lot".split())
_REGIONS = {
    "new south wales": "nsw", "victoria": "vic", "queensland": "qld", "south australia": "sa",
    "western australia": "wa", "tasmania": "tas", "northern territory": "nt",
    "australian capital territory": "act", "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar",
    "california": "ca", "colorado": "co", "connecticut": "ct", "delaware": "de", "florida": "fl", "georgia": "ga",
    "hawaii": "hi", "idaho": "id", "illinois": "il", "indiana": "in", "iowa": "ia", "kansas": "ks",
    "kentucky": "ky", "louisiana": "la", "maine": "me", "maryland": "md", "massachusetts": "ma",
    "michigan": "mi", "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt",
    "nebraska": "ne", "nevada": "nv", "new hampshire": "nh", "new jersey": "nj", "new mexico": "nm",
    "new york": "ny", "north carolina": "nc", "north dakota": "nd", "ohio": "oh", "oklahoma": "ok",
    "oregon": "or", "pennsylvania": "pa", "rhode island": "ri", "south carolina": "sc", "south dakota": "sd",
    "tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa",
    "west virginia": "wv", "wisconsin": "wi", "wyoming": "wy", "district of columbia": "dc",
}
_NON_LETTERS = re.compile(r"[^a-z]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NON_DIGITS = re.compile(r"\D+")
# Digits inside a name are OCR confusions of letters (Ph1llips, 5mith).
_OCR_DIGITS = str.maketrans("0123456789", "olzeasgtbg")


@dataclass(frozen=True, slots=True)
class Name:
    tokens: tuple[str, ...]
    joined: str
    code: str  # phonetic code of the name (first token of a first name, whole last name)


@dataclass(frozen=True, slots=True)
class Person:
    """A person record in comparable form; any field may be missing (empty)."""

    first: Name
    last: Name
    suffix: str
    dob: str  # YYYYMMDD when it read as a date, else whatever digits were given
    house: tuple[str, ...]
    street: str
    street_flat: str
    postcode: str
    city: str
    region: str
    country: str
    phone: str  # the last nine digits: the national number without a trunk or country prefix
    email_local: str
    email_domain: str

    @property
    def dob_key(self) -> str:
        """The birth date with day and month in sorted order, so a swap keeps the key."""
        if len(self.dob) != 8:
            return ""
        month, day = sorted((self.dob[4:6], self.dob[6:8]))
        return self.dob[:4] + month + day


def fold(value: Any) -> str:
    """Lower-case ASCII: accents dropped, apostrophes removed (O'Brien -> obrien)."""
    if value is None:
        return ""
    text = str(value)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch)).replace("\u2019", "")
    return text.lower().replace("'", "").replace("`", "")


def _name(value: Any, *, given: bool) -> tuple[Name, str]:
    tokens = [t for t in _NON_LETTERS.sub(" ", fold(value).translate(_OCR_DIGITS)).split() if t]
    suffix = ""
    kept = []
    for token in tokens:
        if token in _SUFFIXES and len(tokens) > 1:
            suffix = _SUFFIXES[token]
        elif token in _TITLES and len(tokens) > 1:
            continue
        else:
            kept.append(token)
    joined = "".join(kept)
    basis = kept[0] if given and kept else joined
    code = jellyfish.metaphone(basis) if basis else ""
    return Name(tuple(kept), joined, code or basis[:4]), suffix


def _dob(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    text = str(value).strip()
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", text) if p]
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        if len(parts[0]) == 4:
            year, month, day = parts
        elif len(parts[2]) == 4:
            first, second, year = parts
            # day-first unless that cannot be a date; a day/month swap is a near-match anyway
            day, month = (first, second) if int(second) <= 12 else (second, first)
        else:
            return _NON_DIGITS.sub("", text)
        return f"{year}{int(month):02d}{int(day):02d}" if len(month) <= 2 and len(day) <= 2 else year + month + day
    digits = _NON_DIGITS.sub("", text)
    if len(digits) == 8 and not (1800 <= int(digits[:4]) <= 2100) and 1800 <= int(digits[4:]) <= 2100:
        return digits[4:] + digits[2:4] + digits[:2]  # DDMMYYYY
    return digits


def _address(value: Any) -> tuple[tuple[str, ...], str, str]:
    tokens = _NON_ALNUM.sub(" ", fold(value)).split()
    house = tuple(t for t in tokens if any(ch.isdigit() for ch in t))
    words = [_STREET_WORDS.get(t, t) for t in tokens if t.isalpha() and t not in _UNIT_WORDS]
    return house, " ".join(words), "".join(words)


def _phone(value: Any) -> str:
    digits = _NON_DIGITS.sub("", str(value or ""))
    return digits[-9:] if len(digits) >= 6 else ""


def _email(value: Any) -> tuple[str, str]:
    text = fold(value).strip()
    if "@" not in text:
        return "", ""
    local, _, domain = text.rpartition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return local, domain


def _region(value: Any) -> str:
    text = " ".join(_NON_ALNUM.sub(" ", fold(value)).split())
    return _REGIONS.get(text, text)


def normalize_person(record: Mapping[str, Any]) -> Person:
    """A `Person` from any mapping holding some of PERSON_FIELDS (a CSV row, a lead's columns)."""
    first, suffix_first = _name(record.get("first_name"), given=True)
    last, suffix_last = _name(record.get("last_name"), given=False)
    house, street, street_flat = _address(record.get("address"))
    email_local, email_domain = _email(record.get("email"))
    return Person(
        first=first, last=last, suffix=suffix_first or suffix_last, dob=_dob(record.get("date_of_birth")),
        house=house, street=street, street_flat=street_flat,
        postcode=_NON_ALNUM.sub("", fold(record.get("postal_code"))),
        city=" ".join(_NON_LETTERS.sub(" ", fold(record.get("city"))).split()),
        region=_region(record.get("region")), country=fold(record.get("country")).strip(),
        phone=_phone(record.get("phone")), email_local=email_local, email_domain=email_domain,
    )
