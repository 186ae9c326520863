"""Tracking links and the click redirect, as an affiliate and a visitor see them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import TestClient
from sqlalchemy import event, select

from affiliates import clicks
from affiliates.tasks import flush_clicks
from affiliates.tracking import targets
from affiliates.tracking_models import Click, TrackingLink
from api.app import create_app
from tests.support import created, error_fields, make_offer, problem

LANDING = ("https://lp.example/go?cid={click_id}&s1={sub1}&s2={sub2}&s3={sub3}&s4={sub4}&s5={sub5}"
           "&aff={affiliate_id}&o={offer_id}")


@pytest.fixture(autouse=True)
def fresh_cache(redis_db):
    targets.clear()
    yield
    targets.clear()


def new_link(client, network, offer_id=None, **body):
    answer = client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                         json={"offer_id": offer_id or network.cpl_offer["id"], **body})
    return created(answer)


def follow(client, url, **kwargs):
    return client.get(url.replace("http://testserver", ""), follow_redirects=False, **kwargs)


def test_affiliate_creates_a_link_and_a_click_redirects_with_every_macro_filled(client, network, redis_db, db):
    offer = make_offer(client, network.admin_headers, "car-insurance", landing_url=LANDING)
    link = new_link(client, network, offer["id"], sub_ids={"sub1": "fb", "sub3": "default three"})

    assert link["url"] == f"http://testserver/r/{link['code']}" and len(link["code"]) == 10
    assert link["sub_ids"] == {"sub1": "fb", "sub3": "default three"} and link["status"] == "active"
    visit = follow(client, link["url"] + "?sub1=spring sale&sub2=a%26b=c/d&cost=0.25",
                   headers={"User-Agent": "Mozilla/5.0 (Test)", "Referer": "https://news.example/article",
                            "CF-IPCountry": "de"})

    assert visit.status_code == 302
    location = urlsplit(visit.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "lp.example", "/go")
    query = parse_qs(location.query, keep_blank_values=True)
    assert query["s1"] == ["spring sale"] and query["s2"] == ["a&b=c/d"]   # the query wins, URL-encoded
    assert query["s3"] == ["default three"]                                 # the link's default
    assert query["s4"] == [""] and query["s5"] == [""]
    assert query["aff"] == [str(network.affiliate["id"])] and query["o"] == [str(offer["id"])]
    assert "%20" in visit.headers["location"] and "%26" in visit.headers["location"]
    click_id = query["cid"][0]

    assert flush_clicks() == 1
    with db() as session:
        click = session.execute(select(Click).where(Click.click_id == click_id)).scalar_one()
    assert (click.affiliate_id, click.offer_id) == (network.affiliate["id"], offer["id"])
    assert click.sub_ids == {"sub1": "spring sale", "sub2": "a&b=c/d", "sub3": "default three"}
    assert click.user_agent == "Mozilla/5.0 (Test)" and click.referrer == "https://news.example/article"
    assert click.ip == "testclient"  # the peer address as the server saw it
    assert (click.cost_minor, click.currency, click.country) == (25, "USD", "DE")
    assert click.is_unique is True


def test_unknown_paused_or_absurd_links_answer_a_plain_404_page(client, network, redis_db):
    link = new_link(client, network)

    for path in ("/r/nosuchcode", "/r/" + "x" * 300, "/r/%00%ff", "/r/" + link["code"] + "x"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "Link not found" in answer.text

    paused = client.post(f"/api/v1/tracking-links/{link['code']}/status", headers=network.affiliate_headers(),
                         json={"status": "paused"})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert follow(client, link["url"]).status_code == 404
    resumed = client.post(f"/api/v1/tracking-links/{link['code']}/status", headers=network.affiliate_headers(),
                          json={"status": "active"})
    assert resumed.status_code == 200
    assert follow(client, link["url"]).status_code == 302


def test_a_link_paused_on_another_server_stops_once_its_local_cache_entry_expires(client, network, redis_db, db):
    link = new_link(client, network)
    assert follow(client, link["url"]).status_code == 302   # cached here now
    with db() as session:                                   # another server pauses it
        session.query(TrackingLink).filter_by(code=link["code"]).update({"status": "paused"})
        session.commit()
    from affiliates.tracking import link_target, publish_target
    from leadmarket.settings import current_settings
    with db() as session:
        publish_target(current_settings(), link_target(session, link["code"]))

    assert follow(client, link["url"]).status_code == 404


def test_clicks_need_no_database_round_trip_once_the_link_is_cached(client, network, redis_db, engine):
    link = new_link(client, network)
    targets.clear()                      # a fresh server: the link is in Redis, not in this process
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        answers = [follow(client, link["url"] + f"?sub1=s{i}").status_code for i in range(25)]
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert answers == [302] * 25
    assert statements == []
    assert redis_db.xlen(clicks.stream_key(client.app.state.settings)) == 25


def test_a_link_missing_from_redis_is_read_from_the_database_once(client, network, redis_db, engine):
    link = new_link(client, network)
    targets.clear()
    redis_db.delete(client.app.state.settings.redis_prefix + "link:" + link["code"])
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert [follow(client, link["url"]).status_code for _ in range(5)] == [302] * 5
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert redis_db.exists(client.app.state.settings.redis_prefix + "link:" + link["code"])


def test_a_bad_cost_parameter_is_ignored_and_the_visitor_still_lands(client, network, redis_db, db):
    link = new_link(client, network)
    for cost in ("abc", "-1", "0.001", "NaN", "1e400"):
        assert follow(client, link["url"] + f"?cost={cost}").status_code == 302
    flush_clicks()
    with db() as session:
        costs = list(session.execute(select(Click.cost_minor)).scalars())
    assert costs == [None] * 5


def test_link_creation_rejects_bad_fields_and_other_roles(client, network):
    fields = error_fields(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                                      json={"sub_ids": {"sub9": "x", "sub1": "y" * 256}}))
    assert fields.keys() == {"offer_id", "sub_ids.sub9", "sub_ids.sub1"}
    fields = error_fields(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                                      json={"offer_id": 999999}))
    assert fields == {"offer_id": "no active offer with this id"}
    problem(client.post("/api/v1/tracking-links", headers=network.admin_headers,
                        json={"offer_id": network.cpl_offer["id"]}), 403)
    problem(client.post("/api/v1/tracking-links", json={"offer_id": network.cpl_offer["id"]}), 401)


def test_an_affiliate_sees_and_changes_only_their_own_links(client, network):
    mine = new_link(client, network)
    theirs = created(client.post("/api/v1/tracking-links", headers=network.affiliate_headers(other=True),
                                 json={"offer_id": network.cpl_offer["id"]}))

    listed = client.get("/api/v1/tracking-links", headers=network.affiliate_headers()).json()
    assert [link["code"] for link in listed] == [mine["code"]]
    problem(client.post(f"/api/v1/tracking-links/{theirs['code']}/status", headers=network.affiliate_headers(),
                        json={"status": "paused"}), 404)
    assert follow(client, theirs["url"]).status_code == 302
    assert {link["code"] for link in client.get("/api/v1/tracking-links", headers=network.admin_headers).json()} \
        == {mine["code"], theirs["code"]}


def test_without_redis_the_redirect_writes_the_click_itself(settings, engine, db, network, client):
    link = new_link(client, network, sub_ids={"sub2": "email"})
    embedded = settings.__class__(**{**settings.__dict__, "redis_url": None})
    try:
        with TestClient(create_app(embedded, engine=engine)) as plain:
            first = follow(plain, link["url"] + "?sub1=a", headers={"User-Agent": "UA"})
            second = follow(plain, link["url"] + "?sub1=b", headers={"User-Agent": "UA"})
    finally:
        from leadmarket.settings import configure
        configure(settings)
    assert first.status_code == second.status_code == 302
    with db() as session:
        stored = session.execute(select(Click).order_by(Click.clicked_at, Click.click_id)).scalars().all()
    assert [c.sub_ids for c in stored] == [{"sub1": "a", "sub2": "email"}, {"sub1": "b", "sub2": "email"}]
    assert [c.is_unique for c in stored] == [True, False]
    assert parse_qs(urlsplit(first.headers["location"]).query)["cid"] == [stored[0].click_id]


def test_clicks_racing_on_a_cold_link_share_one_lookup(client, network, redis_db, engine):
    from concurrent.futures import ThreadPoolExecutor

    link = new_link(client, network)
    targets.clear()
    redis_db.delete(client.app.state.settings.redis_prefix + "link:" + link["code"])
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: follow(client, link["url"]).status_code, range(32)))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert answers == [302] * 32
    assert len(statements) == 1   # one lookup for all the concurrent misses, not one per click


def test_the_click_front_and_the_litestar_route_answer_a_click_alike(client, network, redis_db, db):
    offer = make_offer(client, network.admin_headers, "car-insurance", landing_url=LANDING)
    link = new_link(client, network, offer["id"], sub_ids={"sub2": "default two"})
    query = "?sub1=first&sub1=second&sub2=&sub3=x+y%2Bz"
    front = follow(client, link["url"] + query)                   # GET /r/{code}: the raw ASGI front
    routed = follow(client, link["url"] + "/" + query)            # /r/{code}/: Litestar's route
    for answer in (front, routed):
        assert answer.status_code == 302
        landing = parse_qs(urlsplit(answer.headers["location"]).query, keep_blank_values=True)
        assert (landing["s1"], landing["s2"], landing["s3"]) == (["first"], ["default two"], ["x y+z"])
        assert answer.headers["cache-control"] == "no-store" and answer.headers["ratelimit-limit"]
        assert answer.headers["x-request-id"]
    assert front.headers.keys() == routed.headers.keys()
    assert client.post(link["url"].replace("http://testserver", "")).status_code == 405

    assert flush_clicks() == 2
    with db() as session:
        stored = session.execute(select(Click)).scalars().all()
    assert [c.sub_ids for c in stored] == [{"sub1": "first", "sub2": "default two", "sub3": "x y+z"}] * 2


def test_a_failure_on_the_click_path_is_answered_as_a_logged_problem(client, network, monkeypatch, app_log):
    from affiliates import redirect

    link = new_link(client, network)

    async def broken(*_args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(redirect, "click_through", broken)
    answer = follow(client, link["url"])
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "InternalServerError" and "a bug" not in answer.text
    assert answer.headers["x-request-id"] and answer.headers["ratelimit-remaining"]
    assert f"[{answer.headers['x-request-id']}] unhandled error on GET /r/{link['code']}" in app_log.getvalue()
