"""Ping-post: auction a lead's non-contact data among external buyers, then post the full lead to
the winner (falling back to the next bid), with every bid and answer logged.

HTTP calls to buyers never run inside a database transaction:
  * ping: read the buyers, ask them all in parallel (each with its timeout), then write the
    auction in one transaction;
  * post: claim the ping (open -> posting, a conditional UPDATE), take the lead through intake
    (validation, dedupe, screen) with a seller that keeps a clean lead unsold, commit; post it to
    the bidders best first, outside any transaction; then, in a second transaction, sell it to
    the first that accepted (`sales.sell_lead`, channel "ping_post", price = bid, charged in the
    ledger) or, when none did, hand it to normal distribution (orders, else the store).
A crash between the two transactions leaves an accepted, unsold lead: it stays in the store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from affiliates import postbacks
from affiliates.models import Offer
from leadmarket import outbound
from leadmarket import audit
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal
from leadmarket.money import InvalidAmount, from_minor, to_minor
from leadmarket.validators import check_http_url, check_name, nul_fields
from marketplace import delivery, intake, lifecycle, normalize
from marketplace.distribution import Outcome, distribute
from marketplace.models import Advertiser, Lead, Vertical
from marketplace.orders import TEMPERATURES
from marketplace.ping_models import BUYER_STATUSES, Ping, PingBid, PingBuyer
from marketplace.ping_schemas import (
    PingAnswer,
    PingBuyerCreate,
    PingBuyerView,
    PingRequest,
    PostDecision,
    PostSubmission,
)
from marketplace.sales import AdvertiserCannotBuy, LeadAlreadySold, sell_lead
from marketplace.validation import POSTAL_CODE, _attributes

PING_TTL = timedelta(minutes=5)
MAX_BUYERS = 32  # parallel pings per auction
SIGNATURE_HEADER = "X-Leadmarket-Signature"
TIMESTAMP_HEADER = "X-Leadmarket-Timestamp"


class PingExpired(Conflict):
    def __init__(self, expired_at: datetime) -> None:
        super().__init__(f"the ping expired at {expired_at.isoformat()}; ping again")


class PingAlreadyPosted(Conflict):
    def __init__(self, lead_id: int | None = None) -> None:
        where = f" as lead {lead_id}" if lead_id is not None else ""
        super().__init__(f"this ping was already posted{where}; ping again for a new auction")


class PingWithoutBid(Conflict):
    def __init__(self) -> None:
        super().__init__("no buyer bid on this ping; post the lead to /api/v1/leads instead")


# ---------------------------------------------------------------- buyers (admin)


def create_ping_buyer(session: Session, data: PingBuyerCreate, principal: Principal | None = None) -> PingBuyerView:
    errors: list[FieldError] = list(nul_fields(data))
    with transaction(session):
        advertiser = session.get(Advertiser, data.advertiser_id) if 0 < data.advertiser_id < 2**31 else None
        vertical = session.execute(select(Vertical).where(Vertical.slug == data.vertical)).scalar_one_or_none()
        if advertiser is None:
            errors.append(FieldError("advertiser_id", "no advertiser with this id"))
        if vertical is None:
            errors.append(FieldError("vertical", "no vertical with this slug"))
        if advertiser is not None and vertical is not None and advertiser.currency != vertical.currency:
            errors.append(FieldError("advertiser_id", f"the advertiser pays in {advertiser.currency}, "
                                                      f"the vertical sells in {vertical.currency}"))
        for field in ("ping_url", "post_url"):
            if (problem := check_http_url(getattr(data, field).strip(), field)) is not None:
                errors.append(problem)
        if not 16 <= len(data.secret) <= 200:
            errors.append(FieldError("secret", "must be 16 to 200 characters: it signs every ping and post"))
        if not 50 <= data.timeout_ms <= 10000:
            errors.append(FieldError("timeout_ms", "must be between 50 and 10000"))
        if data.status not in BUYER_STATUSES:
            errors.append(FieldError("status", "must be active or paused"))
        name = (data.name if data.name is not None else advertiser.name if advertiser else "-").strip()
        if (problem := check_name(name or " ", "name")) is not None:
            errors.append(problem)
        if errors:
            raise InvalidInput(errors)
        assert vertical is not None
        buyer = PingBuyer(advertiser_id=data.advertiser_id, vertical_id=vertical.id, name=name,
                          ping_url=data.ping_url.strip(), post_url=data.post_url.strip(), secret=data.secret,
                          timeout_ms=data.timeout_ms, status=data.status, created_at=utcnow())
        session.add(buyer)
        session.flush()
        audit.record(session, principal, "ping_buyer.create", "ping_buyer", buyer.id,
                     {"advertiser_id": buyer.advertiser_id, "vertical": vertical.slug})  # never the secret
        return _buyer_view(buyer, vertical.slug)


def list_ping_buyers(session: Session) -> list[PingBuyerView]:
    rows = session.execute(select(PingBuyer, Vertical.slug).join(Vertical, Vertical.id == PingBuyer.vertical_id)
                           .order_by(PingBuyer.id)).all()
    return [_buyer_view(buyer, slug) for buyer, slug in rows]


def _buyer_view(buyer: PingBuyer, slug: str) -> PingBuyerView:
    return PingBuyerView(id=buyer.id, advertiser_id=buyer.advertiser_id, vertical=slug, name=buyer.name,
                         ping_url=buyer.ping_url, post_url=buyer.post_url, has_secret=bool(buyer.secret),
                         timeout_ms=buyer.timeout_ms, status=buyer.status, created_at=buyer.created_at)


# ---------------------------------------------------------------- signed HTTP to buyers


@dataclass(frozen=True)
class _Target:
    buyer_id: int
    advertiser_id: int
    url: str
    secret: str
    timeout_ms: int


@dataclass(frozen=True)
class _Answer:
    status: str  # what the buyer said: ok / refused / timeout / error
    body: dict[str, Any] | None
    elapsed_ms: int
    detail: str | None = None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", as the buyer verifies it."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _call(client: httpx.Client, target: _Target, payload: dict[str, Any]) -> _Answer:
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               SIGNATURE_HEADER: sign(target.secret, timestamp, body)}
    started = time.monotonic()
    try:
        response = client.post(target.url, content=body, headers=headers, timeout=target.timeout_ms / 1000)
    except httpx.TimeoutException:
        return _Answer("timeout", None, _ms_since(started))
    except httpx.HTTPError as exc:
        return _Answer("error", None, _ms_since(started), type(exc).__name__)
    elapsed = _ms_since(started)
    if elapsed > target.timeout_ms:
        return _Answer("timeout", None, elapsed)
    if not response.is_success:
        return _Answer("error", None, elapsed, f"HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        return _Answer("error", None, elapsed, "answer is not JSON")
    if not isinstance(answer, dict):
        return _Answer("error", None, elapsed, "answer is not a JSON object")
    return _Answer("ok", answer, elapsed)


def _call_all(targets: Sequence[_Target], payload: dict[str, Any]) -> list[_Answer]:
    """Ask every target at once; one that has not answered by its timeout (plus a little for the
    thread pool) counts as a timeout even if its connection is still open."""
    if not targets:
        return []
    pool = ThreadPoolExecutor(max_workers=min(MAX_BUYERS, len(targets)), thread_name_prefix="ping")
    client = outbound.client(follow_redirects=False)
    started = time.monotonic()
    try:
        futures = [pool.submit(_call, client, target, payload) for target in targets]
        wait(futures, timeout=max(t.timeout_ms for t in targets) / 1000 + 0.25)
        return [f.result() if f.done() else _Answer("timeout", None, _ms_since(started)) for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        client.close()


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# ---------------------------------------------------------------- ping: the auction


def ping(session: Session, principal: Principal, request: PingRequest) -> PingAnswer:
    """Ask every active buyer of the offer's vertical for a bid; record the auction; the best bid."""
    if principal.affiliate_id is None:
        raise PermissionDenied("only affiliates ping leads")
    with transaction(session):
        offer = intake.active_offer(session, request.offer_id, principal.affiliate_id)
        if offer.kind == "targeted":
            raise InvalidInput.one("offer_id", "a targeted offer sells only to its advertiser: post to /api/v1/leads")
        vertical: Vertical = offer.vertical
        pinged = _valid_ping(request, vertical)
        targets = [_Target(b.id, b.advertiser_id, b.ping_url, b.secret, b.timeout_ms) for b in session.execute(
            select(PingBuyer).where(PingBuyer.vertical_id == vertical.id, PingBuyer.status == "active")
            .order_by(PingBuyer.id).limit(MAX_BUYERS)).scalars()]
        offer_id, vertical_id, slug, currency = offer.id, vertical.id, vertical.slug, offer.currency
    token = "png_" + secrets.token_urlsafe(18)
    started = time.monotonic()
    answers = _call_all(targets, {"ping_id": token, "vertical": slug, "currency": currency, **pinged})
    duration_ms = _ms_since(started)
    now = utcnow()
    bids = [_judge_bid(answer, currency) for answer in answers]
    best = max((bid for _, bid, _ in bids if bid is not None), default=None)
    with transaction(session):
        auction = Ping(token=token, affiliate_id=principal.affiliate_id, offer_id=offer_id, vertical_id=vertical_id,
                       request=pinged, currency=currency, best_bid_minor=best, status="open", created_at=now,
                       expires_at=now + PING_TTL, duration_ms=duration_ms)
        session.add(auction)
        session.flush()
        session.add_all([PingBid(ping_id=auction.id, buyer_id=target.buyer_id, advertiser_id=target.advertiser_id,
                                 status=status, bid_minor=bid, response_ms=answer.elapsed_ms, detail=detail,
                                 created_at=now)
                         for target, answer, (status, bid, detail) in zip(targets, answers, bids, strict=True)])
    return PingAnswer(ping_id=token, status="bid" if best else "no_bid",
                      best_bid=from_minor(best, currency) if best else None, currency=currency,
                      expires_at=auction.expires_at, bids=sum(1 for status, _, _ in bids if status == "bid"))


