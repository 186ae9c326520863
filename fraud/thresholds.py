"""Where the screen draws its lines: per vertical (review_at / reject_at, quality rules) and the
per-offer overrides (thresholds, minimum form seconds) — read by the screen, set by admins."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from affiliates.models import Offer
from fraud import quality
from fraud.schemas import (OfferScreeningUpdate, OfferScreeningView, VerticalScreeningUpdate,
                           VerticalScreeningView)
from leadmarket import audit
from leadmarket.db import transaction
from leadmarket.errors import FieldError, InvalidInput, NotFound
from leadmarket.identity import Principal
from leadmarket.settings import Settings, current_settings
from marketplace.models import Vertical

DEFAULT_REVIEW_AT = 40
DEFAULT_REJECT_AT = 70


@dataclass(frozen=True)
class Thresholds:
    review_at: int
    reject_at: int
    min_form_seconds: int

    def verdict(self, score: int) -> str:
        """reject at or above reject_at, review at or above review_at, else accept."""
        if score >= self.reject_at:
            return "reject"
        if score >= self.review_at:
            return "review"
        return "accept"


def effective(vertical: Vertical, offer: Offer | None, settings: Settings) -> Thresholds:
    review_at = vertical.review_at if vertical.review_at is not None else DEFAULT_REVIEW_AT
    reject_at = vertical.reject_at if vertical.reject_at is not None else DEFAULT_REJECT_AT
    min_form = settings.min_form_seconds
    if offer is not None:
        review_at = offer.review_at if offer.review_at is not None else review_at
        reject_at = offer.reject_at if offer.reject_at is not None else reject_at
        min_form = offer.min_form_seconds if offer.min_form_seconds is not None else min_form
    return Thresholds(review_at=review_at, reject_at=reject_at, min_form_seconds=min_form)


def _score_errors(field: str, value: int | None) -> list[FieldError]:
    if value is not None and not 1 <= value <= 100:
        return [FieldError(field, "must be a score between 1 and 100")]
    return []


def update_vertical(session: Session, principal: Principal, vertical_id: int,
                    data: VerticalScreeningUpdate) -> Vertical:
    with transaction(session):
        query = select(Vertical).where(Vertical.id == vertical_id).with_for_update()
        vertical = session.execute(query).scalar_one_or_none()
        if vertical is None:
            raise NotFound(f"no vertical {vertical_id}")
        values: dict[str, object] = {}
        errors: list[FieldError] = []
        if data.review_at is not msgspec.UNSET:
            errors += _score_errors("review_at", data.review_at)
            values["review_at"] = data.review_at
        if data.reject_at is not msgspec.UNSET:
            errors += _score_errors("reject_at", data.reject_at)
            values["reject_at"] = data.reject_at
        review_at = values.get("review_at", vertical.review_at)
        reject_at = values.get("reject_at", vertical.reject_at)
        if not errors and review_at > reject_at:  # type: ignore[operator]
            errors.append(FieldError("reject_at", "must not be below review_at"))
        if data.quality_rules is not msgspec.UNSET:
            if data.quality_rules is None:
                values["quality_rules"] = None
            else:
                try:
                    values["quality_rules"] = msgspec.to_builtins(quality.check_rules(data.quality_rules, vertical))
                except InvalidInput as exc:
                    errors += exc.errors
        if errors:
            raise InvalidInput(errors)
        if values:
            session.execute(update(Vertical).where(Vertical.id == vertical_id).values(**values))
            audit.record(session, principal, "screening.vertical_update", "vertical", vertical_id,
                         {k: v for k, v in values.items()})
        session.refresh(vertical)
    return vertical


def update_offer(session: Session, principal: Principal, offer_id: int, data: OfferScreeningUpdate) -> Offer:
    with transaction(session):
        query = select(Offer).where(Offer.id == offer_id).with_for_update(of=Offer)
        offer = session.execute(query).scalar_one_or_none()
        if offer is None:
            raise NotFound(f"no offer {offer_id}")
        values: dict[str, object] = {}
        errors: list[FieldError] = []
        for name in ("review_at", "reject_at"):
            given = getattr(data, name)
            if given is not msgspec.UNSET:
                errors += _score_errors(name, given)
                values[name] = given
        if data.min_form_seconds is not msgspec.UNSET:
            if data.min_form_seconds is not None and not 0 <= data.min_form_seconds <= 3600:
                errors.append(FieldError("min_form_seconds", "must be between 0 and 3600 seconds"))
            values["min_form_seconds"] = data.min_form_seconds
        if not errors:
            review_at = values.get("review_at", offer.review_at)
            reject_at = values.get("reject_at", offer.reject_at)
            review_at = offer.vertical.review_at if review_at is None else review_at
            reject_at = offer.vertical.reject_at if reject_at is None else reject_at
            if review_at > reject_at:  # type: ignore[operator]
                errors.append(FieldError("reject_at", f"the offer would review at {review_at} but reject at "
                                                      f"{reject_at}: reject_at must not be below review_at"))
        if errors:
            raise InvalidInput(errors)
        if values:
            session.execute(update(Offer).where(Offer.id == offer_id).values(**values))
            audit.record(session, principal, "screening.offer_update", "offer", offer_id, dict(values))
        session.refresh(offer)
    return offer


def get_vertical(session: Session, vertical_id: int) -> Vertical:
    vertical = session.get(Vertical, vertical_id)
    if vertical is None:
        raise NotFound(f"no vertical {vertical_id}")
    return vertical


def get_offer(session: Session, offer_id: int) -> Offer:
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise NotFound(f"no offer {offer_id}")
    return offer


def vertical_view(vertical: Vertical) -> VerticalScreeningView:
    return VerticalScreeningView(vertical_id=vertical.id, slug=vertical.slug, review_at=vertical.review_at,
                                 reject_at=vertical.reject_at, quality_rules=quality.rules_for(vertical),
                                 quality_rules_are_defaults=not vertical.quality_rules)


def offer_view(offer: Offer, settings: Settings | None = None) -> OfferScreeningView:
    lines = effective(offer.vertical, offer, settings or current_settings())
    return OfferScreeningView(offer_id=offer.id, review_at=offer.review_at, reject_at=offer.reject_at,
                              min_form_seconds=offer.min_form_seconds, effective_review_at=lines.review_at,
                              effective_reject_at=lines.reject_at, effective_min_form_seconds=lines.min_form_seconds)
