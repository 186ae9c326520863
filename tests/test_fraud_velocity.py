"""Velocity in Redis sliding windows: leads per IP, per affiliate + sub1, the same person from several
affiliates (lead stacking); concurrent posts count exactly; Redis down or slow never loses a lead."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from fraud.rules import velocity
from marketplace.intake import submit_lead
from marketplace.models import Lead
from tests.fraud_helpers import person_lead, post, settings_changed, staff_view
from tests.support import make_offer, make_vertical, principal_for, submission

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def fresh(settings, redis_db):
    """Settings with small limits and a key space of this test's own (under the run's prefix, which
    the redis_db fixture cleans afterwards)."""
    with settings_changed(settings, redis_prefix=f"{settings.redis_prefix}vel{secrets.token_hex(3)}:",
                          velocity_ip_max=3, velocity_ip_window_seconds=60, velocity_sub_max=5,
                          velocity_sub_window_seconds=60, velocity_stacking_window_seconds=3600) as changed:
        yield changed


def lead(affiliate_id=1, ip="203.0.113.9", sub1=None, phone="+14152010001", email=None) -> Lead:
    return Lead(id=1, affiliate_id=affiliate_id, sub1=sub1, phone=phone, email=email, meta={"ip": ip})


def codes_at(settings, the_lead, at):
    return [s.code for s in velocity.check(the_lead, settings, at)]


def test_leads_per_ip_in_a_sliding_window(fresh):
    seen = [codes_at(fresh, lead(ip="203.0.113.9", phone=f"+1415201{i:04d}"), T0 + timedelta(seconds=i))
            for i in range(5)]
    assert seen == [[], [], [], ["velocity_ip"], ["velocity_ip"]]
    # 61 s after the third hit the first three have left the 60 s window: 2 remain, plus this one
    assert codes_at(fresh, lead(ip="203.0.113.9", phone="+14152019999"), T0 + timedelta(seconds=62)) == []
    assert codes_at(fresh, lead(ip="198.51.100.1", phone="+14152018888"), T0 + timedelta(seconds=5)) == []


def test_leads_per_affiliate_and_sub1(fresh):
    def hit(affiliate_id, sub1, i):
        return codes_at(fresh, lead(affiliate_id=affiliate_id, sub1=sub1, ip=f"192.0.2.{i}", phone=f"+1415202{i:04d}"),
                        T0 + timedelta(seconds=i))

    assert [hit(1, "placement-a", i) for i in range(6)] == [[]] * 5 + [["velocity_sub"]]
    assert hit(1, "placement-b", 10) == []        # another sub1 of the same affiliate has its own window
    assert hit(2, "placement-a", 11) == []        # and so does the same sub1 at another affiliate


def test_the_same_person_from_another_affiliate_is_lead_stacking(fresh):
    assert codes_at(fresh, lead(affiliate_id=1, phone="+14152030000", ip="192.0.2.1"), T0) == []
    assert codes_at(fresh, lead(affiliate_id=1, phone="+14152030000", ip="192.0.2.2"), T0 + timedelta(seconds=1)) == []
    assert codes_at(fresh, lead(affiliate_id=2, phone="+14152030000", ip="192.0.2.3"),
                    T0 + timedelta(seconds=2)) == ["lead_stacking"]
    # without a phone the e-mail is the person
    assert codes_at(fresh, lead(affiliate_id=1, phone=None, email="ana@gmail.com", ip="192.0.2.4"), T0) == []
    assert codes_at(fresh, lead(affiliate_id=3, phone=None, email="ana@gmail.com", ip="192.0.2.5"), T0) == [
        "lead_stacking"]
    # a day later the first posts have left the window
    assert codes_at(fresh, lead(affiliate_id=4, phone="+14152030000", ip="192.0.2.6"), T0 + timedelta(hours=2)) == []


def test_counter_keys_hold_no_contact_data(fresh, redis_db):
    velocity.check(lead(phone="+14152040000", ip="203.0.113.77", sub1="s"), fresh, T0)
    keys = [k.decode() for k in redis_db.scan_iter(match=fresh.redis_prefix + "*")]
    assert len(keys) == 4
    assert not any("4152040000" in k or "203.0.113.77" in k for k in keys)


def test_lead_stacking_through_intake(client, network, fresh):
    person = {"phone": "+1 415 205 0000"}
    first = post(client, network, person_lead(network.cpl_offer["id"], contact=person))
    second = post(client, network, person_lead(network.cpa_offer["id"], contact=person), other=True)

    # the second affiliate posts the same person to another offer of the same vertical: an exact
    # duplicate; to another vertical it is lead stacking
    assert first["status"] == "accepted" and second["reason"] == "duplicate"
    make_vertical(client, network.admin_headers, "loans", [{"name": "amount", "type": "integer"}])
    loans = make_offer(client, network.admin_headers, "loans")
    body = person_lead(loans["id"], contact=person)
    body["attributes"] = {"amount": 5000}
    third = post(client, network, body, other=True)
    assert third["status"] == "review"
    assert staff_view(client, network, third["lead_id"])["fraud_reasons"] == ["lead_stacking"]


def test_concurrent_posts_from_one_ip_are_counted_exactly(network, db, fresh):
    """30 leads from one IP at once with a limit of 3 per window: exactly 3 pass clean, 27 are flagged."""
    principal = principal_for(db, network.affiliate["api_key"])
    bodies = [submission(person_lead(network.cpl_offer["id"], meta={"ip": "203.0.113.200"})) for _ in range(30)]
    start = threading.Barrier(10)

    def race(i: int):
        with db() as session:
            if i < 10:
                start.wait()
            return submit_lead(session, principal, bodies[i])

    with settings_changed(fresh, velocity_sub_max=1000), ThreadPoolExecutor(10) as pool:
        decisions = list(pool.map(race, range(30)))

    assert sorted(d.status for d in decisions) == ["accepted"] * 3 + ["review"] * 27
    with db() as session:
        reasons = session.execute(select(Lead.fraud_reasons)).scalars().all()
    assert sum(r == ["velocity_ip"] for r in reasons) == 27 and sum(r == [] for r in reasons) == 3


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]      # nothing listens there once the probe is closed


@pytest.fixture
def velocity_log(caplog):
    # the app's logging stops at the `leadmarket` logger; listen there
    logger = logging.getLogger("leadmarket")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="leadmarket")
    yield caplog
    logger.removeHandler(caplog.handler)


def test_redis_down_still_accepts_the_lead_and_logs_it(client, network, settings, velocity_log, db):
    body = person_lead(network.cpl_offer["id"])
    with settings_changed(settings, redis_url=f"redis://127.0.0.1:{closed_port()}/0"):
        started = time.monotonic()
        decision = post(client, network, body)
        elapsed = time.monotonic() - started
        second = post(client, network, person_lead(network.cpl_offer["id"]))

    assert decision["status"] == second["status"] == "accepted" and decision["payout"] == "12.50"
    with db() as session:  # committed, screened without velocity, and said so
        lead_row = session.get_one(Lead, decision["lead_id"])
        assert (lead_row.status, lead_row.fraud_score) == ("accepted", 0)
        assert lead_row.fraud_reasons == ["velocity_unchecked"]
    assert elapsed < 2.0
    lines = [r.getMessage() for r in velocity_log.records if r.name == "leadmarket.fraud.velocity"]
    assert len(lines) == 1 and "counters unavailable" in lines[0]   # the second lead did not retry Redis
    text = velocity_log.text
    assert body["contact"]["email"] not in text and "4152" not in text and body["meta"]["ip"] not in text


def test_a_hanging_redis_costs_one_timeout_not_one_per_lead(client, network, settings, velocity_log):
    """A server that accepts connections and never answers: the first lead waits for the 0.5 s
    socket timeout, the next ones skip Redis for `velocity_retry_seconds`."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        with settings_changed(settings, redis_url=f"redis://127.0.0.1:{server.getsockname()[1]}/0"):
            timings = []
            for _ in range(3):
                started = time.monotonic()
                assert post(client, network, person_lead(network.cpl_offer["id"]))["status"] == "accepted"
                timings.append(time.monotonic() - started)
    finally:
        server.close()

    assert timings[0] < 2.5 and max(timings[1:]) < 0.5, timings


