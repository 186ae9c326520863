"""Geo: the country of the lead's IP (a MaxMind-format GeoIP database) against the lead's country.

Only when `LEADMARKET_GEOIP_PATH` names a database (GeoLite2/GeoIP2 Country or City, or any
mmdb whose records carry `country.iso_code`). An address the database does not know, or a
database that cannot be opened, adds nothing; the latter is logged once per path.
"""

from __future__ import annotations

import logging
import threading

import maxminddb

from fraud.rules import Signal
from leadmarket.settings import Settings
from marketplace.models import Lead

log = logging.getLogger("leadmarket.fraud.geo")

GEO_MISMATCH = Signal("geo_mismatch", 35)

_readers: dict[str, maxminddb.Reader | None] = {}
_lock = threading.Lock()


def reader_for(path: str) -> maxminddb.Reader | None:
    with _lock:
        if path not in _readers:
            try:
                _readers[path] = maxminddb.open_database(path)
            except (OSError, maxminddb.InvalidDatabaseError) as exc:
                log.error("GeoIP database %s cannot be opened (%s); geo checks are off", path, type(exc).__name__)
                _readers[path] = None
        return _readers[path]


def ip_country(reader: maxminddb.Reader, ip: str) -> str | None:
    try:
        record = reader.get(ip)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    for key in ("country", "registered_country"):
        place = record.get(key)
        if isinstance(place, dict) and isinstance(place.get("iso_code"), str):
            return place["iso_code"].upper()
    return None


def country_signals(ip_country_code: str | None, lead_country: str) -> list[Signal]:
    if ip_country_code is None or ip_country_code.upper() == lead_country.upper():
        return []
    return [GEO_MISMATCH]


def check(lead: Lead, settings: Settings) -> list[Signal]:
    ip = (lead.meta or {}).get("ip")
    if not settings.geoip_path or not ip:
        return []
    reader = reader_for(settings.geoip_path)
    if reader is None:
        return []
    return country_signals(ip_country(reader, ip), lead.country)
