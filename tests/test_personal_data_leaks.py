"""Personal data never leaks: not into logs, not into error answers, and an unsold lead's contact data
never into anything an advertiser can read (every GET route of the app, API and portal)."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.routes import HTTPRoute

from leadmarket import accounts
from leadmarket.db import transaction
from tests.support import Network, created, post_lead, problem
from tests.test_personal_data import leaked, person, traces


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG for every logger, also those that do not propagate to the root (ours).
    SQLAlchemy's engine logger at DEBUG writes every statement, its parameters and its rows."""
    caplog.set_level(logging.DEBUG)
    names = [name for name, logger in logging.root.manager.loggerDict.items() if isinstance(logger, logging.Logger)]
    for name in [*names, "leadmarket", "sqlalchemy.engine", "sqlalchemy.engine.Engine", "litestar", "httpx"]:
        caplog.set_level(logging.DEBUG, logger=name)
    isolated = [logging.getLogger(name) for name in names if not logging.getLogger(name).propagate]
    for logger in isolated:
        logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        for logger in isolated:
            logger.removeHandler(caplog.handler)


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


def test_intake_logs_and_error_answers_hold_no_contact_data(client, network: Network, every_log):
    offer, key = network.cpl_offer["id"], network.affiliate["api_key"]
    good, bad_phone, bad_email, spaced_email, bad_dob, fake, twin = (person(offer) for _ in range(7))
    bad_phone["contact"]["phone"] = "+1 999 12"
    bad_email["contact"]["email"] = f"{good['contact']['first_name']}.{good['contact']['last_name']}@localhost"
    spaced_email["contact"]["email"] = "wilhelmina thistlewood@gmail.com"
    bad_dob["contact"]["date_of_birth"] = "1987-14-41"
    fake["contact"]["phone"] = "+1 415 555 0123"  # fictional: the screen rejects it
    twin["contact"].update({k: good["contact"][k] for k in ("first_name", "last_name", "date_of_birth", "address",
                                                            "postal_code")})
    problems: list[dict[str, Any]] = []

    first = created(post_lead(client, key, good, idempotency_key="pd-1"))
    assert created(post_lead(client, key, good, idempotency_key="pd-1")) == first  # a replay
    for body, field in ((bad_phone, "contact.phone"), (bad_email, "contact.email"), (spaced_email, "contact.email"),
                        (bad_dob, "contact.date_of_birth")):
        answer = problem(post_lead(client, key, body), 422)
        assert [e["field"] for e in answer["errors"]] == [field]
        problems.append(answer)
    wrong_type = {**good, "contact": {**good["contact"], "phone": 4155550199}}
    problems.append(problem(post_lead(client, key, wrong_type), 422))
    nul = {**good, "contact": {**good["contact"], "last_name": good["contact"]["last_name"] + "\x00"}}
    problems.append(problem(post_lead(client, key, nul), 422))
    other_body = {**good, "attributes": {"vehicle_year": 2011, "coverage": "full"}}
    problems.append(problem(post_lead(client, key, other_body, idempotency_key="pd-1"), 409))
    outcomes = [created(post_lead(client, key, body)) for body in (good, twin, fake)]
    assert [(o["status"], o["reason"]) for o in outcomes] == [
        ("rejected", "duplicate"), ("rejected", "duplicate"), ("rejected", "phone_fake")]
    problems.append(problem(client.get(f"/api/v1/leads/{first['lead_id']}", headers=network.affiliate_headers(True)),
                            404))
    caller = "+1 212 846 39"
    problems.append(problem(client.post("/api/v1/calls", headers=network.admin_headers, json={
        "call_id": "CA-leak-1", "tracking_number": "+14158023900", "caller_number": caller,
        "duration_seconds": 185}), 422))
    erased = client.post(f"/api/v1/leads/{first['lead_id']}/erase", headers=network.admin_headers,
                         json={"reason": "privacy request 77"})
    assert erased.status_code == 200, erased.text
    problems.append(problem(client.post(f"/api/v1/leads/{first['lead_id']}/erase", headers=network.admin_headers,
                                        json={"reason": ""}), 422))

    needles = [t for body in (good, bad_phone, bad_email, spaced_email, bad_dob, fake, twin) for t in traces(body)]
    needles += [caller, "41 Quillfeather", "wilhelmina thistlewood", "4155550199"]
    assert any("INSERT INTO lead" in r.getMessage() for r in every_log.records), "SQL was not logged: no proof"
    assert leaked(log_text(every_log), needles) == []
    assert leaked(repr(problems), needles) == []


