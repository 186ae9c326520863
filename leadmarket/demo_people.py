"""Believable people for the demo: names, places, valid phones and e-mails, and what they fill in;
and the pseudo-leads a real network also gets (jokers, scripts).

Every function takes the caller's `random.Random`, so a seeded run gives the same people; phones
are generated until phonenumbers calls them valid mobile numbers for their country.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from ipaddress import ip_address
from typing import Any

import phonenumbers

from leadmarket.clock import utcnow


@dataclass(frozen=True)
class Place:
    city: str
    region: str
    postal_codes: tuple[str, ...]
    area_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Country:
    first_names: list[str]
    last_names: list[str]
    places: list[Place]
    mail_domains: list[str]
    streets: list[str]
    street_first: bool = False  # "Hauptstraße 12" rather than "12 Main Street"
    mobile_prefixes: tuple[str, ...] = ()  # national prefixes for countries without area codes here


def _places(*rows: tuple[str, str, str, str]) -> list[Place]:
    return [Place(city, region, tuple(codes.split(",")), tuple(areas.split(",")) if areas else ())
            for city, region, codes, areas in rows]


COUNTRIES = {
    "US": Country(
        "James Maria Michael Jennifer David Linda Robert Patricia Daniel Jessica Christopher Ashley Matthew Emily "
        "Anthony Sarah Joshua Amanda Andrew Stephanie Kevin Nicole Brian Melissa Jose Rachel Tyler Lauren Marcus "
        "Olivia Ethan Sofia Jamal Priya".split(),
        "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Wilson Anderson "
        "Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King Nguyen "
        "Patel Washington".split(),
        _places(("San Francisco", "CA", "94107,94110,94117", "415,628"), ("Los Angeles", "CA", "90012,90026", "213,323"),
                ("New York", "NY", "10001,10025,10011", "212,646"), ("Brooklyn", "NY", "11201,11215", "718,347"),
                ("Chicago", "IL", "60601,60614", "312,773"), ("Houston", "TX", "77002,77006", "713,832"),
                ("Austin", "TX", "78701,78704", "512,737"), ("Phoenix", "AZ", "85004,85016", "602,480"),
                ("Seattle", "WA", "98101,98115", "206"), ("Denver", "CO", "80202,80206", "303,720"),
                ("Boston", "MA", "02108,02116", "617,857"), ("Atlanta", "GA", "30303,30308", "404,470"),
                ("Miami", "FL", "33130,33137", "305,786"), ("Columbus", "OH", "43215", "614"),
                ("Nashville", "TN", "37203", "615"), ("Portland", "OR", "97205,97214", "503,971")),
        "gmail.com yahoo.com outlook.com icloud.com hotmail.com aol.com comcast.net".split(),
        ["Oak St", "Maple Ave", "Main St", "Pine St", "Cedar Ln", "Elm St", "Washington Ave", "Park Blvd",
         "Lincoln Way", "Sunset Dr", "Lake Shore Dr"]),
    "CA": Country(
        "Liam Emma Noah Olivia William Charlotte Benjamin Chloé Gabriel Léa Olivier Amelia Lucas Sophie Ethan "
        "Maya Nathan Zoe Samuel Hannah".split(),
        "Tremblay Gagnon Roy Côté Bouchard Gauthier Morin Lavoie MacDonald Campbell Wong Singh Brown Wilson "
        "Martin Anderson Leblanc Chen Fortin Stewart".split(),
        _places(("Toronto", "ON", "M5V 2T6,M4C 1B5,M6J 1H1", "416,647"), ("Vancouver", "BC", "V6B 1A1,V5K 0A1", "604,778"),
                ("Montréal", "QC", "H2X 1Y4,H3B 2Y5", "514,438"), ("Calgary", "AB", "T2P 1J9,T2R 0A1", "403,587"),
                ("Ottawa", "ON", "K1P 5G4,K2P 1L4", "613,343")),
        "gmail.com outlook.com hotmail.ca yahoo.ca rogers.com shaw.ca".split(),
        ["King St W", "Queen St E", "Rue Saint-Denis", "Granville St", "Yonge St", "Bank St", "17th Ave SW"]),
    "GB": Country(
        "Oliver Amelia Harry Isla George Olivia Jack Emily Charlie Sophie Grace James Chloe William Lucy Alfie "
        "Poppy Mohammed Aisha Callum Niamh Rhys Freya Ruby".split(),
        "Smith Jones Taylor Brown Williams Wilson Johnson Davies Evans Roberts Walker Wright Robinson Hughes "
        "Edwards Green Hall Wood Khan Murphy Campbell Stewart Clarke Turner".split(),
        _places(("London", "Greater London", "SE1 7PB,N1 9GU,E14 5AB,SW11 1AA,NW3 2QG", ""),
                ("Manchester", "England", "M1 4BT,M20 2RN", ""), ("Birmingham", "England", "B1 1BB,B15 2TT", ""),
                ("Leeds", "England", "LS1 4DY,LS6 2AA", ""), ("Bristol", "England", "BS1 5TR,BS8 1TH", ""),
                ("Liverpool", "England", "L1 8JQ,L17 3BX", ""), ("Edinburgh", "Scotland", "EH1 1YZ,EH8 9YL", ""),
                ("Glasgow", "Scotland", "G1 1XQ,G12 8QQ", ""), ("Cardiff", "Wales", "CF10 1EP,CF24 4HQ", "")),
        "gmail.com hotmail.co.uk outlook.com btinternet.com yahoo.co.uk sky.com icloud.com".split(),
        ["High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane", "Queens Road", "Park Avenue"],
        mobile_prefixes=("74", "75", "77", "78", "79")),
    "DE": Country(
        "Lukas Anna Leon Lea Finn Hannah Jonas Mia Paul Emma Felix Lena Maximilian Sophie Tim Laura Niklas Marie "
        "Jan Julia Elias Clara Moritz Katharina".split(),
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter "
        "Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hartmann Yılmaz".split(),
        _places(("Berlin", "Berlin", "10115,10437,12043", ""), ("Hamburg", "Hamburg", "20095,22765", ""),
                ("München", "Bayern", "80331,81667", ""), ("Köln", "Nordrhein-Westfalen", "50667,50823", ""),
                ("Frankfurt am Main", "Hessen", "60311,60594", ""), ("Stuttgart", "Baden-Württemberg", "70173,70197", ""),
                ("Leipzig", "Sachsen", "04109,04277", ""), ("Düsseldorf", "Nordrhein-Westfalen", "40213,40477", ""),
                ("Dresden", "Sachsen", "01067,01099", "")),
        "gmail.com gmx.de web.de t-online.de outlook.de posteo.de".split(),
        ["Hauptstraße", "Bahnhofstraße", "Gartenstraße", "Schillerstraße", "Goethestraße", "Lindenweg", "Bergstraße"],
        street_first=True, mobile_prefixes=("151", "152", "157", "160", "162", "170", "171", "172", "176", "179")),
}
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 "
    "Edg/131.0.0.0",
]
JOKER_NAMES = [("Test", "Test"), ("Asdf", "Asdf"), ("Mickey", "Mouse Test"), ("Max", "Mustermann"),
               ("John", "Doe"), ("Qwerty", "Uiop")]
BOT_AGENTS = ["python-requests/2.32.3", "curl/8.5.0", "Go-http-client/1.1", "HeadlessChrome/131.0.0.0"]
VEHICLE_MAKES = "Toyota Honda Ford Chevrolet Nissan Hyundai Tesla Subaru BMW Volkswagen Kia Jeep Mazda".split()
INSURERS = {"US": ["GEICO", "Progressive", "State Farm", "Allstate", "USAA", "Liberty Mutual"],
            "CA": ["Intact", "Desjardins", "TD Insurance", "Aviva", "Belairdirect"]}
DESTINATIONS = {"GB": ["Tenerife", "Algarve", "Mallorca", "Dubai", "New York", "Crete", "Lisbon", "Reykjavik"],
                "DE": ["Mallorca", "Antalya", "Kreta", "Gran Canaria", "Rom", "Malediven", "Sylt", "Kapstadt"],
                "US": ["Cancún", "Maui", "Orlando", "Paris", "Costa Rica", "Las Vegas", "Rome", "Banff"]}
CONSENT = {
    "car-insurance": "I agree that {site} and its insurance partners may contact me by phone, text and e-mail "
                     "about car insurance quotes.",
    "personal-loans": "I agree that {site} and its lending partners may contact me about my loan request and run "
                      "a soft credit check.",
    "travel": "I agree that {site} and its travel partners may contact me with offers for my trip.",
    "online-courses": "I agree that {site} and its education partners may contact me about courses.",
}


@dataclass
class Person:
    first_name: str
    last_name: str
    country: str
    place: Place
    phone: str
    email: str
    date_of_birth: date
    address: str
    postal_code: str


def ascii(text: str) -> str:
    text = text.lower().translate(str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ı": "i"}))
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().replace(" ", "")


def person(rng: random.Random, code: str) -> Person:
    country = COUNTRIES[code]
    first = rng.choice(country.first_names)
    last = rng.choice([name for name in country.last_names if name != first])
    place = rng.choice(country.places)
    user = rng.choice([f"{ascii(first)}.{ascii(last)}", f"{ascii(first)}{ascii(last)}{rng.randint(1, 99)}",
                       f"{ascii(first)[0]}{ascii(last)}", f"{ascii(first)}.{ascii(last)}{rng.randint(70, 99)}"])
    number = rng.randint(1, 180)
    street = rng.choice(country.streets)
    today = utcnow().date()
    return Person(first_name=first, last_name=last, country=code, place=place, phone=phone(rng, code, place),
                  email=f"{user}@{rng.choice(country.mail_domains)}",
                  date_of_birth=today - timedelta(days=rng.randint(19 * 365, 72 * 365)),
                  address=f"{street} {number}" if country.street_first else f"{number} {street}",
                  postal_code=rng.choice(place.postal_codes))


def phone(rng: random.Random, code: str, place: Place) -> str:
    """A number valid for its country, written the way people there write it."""
    while True:
        if place.area_codes:  # NANP: area code, exchange (not 555, not N11), line
            exchange = rng.randint(201, 989)
            if exchange == 555 or exchange % 100 == 11:
                continue
            national = f"{rng.choice(place.area_codes)}{exchange}{rng.randint(0, 9999):04d}"
        else:
            prefix = rng.choice(COUNTRIES[code].mobile_prefixes)
            national = "0" + prefix + "".join(str(rng.randint(0, 9)) for _ in range(10 - len(prefix)))
        number = phonenumbers.parse(national, code)
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
                phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def contact(person: Person, rng: random.Random, restyle: bool = False) -> dict[str, Any]:
    """The form as the person filled it; `restyle` is the same person typing it again differently."""
    phone, email = person.phone, person.email
    if restyle:
        parsed = phonenumbers.parse(phone, person.country)
        phone = phonenumbers.format_number(parsed, rng.choice([phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                                                               phonenumbers.PhoneNumberFormat.E164]))
        email = email.capitalize() if rng.random() < 0.5 else email
    contact = {"first_name": person.first_name, "last_name": person.last_name, "email": email, "phone": phone,
               "country": person.country, "region": person.place.region, "city": person.place.city,
               "postal_code": person.postal_code}
    if rng.random() < 0.6:
        contact["address"] = person.address
    if rng.random() < 0.5:
        contact["date_of_birth"] = person.date_of_birth.isoformat()
    return contact


def attributes(vertical: str, person: Person, rng: random.Random) -> dict[str, Any]:
    today = utcnow().date()
    if vertical == "car-insurance":
        attributes: dict[str, Any] = {
            "vehicle_year": rng.randint(2008, 2025), "vehicle_make": rng.choice(VEHICLE_MAKES),
            "coverage": rng.choices(["liability", "comprehensive", "full"], weights=[3, 2, 5])[0],
            "annual_mileage": rng.randrange(4000, 24000, 500), "drivers": rng.choices([1, 2, 3], weights=[6, 3, 1])[0],
            "homeowner": rng.random() < 0.55}
        if rng.random() < 0.7:
            attributes["current_insurer"] = rng.choice(INSURERS.get(person.country, INSURERS["US"]))
        return attributes
    if vertical == "personal-loans":
        employment = rng.choices(["employed", "self_employed", "retired", "student", "unemployed"],
                                 weights=[70, 14, 8, 4, 4])[0]
        income = {"employed": (2200, 9000), "self_employed": (1800, 12000), "retired": (1200, 4000),
                  "student": (400, 1500), "unemployed": (0, 900)}[employment]
        attributes = {"loan_amount": rng.randrange(1000, 35001, 500), "term_months": rng.choice([12, 24, 36, 48, 60]),
                      "purpose": rng.choices(["debt_consolidation", "home_improvement", "car", "medical", "wedding",
                                              "other"], weights=[40, 20, 15, 8, 7, 10])[0],
                      "employment_status": employment, "monthly_income": rng.randrange(*income, 100)}
        if rng.random() < 0.8:
            attributes["credit_score_band"] = rng.choices(["excellent", "good", "fair", "poor"], weights=[2, 5, 3, 1])[0]
        return attributes
    if vertical == "travel":
        travellers = rng.choices([1, 2, 3, 4, 5, 6], weights=[2, 8, 2, 4, 1, 1])[0]
        attributes = {"destination": rng.choice(DESTINATIONS.get(person.country, DESTINATIONS["GB"])),
                      "departure_date": (today + timedelta(days=rng.randint(14, 240))).isoformat(),
                      "travellers": travellers}
        if rng.random() < 0.7:
            attributes["budget"] = rng.randrange(600, 2500, 100) * travellers
        if rng.random() < 0.8:
            attributes["trip_type"] = rng.choices(["beach", "city", "adventure", "cruise", "ski"],
                                                  weights=[5, 3, 2, 1, 1])[0]
        return attributes
    attributes = {"course_topic": rng.choice(["data_science", "web_development", "ux_design", "digital_marketing",
                                              "project_management", "cloud_computing"]),
                  "start_date": (today + timedelta(days=rng.randint(7, 90))).isoformat(),
                  "study_mode": rng.choices(["self_paced", "live_online", "part_time", "full_time"],
                                            weights=[4, 3, 3, 1])[0]}
    if rng.random() < 0.75:
        attributes["experience_level"] = rng.choices(["beginner", "intermediate", "advanced"], weights=[5, 3, 1])[0]
    return attributes


def consent_and_meta(vertical: str, site: str, rng: random.Random) -> dict[str, Any]:
    ip = public_ip(rng)
    form_seconds = round(rng.uniform(22, 240), 1)
    given_at = utcnow().replace(microsecond=0) - timedelta(seconds=rng.randint(1, 20))
    return {"consent": {"text": CONSENT[vertical].format(site=site.split("//", 1)[1]),
                        "given_at": given_at.isoformat().replace("+00:00", "Z"), "ip": ip,
                        "page_url": f"{site}/{vertical}"},
            "meta": {"ip": ip, "user_agent": rng.choice(USER_AGENTS), "form_seconds": form_seconds}}


def make_pseudo(body: dict[str, Any], rng: random.Random) -> None:
    """Turn a lead into a pseudo-lead, in place: a joker's name, a script posting in seconds, or a
    person who clicked through the form too fast to have read it (the screen holds that for review)."""
    kind = rng.choices(["joker", "bot", "hurried"], weights=[2, 2, 1])[0]
    if kind == "joker":
        first, last = rng.choice(JOKER_NAMES)
        body["contact"] = {**body["contact"], "first_name": first, "last_name": last}
    elif kind == "bot":
        body["meta"] = {**body["meta"], "user_agent": rng.choice(BOT_AGENTS),
                        "form_seconds": round(rng.uniform(0.4, 2.5), 1)}
    else:
        body["meta"] = {**body["meta"], "form_seconds": round(rng.uniform(2.5, 4.5), 1)}


def public_ip(rng: random.Random) -> str:
    while True:
        address = ip_address(rng.getrandbits(32))
        if address.is_global and not address.is_multicast:
            return str(address)
