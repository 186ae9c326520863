"""Click checks in the fraud screen: a lead's click must be ours and made a plausible time before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from affiliates.tasks import flush_clicks
from affiliates.tracking import targets
from affiliates.tracking_models import Click
from fraud.rules.clicks import click_signals
from leadmarket.clock import utcnow
from tests.support import created, lead_body, post_lead


@pytest.fixture(autouse=True)
def fresh_cache(redis_db):
    targets.clear()
    yield
    targets.clear()


def click(client, network, offer_id):
    """A visit through a new tracking link of the network's affiliate; its click_id, from the redirect."""
    link = created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                               json={"offer_id": offer_id}))
    answer = client.get(f"/r/{link['code']}", follow_redirects=False)
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.headers["location"]).query)["cid"][0]


def click_made(db, click_id, ago):
    """Pretend the (flushed) click happened `ago` before now, as if the person took that long."""
    flush_clicks()
    with db() as session, session.begin():
        moved = session.execute(update(Click).where(Click.click_id == click_id)
                                .values(clicked_at=utcnow() - ago)).rowcount
    assert moved == 1


def posted(client, network, **overrides):
    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"], **overrides))
    assert answer.status_code == 201, answer.text
    lead = client.get(f"/api/v1/leads/{answer.json()['lead_id']}", headers=network.admin_headers).json()
    return answer.json(), lead


def test_a_lead_posted_straight_after_its_click_goes_to_review(client, network, db, redis_db):
    click_id = click(client, network, network.cpl_offer["id"])   # still in the Redis stream

    answer, lead = posted(client, network, click_id=click_id)

    assert "click_too_fast" in lead["fraud_reasons"] and lead["fraud_score"] == 40
    assert answer["status"] == "review"                                # a person looks before it is sold
    assert lead["click_id"] == click_id


def test_a_lead_a_few_minutes_after_its_click_is_clean(client, network, db, redis_db):
    click_id = click(client, network, network.cpl_offer["id"])
    click_made(db, click_id, timedelta(minutes=4))

    answer, lead = posted(client, network, click_id=click_id)

    assert lead["fraud_reasons"] == [] and lead["fraud_score"] == 0
    assert answer["status"] in ("accepted", "sold")


def test_a_click_older_than_thirty_days_is_a_hint(client, network, db, redis_db):
    click_id = click(client, network, network.cpl_offer["id"])
    click_made(db, click_id, timedelta(days=31))

    answer, lead = posted(client, network, click_id=click_id)

    assert lead["fraud_reasons"] == ["click_too_old"] and lead["fraud_score"] == 20
    assert answer["status"] in ("accepted", "sold")                   # a weak hint alone


@pytest.mark.parametrize("foreign", ["1795527190137-0-0000deadbeef", "kt-8f3a2c"],
                         ids=["ours-in-form-never-issued", "a-trackers-id"])
def test_a_click_id_we_never_issued_is_marked_unknown(client, network, db, redis_db, foreign):
    answer, lead = posted(client, network, click_id=foreign)

    assert lead["fraud_reasons"] == ["click_unknown"] and lead["fraud_score"] == 25
    assert answer["status"] in ("accepted", "sold")                   # a weak hint alone: affiliates' own ids


def test_a_lead_without_a_click_id_gets_no_click_reason(client, network, db, redis_db):
    answer, lead = posted(client, network)
    assert lead["fraud_reasons"] == [] and answer["status"] in ("accepted", "sold")


def test_the_plausible_window_is_a_setting(client, network, db, redis_db, settings):
    lead_at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    window = {"min_seconds": 3, "max_age": timedelta(days=30)}
    assert [s.code for s in click_signals(lead_at - timedelta(seconds=2.9), lead_at, **window)] == ["click_too_fast"]
    assert click_signals(lead_at - timedelta(seconds=3), lead_at, **window) == []
    assert [s.code for s in click_signals(lead_at + timedelta(seconds=1), lead_at, **window)] == ["click_too_fast"]
    assert click_signals(lead_at - timedelta(days=30), lead_at, **window) == []
    assert [s.code for s in click_signals(lead_at - timedelta(days=30, seconds=1), lead_at, **window)] == [
        "click_too_old"]
    assert [s.code for s in click_signals(None, lead_at, **window)] == ["click_unknown"]
    assert (settings.click_min_seconds, settings.click_max_age_days) == (3.0, 30)
