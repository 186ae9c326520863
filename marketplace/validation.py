"""Lead validation: the contact rules and the vertical's field schema, every bad field at once."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from leadmarket.errors import FieldError, InvalidInput
from leadmarket.validators import check_http_url, nul_fields
from marketplace import fields, normalize
from marketplace.models import Vertical
from marketplace.schemas import LeadSubmission

SUB_IDS = tuple(f"sub{i}" for i in range(1, 6))
POSTAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{0,19}$")
TEXT_LIMITS = {"region": 100, "city": 100, "address": 300}


@dataclass
class ValidLead:
    """A submission that passed every rule, in normalized form, ready to store."""

    contact: dict[str, Any]
    attributes: dict[str, Any]
    consent: dict[str, Any] | None
    meta: dict[str, Any]
    sub_ids: dict[str, str]
    click_id: str | None


def _ip(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError("is not an IPv4 or IPv6 address") from None


def validate_submission(submission: LeadSubmission, vertical: Vertical, now: datetime) -> ValidLead:
    errors: list[FieldError] = []

    def attempt(field: str, check: Any, *args: Any) -> Any:
        try:
            return check(*args)
        except ValueError as exc:
            errors.append(FieldError(field, str(exc)))
            return None

    contact: dict[str, Any] = {}
    raw = submission.contact
    if raw is None:
        errors.append(FieldError("contact", "is required"))
    else:
        for name in ("first_name", "last_name"):
            value = getattr(raw, name)
            if value is None:
                errors.append(FieldError(f"contact.{name}", "is required"))
            else:
                contact[name] = attempt(f"contact.{name}", normalize.person_name, value)
        if raw.country is None:
            errors.append(FieldError("contact.country", "is required"))
        else:
            contact["country"] = attempt("contact.country", normalize.country, raw.country)
        if raw.phone is not None:
            contact["phone"] = attempt("contact.phone", normalize.phone, raw.phone, contact.get("country"))
        if raw.email is not None:
            contact["email"] = attempt("contact.email", normalize.email, raw.email)
        if raw.profile_url is not None:
            if (problem := check_http_url(raw.profile_url.strip(), "contact.profile_url")) is not None:
                errors.append(problem)
            elif len(raw.profile_url.strip()) > 500:
                errors.append(FieldError("contact.profile_url", "must be at most 500 characters"))
            else:
                contact["profile_url"] = raw.profile_url.strip()
        if not (raw.phone or raw.email or raw.profile_url):
            errors.append(FieldError("contact.phone", "give a phone, an e-mail or a profile_url to reach the person"))
        for name, limit in TEXT_LIMITS.items():
            value = getattr(raw, name)
            if value is not None:
                cleaned = normalize.clean_text(value)
                if len(cleaned) > limit:
                    errors.append(FieldError(f"contact.{name}", f"must be at most {limit} characters"))
                contact[name] = cleaned or None
        if raw.postal_code is not None:
            code = normalize.clean_text(raw.postal_code).upper()
            if not POSTAL_CODE.match(code):
                errors.append(FieldError("contact.postal_code", "must be letters, digits, spaces or hyphens (at most 20)"))
            contact["postal_code"] = code
        if raw.date_of_birth is not None:
            contact["date_of_birth"] = attempt("contact.date_of_birth", _date_of_birth, raw.date_of_birth, now)

    attributes = _attributes(submission.attributes, vertical, errors)

    sub_ids: dict[str, str] = {}
    for key, value in (submission.sub_ids or {}).items():
        if key not in SUB_IDS:
            errors.append(FieldError(f"sub_ids.{key}", "sub-id keys are sub1 to sub5"))
        elif len(value) > 255:
            errors.append(FieldError(f"sub_ids.{key}", "must be at most 255 characters"))
        elif value.strip():
            sub_ids[key] = value.strip()

    click_id = submission.click_id
    if click_id is not None and (not click_id.strip() or len(click_id) > 64 or not click_id.isprintable()):
        errors.append(FieldError("click_id", "must be 1 to 64 printable characters"))

    consent = None
    if submission.consent is not None:
        c = submission.consent
        consent = {}
        if not c.text or not c.text.strip():
            errors.append(FieldError("consent.text", "is required: the consent wording the person agreed to"))
        elif len(c.text) > 5000:
            errors.append(FieldError("consent.text", "must be at most 5000 characters"))
        else:
            consent["text"] = c.text.strip()
        if c.given_at is None:
            errors.append(FieldError("consent.given_at", "is required"))
        elif c.given_at.tzinfo is None:
            errors.append(FieldError("consent.given_at", "must carry a time zone, e.g. 2026-01-31T12:00:00Z"))
        else:
            consent["given_at"] = c.given_at.astimezone(now.tzinfo).isoformat()
        if c.ip is not None:
            consent["ip"] = attempt("consent.ip", _ip, c.ip)
        if c.page_url is not None:
            if (problem := check_http_url(c.page_url, "consent.page_url")) is not None:
                errors.append(problem)
            consent["page_url"] = c.page_url

    meta: dict[str, Any] = {}
    if submission.meta is None or submission.meta.ip is None:
        errors.append(FieldError("meta.ip", "is required: the IP address the form was filled from"))
    else:
        m = submission.meta
        meta["ip"] = attempt("meta.ip", _ip, m.ip)
        if m.user_agent is not None:
            if len(m.user_agent) > 1000:
                errors.append(FieldError("meta.user_agent", "must be at most 1000 characters"))
            meta["user_agent"] = m.user_agent[:1000]
        if m.form_seconds is not None:
            if not 0 <= m.form_seconds <= 86400:
                errors.append(FieldError("meta.form_seconds", "must be between 0 and 86400"))
            meta["form_seconds"] = m.form_seconds

    named = {e.field for e in errors}
    errors += [e for e in nul_fields(submission) if e.field not in named]
    if errors:
        raise InvalidInput(errors)
    return ValidLead(contact=contact, attributes=attributes, consent=consent, meta=meta, sub_ids=sub_ids,
                     click_id=click_id.strip() if click_id else None)


def _date_of_birth(value: str, now: datetime) -> date:
    try:
        born = date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be a date such as \"1990-05-31\"") from None
    if born > now.date():
        raise ValueError("must not be in the future")
    if born < now.date() - timedelta(days=365 * 120):
        raise ValueError("is more than 120 years ago")
    return born


def _attributes(given: dict[str, Any], vertical: Vertical, errors: list[FieldError]) -> dict[str, Any]:
    specs = {spec["name"]: spec for spec in vertical.fields}
    clean: dict[str, Any] = {}
    for name in given:
        if name not in specs:
            errors.append(FieldError(f"attributes.{name}", f"is not a field of the {vertical.slug} vertical"))
    for name, spec in specs.items():
        value = given.get(name)
        if value is None or value == "":
            if spec.get("required"):
                errors.append(FieldError(f"attributes.{name}", "is required"))
            continue
        normalized, reason = fields.check_value(spec, value)
        if reason is not None:
            errors.append(FieldError(f"attributes.{name}", reason))
        else:
            clean[name] = normalized
    return clean
