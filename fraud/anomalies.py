"""Anomalies: each affiliate + sub1 against the rest of the network — rejection rate (overall and
by reason), duplicate rate, review rate — flagged when far worse than the others.

The statistic: a one-sided two-proportion z-test of the group against the rest of the network
(all other groups in the same period), with the pooled proportion for the standard error:

    z = (p_group - p_rest) / sqrt(p_pool * (1 - p_pool) * (1/n_group + 1/n_rest))

A group is flagged on a metric when it has at least `min_leads` leads (below that a rate
means little and the normal approximation is poor), z >= `z_threshold` (3.0 by default: a
one-sided p of about 0.0013, so roughly one false flag per 700 group-metric pairs of honest
traffic), and the rate is at least `min_difference` above the rest (so that a huge affiliate
is not flagged for being 0.3 points worse). Comparing with the rest rather than the whole
network keeps a big bad affiliate from dragging the baseline toward itself.

The conversion rate is the share of a group's clean leads (sold or accepted) that got a
conversion reported for them (pending, approved or over the cap; one the advertiser rejected does
not count). There a group is flagged for being far *below* the rest (z <= -z_threshold and at
least `min_difference` under it): leads that never convert are what a pseudo-lead looks like to
a buyer. Its minimum volume counts clean leads.

The return rate is the share of a group's sold leads (sold at least once) that a buyer returned
(a sale whose return was approved); higher is worse, like the rejection rates. Its minimum volume
counts sold leads.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from affiliates.cpa_models import Conversion
from fraud.schemas import AnomalyBaseline, AnomalyFlag, AnomalyReport, AnomalyRow
from leadmarket.clock import utcnow
from leadmarket.errors import FieldError, InvalidInput
from marketplace.models import Lead
from marketplace.sale_models import Sale

METHOD = ("one-sided two-proportion z-test of each affiliate+sub1 against the rest of the network, "
          "pooled standard error; flagged when leads >= min_leads, z >= z_threshold and the rate is at least "
          "min_difference above the rest (conversion_rate: clean leads >= min_leads, z <= -z_threshold and at "
          "least min_difference below the rest)")
NOTES = [("return_rate is leads with an approved return / leads sold at least once, of the period (a return "
          "approved at any time up to now); null for a group that sold nothing"),
         ("conversion_rate is converted clean leads / clean (sold or accepted) leads of the period, counting a "
          "conversion reported at any time up to now (recent leads have had less time to convert); null for a "
          "group without clean leads"),
         "duplicate_rate counts leads answered with reason 'duplicate' (exact or fuzzy)",
         ("rejection_rate_by_reason keys are the reason the affiliate was told (the heaviest fraud reason, "
          "'duplicate', 'review_rejected')")]


@dataclass
class _Counts:
    leads: int = 0
    rejected: int = 0
    review: int = 0
    duplicate: int = 0
    clean: int = 0       # sold or accepted: leads a buyer could convert
    converted: int = 0   # of those, leads with a conversion the advertiser did not reject
    sold: int = 0        # leads sold at least once
    returned: int = 0    # of those, leads a buyer returned (an approved return)
    by_reason: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, status: str, reason: str | None, count: int) -> None:
        self.leads += count
        if status == "rejected":
            self.rejected += count
            self.by_reason[reason or "unknown"] += count
        if status == "review":
            self.review += count
        if reason == "duplicate":
            self.duplicate += count
        if status in CLEAN:
            self.clean += count
        if status in SOLD:
            self.sold += count

    def metrics(self) -> dict[str, tuple[int, int]]:
        """metric -> (count, out of how many leads)."""
        counts = {"rejection_rate": (self.rejected, self.leads), "duplicate_rate": (self.duplicate, self.leads),
                  "review_rate": (self.review, self.leads), "conversion_rate": (self.converted, self.clean),
                  "return_rate": (self.returned, self.sold)}
        counts.update({f"rejection_rate_by_reason.{reason}": (n, self.leads) for reason, n in self.by_reason.items()})
        return counts


CLEAN = ("sold", "accepted")
SOLD = ("sold", "returned", "converted")  # the lifecycle statuses of a lead that was sold
LOWER_IS_WORSE = {"conversion_rate"}


def z_score(x_group: int, n_group: int, x_rest: int, n_rest: int) -> float | None:
    """Two-proportion z with pooled variance; None when it is undefined (no rest, or p_pool 0 or 1)."""
    if n_group == 0 or n_rest == 0:
        return None
    pooled = (x_group + x_rest) / (n_group + n_rest)
    variance = pooled * (1 - pooled) * (1 / n_group + 1 / n_rest)
    if variance <= 0:
        return None
    return (x_group / n_group - x_rest / n_rest) / math.sqrt(variance)


def _rate(x: int, n: int) -> float:
    return round(x / n, 4) if n else 0.0


def _rate_or_none(x: int, n: int) -> float | None:
    return round(x / n, 4) if n else None


def anomaly_report(session: Session, *, days: int = 7, min_leads: int = 30, z_threshold: float = 3.0,
                   min_difference: float = 0.05, vertical_id: int | None = None, limit: int = 200,
                   now: datetime | None = None) -> AnomalyReport:
    errors = []
    if not 1 <= days <= 366:
        errors.append(FieldError("days", "must be between 1 and 366"))
    if not 1 <= min_leads <= 1_000_000:
        errors.append(FieldError("min_leads", "must be between 1 and 1000000"))
    if not 0 < z_threshold <= 10:
        errors.append(FieldError("z", "must be above 0 and at most 10"))
    if not 0 <= min_difference <= 1:
        errors.append(FieldError("min_difference", "must be a share between 0 and 1"))
    if errors:
        raise InvalidInput(errors)
    until = now or utcnow()
    since = until - timedelta(days=days)
    query = (select(Lead.affiliate_id, Lead.sub1, Lead.status, Lead.reason, func.count())
             .where(Lead.created_at >= since, Lead.created_at < until)
             .group_by(Lead.affiliate_id, Lead.sub1, Lead.status, Lead.reason))
    if vertical_id is not None:
        query = query.where(Lead.vertical_id == vertical_id)
    groups: dict[tuple[int, str | None], _Counts] = defaultdict(_Counts)
    network = _Counts()
    for affiliate_id, sub1, status, reason, count in session.execute(query):
        groups[(affiliate_id, sub1)].add(status, reason, count)
        network.add(status, reason, count)
    for affiliate_id, sub1, count in session.execute(_converted_leads(since, until, vertical_id)):
        groups[(affiliate_id, sub1)].converted += count
        network.converted += count
    for affiliate_id, sub1, count in session.execute(_returned_leads(since, until, vertical_id)):
        groups[(affiliate_id, sub1)].returned += count
        network.returned += count

    network_metrics = network.metrics()
    rows: list[AnomalyRow] = []
    for (affiliate_id, sub1), counts in groups.items():
        flags: list[AnomalyFlag] = []
        for metric, (x_group, n_group) in counts.metrics().items():
            if n_group < min_leads:
                continue
            x_rest, n_rest = network_metrics[metric][0] - x_group, network_metrics[metric][1] - n_group
            z = z_score(x_group, n_group, x_rest, n_rest)
            if z is None:
                continue
            sign = -1 if metric in LOWER_IS_WORSE else 1  # how far worse than the rest, in its direction
            rate, rest = x_group / n_group, x_rest / n_rest
            if sign * z >= z_threshold and sign * (rate - rest) >= min_difference:
                flags.append(AnomalyFlag(metric=metric, rate=round(rate, 4), baseline=round(rest, 4),
                                         z=round(z, 2)))
        rows.append(AnomalyRow(
            affiliate_id=affiliate_id, sub1=sub1, leads=counts.leads, rejected=counts.rejected,
            rejection_rate=_rate(counts.rejected, counts.leads),
            rejection_rate_by_reason={r: _rate(n, counts.leads) for r, n in sorted(counts.by_reason.items())},
            duplicate_rate=_rate(counts.duplicate, counts.leads), review_rate=_rate(counts.review, counts.leads),
            return_rate=_rate_or_none(counts.returned, counts.sold),
            conversion_rate=_rate_or_none(counts.converted, counts.clean), flagged=bool(flags),
            flags=sorted(flags, key=lambda f: -abs(f.z))))
    rows.sort(key=lambda r: (not r.flagged, -max((abs(f.z) for f in r.flags), default=0.0), -r.leads,
                             r.affiliate_id, r.sub1 or ""))
    baseline = AnomalyBaseline(
        leads=network.leads, rejection_rate=_rate(network.rejected, network.leads),
        rejection_rate_by_reason={r: _rate(n, network.leads) for r, n in sorted(network.by_reason.items())},
        duplicate_rate=_rate(network.duplicate, network.leads), review_rate=_rate(network.review, network.leads),
        return_rate=_rate_or_none(network.returned, network.sold),
        conversion_rate=_rate_or_none(network.converted, network.clean))
    return AnomalyReport(since=since, until=until, min_leads=min_leads, z_threshold=z_threshold,
                         min_difference=min_difference, method=METHOD,
                         notes=NOTES, baseline=baseline, groups=rows[:limit])


def _converted_leads(since: datetime, until: datetime, vertical_id: int | None) -> Select[tuple[int, str | None, int]]:
    """(affiliate_id, sub1, clean leads of the period with a conversion not rejected), per group."""
    converted = select(Conversion.id).where(Conversion.lead_id == Lead.id, Conversion.status != "rejected").exists()
    query = (select(Lead.affiliate_id, Lead.sub1, func.count())
             .where(Lead.created_at >= since, Lead.created_at < until, Lead.status.in_(CLEAN), converted)
             .group_by(Lead.affiliate_id, Lead.sub1))
    if vertical_id is not None:
        query = query.where(Lead.vertical_id == vertical_id)
    return query


def _returned_leads(since: datetime, until: datetime, vertical_id: int | None) -> Select[tuple[int, str | None, int]]:
    """(affiliate_id, sub1, sold leads of the period with an approved return), per group."""
    returned = select(Sale.id).where(Sale.lead_id == Lead.id, Sale.status == "returned").exists()
    query = (select(Lead.affiliate_id, Lead.sub1, func.count())
             .where(Lead.created_at >= since, Lead.created_at < until, Lead.status.in_(SOLD), returned)
             .group_by(Lead.affiliate_id, Lead.sub1))
    if vertical_id is not None:
        query = query.where(Lead.vertical_id == vertical_id)
    return query
