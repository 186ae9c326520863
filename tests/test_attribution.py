"""Attribution: a lead posted with a click_id joins its click; another affiliate's or offer's click is refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from affiliates import clicks
from affiliates.tasks import flush_clicks
from affiliates.tracking import targets
from leadmarket.errors import ServiceUnavailable
from marketplace.models import Lead
from tests.support import count_rows, created, error_fields, lead_body, post_lead


@pytest.fixture(autouse=True)
def fresh_cache(redis_db):
    targets.clear()
    yield
    targets.clear()


def click(client, network, offer_id, query="", other=False, sub_ids=None):
    link = created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(other=other),
                               json={"offer_id": offer_id, "sub_ids": sub_ids or {}}))
    answer = client.get(f"/r/{link['code']}{query}", follow_redirects=False)
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.headers["location"]).query)["cid"][0]


def stored_lead(db, lead_id):
    with db() as session:
        return session.get_one(Lead, lead_id)


def test_a_lead_takes_its_sub_ids_from_a_click_still_in_the_stream(client, network, db, redis_db, settings):
    click_id = click(client, network, network.cpl_offer["id"], "?sub1=fb&sub2=video", sub_ids={"sub4": "eu"})
    assert redis_db.xlen(clicks.stream_key(settings)) == 1            # not flushed yet

    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"], click_id=click_id))

    assert answer.status_code == 201, answer.text
    lead = stored_lead(db, answer.json()["lead_id"])
    assert lead.click_id == click_id
    assert lead.sub_ids == {"sub1": "fb", "sub2": "video", "sub4": "eu"}


def test_sub_ids_the_lead_gives_win_over_the_clicks(client, network, db, redis_db):
    click_id = click(client, network, network.cpl_offer["id"], "?sub1=fb&sub2=video")
    flush_clicks()                                                       # from the table this time

    answer = post_lead(client, network.affiliate["api_key"],
                       lead_body(network.cpl_offer["id"], click_id=click_id, sub_ids={"sub1": "ig", "sub3": "x"}))

    assert answer.status_code == 201, answer.text
    assert stored_lead(db, answer.json()["lead_id"]).sub_ids == {"sub1": "ig", "sub2": "video", "sub3": "x"}


def test_another_affiliates_click_is_refused_and_nothing_is_stored(client, network, db, redis_db):
    theirs = click(client, network, network.cpl_offer["id"], "?sub1=theirs", other=True)

    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"], click_id=theirs))

    assert error_fields(answer) == {"click_id": "this click came through another affiliate's tracking link"}
    assert count_rows(db, "lead")["lead"] == 0


def test_a_click_for_another_offer_is_refused_with_the_offer_named(client, network, db, redis_db):
    click_id = click(client, network, network.cpa_offer["id"])
    flush_clicks()

    answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"], click_id=click_id))

    assert error_fields(answer) == {
        "click_id": f"this click was for offer {network.cpa_offer['id']}, not offer {network.cpl_offer['id']}"}
    assert count_rows(db, "lead")["lead"] == 0


def test_a_click_id_we_never_issued_is_kept_as_the_affiliates_own_reference(client, network, db, redis_db):
    for foreign in ("kt-8f3a2c", "1795527190137-0-0000deadbeef"):   # a tracker's id; ours in form, never issued
        answer = post_lead(client, network.affiliate["api_key"],
                           lead_body(network.cpl_offer["id"], click_id=foreign, sub_ids={"sub1": "own"}))
        assert answer.status_code == 201, answer.text
        lead = stored_lead(db, answer.json()["lead_id"])
        assert (lead.click_id, lead.sub_ids) == (foreign, {"sub1": "own"})


def test_an_unflushed_click_cannot_be_judged_while_redis_is_down(db, settings):
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    with db() as session, pytest.raises(ServiceUnavailable):
        clicks.find_click(session, unreachable, settings, "1795527190137-0-a5178f2106c3")
    with db() as session:
        assert count_rows(db, "click")["click"] == 0 and session is not None
