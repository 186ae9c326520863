"""Ping-post logs and buyer health: who sees which auctions, and how each external buyer behaves."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadmarket.clock import utcnow
from leadmarket.identity import Principal, Role
from leadmarket.money import from_minor
from marketplace.ping_models import Ping, PingBid, PingBuyer
from marketplace.ping_schemas import PingBidView, PingBuyerHealth, PingLogEntry


def list_pings(session: Session, principal: Principal, *, limit: int = 100, offset: int = 0) -> list[PingLogEntry]:
    """Auction logs: an affiliate's own pings (bidders unnamed), an advertiser's own bids, staff all."""
    query = select(Ping).order_by(Ping.id.desc()).limit(limit).offset(offset)
    bid_filter = None
    if principal.role in (Role.ADMIN, Role.FINANCE):
        pass
    elif principal.affiliate_id is not None:
        query = query.where(Ping.affiliate_id == principal.affiliate_id)
    elif principal.advertiser_id is not None:
        bid_filter = PingBid.advertiser_id == principal.advertiser_id
        query = query.where(Ping.id.in_(select(PingBid.ping_id).where(bid_filter)))
    else:
        query = query.where(False)
    pings = list(session.execute(query).scalars())
    bids_query = select(PingBid).where(PingBid.ping_id.in_([p.id for p in pings])).order_by(PingBid.id)
    if bid_filter is not None:
        bids_query = bids_query.where(bid_filter)
    bids: dict[int, list[PingBid]] = {}
    for bid in session.execute(bids_query).scalars():
        bids.setdefault(bid.ping_id, []).append(bid)
    named = principal.affiliate_id is None
    return [PingLogEntry(
        ping_id=p.token, offer_id=p.offer_id, vertical_id=p.vertical_id, status=p.status,
        best_bid=from_minor(p.best_bid_minor, p.currency) if p.best_bid_minor else None, currency=p.currency,
        created_at=p.created_at, expires_at=p.expires_at, duration_ms=p.duration_ms, lead_id=p.lead_id,
        request=p.request,
        bids=[PingBidView(status=b.status, bid=from_minor(b.bid_minor, p.currency) if b.bid_minor else None,
                          response_ms=b.response_ms, post_status=b.post_status, post_ms=b.post_ms,
                          buyer_id=b.buyer_id if named else None, advertiser_id=b.advertiser_id if named else None)
              for b in bids.get(p.id, [])]) for p in pings]


def buyer_health(session: Session, *, days: int = 30) -> list[PingBuyerHealth]:
    """Per buyer over the last `days`: the share of pings it bid on (accept rate), timed out on,
    the share of posts it did not take — refused, timed out or failed — (post-reject rate; a post
    it accepted that we then could not charge for is left out), and its median ping response time."""
    since = utcnow() - timedelta(days=days)
    rows: dict[int, list[Any]] = {}
    for row in session.execute(select(PingBid.buyer_id, PingBid.status, PingBid.response_ms, PingBid.post_status)
                               .where(PingBid.created_at >= since)):
        rows.setdefault(row.buyer_id, []).append(row)
    health = []
    for buyer in session.execute(select(PingBuyer).order_by(PingBuyer.id)).scalars():
        answers = rows.get(buyer.id, [])
        count = Counter(a.status for a in answers)
        posts = [a for a in answers if a.post_status is not None and a.post_status != "unsold"]
        rejects = sum(1 for a in posts if a.post_status != "accepted")  # refused, timed out or failed
        health.append(PingBuyerHealth(
            buyer_id=buyer.id, name=buyer.name, advertiser_id=buyer.advertiser_id, status=buyer.status,
            pings=len(answers), bids=count["bid"], timeouts=count["timeout"], errors=count["error"], posts=len(posts),
            post_rejects=rejects, accept_rate=_rate(count["bid"], len(answers)),
            timeout_rate=_rate(count["timeout"], len(answers)), post_reject_rate=_rate(rejects, len(posts)),
            median_response_ms=statistics.median(a.response_ms for a in answers) if answers else None))
    return health


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
