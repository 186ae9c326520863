"""Velocity: too many leads from one IP, from one affiliate + sub1, and one person's phone posted by
several affiliates (lead stacking) — counted in Redis sliding windows (leadmarket/counters.py).

A counter is advisory. When Redis errors or times out, the lead is screened without velocity
(reason `velocity_unchecked`, weight 0, and one log line without contact data), and Redis is
left alone for `velocity_retry_seconds`, so a slow Redis costs one timeout per process per
retry period instead of one per lead. Keys hold keyed hashes, never an IP or phone in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from datetime import datetime

from fraud.rules import Signal
from leadmarket.counters import Windows
from leadmarket.settings import Settings
from marketplace.models import Lead

log = logging.getLogger("leadmarket.fraud.velocity")

VELOCITY_IP = Signal("velocity_ip", 40)
VELOCITY_SUB = Signal("velocity_sub", 40)
LEAD_STACKING = Signal("lead_stacking", 50)
UNCHECKED = Signal("velocity_unchecked", 0)

_windows: dict[tuple[str | None, str], Windows] = {}
_down_until: dict[tuple[str | None, str], float] = {}
_lock = threading.Lock()


def windows_for(settings: Settings) -> Windows:
    """One Windows per Redis URL and prefix (the in-memory fallback must outlive a request)."""
    key = (settings.redis_url, settings.redis_prefix)
    with _lock:
        if key not in _windows:
            _windows[key] = Windows(settings)
        return _windows[key]


def _digest(settings: Settings, kind: str, value: str) -> str:
    return hmac.new(settings.secret_key.encode(), f"velocity:{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def check(lead: Lead, settings: Settings, now: datetime) -> list[Signal]:
    return check_many([lead], settings, now)[0]


def _hits(lead: Lead, settings: Settings) -> list[tuple[str, float]]:
    """The lead's windows: its IP, its affiliate + sub1, and its person (by anyone, by this affiliate)."""
    hits: list[tuple[str, float]] = []
    ip = (lead.meta or {}).get("ip")
    if ip:
        hits.append((f"fraud:ip:{_digest(settings, 'ip', ip)}", settings.velocity_ip_window_seconds))
    hits.append((f"fraud:sub:{lead.affiliate_id}:{_digest(settings, 'sub1', lead.sub1 or '')}",
                 settings.velocity_sub_window_seconds))
    contact = lead.phone or lead.email
    if contact:
        # Posts of this person by anyone, and by this affiliate, over the same window: the
        # difference is what other affiliates posted of the same person.
        person = _digest(settings, "contact", contact)
        window = settings.velocity_stacking_window_seconds
        hits += [(f"fraud:person:{person}", window), (f"fraud:person:{person}:aff:{lead.affiliate_id}", window)]
    return hits


def check_many(leads: list[Lead], settings: Settings, now: datetime) -> list[list[Signal]]:
    """The velocity signals of each lead; every window of every lead is counted in one round trip
    (leadmarket.counters.Windows.hit_many), in order, so each lead's counts include the leads
    before it."""
    target = (settings.redis_url, settings.redis_prefix)
    if _down_until.get(target, 0.0) > time.monotonic():
        return [[UNCHECKED] for _ in leads]
    hits = [_hits(lead, settings) for lead in leads]
    counts = windows_for(settings).hit_many([hit for lead_hits in hits for hit in lead_hits], now.timestamp())
    if counts is None:
        _down_until[target] = time.monotonic() + settings.velocity_retry_seconds
        log.warning("velocity unchecked for %d lead(s): counters unavailable; retrying Redis in %ss",
                    len(leads), settings.velocity_retry_seconds)
        return [[UNCHECKED] for _ in leads]
    signals: list[list[Signal]] = []
    for lead, lead_hits in zip(leads, hits, strict=True):
        lead_counts, counts = counts[:len(lead_hits)], counts[len(lead_hits):]
        signals.append(_signals(lead, settings, lead_counts))
    return signals


def _signals(lead: Lead, settings: Settings, counts: list[int]) -> list[Signal]:
    signals: list[Signal] = []
    if (lead.meta or {}).get("ip"):
        ip_count, *counts = counts
        if ip_count > settings.velocity_ip_max:
            signals.append(VELOCITY_IP)
    sub_count, *counts = counts
    if sub_count > settings.velocity_sub_max:
        signals.append(VELOCITY_SUB)
    if lead.phone or lead.email:
        everyone, this_affiliate = counts
        if everyone > this_affiliate:
            signals.append(LEAD_STACKING)
    return signals


def reset_backoff() -> None:
    """Forget that Redis was down (tests, and an operator who fixed it)."""
    _down_until.clear()
