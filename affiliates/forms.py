"""The hosted lead form (`/f/{code}`): a plain HTML form built from the offer's vertical fields,
posted as the link's affiliate through the same intake as the API.

The page records a click (like `/r/{code}`) and carries its click_id and the time it was shown,
signed, so the post can say how long the visitor took (form_seconds) and cannot claim another
click or time. Field errors come from intake's own validator, shown next to each field.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy.orm import Session

from affiliates.models import Offer
from affiliates.tracking import link_target
from leadmarket.clock import utcnow
from leadmarket.errors import InvalidInput
from leadmarket.identity import Principal, Role
from leadmarket.settings import current_settings
from marketplace import intake
from marketplace.models import Vertical
from marketplace.schemas import LeadSubmission

FORM_MAX_AGE_SECONDS = 24 * 3600
CONTACT = (("first_name", "First name", "text", True), ("last_name", "Last name", "text", True),
           ("email", "E-mail", "email", False), ("phone", "Phone", "tel", False),
           ("country", "Country (2-letter code)", "text", True), ("region", "State or region", "text", False),
           ("city", "City", "text", False), ("postal_code", "Postal code", "text", False))
INPUT_KINDS = {"string": "text", "integer": "number", "number": "number", "boolean": "checkbox", "date": "date",
               "choice": "select"}
INTEGER = re.compile(r"^-?\d{1,15}$")
NUMBER = re.compile(r"^-?\d{1,15}(\.\d{1,10})?$")


@dataclass
class FormField:
    name: str            # the input's name, as intake names the field: contact.phone, attributes.coverage
    label: str
    kind: str            # text, email, tel, number, date, checkbox, select
    required: bool = False
    choices: list[str] = field(default_factory=list)
    value: str = ""
    error: str | None = None


@dataclass
class LeadForm:
    code: str
    title: str
    consent_text: str
    fields: list[FormField]
    click_id: str
    shown_at: int        # milliseconds since the epoch
    signature: str
    errors: list[str] = field(default_factory=list)   # problems not tied to one field


def consent_text(offer: Offer, vertical: Vertical) -> str:
    return (f"By sending this form I agree that {offer.name} and its partners may contact me by phone or e-mail "
            f"about {vertical.name.lower()}, and that my answers are stored for that purpose.")


def _sign(code: str, click_id: str, shown_at: int) -> str:
    key = current_settings().secret_key.encode()
    return hmac.new(key, f"form|{code}|{click_id}|{shown_at}".encode(), hashlib.sha256).hexdigest()[:32]


def _offer_and_vertical(session: Session, offer_id: int) -> tuple[Offer, Vertical]:
    offer = session.get_one(Offer, offer_id)
    return offer, offer.vertical


def build_form(session: Session, code: str, click_id: str, *, values: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, shown_at: int | None = None) -> LeadForm | None:
    """The form of link `code` (None for an unknown or paused link), filled with `values`."""
    target = link_target(session, code)
    if target is None or not target.active:
        return None
    offer, vertical = _offer_and_vertical(session, target.offer_id)
    values, errors = values or {}, dict(errors or {})
    fields = [FormField(f"contact.{name}", label, kind, required) for name, label, kind, required in CONTACT]
    for spec in vertical.fields:
        fields.append(FormField(f"attributes.{spec['name']}", spec.get("label") or spec["name"].replace("_", " ").capitalize(),
                                INPUT_KINDS.get(spec["type"], "text"), bool(spec.get("required")),
                                list(spec.get("choices") or [])))
    for form_field in fields:
        form_field.value = values.get(form_field.name, "")
        form_field.error = errors.pop(form_field.name, None)
    if errors.pop("contact", None) is not None:
        fields[0].error = fields[0].error or "is required"
    shown_at = shown_at or int(time.time() * 1000)
    return LeadForm(code=code, title=offer.name, consent_text=consent_text(offer, vertical), fields=fields,
                    click_id=click_id, shown_at=shown_at, signature=_sign(code, click_id, shown_at),
                    errors=[f"{name}: {reason}" for name, reason in errors.items()])


def _attribute(kind: str, raw: str | None) -> Any:
    """A posted string as the JSON value the vertical's validator expects (it judges the rest)."""
    if kind == "boolean":
        return raw is not None and raw not in ("", "0", "false", "off")
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if kind == "integer" and INTEGER.match(raw):
        return int(raw)
    if kind == "number" and NUMBER.match(raw):
        return float(raw) if "." in raw else int(raw)
    return raw


def submit_form(session: Session, code: str, posted: dict[str, str], *, ip: str | None,
                user_agent: str | None, page_url: str) -> LeadForm | None:
    """Post the form as a lead of the link's affiliate; None when intake took it (any outcome),
    else the form again with every problem next to its field."""
    target = link_target(session, code)
    if target is None or not target.active:
        raise InvalidInput.one("form", "this link is no longer active")
    click_id = posted.get("click_id", "")
    try:
        shown_at = int(posted.get("shown_at", ""))
    except ValueError:
        shown_at = 0
    age = time.time() - shown_at / 1000
    values = {k: v for k, v in posted.items() if k.startswith(("contact.", "attributes."))}
    if not hmac.compare_digest(posted.get("signature", ""), _sign(code, click_id, shown_at)) \
            or not 0 <= age <= FORM_MAX_AGE_SECONDS:
        form = build_form(session, code, click_id, values=values)
        if form is not None:
            form.errors.append("This form has expired. Please check your answers and send it again.")
            form.shown_at, form.signature = int(time.time() * 1000), _sign(code, click_id, int(time.time() * 1000))
        return form
    offer, vertical = _offer_and_vertical(session, target.offer_id)
    contact = {name: (posted.get(f"contact.{name}") or "").strip() or None for name, *_ in CONTACT}
    attributes = {spec["name"]: value for spec in vertical.fields
                  if (value := _attribute(spec["type"], posted.get(f"attributes.{spec['name']}"))) is not None}
    consent = {"text": consent_text(offer, vertical), "given_at": utcnow().isoformat(), "page_url": page_url}
    if ip:
        consent["ip"] = ip
    if posted.get("consent") != "yes":
        return build_form(session, code, click_id, values=values, shown_at=shown_at,
                          errors={"consent": "please tick the box to agree to be contacted"})
    body = {"offer_id": target.offer_id, "click_id": click_id or None, "contact": contact, "attributes": attributes,
            "consent": consent, "meta": {"ip": ip or "", "user_agent": user_agent, "form_seconds": round(age, 1)}}
    submission = msgspec.convert(body, LeadSubmission)
    principal = Principal(role=Role.AFFILIATE, affiliate_id=target.affiliate_id, name=f"lead form {code}")
    try:
        intake.submit_lead(session, principal, submission)
    except InvalidInput as exc:
        return build_form(session, code, click_id, values=values, shown_at=shown_at,
                          errors={e.field: e.reason for e in exc.errors})
    return None


def peer_ip(host: str | None) -> str | None:
    """The visitor's address as the server saw it (None when the peer is not an IP address)."""
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None
