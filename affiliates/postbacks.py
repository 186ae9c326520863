"""Affiliate postbacks: a URL template with macros, called when the affiliate's lead is accepted,
sold, rejected or returned, or a conversion of theirs is approved.

The postback row is written in the same transaction as the event (so a committed event always
has its postback), its URL rendered then; the use case enqueues `affiliates.send_postback` after
its commit (`dispatch_pending`). The task calls the URL, logs every attempt where the affiliate
reads it back (`GET /api/v1/postbacks`), and retries with backoff; a beat task re-enqueues
postbacks whose enqueue was lost.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from urllib.parse import quote

import httpx
import msgspec
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from affiliates.conversion_schemas import (
    PostbackAttemptView,
    PostbackTemplateSet,
    PostbackTemplateView,
    PostbackView,
)
from affiliates.cpa_models import (
    POSTBACK_EVENTS,
    Conversion,
    Postback,
    PostbackAttempt,
    PostbackTemplate,
)
from affiliates.upserts import insert_for
from leadmarket import outbound
from leadmarket.celery_app import enqueue_swept
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal
from leadmarket.money import from_minor
from leadmarket.validators import check_http_url
from marketplace.models import Lead

MACROS = ("click_id", "lead_id", "conversion_id", "offer_id", "status", "reason", "payout", "currency", "event",
          "sub1", "sub2", "sub3", "sub4", "sub5")
MACRO = re.compile(r"\{([a-z0-9_]+)\}")
LEAD_EVENTS = {"accepted": "lead_accepted", "sold": "lead_sold", "rejected": "lead_rejected"}
MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)      # an attempt in flight is not taken by another worker meanwhile
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_QUEUED = "affiliates.postbacks"   # session.info key: postbacks written in this session, to enqueue


# ---------------------------------------------------------------- the template


def set_template(session: Session, principal: Principal, data: PostbackTemplateSet) -> PostbackTemplateView:
    if principal.affiliate_id is None:
        raise PermissionDenied("only affiliates set a postback URL")
    errors: list[FieldError] = []
    url = (data.url or "").strip()
    if not url:
        errors.append(FieldError("url", "is required"))
    elif (problem := check_http_url(url, "url")) is not None:
        errors.append(problem)
    else:
        unknown = sorted({m for m in MACRO.findall(url) if m not in MACROS})
        if unknown:
            errors.append(FieldError("url", f"unknown macro {{{unknown[0]}}}; known: "
                                            + ", ".join(f"{{{m}}}" for m in MACROS)))
    events = list(dict.fromkeys(data.events)) if data.events is not None else list(POSTBACK_EVENTS)
    if not events or any(e not in POSTBACK_EVENTS for e in events):
        errors.append(FieldError("events", f"must be some of {', '.join(POSTBACK_EVENTS)}"))
    if errors:
        raise InvalidInput(errors)
    now = utcnow()
    with transaction(session):
        stmt = insert_for(session, PostbackTemplate).values(affiliate_id=principal.affiliate_id, url_template=url,
                                                            events=events, created_at=now, updated_at=now)
        session.execute(stmt.on_conflict_do_update(index_elements=["affiliate_id"], set_={
            "url_template": url, "events": stmt.excluded.events, "updated_at": now}))
    return PostbackTemplateView(url=url, events=events, macros=[f"{{{m}}}" for m in MACROS])


def get_template(session: Session, principal: Principal) -> PostbackTemplateView:
    template = session.get(PostbackTemplate, principal.affiliate_id) if principal.affiliate_id else None
    if template is None:
        raise NotFound("no postback URL set")
    return PostbackTemplateView(url=template.url_template, events=list(template.events),
                                macros=[f"{{{m}}}" for m in MACROS])


def render(template: str, values: dict[str, str]) -> str:
    """The template with each macro replaced by its URL-encoded value ('' when it has none)."""
    return MACRO.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), template)


# ---------------------------------------------------------------- a test call, from the settings page

# What a test postback's macros are filled with: recognisably not a real lead ({event} is "test").
TEST_VALUES = {"click_id": "test-click", "lead_id": "0", "conversion_id": "0", "offer_id": "0", "status": "test",
               "reason": "", "payout": "0.00", "currency": "USD", "event": "test",
               **{f"sub{i}": f"test-sub{i}" for i in range(1, 6)}}


class TestPostbackResult(msgspec.Struct):
    __test__ = False  # not a pytest class

    url: str  # the URL called, macros filled
    sent_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    ok: bool


def send_test_postback(session: Session, principal: Principal, *, timeout: float = 10.0) -> TestPostbackResult:
    """Call the affiliate's saved postback URL once, its macros filled with `TEST_VALUES`, exactly
    as a real postback is called (GET, same client headers), and say what came back. Nothing is
    stored or retried."""
    if principal.affiliate_id is None:
        raise PermissionDenied("only affiliates have a postback URL")
    saved = session.get(PostbackTemplate, principal.affiliate_id)
    template = saved.url_template if saved is not None else None
    session.rollback()  # no transaction open during the call
    if template is None:
        raise InvalidInput.one("url", "save a postback URL first, then test it")
    url = render(template, TEST_VALUES)
    sent_at = utcnow()
    status_code, error = None, None
    began = time.perf_counter()
    try:
        with outbound.client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), follow_redirects=False) as client:
            status_code = client.get(url, headers={"User-Agent": "Leadmarket-Postback/1"}).status_code
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    duration_ms = int((time.perf_counter() - began) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    return TestPostbackResult(url=url, sent_at=sent_at, status_code=status_code, duration_ms=duration_ms,
                              error=error, ok=ok)


# ---------------------------------------------------------------- queueing (inside the event's transaction)


def _queue(session: Session, affiliate_id: int, event: str, subject: str, values: dict[str, str],
           lead_id: int | None, conversion_id: int | None) -> None:
    _queue_many(session, [(affiliate_id, event, subject, values, lead_id, conversion_id)])


# (affiliate id, event, subject, macro values, lead id, conversion id)
PostbackEvent = tuple[int, str, str, dict[str, str], int | None, int | None]


def _queue_many(session: Session, events: list[PostbackEvent]) -> None:
    """Write the postbacks of `events` whose affiliates asked for them: one read of the templates
    and one INSERT, whatever the number (Core on the session's connection: read on every lead,
    where the ORM would cost more than the statements)."""
    if not events:
        return
    templates = {row.affiliate_id: row for row in session.connection().execute(
        select(PostbackTemplate.affiliate_id, PostbackTemplate.url_template, PostbackTemplate.events)
        .where(PostbackTemplate.affiliate_id.in_(sorted({event[0] for event in events}))))}
    now = utcnow()
    rows = [{"affiliate_id": affiliate_id, "event": event, "subject": subject, "lead_id": lead_id,
             "conversion_id": conversion_id, "url": render(template.url_template, {**values, "event": event}),
             "status": "pending", "attempts": 0, "created_at": now}
            for affiliate_id, event, subject, values, lead_id, conversion_id in events
            if (template := templates.get(affiliate_id)) is not None and event in template.events]
    if not rows:
        return
    stmt = insert_for(session, Postback).on_conflict_do_nothing(index_elements=["subject"]).returning(Postback.id)
    queued = session.connection().execute(stmt, rows).scalars().all()
    session.info.setdefault(_QUEUED, []).extend(queued)


def _money(minor: int, currency: str) -> str:
    return format(from_minor(minor, currency), "f")


def queue_lead_event(session: Session, lead: Lead, event: str | None = None) -> None:
    """Write the postback for a lead's outcome (accepted, sold, rejected) or `event` (lead_returned)."""
    queue_lead_events(session, [lead], event)


