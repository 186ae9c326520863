"""Affiliate accounts: creating one with its first API key, and reading them back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates.models import Affiliate
from affiliates.schemas import AffiliateCreate, AffiliateCreated, AffiliateView
from leadmarket.clock import utcnow
from leadmarket.db import transaction, violated_constraint
from leadmarket import audit, pausing
from leadmarket.errors import Conflict, FieldError, InvalidInput
from leadmarket.identity import Principal, Role, create_api_key
from leadmarket.paging import Page, PageRequest, paginate
from leadmarket.validators import check_name, reject_nul
from marketplace import normalize


def create_affiliate(session: Session, data: AffiliateCreate, principal: Principal | None = None) -> AffiliateCreated:
    """Create the account and its first API key; the raw key is in the answer and nowhere else."""
    reject_nul(data)
    errors = [e for e in [check_name(data.name)] if e]
    try:
        email = normalize.email(data.email)
    except ValueError as exc:
        errors.append(FieldError("email", str(exc)))
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction(session):
            affiliate = Affiliate(name=data.name.strip(), email=email, status="active", created_at=utcnow())
            session.add(affiliate)
            session.flush()
            _, raw_key = create_api_key(session, role=Role.AFFILIATE, name=f"{affiliate.name} (first key)"[:100],
                                        affiliate_id=affiliate.id)
            audit.record(session, principal, "affiliate.create", "affiliate", affiliate.id)
    except IntegrityError as exc:
        if violated_constraint(exc) == "uq_affiliate_email":
            raise Conflict("an affiliate with this e-mail exists") from exc
        raise
    view = affiliate_view(affiliate)
    return AffiliateCreated(**{f: getattr(view, f) for f in view.__struct_fields__}, api_key=raw_key)


def list_affiliates(session: Session) -> list[Affiliate]:
    return list(session.execute(select(Affiliate).order_by(Affiliate.id)).scalars())


def affiliate_view(affiliate: Affiliate) -> AffiliateView:
    return AffiliateView(id=affiliate.id, name=affiliate.name, email=affiliate.email, status=affiliate.status,
                         created_at=affiliate.created_at)


STATUSES = pausing.STATUSES


def affiliates_page(session: Session, request: PageRequest) -> Page[Affiliate]:
    return paginate(session, select(Affiliate), request,
                    {"id": Affiliate.id, "name": Affiliate.name, "status": Affiliate.status,
                     "created_at": Affiliate.created_at}, "id")


def set_affiliate_status(session: Session, principal: Principal, affiliate_id: int, status: str) -> Affiliate:
    """Pause or reactivate an affiliate; audited."""
    return pausing.set_status(session, principal, Affiliate, affiliate_id, status)