def _judge_bid(answer: _Answer, currency: str) -> tuple[str, int | None, str | None]:
    """A buyer's ping answer as (status, bid_minor, detail): {"accept": true, "bid": "12.50"} bids."""
    if answer.status != "ok" or answer.body is None:
        return answer.status, None, answer.detail
    if answer.body.get("accept") is not True:
        return "no_bid", None, None
    raw = answer.body.get("bid")
    try:
        bid = to_minor(Decimal(str(raw)), currency, field="bid") if isinstance(raw, (str, int)) else None
    except (InvalidAmount, InvalidOperation):
        bid = None
    if bid is None:
        return "error", None, "bid is not an amount such as \"12.50\""
    return ("bid", bid, None) if bid > 0 else ("no_bid", None, None)



def _valid_ping(request: PingRequest, vertical: Vertical) -> dict[str, Any]:
    """The pinged data, normalized, or one InvalidInput naming every bad field."""
    errors: list[FieldError] = list(nul_fields(request))
    pinged: dict[str, Any] = {}
    if request.country is None:
        errors.append(FieldError("country", "is required"))
    else:
        try:
            pinged["country"] = normalize.country(request.country)
        except ValueError as exc:
            errors.append(FieldError("country", str(exc)))
    if request.region is not None:
        region = normalize.clean_text(request.region)
        if len(region) > 100:
            errors.append(FieldError("region", "must be at most 100 characters"))
        pinged["region"] = region or None
    if request.postal_prefix is not None:
        prefix = normalize.clean_text(request.postal_prefix).upper()
        if not POSTAL_CODE.match(prefix) or len(prefix) > 5:
            errors.append(FieldError("postal_prefix", "must be the first 1 to 5 letters or digits of the postal code"))
        pinged["postal_prefix"] = prefix
    if request.temperature is not None:
        if request.temperature not in TEMPERATURES:
            errors.append(FieldError("temperature", "must be cold, warm or hot"))
        pinged["temperature"] = request.temperature
    pinged["attributes"] = _attributes(request.attributes, vertical, errors)
    if errors:
        raise InvalidInput(errors)
    return pinged


