"""Geo: the IP's country from a real (tiny) MaxMind-format database, read with `maxminddb`,
against the lead's country."""

from __future__ import annotations

import logging

import maxminddb
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from fraud.rules import geo
from tests.fraud_helpers import patch_offer, person_lead, post, settings_changed, staff_view


@pytest.fixture
def geoip_db(tmp_path):
    """A GeoIP2-Country shaped database: documentation networks spread over three countries."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country",
                        description={"en": "leadmarket test networks"})
    writer.insert_network(IPSet(["203.0.113.0/24", "192.0.2.0/25"]),
                          {"country": {"iso_code": "US", "names": {"en": "United States"}}})
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"country": {"iso_code": "DE", "names": {"en": "Germany"}}})
    writer.insert_network(IPSet(["2001:db8::/32"]), {"registered_country": {"iso_code": "GB"}})
    path = tmp_path / "countries.mmdb"
    writer.to_db_file(str(path))
    return path


def test_the_reader_finds_countries_in_the_database(geoip_db):
    reader = maxminddb.open_database(str(geoip_db))
    assert reader.metadata().database_type == "GeoIP2-Country"
    assert geo.ip_country(reader, "203.0.113.50") == "US"
    assert geo.ip_country(reader, "198.51.100.7") == "DE"
    assert geo.ip_country(reader, "2001:db8::1") == "GB"       # falls back to registered_country
    assert geo.ip_country(reader, "192.0.2.200") is None      # outside every network
    assert geo.ip_country(reader, "not an ip") is None


def test_country_signals():
    assert geo.country_signals("US", "US") == []
    assert geo.country_signals("us", "US") == []
    assert geo.country_signals(None, "US") == []
    assert [s.code for s in geo.country_signals("DE", "US")] == ["geo_mismatch"]


def test_an_ip_from_another_country_is_scored(client, network, settings, geoip_db):
    offer = network.cpl_offer["id"]
    with settings_changed(settings, geoip_path=str(geoip_db)):
        home = post(client, network, person_lead(offer, meta={"ip": "203.0.113.50"}))
        abroad = post(client, network, person_lead(offer, meta={"ip": "198.51.100.7"}))
        unknown = post(client, network, person_lead(offer, meta={"ip": "192.0.2.200"}))
        patch_offer(client, network, offer, review_at=30)
        strict = post(client, network, person_lead(offer, meta={"ip": "2001:db8::7"}))

    assert [home["status"], abroad["status"], unknown["status"], strict["status"]] == [
        "accepted", "accepted", "accepted", "review"]
    assert staff_view(client, network, home["lead_id"])["fraud_score"] == 0
    seen = staff_view(client, network, abroad["lead_id"])
    assert (seen["fraud_score"], seen["fraud_reasons"]) == (35, ["geo_mismatch"])
    assert staff_view(client, network, unknown["lead_id"])["fraud_reasons"] == []
    assert staff_view(client, network, strict["lead_id"])["fraud_reasons"] == ["geo_mismatch"]


def test_without_a_database_there_is_no_geo_check(client, network, settings):
    assert settings.geoip_path is None
    decision = post(client, network, person_lead(network.cpl_offer["id"], meta={"ip": "198.51.100.7"}))
    assert staff_view(client, network, decision["lead_id"])["fraud_reasons"] == []


def test_a_database_that_cannot_be_opened_turns_geo_off_with_one_log_line(client, network, settings, tmp_path,
                                                                           caplog):
    missing = str(tmp_path / "nowhere.mmdb")
    logger = logging.getLogger("leadmarket")
    logger.addHandler(caplog.handler)
    try:
        with settings_changed(settings, geoip_path=missing):
            decisions = [post(client, network, person_lead(network.cpl_offer["id"], meta={"ip": "198.51.100.7"}))
                         for _ in range(2)]
    finally:
        logger.removeHandler(caplog.handler)

    assert [d["status"] for d in decisions] == ["accepted", "accepted"]
    lines = [r.getMessage() for r in caplog.records if r.name == "leadmarket.fraud.geo"]
    assert len(lines) == 1 and "cannot be opened" in lines[0]