def test_limits_come_from_the_environment():
    from leadmarket.settings import Settings

    configured = Settings.from_env({"LEADMARKET_VELOCITY_IP_MAX": "7", "LEADMARKET_VELOCITY_IP_WINDOW_SECONDS": "600",
                                    "LEADMARKET_VELOCITY_SUB_MAX": "90", "LEADMARKET_VELOCITY_SUB_WINDOW_SECONDS": "60",
                                    "LEADMARKET_VELOCITY_STACKING_WINDOW_SECONDS": "7200",
                                    "LEADMARKET_VELOCITY_RETRY_SECONDS": "2.5", "LEADMARKET_MIN_FORM_SECONDS": "8",
                                    "LEADMARKET_CONSENT_MAX_AGE_HOURS": "24", "LEADMARKET_GEOIP_PATH": "/srv/geo.mmdb"})
    assert (configured.velocity_ip_max, configured.velocity_ip_window_seconds, configured.velocity_sub_max,
            configured.velocity_sub_window_seconds, configured.velocity_stacking_window_seconds,
            configured.velocity_retry_seconds, configured.min_form_seconds, configured.consent_max_age_hours,
            configured.geoip_path) == (7, 600, 90, 60, 7200, 2.5, 8, 24, "/srv/geo.mmdb")
    defaults = Settings.from_env({})
    assert (defaults.velocity_ip_max, defaults.velocity_sub_max, defaults.geoip_path) == (10, 1000, None)