# ---------------------------------------------------------------- post: sell to the winner


def post_lead(session: Session, principal: Principal, submission: PostSubmission) -> PostDecision:
    """Take the full lead of a ping through intake and sell it to the best bidder that accepts it;
    when none does, distribute it as any lead. When this returns, the lead and its sale are committed."""
    if principal.affiliate_id is None:
        raise PermissionDenied("only affiliates post leads")
    auction, bidders = _open_ping(session, principal, submission)
    held: list[int] = []

    def hold(_: Session, lead: Lead, offer: Offer) -> Outcome:
        held.append(lead.id)  # clean: kept unsold until the bidders have answered
        return Outcome(status="accepted", payout_minor=offer.payout_minor if offer.payout_model == "cpl" else 0)

    try:
        decision = intake.submit_lead(session, principal, submission, seller=hold)
    except BaseException:
        with transaction(session):  # nothing was kept: the ping may be posted again
            session.execute(update(Ping).where(Ping.id == auction.id, Ping.status == "posting").values(status="open"))
        raise
    if not held:  # a duplicate, rejected or in review: no buyer gets it
        with transaction(session):
            _close(session, auction.id, decision.lead_id, None, {})
        return _decision(decision.lead_id, auction.token, decision.status, decision.payout, decision.currency,
                         sold=False, reason=decision.reason, duplicate_of=decision.duplicate_of)

    with transaction(session):
        payload = {"ping_id": auction.token, **_full_lead(session.get_one(Lead, decision.lead_id))}
    posted: dict[int, tuple[str, int]] = {}
    winner: _Target | None = None
    for target, bid in bidders:
        answer = _call_all([target], {**payload, "price": str(from_minor(bid, auction.currency))})[0]
        status = answer.status
        if status == "ok":
            status = "accepted" if answer.body and answer.body.get("accept") is True else "rejected"
        posted[target.buyer_id] = (status, answer.elapsed_ms)
        if status == "accepted":
            winner, price_minor = target, bid
            break

    with transaction(session):
        lead = session.get_one(Lead, decision.lead_id, with_for_update=True)
        offer = session.get_one(Offer, lead.offer_id)
        sold_to, status = None, lead.status
        if winner is not None:
            try:
                sell_lead(session, lead, offer, advertiser_id=winner.advertiser_id, price_minor=price_minor,
                          exclusive=True, channel="ping_post", payout_minor=lead.payout_minor)
                sold_to = winner.buyer_id
            except (LeadAlreadySold, AdvertiserCannotBuy):
                posted[winner.buyer_id] = ("unsold", posted[winner.buyer_id][1])
        if sold_to is None and status == "accepted":  # nobody took it: as any lead, orders or the store
            sold_to_orders = distribute(session, lead, offer).status == "sold"
        else:
            sold_to_orders = False
        if sold_to is not None or sold_to_orders:
            lifecycle.transition(session, lead.id, "sold", only_from=["accepted"])
            postbacks.queue_lead_event(session, lead)
        _close(session, auction.id, lead.id, sold_to, posted)
        answer = _decision(lead.id, auction.token, lead.status, from_minor(lead.payout_minor, lead.currency),
                           lead.currency, sold=sold_to is not None, reason=lead.reason)
    postbacks.dispatch_pending(session)
    delivery.dispatch_pending(session)
    return answer


