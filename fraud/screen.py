"""The fraud screen's entry point: a score 0-100, reason codes and a verdict for one lead.

Intake calls `screen_leads` for every lead that is not a duplicate, a batch at a time, inside its
transaction. The rules (fraud/rules/: contact, jokers, bots, blocklists, geo, velocity, clicks) each
give signals — a reason code and its points; the score is their sum, capped at 100 (a code
counts once, at its highest weight). The vertical's thresholds, or the offer's overrides,
turn the score into accept / review / reject. The screen also classifies the lead's quality
(fraud/quality.py) and writes score, reasons (heaviest first), temperature and targeted on the
lead; the heaviest reason is what a rejected lead's affiliate is told.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from affiliates.models import Offer
from fraud import quality, thresholds
from fraud.rules import Signal, blocklists, bots, clicks, contact, geo, jokers, velocity
from leadmarket.settings import Settings, current_settings
from marketplace.models import Lead

Verdict = Literal["accept", "review", "reject"]


@dataclass(frozen=True)
class Screening:
    score: int = 0
    reasons: list[str] = field(default_factory=list)
    verdict: Verdict = "accept"
    temperature: str | None = None
    targeted: bool | None = None


def combine(signals: list[Signal]) -> tuple[int, list[str]]:
    """Score (sum of weights, each code once at its highest, capped at 100) and codes heaviest first."""
    best: dict[str, int] = {}
    for signal in signals:
        best[signal.code] = max(signal.weight, best.get(signal.code, 0))
    score = min(100, sum(best.values()))
    return score, sorted(best, key=lambda code: (-best[code], code))


def signals_for_many(session: Session, leads: list[tuple[Lead, thresholds.Thresholds]], settings: Settings,
                     now: datetime) -> list[list[Signal]]:
    """Each lead's signals; the rules that look something up (blocklists, velocity) do it once for all."""
    listed = blocklists.check_many(session, [lead for lead, _ in leads])
    counted = velocity.check_many([lead for lead, _ in leads], settings, now)
    return [[
        *contact.check(lead),
        *jokers.check(lead),
        # A browser's traces (form time, user agent, consent wording); a phone call leaves none.
        *([] if lead.source == "call" else bots.check(
            lead, min_form_seconds=lines.min_form_seconds,
            consent_max_age=timedelta(hours=settings.consent_max_age_hours))),
        *listed[index],
        *geo.check(lead, settings),
        *counted[index],
        *clicks.check(lead, min_seconds=settings.click_min_seconds,
                      max_age=timedelta(days=settings.click_max_age_days)),
    ] for index, (lead, lines) in enumerate(leads)]


def screen_leads(session: Session, leads: list[tuple[Lead, Offer]], *, now: datetime | None = None,
                 settings: Settings | None = None) -> list[Screening]:
    """Screen and classify each lead (flushed, in the caller's transaction) with its offer, and write
    the results on it. Intake's batches share one `created_at` (the counters count them all at the
    first lead's time)."""
    if not leads:
        return []
    settings = settings or current_settings()
    lines = [thresholds.effective(offer.vertical, offer, settings) for _, offer in leads]
    signals = signals_for_many(session, [(lead, line) for (lead, _), line in zip(leads, lines, strict=True)],
                               settings, now or leads[0][0].created_at)
    screenings = []
    for (lead, offer), line, lead_signals in zip(leads, lines, signals, strict=True):
        score, reasons = combine(lead_signals)
        verdict: Verdict = line.verdict(score)  # type: ignore[assignment]
        grade = quality.classify(lead, offer.vertical, now or lead.created_at)
        lead.fraud_score, lead.fraud_reasons = score, reasons
        lead.temperature, lead.targeted = grade.temperature, grade.targeted
        screenings.append(Screening(score=score, reasons=reasons, verdict=verdict, temperature=grade.temperature,
                                    targeted=grade.targeted))
    return screenings
