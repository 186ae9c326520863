"""Synthetic people for the fuzzy-dedupe tests and benchmark: households, and duplicates with typos.

People come in households sharing a surname and an address (spouses, children, sometimes twins with
one birth date), with names drawn by their US frequency (Faker's tables), so common names collide
as they do in life. A duplicate is the same person posted again with realistic damage: keyboard
slips, transpositions, dropped or doubled letters, OCR confusions, phonetic spellings, nicknames,
initials and truncations, swapped first/last names, missing fields, swapped day/month, another date
or phone format, a new e-mail, abbreviated street words, a changed house number, case and spacing.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from faker.providers.address.en_US import Provider as AddressProvider
from faker.providers.person.en_US import Provider as PersonProvider
from nicknames import NickNamer
from rapidfuzz.distance import OSA

FIELDS = ("first_name", "last_name", "date_of_birth", "address", "city", "postal_code", "region", "country",
          "phone", "email")



def _weighted(frequencies: dict[str, float]) -> tuple[list[str], list[float]]:
    return list(frequencies), list(itertools.accumulate(frequencies.values()))


_MALE = _weighted(PersonProvider.first_names_male)
_FEMALE = _weighted(PersonProvider.first_names_female)
_LAST = _weighted(PersonProvider.last_names)
_STREET_SUFFIX = ("Street", "Avenue", "Road", "Drive", "Lane", "Court", "Place", "Boulevard", "Way", "Terrace")
_SUFFIX_SHORT = {"Street": "St", "Avenue": "Ave", "Road": "Rd", "Drive": "Dr", "Lane": "Ln", "Court": "Ct",
                 "Place": "Pl", "Boulevard": "Blvd", "Terrace": "Tce"}
_STATES = list(zip(AddressProvider.states, AddressProvider.states_abbr, strict=False))
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "mail.com")
_NICKNAMES = {"William": ["Bill", "Will", "Billy"], "Robert": ["Bob", "Rob", "Bobby"],
              "John": ["Jon", "Johnny", "Jack"],
              "James": ["Jim", "Jimmy"], "Richard": ["Rick", "Dick"], "Michael": ["Mike"], "Thomas": ["Tom"],
              "Elizabeth": ["Liz", "Beth", "Betty"], "Margaret": ["Peggy", "Maggie"], "Katherine": ["Kate", "Kathy"],
              "Jennifer": ["Jen", "Jenny"], "Christopher": ["Chris"], "Daniel": ["Dan", "Danny"],
              "Joseph": ["Joe"], "Anthony": ["Tony"], "Matthew": ["Matt"], "Patricia": ["Pat", "Patty"],
              "Susan": ["Sue"], "Deborah": ["Deb", "Debbie"], "Steven": ["Steve"], "Edward": ["Ed", "Ted"],
              "Alexander": ["Alex"], "Samantha": ["Sam"], "Jessica": ["Jess"], "Nicholas": ["Nick"]}
_NICKNAMER = NickNamer()
_TAKEN_EMAILS: set[str] = set()
_KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
_OCR = [("o", "0"), ("l", "1"), ("i", "1"), ("s", "5"), ("b", "8"), ("m", "rn"), ("g", "9"), ("e", "c")]
_PHONETIC = [("ph", "f"), ("f", "ph"), ("c", "k"), ("k", "c"), ("y", "ie"), ("ie", "y"), ("ck", "k"), ("th", "t"),
             ("ee", "ea"), ("z", "s"), ("s", "z"), ("ai", "ay"), ("ou", "ow"), ("i", "y"), ("mm", "m"), ("ll", "l")]


@dataclass
class Record:
    id: str
    entity: int
    fields: dict[str, str] = field(default_factory=dict)

    def row(self) -> dict[str, str]:
        return {"id": self.id, **self.fields}


def _pick(rng: random.Random, weighted: tuple[list[str], list[float]]) -> str:
    names, cumulative = weighted
    return rng.choices(names, cum_weights=cumulative)[0]


def _neighbour(rng: random.Random, ch: str) -> str:
    for row in _KEYBOARD:
        i = row.find(ch.lower())
        if i >= 0:
            j = min(len(row) - 1, max(0, i + rng.choice((-1, 1))))
            return row[j].upper() if ch.isupper() else row[j]
    return ch


def typo(rng: random.Random, text: str) -> str:
    """One realistic slip: a neighbouring key, two letters swapped, a letter dropped or doubled,
    an OCR confusion or a phonetic spelling."""
    if len(text) < 3:
        return text
    kind = rng.choice(("neighbour", "transpose", "drop", "double", "ocr", "phonetic", "neighbour", "transpose"))
    i = rng.randrange(1, len(text) - 1)  # a person rarely mistypes the first letter
    if kind == "neighbour":
        return text[:i] + _neighbour(rng, text[i]) + text[i + 1:]
    if kind == "transpose":
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if kind == "drop":
        return text[:i] + text[i + 1:]
    if kind == "double":
        return text[:i] + text[i] + text[i:]
    pairs = _OCR if kind == "ocr" else _PHONETIC
    candidates = [(a, b) for a, b in pairs if a in text.lower()[1:]]
    if not candidates:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    a, b = rng.choice(candidates)
    pos = text.lower().find(a, 1)
    return text[:pos] + b + text[pos + len(a):]


def _digit_typo(rng: random.Random, digits: str) -> str:
    i = rng.randrange(len(digits) - 1)
    if rng.random() < 0.5:
        return digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]
    return digits[:i] + str((int(digits[i]) + rng.choice((1, 9))) % 10) + digits[i + 1:]


@dataclass
class Household:
    last_name: str
    house: int
    street: str
    suffix: str
    city: str
    region: str
    postcode: str
    landline: str | None


def _household(rng: random.Random) -> Household:
    state, abbr = rng.choice(_STATES)
    city = rng.choice((_pick(rng, _LAST) + rng.choice(("ville", "ton", "burg", " Springs", " City", "field")),
                       rng.choice(("North ", "East ", "Lake ", "Port ", "West ")) + _pick(rng, _MALE)))
    return Household(last_name=_pick(rng, _LAST), house=rng.randint(1, 9999),
                     street=rng.choice((_pick(rng, _LAST), _pick(rng, _MALE), rng.choice(
                         ("Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lincoln", "Park", "Lake", "Hill")))),
                     suffix=rng.choice(_STREET_SUFFIX), city=city, region=rng.choice((state, abbr)),
                     postcode=f"{rng.randint(1000, 99999):05d}",
                     landline=f"+1{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
                     if rng.random() < 0.3 else None)


def _distinct(first: str, used: set[str]) -> bool:
    """Parents do not give two children one name, a nickname of it, or a near spelling."""
    name = first.lower()
    return all(name[:3] != other[:3] and name not in _NICKNAMER.nicknames_of(other)
               and other not in _NICKNAMER.nicknames_of(name) and OSA.distance(name, other) > 2 for other in used)


def _person(rng: random.Random, home: Household, born: date, used: set[str], last_name: str) -> dict[str, str]:
    names = _MALE if rng.random() < 0.5 else _FEMALE
    first = _pick(rng, names)
    while not _distinct(first, used):
        first = _pick(rng, names)
    used.add(first.lower())
    mobile = f"+1{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
    handle = rng.choice((f"{first}.{last_name}", f"{first[0]}{last_name}", f"{first}{last_name}{rng.randint(1, 99)}",
                         f"{last_name}.{first}{born.year % 100}", f"{first}_{rng.randint(100, 9999)}"))
    email = f"{handle.lower()}@{rng.choice(_DOMAINS)}"
    while email in _TAKEN_EMAILS:  # an address belongs to one person
        email = f"{handle.lower()}{rng.randint(1, 9999)}@{rng.choice(_DOMAINS)}"
    _TAKEN_EMAILS.add(email)
    return {"first_name": first, "last_name": last_name, "date_of_birth": born.isoformat(),
            "address": f"{home.house} {home.street} {home.suffix}", "city": home.city, "postal_code": home.postcode,
            "region": home.region, "country": "US",
            "phone": home.landline if home.landline and rng.random() < 0.5 else mobile,
            "email": email}


def make_people(count: int, seed: int = 1) -> list[dict[str, str]]:
    """`count` distinct people, in households of one to five."""
    rng = random.Random(seed)
    _TAKEN_EMAILS.clear()
    people: list[dict[str, str]] = []
    while len(people) < count:
        home = _household(rng)
        used: set[str] = set()
        adult = date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))
        people.append(_person(rng, home, adult, used, home.last_name))
        size = rng.choices((1, 2, 3, 4, 5), weights=(45, 25, 15, 10, 5))[0]
        if size >= 2:  # a partner, sometimes keeping their own surname
            partner = adult + timedelta(days=rng.randint(-3000, 3000))
            surname = home.last_name if rng.random() < 0.8 else _pick(rng, _LAST)
            people.append(_person(rng, home, partner, used, surname))
        twins = rng.random() < 0.15
        for child in range(max(0, size - 2)):
            born = adult + timedelta(days=rng.randint(20 * 365, 40 * 365))
            if twins and child == 1:
                born = date.fromisoformat(people[-1]["date_of_birth"])  # twins: one birth date, two people
            if born > date(2008, 1, 1):
                born -= timedelta(days=20 * 365)
            people.append(_person(rng, home, born, used, home.last_name))
    return people[:count]


def damage(rng: random.Random, person: dict[str, str], changes: int) -> dict[str, str]:
    """The same person as entered again: `changes` realistic edits, none of which makes another person."""
    out = dict(person)
    kinds = ["nickname", "initial", "typo_first", "typo_last", "truncate_last", "swap_names", "dob_swap",
             "dob_typo", "phone_typo", "new_email", "email_typo", "house_number", "street_short", "typo_address",
             "postcode_typo", "city_typo", "drop", "dob_format", "phone_format", "case"]
    for kind in sorted(rng.sample(kinds, changes), key=kinds.index):  # values first, then their format
        if kind == "typo_first":
            out["first_name"] = typo(rng, out["first_name"])
        elif kind == "typo_last":
            out["last_name"] = typo(rng, out["last_name"])
        elif kind == "nickname" and person["first_name"] in _NICKNAMES:
            out["first_name"] = rng.choice(_NICKNAMES[person["first_name"]])
        elif kind == "initial" and rng.random() < 0.3:
            out["first_name"] = out["first_name"][0] + rng.choice((".", ""))
        elif kind == "swap_names":
            out["first_name"], out["last_name"] = out["last_name"], out["first_name"]
        elif kind == "drop":
            out[rng.choice(("date_of_birth", "phone", "email", "address", "city", "postal_code", "region"))] = ""
        elif kind == "dob_swap" and out["date_of_birth"] and int(person["date_of_birth"][8:]) <= 12:
            y, m, d = person["date_of_birth"].split("-")
            out["date_of_birth"] = f"{y}-{d}-{m}"
        elif kind == "dob_typo" and out["date_of_birth"]:
            digits = out["date_of_birth"].replace("-", "")
            digits = digits[:2] + _digit_typo(rng, digits[2:])  # a slip in the century is rare
            dashed = "-" in out["date_of_birth"]
            out["date_of_birth"] = f"{digits[:4]}-{digits[4:6]}-{digits[6:]}" if dashed else digits
        elif kind == "dob_format" and out["date_of_birth"]:
            out["date_of_birth"] = out["date_of_birth"].replace("-", "")
        elif kind == "phone_typo" and out["phone"]:
            out["phone"] = "+" + _digit_typo(rng, out["phone"].lstrip("+"))
        elif kind == "phone_format" and out["phone"]:
            d = out["phone"][-10:]
            out["phone"] = rng.choice((f"({d[:3]}) {d[3:6]}-{d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}", d, f"1-{d}"))
        elif kind == "new_email" and out["email"]:
            out["email"] = f"{out['first_name'].lower()}{rng.randint(1, 999)}@{rng.choice(_DOMAINS)}"
        elif kind == "email_typo" and out["email"]:
            local, domain = out["email"].split("@")
            out["email"] = f"{typo(rng, local) if len(local) > 3 else local}@{domain}"
        elif kind == "street_short":
            for long, short in _SUFFIX_SHORT.items():
                out["address"] = out["address"].replace(long, rng.choice((short, short + ".")))
        elif kind == "house_number" and out["address"]:
            number, _, rest = out["address"].partition(" ")
            if number.isdigit():
                out["address"] = f"{int(number) + rng.choice((-4, -2, 2, 4, 10))} {rest}"
        elif kind == "postcode_typo" and out["postal_code"]:
            out["postal_code"] = _digit_typo(rng, out["postal_code"])
        elif kind == "city_typo" and out["city"]:
            out["city"] = typo(rng, out["city"])
        elif kind == "case":
            for key in ("first_name", "last_name", "city", "address"):
                out[key] = out[key].upper() if rng.random() < 0.5 else out[key].lower()
        elif kind == "typo_address" and out["address"]:
            out["address"] = typo(rng, out["address"])
        elif kind == "truncate_last" and len(out["last_name"]) > 6:
            out["last_name"] = out["last_name"][:rng.randint(4, len(out["last_name"]) - 1)]
    return out


def make_records(people: int, *, duplicate_share: float = 0.35, seed: int = 7) -> list[Record]:
    """People plus their duplicates, in a random order (a duplicate may come before its original).
    Each record's `entity` says which person it is; ids are r1, r2, ... in file order."""
    rng = random.Random(seed)
    originals = make_people(people, seed)
    records: list[tuple[int, dict[str, str]]] = [(entity, person) for entity, person in enumerate(originals)]
    for entity, person in enumerate(originals):
        if rng.random() < duplicate_share:
            for _ in range(rng.choices((1, 2, 3), weights=(70, 20, 10))[0]):
                records.append((entity, damage(rng, person, rng.choices((1, 2, 3, 4), weights=(30, 35, 25, 10))[0])))
    rng.shuffle(records)
    return [Record(id=f"r{i + 1}", entity=entity, fields=fields) for i, (entity, fields) in enumerate(records)]


def expected_duplicates(records: list[Record]) -> set[str]:
    """Ids of the records whose person appeared earlier in the list."""
    seen: set[int] = set()
    repeats: set[str] = set()
    for record in records:
        if record.entity in seen:
            repeats.add(record.id)
        seen.add(record.entity)
    return repeats
