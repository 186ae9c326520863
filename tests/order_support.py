"""Helpers for the order and distribution tests: advertisers with orders, and leads of distinct people."""

from __future__ import annotations

import itertools
from typing import Any

from litestar.testing import TestClient

from tests.support import Network, created, lead_body

# Known given names that are neither nicknames nor spellings of each other, so the fuzzy person
# match never takes two test leads for one person.
FIRST_NAMES = [
    "Aaron", "Beatrice", "Cedric", "Dolores", "Edmund", "Felicity", "Gustavo", "Harriet", "Ignatius", "Jasmine",
    "Kenneth", "Lucinda", "Malcolm", "Natasha", "Oswald", "Priscilla", "Quentin", "Rosalind", "Sebastian", "Tabitha",
    "Ulysses", "Veronica", "Winston", "Yolanda", "Zachary", "Agatha", "Bernard", "Clarissa", "Desmond", "Eleanor",
    "Fernando", "Gwendolyn", "Horace", "Imogen", "Jerome", "Katherine", "Leopold", "Miranda", "Nathaniel", "Ophelia",
    "Percival", "Rebecca", "Solomon", "Theodora", "Vincent", "Wilhelmina", "Xavier", "Yvonne", "Augustus", "Bridget",
    "Cornelius", "Delphine", "Ezekiel", "Francesca", "Gilbert", "Henrietta", "Isidore", "Josephine", "Lawrence",
    "Marguerite", "Nicholas", "Octavia", "Patrick", "Rosemary", "Stanley", "Teresa", "Reginald", "Vivian", "Walter",
    "Adelaide", "Benedict", "Cecilia", "Dominic", "Esmeralda", "Frederick", "Genevieve", "Humphrey", "Isabella",
]
LAST_NAMES = ["Whitaker", "Okafor", "Lindqvist", "Moreau", "Castellanos", "Brennan", "Takahashi", "Novak",
              "Abernathy", "Delacroix", "Fairbanks", "Gallagher", "Hargreaves", "Iverson", "Kowalski"]
_people = itertools.count()


def person_lead(offer_id: int, **overrides: Any) -> dict[str, Any]:
    """A clean lead (see tests.support.lead_body) of a person no other call returns."""
    n = next(_people)
    first, last = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[n % len(LAST_NAMES)]
    body = lead_body(offer_id)
    body["contact"] = {**body["contact"], "first_name": first, "last_name": last,
                       "email": f"{first.lower()}.{last.lower()}.{n}@gmail.com"}
    for key, value in overrides.items():
        if key in ("contact", "attributes", "meta", "consent") and isinstance(value, dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


_advertisers = itertools.count(1)


def new_advertiser(client: TestClient, network: Network, *, billing_mode: str = "prepaid",
                   credit_limit: str = "10000.00", name: str | None = None) -> dict[str, Any]:
    n = next(_advertisers)
    return created(client.post("/api/v1/advertisers", headers=network.admin_headers, json={
        "name": name or f"Buyer {n}", "email": f"buyer{n}@buyers.example", "billing_mode": billing_mode,
        "credit_limit": credit_limit}))


def headers(advertiser: dict[str, Any]) -> dict[str, str]:
    return {"X-API-Key": advertiser["api_key"]}


def place_order(client: TestClient, advertiser: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"vertical": "car-insurance", "price": "20.00", **fields}
    return created(client.post("/api/v1/orders", headers=headers(advertiser), json=body))


def post(client: TestClient, network: Network, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/api/v1/leads", headers=network.affiliate_headers(), json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()
