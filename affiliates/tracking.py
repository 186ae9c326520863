"""Tracking links: creating and pausing them, what a redirect needs to know about one (the link
target), and the caches that keep that knowledge off the database on the click path."""

from __future__ import annotations

import functools
import logging
import re
import secrets
import string
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import redis
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates.models import Affiliate, Offer
from affiliates.tracking_models import SUB_COLUMNS, TrackingLink
from affiliates.tracking_schemas import TrackingLinkCreate, TrackingLinkView
from leadmarket import audit
from leadmarket.clock import utcnow
from leadmarket.db import transaction, violated_constraint
from leadmarket.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal, Role
from leadmarket.paging import Page, PageRequest, paginate
from leadmarket.redis_client import redis_client
from leadmarket.settings import Settings, current_settings

log = logging.getLogger("leadmarket.tracking")

CODE_ALPHABET = string.ascii_lowercase + string.digits
CODE_LENGTH = 10
LINK_STATUSES = ("active", "paused")
# A link's cached target lives this long in Redis; a change rewrites it at once, the TTL only
# bounds how long a write that failed (Redis down during a pause) can leave it stale.
REDIS_LINK_TTL_SECONDS = 3600
MACRO = re.compile(r"\{(click_id|sub[1-5]|affiliate_id|offer_id)\}")
# A character `quote(value, safe="")` would escape: most macro values have none and skip the call.
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9_.~-]").search


def plausible_code(code: str) -> bool:
    """Could `code` be a link code? (Anything else is answered 404 without asking a cache.)"""
    return 0 < len(code) <= 32 and code.isascii() and code.isalnum()


def link_key(settings: Settings, code: str) -> str:
    return f"{settings.redis_prefix}link:{code}"


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """Everything the redirect needs about a link, its offer and its affiliate, in one record."""

    link_id: int
    code: str
    affiliate_id: int
    offer_id: int
    currency: str
    landing_url: str
    defaults: tuple[str | None, ...]  # sub1..sub5
    active: bool

    def to_redis(self) -> dict[str, str]:
        fields = {"id": str(self.link_id), "aff": str(self.affiliate_id), "offer": str(self.offer_id),
                  "cur": self.currency, "url": self.landing_url, "active": "1" if self.active else "0"}
        fields.update({f"s{i}": value for i, value in enumerate(self.defaults, 1) if value is not None})
        return fields

    @classmethod
    def from_redis(cls, code: str, fields: dict[bytes, bytes]) -> LinkTarget:
        text = {k.decode(): v.decode() for k, v in fields.items()}
        return cls(link_id=int(text["id"]), code=code, affiliate_id=int(text["aff"]), offer_id=int(text["offer"]),
                   currency=text["cur"], landing_url=text["url"],
                   defaults=tuple(text.get(f"s{i}") for i in range(1, 6)), active=text["active"] == "1")

    def landing(self, click_id: str, sub_ids: tuple[str | None, ...]) -> str:
        """The landing URL with its macros filled in, each value URL-encoded."""
        values = {"click_id": click_id, "affiliate_id": str(self.affiliate_id), "offer_id": str(self.offer_id)}
        values.update({f"sub{i}": value or "" for i, value in enumerate(sub_ids, 1)})
        literal, macros = _landing_parts(self.landing_url)
        out = [literal[0]]
        for name, text in zip(macros, literal[1:]):
            value = values[name]
            out.append(quote(value, safe="") if _NEEDS_QUOTING(value) else value)
            out.append(text)
        return "".join(out)