def queue_lead_events(session: Session, leads: list[Lead], event: str | None = None) -> None:
    """`queue_lead_event` for several leads (intake's batches) in one round trip or two."""
    events: list[PostbackEvent] = []
    for lead in leads:
        lead_event = event or LEAD_EVENTS.get(lead.status)
        if lead_event is None:
            continue
        values = {"click_id": lead.click_id or "", "lead_id": str(lead.id), "offer_id": str(lead.offer_id),
                  "status": lead.status if lead_event != "lead_returned" else "returned", "reason": lead.reason or "",
                  "payout": _money(lead.payout_minor, lead.currency), "currency": lead.currency, **lead.sub_ids}
        events.append((lead.affiliate_id, lead_event, f"{lead_event}:lead:{lead.id}", values, lead.id, None))
    _queue_many(session, events)


def queue_conversion_event(session: Session, conversion: Conversion) -> None:
    values = {"click_id": conversion.click_id or "", "lead_id": str(conversion.lead_id or ""),
              "conversion_id": str(conversion.id), "offer_id": str(conversion.offer_id), "status": conversion.status,
              "payout": _money(conversion.payout_minor, conversion.currency), "currency": conversion.currency,
              **{f"sub{i}": v for i in range(1, 6) if (v := getattr(conversion, f"sub{i}"))}}
    _queue(session, conversion.affiliate_id, "conversion_approved", f"conversion_approved:conversion:{conversion.id}",
           values, conversion.lead_id, conversion.id)


