"""The activity rollups behind the stats: whole UTC days recomputed from leads, sales,
conversions and traffic costs.

Clicks are rolled up as they are flushed (affiliates/clicks.py, same transaction, exact). Lead
outcomes, conversions and costs change after the fact (a late conversion, a corrected cost, a
return), so their days are recomputed instead: today and yesterday on every run, plus any day a
service marked stale in the transaction that changed it (`mark_stale`). A recompute replaces a
day's rows in one transaction, so readers see the old day or the new one, never half.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Date, bindparam, delete, select, text
from sqlalchemy.orm import Session

from affiliates.tracking_models import (
    ActivityRollup,
    OfferActivityRollup,
    OfferRejectionRollup,
    RejectionRollup,
    StaleStatsDay,
)
from affiliates.upserts import insert_for
from leadmarket.clock import utcnow
from leadmarket.db import UTCDateTime, transaction

ROLLUP_LOCK = 0x5A7_0000_0000  # advisory lock keys of day recomputes: this plus the day's ordinal
# Typed, so SQLite (the embedded default) gets dates and naive-UTC times as it stores them.
_TYPED = (bindparam("day", type_=Date()), bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))
DIMENSIONS = "day, affiliate_id, offer_id, sub1, sub2, sub3, sub4, sub5, country"

# One row per source record of a day, in the rollup's dimensions; summed per group below.
# Revenue of a lead is what its sales bring (returned sales excluded); of a conversion, its
# charged revenue. Commission: the lead's CPL payout, the approved conversion's CPA payout.
_ACTIVITY = text(f"""
INSERT INTO stats_activity_daily ({DIMENSIONS}, currency, leads, accepted, sold, review, rejected, conversions,
                                  approved_conversions, commission_minor, revenue_minor, cost_minor)
SELECT {DIMENSIONS}, max(currency), sum(leads), sum(accepted), sum(sold), sum(review), sum(rejected),
       sum(conversions), sum(approved), sum(commission), sum(revenue), sum(cost)
FROM (
    SELECT :day AS day, l.affiliate_id, l.offer_id,
           coalesce(l.sub1, '') AS sub1, coalesce(l.sub2, '') AS sub2, coalesce(l.sub3, '') AS sub3,
           coalesce(l.sub4, '') AS sub4, coalesce(l.sub5, '') AS sub5, coalesce(l.country, '') AS country,
           l.currency, 1 AS leads,
           CASE WHEN l.status = 'accepted' THEN 1 ELSE 0 END AS accepted,
           CASE WHEN l.status = 'sold' THEN 1 ELSE 0 END AS sold,
           CASE WHEN l.status = 'review' THEN 1 ELSE 0 END AS review,
           CASE WHEN l.status = 'rejected' THEN 1 ELSE 0 END AS rejected,
           0 AS conversions, 0 AS approved, l.payout_minor AS commission,
           coalesce((SELECT sum(s.price_minor) FROM sale s WHERE s.lead_id = l.id AND s.status = 'sold'), 0)
               AS revenue,
           0 AS cost
    FROM lead l WHERE l.created_at >= :start AND l.created_at < :end
    UNION ALL
    SELECT :day, c.affiliate_id, c.offer_id, coalesce(c.sub1, ''), coalesce(c.sub2, ''),
           coalesce(c.sub3, ''), coalesce(c.sub4, ''), coalesce(c.sub5, ''), coalesce(c.country, ''),
           c.currency, 0, 0, 0, 0, 0, 1, CASE WHEN c.status = 'approved' THEN 1 ELSE 0 END,
           c.payout_minor, c.revenue_minor, 0
    FROM conversion c WHERE c.created_at >= :start AND c.created_at < :end
    UNION ALL
    SELECT t.day, t.affiliate_id, t.offer_id, t.sub1, t.sub2, t.sub3, t.sub4, t.sub5, '', t.currency,
           0, 0, 0, 0, 0, 0, 0, 0, 0, t.amount_minor
    FROM traffic_cost t WHERE t.day = :day
) AS activity
GROUP BY {DIMENSIONS}
""").bindparams(*_TYPED)

_REJECTIONS = text(f"""
INSERT INTO stats_rejection_daily ({DIMENSIONS}, reason, rejected)
SELECT :day, affiliate_id, offer_id, coalesce(sub1, ''), coalesce(sub2, ''), coalesce(sub3, ''),
       coalesce(sub4, ''), coalesce(sub5, ''), coalesce(country, ''), coalesce(reason, 'unknown'), count(*)
FROM lead WHERE status = 'rejected' AND created_at >= :start AND created_at < :end
GROUP BY 2, 3, 4, 5, 6, 7, 8, 9, 10
""").bindparams(*_TYPED)


_ACTIVITY_SUMS = ("leads", "accepted", "sold", "review", "rejected", "conversions", "approved_conversions",
                  "commission_minor", "revenue_minor", "cost_minor")
# The sub-id-free twins, summed from the fine rows of the day just written.
_COARSE = (
    text(f"""
INSERT INTO stats_activity_offer_daily (day, affiliate_id, offer_id, country, currency, {", ".join(_ACTIVITY_SUMS)})
SELECT day, affiliate_id, offer_id, country, max(currency), {", ".join(f"sum({c})" for c in _ACTIVITY_SUMS)}
FROM stats_activity_daily WHERE day = :day GROUP BY day, affiliate_id, offer_id, country
""").bindparams(_TYPED[0]),
    text("""
INSERT INTO stats_rejection_offer_daily (day, affiliate_id, offer_id, country, reason, rejected)
SELECT day, affiliate_id, offer_id, country, reason, sum(rejected)
FROM stats_rejection_daily WHERE day = :day GROUP BY day, affiliate_id, offer_id, country, reason
""").bindparams(_TYPED[0]),
)


def mark_stale(session: Session, days: Iterable[date]) -> None:
    """Ask the next rollup run to recompute these days (inside the caller's transaction)."""
    now = utcnow()
    for day in set(days):
        stmt = insert_for(session, StaleStatsDay).values(day=day, marked_at=now)
        session.execute(stmt.on_conflict_do_update(index_elements=["day"], set_={"marked_at": now}))


def recompute_day(session: Session, day: date) -> None:
    """Replace one day's activity and rejection rows with what the source tables say now."""
    start = datetime.combine(day, datetime.min.time(), UTC)
    params = {"day": day, "start": start, "end": start + timedelta(days=1)}
    with transaction(session):
        if session.get_bind().dialect.name == "postgresql":
            # Two runs recomputing one day would each delete, then both insert the day's rows.
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROLLUP_LOCK + day.toordinal()})
        for model in (ActivityRollup, RejectionRollup, OfferActivityRollup, OfferRejectionRollup):
            session.execute(delete(model).where(model.day == day))
        session.execute(_ACTIVITY, params)
        session.execute(_REJECTIONS, params)
        for statement in _COARSE:
            session.execute(statement, params)


def refresh(session: Session, *, extra_days: Iterable[date] = ()) -> list[date]:
    """Recompute today, yesterday, the days marked stale and `extra_days`; the days done."""
    today = utcnow().date()
    with transaction(session):
        marked = list(session.execute(select(StaleStatsDay.day, StaleStatsDay.marked_at)))
    days = sorted({today, today - timedelta(days=1), *extra_days, *(day for day, _ in marked)})
    for day in days:
        recompute_day(session, day)
    with transaction(session):
        for day, marked_at in marked:
            # Only if nobody marked it again while we were computing (then the next run redoes it).
            session.execute(delete(StaleStatsDay).where(StaleStatsDay.day == day,
                                                        StaleStatsDay.marked_at == marked_at))
    return days