@functools.lru_cache(maxsize=4096)
def _landing_parts(url: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A landing URL split once into its literal text and the macros between (hot path)."""
    pieces = MACRO.split(url)
    return tuple(pieces[0::2]), tuple(pieces[1::2])


def link_target(session: Session, code: str) -> LinkTarget | None:
    """The target of link `code` read from the database, or None when there is no such link."""
    row = session.execute(
        select(TrackingLink, Offer.landing_url, Offer.currency, Offer.status, Affiliate.status)
        .join(Offer, Offer.id == TrackingLink.offer_id)
        .join(Affiliate, Affiliate.id == TrackingLink.affiliate_id)
        .where(TrackingLink.code == code)
    ).one_or_none()
    if row is None:
        return None
    link, landing_url, currency, offer_status, affiliate_status = row
    return LinkTarget(link_id=link.id, code=link.code, affiliate_id=link.affiliate_id, offer_id=link.offer_id,
                      currency=currency, landing_url=landing_url,
                      defaults=tuple(getattr(link, key) for key in SUB_COLUMNS),
                      active=link.status == "active" and offer_status == "active" and affiliate_status == "active")


class TargetCache:
    """An in-process LRU of link targets with a short time to live.

    It spares Redis a round trip on most clicks. Entries expire after `ttl` seconds, so a link
    paused on another server stops redirecting here within that time; a change made in this
    process drops the entry at once. Unknown codes are remembered too (as None), so a scanner
    trying codes cannot turn every request into a database query.
    """

    def __init__(self, size: int = 20_000, ttl: float = 10.0) -> None:
        self._entries: OrderedDict[str, tuple[float, LinkTarget | None]] = OrderedDict()
        self._size, self._ttl = size, ttl
        self._lock = threading.Lock()

    def get(self, code: str) -> tuple[bool, LinkTarget | None]:
        """(found, target): found is False when the code is not cached or its entry expired."""
        entry = self._entries.get(code)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def last_known(self, code: str) -> tuple[bool, LinkTarget | None]:
        """(found, target) however old the entry: what to serve while the database is down."""
        entry = self._entries.get(code)
        return (False, None) if entry is None else (True, entry[1])

    def put(self, code: str, target: LinkTarget | None) -> None:
        with self._lock:
            self._entries[code] = (time.monotonic() + self._ttl, target)
            self._entries.move_to_end(code)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def drop(self, code: str) -> None:
        with self._lock:
            self._entries.pop(code, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


targets = TargetCache()


def publish_target(settings: Settings, target: LinkTarget) -> None:
    """Write a link's target to Redis (after the commit that changed it) and drop the local copy."""
    targets.drop(target.code)
    client = redis_client(settings)
    if client is None:
        return
    key = link_key(settings, target.code)
    try:
        pipe = client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping=target.to_redis())
        pipe.expire(key, REDIS_LINK_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        # The redirect falls back to the database on a miss; a stale entry expires within the TTL.
        log.warning("could not cache link target: %s", type(exc).__name__)


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def check_sub_ids(sub_ids: dict[str, str] | None, field: str = "sub_ids") -> tuple[dict[str, str], list[FieldError]]:
    """Sub-ids cleaned of blanks, and every problem with them (keys sub1..sub5, at most 255 characters)."""
    clean: dict[str, str] = {}
    errors: list[FieldError] = []
    for key, value in (sub_ids or {}).items():
        if key not in SUB_COLUMNS:
            errors.append(FieldError(f"{field}.{key}", "sub-id keys are sub1 to sub5"))
        elif not isinstance(value, str) or len(value) > 255:
            errors.append(FieldError(f"{field}.{key}", "must be a string of at most 255 characters"))
        elif value.strip():
            clean[key] = value.strip()
    return clean, errors


def create_link(session: Session, principal: Principal, data: TrackingLinkCreate) -> TrackingLinkView:
    """An affiliate's new link for an active offer, cached for the redirect once committed."""
    if principal.affiliate_id is None:
        raise PermissionDenied("only affiliates create tracking links")
    sub_ids, errors = check_sub_ids(data.sub_ids)
    # offer ids are 32-bit columns: a larger one is no offer, not a failed query
    offer = session.get(Offer, data.offer_id) if data.offer_id is not None and 0 < data.offer_id < 2**31 else None
    if data.offer_id is None:
        errors.append(FieldError("offer_id", "is required"))
    elif offer is None or offer.status != "active":
        errors.append(FieldError("offer_id", "no active offer with this id"))
    if errors:
        raise InvalidInput(errors)
    now = utcnow()
    for attempt in range(5):
        link = TrackingLink(code=_new_code(), affiliate_id=principal.affiliate_id, offer_id=offer.id,
                            status="active", created_at=now, updated_at=now,
                            **{key: sub_ids.get(key) for key in SUB_COLUMNS})
        try:
            with transaction(session):
                session.add(link)
                session.flush()
            break
        except IntegrityError as exc:  # 36^10 codes: a clash is rare, a second one rarer
            if violated_constraint(exc) != "uq_tracking_link_code" or attempt == 4:
                raise
    settings = current_settings()
    target = link_target(session, link.code)
    if target is not None:
        publish_target(settings, target)
    return link_view(settings, link)


def set_link_status(session: Session, principal: Principal, code: str, status: str) -> TrackingLinkView:
    """Pause or resume a link; the redirect of a paused link answers 404 (within the cache TTL on
    other servers, at once on this one)."""
    if status not in LINK_STATUSES:
        raise InvalidInput.one("status", "must be active or paused")
    if not plausible_code(code):
        raise NotFound(f"no tracking link {code[:40]!r}")
    with transaction(session):
        link = session.execute(
            links_visible_to(principal).where(TrackingLink.code == code).with_for_update()).scalar_one_or_none()
        if link is None:
            raise NotFound(f"no tracking link {code!r}")
        audit.record(session, principal, "tracking_link.status", "tracking_link", link.id,
                     {"code": code, "from": link.status, "to": status})
        session.execute(update(TrackingLink).where(TrackingLink.id == link.id)
                        .values(status=status, updated_at=utcnow()))
    session.refresh(link)
    settings = current_settings()
    target = link_target(session, code)
    if target is not None:
        publish_target(settings, target)
    return link_view(settings, link)


def refresh_offer_links(session: Session, offer_id: int) -> int:
    """Re-publish the targets of an offer's links after the offer changed (paused, new landing URL)."""
    settings = current_settings()
    codes = list(session.execute(select(TrackingLink.code).where(TrackingLink.offer_id == offer_id)).scalars())
    for code in codes:
        target = link_target(session, code)
        if target is not None:
            publish_target(settings, target)
    return len(codes)


def links_visible_to(principal: Principal) -> Any:
    """The one scoping query for links: an affiliate sees their own, staff see all."""
    query = select(TrackingLink)
    if principal.role in (Role.ADMIN, Role.FINANCE):
        return query
    if principal.affiliate_id is not None:
        return query.where(TrackingLink.affiliate_id == principal.affiliate_id)
    return query.where(False)


def list_links(session: Session, principal: Principal) -> list[TrackingLinkView]:
    settings = current_settings()
    links = session.execute(links_visible_to(principal).order_by(TrackingLink.id)).scalars()
    return [link_view(settings, link) for link in links]


def get_link(session: Session, principal: Principal, code: str) -> TrackingLinkView:
    """One of the caller's links by its code; another affiliate's is NotFound."""
    link = session.execute(links_visible_to(principal).where(TrackingLink.code == code)).scalar_one_or_none() \
        if plausible_code(code) else None
    if link is None:
        raise NotFound(f"no tracking link {code[:40]!r}")
    return link_view(current_settings(), link)


def links_page(session: Session, principal: Principal, request: PageRequest) -> Page[TrackingLinkView]:
    """One page of the caller's links (staff: everyone's), newest first unless sorted otherwise."""
    found = paginate(session, links_visible_to(principal), request,
                     {"id": TrackingLink.id, "created": TrackingLink.created_at, "offer": TrackingLink.offer_id,
                      "status": TrackingLink.status}, "id")
    settings = current_settings()
    return Page(items=[link_view(settings, link) for link in found.items], request=found.request, total=found.total)


def link_view(settings: Settings, link: TrackingLink) -> TrackingLinkView:
    return TrackingLinkView(code=link.code, url=f"{settings.public_base_url}/r/{link.code}",
                            form_url=f"{settings.public_base_url}/f/{link.code}", offer_id=link.offer_id,
                            sub_ids={key: value for key in SUB_COLUMNS if (value := getattr(link, key))},
                            status=link.status, created_at=link.created_at)
