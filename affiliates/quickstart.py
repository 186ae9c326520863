"""The API quick-start an affiliate copies from the portal: curl commands against this server
with a real offer and a lead body valid for that offer's vertical fields.

The example person is a sample (an example.com address from a documentation IP range), so a lead
posted from the quick-start is recognisable and the fraud screen treats it as such; the answer
is still a 201 with the lead's outcome.
"""

from __future__ import annotations

import json
import shlex
from datetime import date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from affiliates.models import Offer
from affiliates.offers import offer_view
from affiliates.schemas import OfferView
from leadmarket.clock import utcnow
from leadmarket.identity import Principal

KEY_VARIABLE = "LEADMARKET_API_KEY"
KEY_PLACEHOLDER = "paste-your-api-key-here"
SAMPLE_CONTACT = {"first_name": "Jane", "last_name": "Sample", "email": "jane.sample@example.com", "country": "US",
                  "region": "CA", "city": "San Francisco", "postal_code": "94107"}
SAMPLE_IP = "203.0.113.10"  # TEST-NET-3: never a real visitor


class Command(msgspec.Struct):
    name: str  # a stable handle ("post_lead") for pages and tests
    title: str
    command: str


class QuickStart(msgspec.Struct):
    base_url: str
    offer: OfferView | None  # the offer the examples use; None when there is none to promote
    offers: list[OfferView]  # what the reader may choose from
    commands: list[Command]


def example_attributes(fields: list[dict[str, Any]], today: date) -> dict[str, Any]:
    """A value every field of a vertical accepts (marketplace/fields.check_value)."""
    example: dict[str, Any] = {}
    for spec in fields:
        name, kind, low, high = str(spec["name"]), spec.get("type"), spec.get("min"), spec.get("max")
        if spec.get("choices"):
            example[name] = spec["choices"][0]
        elif kind == "integer":
            example[name] = int(low) if low is not None else min(1, int(high)) if high is not None else 1
        elif kind == "number":
            example[name] = low if low is not None else min(1, high) if high is not None else 1
        elif kind == "boolean":
            example[name] = True
        elif kind == "date":
            example[name] = today.isoformat()
        else:
            text = "example".ljust(int(low or 0), "x")
            example[name] = text[:int(high)] if high is not None else text
    return example


def example_lead(offer: Offer, now: datetime) -> dict[str, Any]:
    """A `POST /api/v1/leads` body for `offer` that passes validation."""
    vertical = offer.vertical
    return {
        "offer_id": offer.id,
        "sub_ids": {"sub1": "quickstart"},
        "contact": dict(SAMPLE_CONTACT),
        "attributes": example_attributes(list(vertical.fields), now.date()),
        "consent": {"text": f"I agree to be contacted about {vertical.name}.",
                    "given_at": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        "meta": {"ip": SAMPLE_IP, "user_agent": "curl (Leadmarket quick-start)", "form_seconds": 30},
    }


def quickstart(session: Session, principal: Principal, base_url: str, *, offer_id: int | None = None,
               api_key: str | None = None) -> QuickStart:
    """The commands for the caller's offers (the chosen one, else the first); `api_key` fills the
    key in when the page has just shown a new one, otherwise the commands read it from
    $LEADMARKET_API_KEY."""
    offers = list(session.execute(select(Offer).where(Offer.status == "active").order_by(Offer.id)).scalars())
    chosen = next((o for o in offers if o.id == offer_id), offers[0] if offers else None)
    base = base_url.rstrip("/")
    now = utcnow()
    key_header = f'-H "X-API-Key: ${KEY_VARIABLE}"'
    json_header = '-H "Content-Type: application/json"'
    commands = [
        Command("key", "Keep your key in a shell variable",
                f"export {KEY_VARIABLE}={shlex.quote(api_key or KEY_PLACEHOLDER)}"),
        Command("offers", "List the offers you may promote", f"curl -sS {shlex.quote(base + '/api/v1/offers')} {key_header}"),
    ]
    if chosen is not None:
        link_body = json.dumps({"offer_id": chosen.id, "sub_ids": {"sub1": "quickstart"}})
        lead_body = json.dumps(example_lead(chosen, now), indent=2)
        commands += [
            Command("tracking_link", f"Make a tracking link for offer {chosen.id}",
                    f"curl -sS -X POST {shlex.quote(base + '/api/v1/tracking-links')} \\\n  {key_header} {json_header} \\\n"
                    f"  -d {shlex.quote(link_body)}"),
            Command("post_lead", f"Post a lead to offer {chosen.id} (answers 201 with the lead's outcome)",
                    f"curl -i -sS -X POST {shlex.quote(base + '/api/v1/leads')} \\\n  {key_header} {json_header} \\\n"
                    f"  -d {shlex.quote(lead_body)}"),
        ]
    stats_url = f"{base}/api/v1/stats?from={(now.date() - timedelta(days=6)).isoformat()}&to={now.date().isoformat()}&group_by=day,offer"
    commands += [
        Command("stats", "Your stats for the last 7 days, per day and offer",
                f"curl -sS {shlex.quote(stats_url)} \\\n  {key_header}"),
        Command("payouts", "Your payouts", f"curl -sS {shlex.quote(base + '/api/v1/payouts')} {key_header}"),
    ]
    return QuickStart(base_url=base, offer=offer_view(chosen, principal) if chosen else None,
                      offers=[offer_view(o, principal) for o in offers], commands=commands)