def dispatch_pending(session: Session) -> None:
    """After the commit: enqueue the postbacks this session wrote (in-process mode sends them now)."""
    for postback_id in session.info.pop(_QUEUED, []):
        enqueue_swept("affiliates.send_postback", postback_id)  # a lost one is queued again by its beat sweeper


# ---------------------------------------------------------------- sending (the task's work)


def deliver(session: Session, postback_id: int) -> bool | None:
    """One attempt: True when delivered, False when it failed and will be retried, None when
    there was nothing to do (sent, given up, or in flight elsewhere)."""
    now = utcnow()
    with transaction(session):
        claimed = session.execute(
            update(Postback)
            .where(Postback.id == postback_id, Postback.status == "pending",
                   (Postback.next_attempt_at.is_(None)) | (Postback.next_attempt_at <= now))
            .values(attempts=Postback.attempts + 1, next_attempt_at=now + LEASE)
            .returning(Postback.url, Postback.attempts)).one_or_none()
    if claimed is None:
        return None
    url, attempt = claimed
    status_code, error = None, None
    began = time.perf_counter()
    try:  # no transaction is open during the call
        with outbound.client(timeout=TIMEOUT, follow_redirects=False) as client:
            status_code = client.get(url, headers={"User-Agent": "Leadmarket-Postback/1"}).status_code
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    duration_ms = int((time.perf_counter() - began) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    if error is None and not ok:
        error = f"HTTP {status_code}"
    with transaction(session):
        session.add(PostbackAttempt(postback_id=postback_id, attempted_at=now, status_code=status_code, error=error,
                                    duration_ms=duration_ms))
        if ok:
            values: dict[str, object] = {"status": "sent", "sent_at": utcnow(), "next_attempt_at": None}
        elif attempt >= MAX_ATTEMPTS:
            values = {"status": "failed", "next_attempt_at": None}
        else:
            values = {"next_attempt_at": utcnow()}  # free for the retry the task schedules
        session.execute(update(Postback).where(Postback.id == postback_id).values(**values))
    return True if ok else (None if attempt >= MAX_ATTEMPTS else False)


def stranded(session: Session, older_than: timedelta = timedelta(minutes=10)) -> list[int]:
    """Pending postbacks nobody is working on (an enqueue lost between commit and broker)."""
    cutoff = utcnow() - older_than
    return list(session.execute(select(Postback.id).where(
        Postback.status == "pending", Postback.created_at < cutoff,
        (Postback.next_attempt_at.is_(None)) | (Postback.next_attempt_at < cutoff)).limit(1000)).scalars())


# ---------------------------------------------------------------- reading


def list_postbacks(session: Session, principal: Principal, *, limit: int = 100) -> list[PostbackView]:
    """The affiliate's postbacks, newest first, each with every attempt."""
    if principal.affiliate_id is None:
        raise PermissionDenied("postbacks are an affiliate's log")
    rows = list(session.execute(select(Postback).where(Postback.affiliate_id == principal.affiliate_id)
                                .order_by(Postback.id.desc()).limit(limit)).scalars())
    attempts: dict[int, list[PostbackAttemptView]] = {row.id: [] for row in rows}
    if rows:
        for a in session.execute(select(PostbackAttempt).where(PostbackAttempt.postback_id.in_(list(attempts)))
                                 .order_by(PostbackAttempt.id)).scalars():
            attempts[a.postback_id].append(PostbackAttemptView(attempted_at=a.attempted_at, status_code=a.status_code,
                                                               error=a.error, duration_ms=a.duration_ms))
    return [PostbackView(id=r.id, event=r.event, lead_id=r.lead_id, conversion_id=r.conversion_id, url=r.url,
                         status=r.status, attempts=attempts[r.id], created_at=r.created_at, sent_at=r.sent_at)
            for r in rows]