def _open_ping(session: Session, principal: Principal,
               submission: PostSubmission) -> tuple[Ping, list[tuple[_Target, int]]]:
    """Claim the caller's ping for posting (once, before it expires); its bidders, best bid first."""
    if not submission.ping_id:
        raise InvalidInput.one("ping_id", "is required: the ping_id POST /api/v1/ping answered")
    with transaction(session):
        auction = session.execute(select(Ping).where(Ping.token == submission.ping_id)).scalar_one_or_none()
        if auction is None or auction.affiliate_id != principal.affiliate_id:
            raise NotFound("no such ping")
        now = utcnow()
        if auction.status != "open":
            raise PingAlreadyPosted(auction.lead_id)  # a retried post learns which lead it became
        if auction.expires_at <= now:
            raise PingExpired(auction.expires_at)
        if auction.best_bid_minor is None:
            raise PingWithoutBid()
        if submission.offer_id != auction.offer_id:
            raise InvalidInput.one("offer_id", f"must be the pinged offer ({auction.offer_id})")
        country = submission.contact.country if submission.contact else None
        if country and country.strip().upper() != auction.request.get("country"):
            raise InvalidInput.one("contact.country", f"must be the pinged country ({auction.request['country']})")
        rows = session.execute(
            select(PingBid, PingBuyer).join(PingBuyer, PingBuyer.id == PingBid.buyer_id)
            .where(PingBid.ping_id == auction.id, PingBid.status == "bid", PingBuyer.status == "active")
            .order_by(PingBid.bid_minor.desc(), PingBid.response_ms, PingBid.id)).all()
        bidders = [(_Target(buyer.id, buyer.advertiser_id, buyer.post_url, buyer.secret, buyer.timeout_ms),
                    bid.bid_minor) for bid, buyer in rows if bid.bid_minor is not None]
        # The claim decides, not the reads above: two posts of one ping race to this UPDATE.
        claimed = session.execute(update(Ping).where(Ping.id == auction.id, Ping.status == "open",
                                                     Ping.expires_at > now).values(status="posting")).rowcount
        if claimed != 1:
            raise PingAlreadyPosted()
    return auction, bidders


