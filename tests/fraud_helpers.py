"""Helpers for the fraud tests: posting leads, reading them as staff, and swapping settings."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from fraud.rules import velocity
from leadmarket.settings import Settings, configure
from tests.support import Network, lead_body, post_lead

# Clean, clearly different people: the last name changes with every lead, so no two leads of a test
# look like one person under a typo to the fuzzy dedupe (which runs before the screen).
FIRST_NAMES = ["Maria", "Grace", "Hannah", "Olivia", "Paula", "Rosa", "Wendy", "Yara", "Bianca", "Diana", "Fiona",
               "Greta", "Ines", "Kira", "Beatrix", "Camille", "Dorothea", "Esther", "Frieda", "Gwen"]
LAST_NAMES = ["Lopez", "Nguyen", "Kowalski", "Okafor", "Schmidt", "Dubois", "Tanaka", "Murphy", "Jensen", "Haddad",
              "Fischer", "Ivanova", "Kaya", "Larsen", "Nakamura", "Oliveira", "Petrov", "Quinn", "Vargas", "Abernathy",
              "Castellanos", "Drummond", "Eriksson", "Fitzgerald", "Gallagher", "Hollister", "Ingram", "Jablonski",
              "Kirkpatrick", "Lindqvist"]
_people = itertools.count()


def person_lead(offer_id: int, **overrides: Any) -> dict[str, Any]:
    """`lead_body` with a person of their own (name, postal code); `overrides` merge as in lead_body."""
    n = next(_people)
    body = lead_body(offer_id)
    body["contact"].update({"first_name": FIRST_NAMES[(n // len(LAST_NAMES)) % len(FIRST_NAMES)],
                            "last_name": LAST_NAMES[n % len(LAST_NAMES)], "postal_code": f"9{n % 10000:04d}"})
    for key, value in overrides.items():
        if key in ("contact", "attributes", "meta", "consent") and isinstance(value, dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


def post(client: Any, network: Network, body: dict[str, Any], *, other: bool = False) -> dict[str, Any]:
    """Post a lead as an affiliate; the 201 answer the affiliate reads."""
    who = network.other_affiliate if other else network.affiliate
    answer = post_lead(client, who["api_key"], body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def staff_view(client: Any, network: Network, lead_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/v1/leads/{lead_id}", headers=network.admin_headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


@contextmanager
def settings_changed(settings: Settings, **changes: Any) -> Iterator[Settings]:
    """Make the process's settings `settings` with `changes` for the block (the screen reads them
    per lead), then put the test run's settings back."""
    changed = configure(replace(settings, **changes))
    velocity.reset_backoff()
    try:
        yield changed
    finally:
        configure(settings)
        velocity.reset_backoff()


def patch_offer(client: Any, network: Network, offer_id: int, **values: Any) -> dict[str, Any]:
    answer = client.patch(f"/api/v1/offers/{offer_id}/screening", headers=network.admin_headers, json=values)
    assert answer.status_code == 200, answer.text
    return answer.json()


def patch_vertical(client: Any, network: Network, vertical_id: int, **values: Any) -> dict[str, Any]:
    answer = client.patch(f"/api/v1/verticals/{vertical_id}/screening", headers=network.admin_headers, json=values)
    assert answer.status_code == 200, answer.text
    return answer.json()
