"""Attribution: joining a lead posted with a click_id to the click it came from.

A click_id of ours that belongs to another affiliate or another offer refuses the lead with a
422 naming `click_id` (nothing is stored: the affiliate fixes the post and sends it again; a
`rejected` lead would keep contact data we have no business keeping). A click_id we never
issued is kept as the affiliate's own reference, unjoined (affiliates pass their trackers' ids
too). A click still waiting in the Redis stream is found there.

What the lookup found is kept for the fraud screen (fraud/rules/clicks.py), so it need not ask
again: `meta["clicked_at"]` is the click's time (ISO 8601, UTC) when the click is ours, and
None when the lead's click_id is not a click we issued. Only this module writes that key
(validation builds `meta` from known fields, so an affiliate cannot send it).
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from affiliates import clicks
from affiliates.models import Offer
from leadmarket.errors import InvalidInput
from leadmarket.identity import Principal
from leadmarket.redis_client import redis_client
from leadmarket.settings import current_settings
from marketplace.validation import ValidLead


def attach_click(session: Session, principal: Principal, offer: Offer, valid: ValidLead) -> ValidLead:
    """The lead with its click's sub-ids filled in where the lead gives none; raises InvalidInput
    when the click is another affiliate's or another offer's."""
    if valid.click_id is None:
        return valid
    click = find(session, valid.click_id)
    if click is None:
        return replace(valid, meta={**valid.meta, "clicked_at": None})
    if click.affiliate_id != principal.affiliate_id:
        raise InvalidInput.one("click_id", "this click came through another affiliate's tracking link")
    if click.offer_id != offer.id:
        raise InvalidInput.one("click_id", f"this click was for offer {click.offer_id}, not offer {offer.id}")
    return replace(valid, sub_ids={**click.sub_ids, **valid.sub_ids},
                   meta={**valid.meta, "clicked_at": click.clicked_at.isoformat()})


def find(session: Session, click_id: str) -> clicks.ClickRecord | None:
    """A click of ours by id, stored or still in the stream."""
    if clicks.parse_click_id(click_id) is None:
        return None  # not an id our redirect makes
    settings = current_settings()
    return clicks.find_click(session, redis_client(settings), settings, click_id)
