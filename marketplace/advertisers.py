"""Advertiser accounts: creating one with its first API key, and reading them back."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadmarket.clock import utcnow
from leadmarket.db import transaction, violated_constraint
from leadmarket import audit, pausing
from leadmarket.errors import Conflict, FieldError, InvalidInput
from leadmarket.identity import Principal, Role, create_api_key
from leadmarket.paging import Page, PageRequest, paginate
from leadmarket.money import MINOR_DIGITS, from_minor, to_minor
from leadmarket.settings import current_settings
from leadmarket.validators import check_name, reject_nul
from marketplace import normalize
from marketplace.models import Advertiser
from marketplace.schemas import AdvertiserCreate, AdvertiserCreated, AdvertiserView

BILLING_MODES = ("prepaid", "invoice")


def create_advertiser(session: Session, data: AdvertiserCreate, principal: Principal | None = None
                      ) -> AdvertiserCreated:
    """Create the account and its first API key; the raw key is in the answer and nowhere else."""
    reject_nul(data)
    currency = (data.currency or current_settings().currency).upper()
    errors = [e for e in [check_name(data.name)] if e]
    try:
        email = normalize.email(data.email)
    except ValueError as exc:
        errors.append(FieldError("email", str(exc)))
    if data.billing_mode not in BILLING_MODES:
        errors.append(FieldError("billing_mode", "must be prepaid or invoice"))
    if currency not in MINOR_DIGITS:
        errors.append(FieldError("currency", f"must be one of {', '.join(sorted(MINOR_DIGITS))}"))
    credit_limit_minor = 0
    if currency in MINOR_DIGITS:
        try:
            credit_limit_minor = to_minor(data.credit_limit or Decimal(0), currency, field="credit_limit")
        except InvalidInput as exc:
            errors += exc.errors
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction(session):
            advertiser = Advertiser(name=data.name.strip(), email=email, billing_mode=data.billing_mode,
                                    credit_limit_minor=credit_limit_minor, currency=currency, status="active",
                                    created_at=utcnow())
            session.add(advertiser)
            session.flush()
            _, raw_key = create_api_key(session, role=Role.ADVERTISER, name=f"{advertiser.name} (first key)"[:100],
                                        advertiser_id=advertiser.id)
            audit.record(session, principal, "advertiser.create", "advertiser", advertiser.id,
                         {"billing_mode": advertiser.billing_mode, "credit_limit_minor": credit_limit_minor})
    except IntegrityError as exc:
        if violated_constraint(exc) == "uq_advertiser_email":
            raise Conflict("an advertiser with this e-mail exists") from exc
        raise
    view = advertiser_view(advertiser)
    return AdvertiserCreated(**{f: getattr(view, f) for f in view.__struct_fields__}, api_key=raw_key)


def list_advertisers(session: Session) -> list[Advertiser]:
    return list(session.execute(select(Advertiser).order_by(Advertiser.id)).scalars())


def advertiser_view(advertiser: Advertiser) -> AdvertiserView:
    return AdvertiserView(id=advertiser.id, name=advertiser.name, email=advertiser.email,
                          billing_mode=advertiser.billing_mode,
                          credit_limit=from_minor(advertiser.credit_limit_minor, advertiser.currency),
                          currency=advertiser.currency, status=advertiser.status, created_at=advertiser.created_at)


STATUSES = pausing.STATUSES


def advertisers_page(session: Session, request: PageRequest) -> Page[Advertiser]:
    return paginate(session, select(Advertiser), request,
                    {"id": Advertiser.id, "name": Advertiser.name, "status": Advertiser.status,
                     "billing_mode": Advertiser.billing_mode}, "id")


def set_advertiser_status(session: Session, principal: Principal, advertiser_id: int, status: str) -> Advertiser:
    """Pause (no more sales, orders or store purchases) or reactivate an advertiser; audited."""
    return pausing.set_status(session, principal, Advertiser, advertiser_id, status)