# ---------------------------------------------------------------- what an advertiser can reach


PARAM = re.compile(r"\{(\w+):(\w+)\}")


def get_routes(app: Any) -> list[str]:
    return sorted({route.path for route in app.routes
                   if isinstance(route, HTTPRoute) and "GET" in route.methods and not route.path.startswith("/schema")
                   and not route.path.startswith("/static")})


def concrete_paths(template: str, ints: list[int], strings: list[str]) -> list[str]:
    params = PARAM.findall(template)
    choices = [ints if kind == "int" else strings for _, kind in params]
    paths = []
    for values in itertools.product(*choices):
        path = template
        for (name, kind), value in zip(params, values, strict=True):
            path = path.replace(f"{{{name}:{kind}}}", str(value))
        paths.append(path)
    return paths


def portal_cookie(db: Any, advertiser_id: int, email: str) -> str:
    with db() as session, transaction(session):
        accounts.create_user(session, email=email, password="correct horse battery", role="advertiser",
                             advertiser_id=advertiser_id)
    with db() as session, transaction(session):
        return accounts.log_in(session, email, "correct horse battery", client_ip="127.0.0.1")


def test_no_get_route_shows_an_advertiser_an_unsold_leads_contact_data(client, network: Network, db):
    offer, key = network.cpl_offer["id"], network.affiliate["api_key"]
    sold_body, unsold_body, review_body = person(offer), person(offer), person(offer, phone="+1 415 555 0100")
    sold = created(post_lead(client, key, sold_body))
    unsold = created(post_lead(client, key, unsold_body))
    assert sold["status"] == unsold["status"] == "accepted"  # both in the store
    buyer = created(client.post("/api/v1/advertisers", headers=network.admin_headers, json={
        "name": "Walker Buyer", "email": "walker@buyer.example", "billing_mode": "prepaid", "credit_limit": "500.00"}))
    bystander = created(client.post("/api/v1/advertisers", headers=network.admin_headers, json={
        "name": "Walker Bystander", "email": "bystander@buyer.example", "billing_mode": "prepaid",
        "credit_limit": "500.00"}))
    sale = client.post(f"/api/v1/store/leads/{sold['lead_id']}/buy", headers={"X-API-Key": buyer["api_key"]},
                       json={"exclusive": False})
    assert sale.status_code == 201, sale.text
    created(post_lead(client, key, review_body))  # one more unsold lead, whatever the screen says of it
    purchase = client.get("/api/v1/purchases", headers={"X-API-Key": buyer["api_key"]}).json()[0]
    certificate = purchase["consent_certificate"]["certificate_id"]
    unsold_certificate = client.get(f"/api/v1/leads/{unsold['lead_id']}", headers=network.admin_headers)
    assert unsold_certificate.status_code == 200

    ints = sorted({sold["lead_id"], unsold["lead_id"], unsold["lead_id"] + 1, sale.json()["sale_id"], buyer["id"],
                   bystander["id"], 1})
    strings = [certificate, "x"]
    with db() as session:
        from sqlalchemy import select

        from marketplace.models import ConsentCertificate
        strings += session.execute(select(ConsentCertificate.certificate_id)).scalars().all()
    queries = ["", "?limit=200", "?sort=oldest", "?vertical=car-insurance", "?country=US&region=CA"]
    callers = [{"X-API-Key": buyer["api_key"]}, {"X-API-Key": bystander["api_key"]}]
    cookies = [portal_cookie(db, buyer["id"], "walker.portal@buyer.example"),
               portal_cookie(db, bystander["id"], "bystander.portal@buyer.example")]
    needles = traces(unsold_body) + traces(review_body)
    seen: list[str] = []
    reached = 0
    for template in get_routes(client.app):
        for path in concrete_paths(template, ints, strings):
            for query in queries:
                for who in [*({"headers": h} for h in callers), *({"cookies": {"lm_session": c}} for c in cookies)]:
                    client.cookies.clear()
                    for name, value in who.get("cookies", {}).items():
                        client.cookies.set(name, value)
                    response = client.get(path + query, headers=who.get("headers"), follow_redirects=False)
                    reached += response.status_code == 200
                    text = response.text + repr(dict(response.headers))
                    if found := leaked(text, needles):
                        seen.append(f"{path}{query} ({response.status_code}): {found}")
                    if sold_body["contact"]["email"] in text:
                        seen.append("SOLD-OK")
    client.cookies.clear()
    assert [line for line in seen if line != "SOLD-OK"] == []
    assert "SOLD-OK" in seen and reached > 20  # the walk did reach pages that show a bought lead's contact
