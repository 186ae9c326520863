"""Bots and scripted posts: a form filled faster than a person can, a missing or automation user
agent, and consent that is missing or dated impossibly (in the future, or long before the lead).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from fraud.rules import Signal
from marketplace.models import Lead

FORM_TOO_FAST = Signal("form_too_fast", 50)
FORM_TIME_MISSING = Signal("form_time_missing", 10)
USER_AGENT_MISSING = Signal("user_agent_missing", 25)
USER_AGENT_BOT = Signal("user_agent_bot", 60)
CONSENT_MISSING = Signal("consent_missing", 45)
CONSENT_IN_FUTURE = Signal("consent_in_future", 50)
CONSENT_STALE = Signal("consent_stale", 30)

# Clocks of landing pages drift; a consent up to this far ahead of our clock is not "in the future".
CLOCK_SKEW = timedelta(minutes=5)

# Headless browsers, HTTP libraries and crawlers: what a person's browser never sends. Crawlers
# are matched as `name-bot/1.0` so phone models like "CUBOT X30" stay clean.
BOT_AGENT = re.compile(
    r"headless|phantomjs|selenium|webdriver|puppeteer|playwright|slimerjs|"
    r"python-requests|python-urllib|python-httpx|aiohttp|httpx/|curl/|wget/|libwww-perl|go-http-client|"
    r"java/|okhttp|apache-httpclient|axios/|node-fetch|undici|got \(|postmanruntime|insomnia|scrapy|"
    r"\w*(?:bot|spider|crawler)/\d|^mozilla/5\.0$",
    re.IGNORECASE,
)


def form_signals(form_seconds: float | None, min_seconds: int) -> list[Signal]:
    if form_seconds is None:
        return [FORM_TIME_MISSING]
    return [FORM_TOO_FAST] if form_seconds < min_seconds else []


def user_agent_signals(user_agent: str | None) -> list[Signal]:
    if user_agent is None or not user_agent.strip():
        return [USER_AGENT_MISSING]
    return [USER_AGENT_BOT] if _is_bot(user_agent.strip()) else []


@lru_cache(maxsize=4096)  # traffic repeats a few hundred browser strings: each is searched once
def _is_bot(user_agent: str) -> bool:
    return BOT_AGENT.search(user_agent) is not None


def consent_signals(consent: dict[str, Any] | None, lead_at: datetime, max_age: timedelta) -> list[Signal]:
    if not consent or not consent.get("text") or not consent.get("given_at"):
        return [CONSENT_MISSING]
    given_at = datetime.fromisoformat(consent["given_at"])
    if given_at > lead_at + CLOCK_SKEW:
        return [CONSENT_IN_FUTURE]
    if given_at < lead_at - max_age:
        return [CONSENT_STALE]
    return []


def check(lead: Lead, *, min_form_seconds: int, consent_max_age: timedelta) -> list[Signal]:
    meta = lead.meta or {}
    return [*form_signals(meta.get("form_seconds"), min_form_seconds),
            *user_agent_signals(meta.get("user_agent")),
            *consent_signals(lead.consent, lead.created_at, consent_max_age)]
