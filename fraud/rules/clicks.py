"""Click checks: a lead posted with a click_id must point at a click we issued, made a plausible
time before the lead — not seconds before (a script posting straight after the redirect; nobody
reads a landing page and fills a form in 3 s) and not weeks before (an old click reused to
attribute traffic that never went through the link).

Attribution (affiliates/attribution.py) already looked the click up, refused another affiliate's
or another offer's click, and left what it found in `lead.meta["clicked_at"]`: the click's time,
or None for an id we never issued. This rule reads that and asks nothing again. A lead without
that key (not attributed, e.g. built outside intake) gets no click signal.

An unknown click_id is a weak hint only (it alone stays under the review line): affiliates also
pass their own trackers' ids, which are not ours by design.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fraud.rules import Signal
from marketplace.models import Lead

CLICK_TOO_FAST = Signal("click_too_fast", 40)
CLICK_TOO_OLD = Signal("click_too_old", 20)
CLICK_UNKNOWN = Signal("click_unknown", 25)


def click_signals(clicked_at: datetime | None, lead_at: datetime, *, min_seconds: float,
                  max_age: timedelta) -> list[Signal]:
    """Signals for a lead at `lead_at` whose click was at `clicked_at` (None: no such click of ours)."""
    if clicked_at is None:
        return [CLICK_UNKNOWN]
    elapsed = lead_at - clicked_at
    if elapsed < timedelta(seconds=min_seconds):  # negative too: a click "after" the lead
        return [CLICK_TOO_FAST]
    if elapsed > max_age:
        return [CLICK_TOO_OLD]
    return []


def check(lead: Lead, *, min_seconds: float, max_age: timedelta) -> list[Signal]:
    meta = lead.meta or {}
    if lead.click_id is None or "clicked_at" not in meta:
        return []
    stamp = meta["clicked_at"]
    clicked_at = datetime.fromisoformat(stamp) if stamp else None
    return click_signals(clicked_at, lead.created_at, min_seconds=min_seconds, max_age=max_age)
