"""Verticals: creating a market with its lead fields, and reading them back."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadmarket.clock import utcnow
from leadmarket.db import transaction, violated_constraint
from leadmarket import audit
from leadmarket.identity import Principal
from leadmarket.errors import Conflict, FieldError, InvalidInput
from leadmarket.money import MINOR_DIGITS, from_minor, to_minor
from leadmarket.settings import current_settings
from leadmarket.validators import reject_nul
from marketplace import fields
from marketplace.models import Vertical
from marketplace.schemas import VerticalCreate, VerticalView

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def create_vertical(session: Session, data: VerticalCreate, principal: Principal | None = None,
                    decode_errors: Sequence[FieldError] = ()) -> Vertical:
    """Create a vertical; `decode_errors` are what a form found while decoding its fields, reported
    together with every rule broken here."""
    reject_nul(data)
    currency = (data.currency or current_settings().currency).upper()
    errors: list[FieldError] = list(decode_errors)
    if not SLUG.match(data.slug):
        errors.append(FieldError("slug", "must be lower-case letters, digits and hyphens"))
    if not data.name.strip() or len(data.name) > 200:
        errors.append(FieldError("name", "must be 1 to 200 characters"))
    if currency not in MINOR_DIGITS:
        errors.append(FieldError("currency", f"must be one of {', '.join(sorted(MINOR_DIGITS))}"))
    if not 0 <= data.dedupe_window_days <= 3650:
        errors.append(FieldError("dedupe_window_days", "must be between 0 and 3650"))
    if not 1 <= data.max_shared_sales <= 20:
        errors.append(FieldError("max_shared_sales", "must be between 1 and 20"))
    field_list = [{k: v for k, v in {"name": f.name, "type": f.type, "required": f.required, "choices": f.choices,
                                     "min": f.min, "max": f.max, "label": f.label}.items() if v is not None}
                  for f in data.fields]
    errors += fields.check_definitions(field_list)
    base_price_minor = 0
    if currency in MINOR_DIGITS:
        try:
            base_price_minor = to_minor(data.base_price, currency, field="base_price")
        except InvalidInput as exc:
            errors += exc.errors
    if errors:
        raise InvalidInput(errors)
    vertical = Vertical(slug=data.slug, name=data.name.strip(), fields=field_list,
                        dedupe_window_days=data.dedupe_window_days, max_shared_sales=data.max_shared_sales,
                        base_price_minor=base_price_minor, currency=currency, created_at=utcnow())
    try:
        with transaction(session):
            session.add(vertical)
            session.flush()
            audit.record(session, principal, "vertical.create", "vertical", vertical.id, {"slug": vertical.slug})
    except IntegrityError as exc:
        if violated_constraint(exc) == "uq_vertical_slug":
            raise Conflict(f"a vertical with slug {data.slug!r} exists") from exc
        raise
    return vertical


def list_verticals(session: Session) -> list[Vertical]:
    return list(session.execute(select(Vertical).order_by(Vertical.id)).scalars())


def vertical_view(vertical: Vertical) -> VerticalView:
    return VerticalView(id=vertical.id, slug=vertical.slug, name=vertical.name, fields=vertical.fields,
                        dedupe_window_days=vertical.dedupe_window_days,
                        max_shared_sales=vertical.max_shared_sales,
                        base_price=from_minor(vertical.base_price_minor, vertical.currency),
                        currency=vertical.currency, created_at=vertical.created_at)