def _close(session: Session, ping_id: int, lead_id: int, sold_to: int | None,
           posted: dict[int, tuple[str, int]]) -> None:
    session.execute(update(Ping).where(Ping.id == ping_id).values(
        status="posted", posted_at=utcnow(), lead_id=lead_id, sold_to_buyer_id=sold_to))
    for buyer_id, (status, elapsed_ms) in posted.items():
        session.execute(update(PingBid).where(PingBid.ping_id == ping_id, PingBid.buyer_id == buyer_id)
                        .values(post_status=status, post_ms=elapsed_ms))


def _full_lead(lead: Lead) -> dict[str, Any]:
    """What a buyer who won the auction receives: the lead with its contact data and consent."""
    contact = {k: getattr(lead, k) for k in ("first_name", "last_name", "email", "phone", "profile_url", "country",
                                             "region", "city", "postal_code", "address")}
    contact["date_of_birth"] = lead.date_of_birth.isoformat() if lead.date_of_birth else None
    return {"lead_id": lead.id, "contact": {k: v for k, v in contact.items() if v is not None},
            "attributes": lead.attributes, "consent": lead.consent, "temperature": lead.temperature,
            "created_at": lead.created_at.isoformat()}


def _decision(lead_id: int, token: str, status: str, payout: Decimal, currency: str, *, sold: bool,
              reason: str | None = None, duplicate_of: int | None = None) -> PostDecision:
    return PostDecision(lead_id=lead_id, ping_id=token, status=status, payout=payout, currency=currency,
                        sold_to_ping_buyer=sold, reason=reason, duplicate_of=duplicate_of)
