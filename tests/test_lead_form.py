"""The hosted lead form, over real HTTP (uvicorn in a thread): plain HTML, clear field errors,
the click and the form time recorded, the lead posted as the link's affiliate."""

from __future__ import annotations

import re
import socket
import threading
import time
from html import unescape

import httpx
import pytest
import uvicorn
from sqlalchemy import select, update

from affiliates.models import Offer
from affiliates.tracking import targets
from api.app import create_app
from marketplace.models import Lead
from tests.support import count_rows, created


@pytest.fixture
def live(settings, engine, db, redis_db, network):
    """The app served by uvicorn on a free local port, so the form sees a real peer address."""
    targets.clear()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15,
                      headers={"User-Agent": "Mozilla/5.0 (Form test)"}) as client:
        yield client
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def link(live, network, db):
    with db() as session:   # an admin let this offer's forms be filled in quickly (the test is fast)
        session.execute(update(Offer).where(Offer.id == network.cpl_offer["id"]).values(min_form_seconds=0))
        session.commit()
    return created(live.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                             json={"offer_id": network.cpl_offer["id"], "sub_ids": {"sub1": "quiz"}}))


def hidden(page: str) -> dict[str, str]:
    return {m.group(1): unescape(m.group(2))
            for m in re.finditer(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)}


GOOD = {"contact.first_name": "Dana", "contact.last_name": "Whitfield", "contact.email": "dana.w@example.org",
        "contact.phone": "+1 512 374 9911", "contact.country": "US", "contact.city": "Austin",
        "attributes.vehicle_year": "2018", "attributes.coverage": "full", "attributes.homeowner": "yes",
        "consent": "yes"}


def test_the_form_shows_the_verticals_fields_and_records_a_click(live, link, redis_db, settings):
    page = live.get(f"/f/{link['code']}", headers={"CF-IPCountry": "us"})

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for name in ("contact.first_name", "contact.phone", "attributes.vehicle_year", "attributes.annual_mileage"):
        assert f'name="{name}"' in html
    assert '<select id="attributes.coverage"' in html and '<option value="liability"' in html
    assert 'type="checkbox" name="attributes.homeowner"' in html
    assert "may contact me by phone or e-mail about car insurance" in html
    assert 'name="contact.country" value="US"' in html                 # from the visitor's country
    assert "<script" not in html
    assert redis_db.xlen(settings.redis_prefix + "clicks") == 1
    assert hidden(html)["click_id"].count("-") == 2


def test_a_filled_form_becomes_the_affiliates_lead_with_its_click_and_form_time(live, link, network, db):
    page = live.get(f"/f/{link['code']}")
    time.sleep(0.3)

    sent = live.post(f"/f/{link['code']}", data={**hidden(page.text), **GOOD}, follow_redirects=False)

    assert sent.status_code == 303 and sent.headers["location"] == f"/f/{link['code']}/thanks"
    thanks = live.get(sent.headers["location"])
    assert thanks.status_code == 200 and "Thank you" in thanks.text
    with db() as session:
        lead = session.execute(select(Lead)).scalar_one()
    assert (lead.affiliate_id, lead.offer_id) == (network.affiliate["id"], network.cpl_offer["id"])
    assert lead.click_id == hidden(page.text)["click_id"] and lead.sub_ids == {"sub1": "quiz"}
    assert (lead.first_name, lead.phone, lead.city) == ("Dana", "+15123749911", "Austin")
    assert lead.attributes == {"vehicle_year": 2018, "coverage": "full", "homeowner": True}
    assert lead.meta["ip"] == "127.0.0.1" and lead.meta["user_agent"] == "Mozilla/5.0 (Form test)"
    assert 0.3 <= lead.meta["form_seconds"] < 60
    assert lead.consent["text"].startswith("By sending this form I agree") and lead.consent["ip"] == "127.0.0.1"


def test_mistakes_come_back_next_to_their_fields_and_nothing_is_stored(live, link, db):
    page = live.get(f"/f/{link['code']}")
    bad = {**GOOD, "contact.phone": "12", "contact.email": "", "attributes.vehicle_year": "1900",
           "attributes.coverage": ""}

    answer = live.post(f"/f/{link['code']}", data={**hidden(page.text), **bad})

    assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "Please check the fields marked below." in html
    assert html.count('class="error"') >= 3
    assert 'value="Whitfield"' in html                                  # what they typed is kept
    assert count_rows(db, "lead")["lead"] == 0
    without_consent = {k: v for k, v in GOOD.items() if k != "consent"}
    again = live.post(f"/f/{link['code']}", data={**hidden(page.text), **without_consent})
    assert again.status_code == 422 and "tick the box" in again.text
    assert count_rows(db, "lead")["lead"] == 0


def test_a_tampered_or_unknown_form_does_not_post(live, link, db):
    page = live.get(f"/f/{link['code']}")
    forged = {**hidden(page.text), "shown_at": "1000", **GOOD}
    answer = live.post(f"/f/{link['code']}", data=forged)
    assert answer.status_code == 422 and "This form has expired" in answer.text
    assert count_rows(db, "lead")["lead"] == 0
    assert live.get("/f/nosuchcode").status_code == 404
