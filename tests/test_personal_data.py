"""Personal data at rest: sealed with AES-GCM under rotatable keys, found again only through keyed hashes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import itertools
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from affiliates.call_models import Call
from leadmarket import crypto
from leadmarket.cli import main as cli
from leadmarket.migrate import alembic_config, upgrade
from leadmarket.registry import metadata
from leadmarket.settings import Settings, configure
from marketplace import dedupe
from marketplace.models import LEAD_CONTACT_PURPOSE, DedupeClaim, Lead, PersonKey
from tests.conftest import PG_SERVER
from tests.support import Network, created, lead_body, post_lead

_people = itertools.count(1)
PEOPLE = [("Zephyrine", "Quackenbush"), ("Ottoline", "Vandermeer"), ("Perpetua", "Blackwood"),
          ("Leopold", "Hazelrigg"), ("Wilhelmina", "Thistlewood"), ("Barnaby", "Fairweather"),
          ("Clementine", "Ravenscroft"), ("Augustin", "Pemberton")]
CALL_TRACKING = "+14158023900"
CALLER = "+12128463917"


def person(offer_id: int, **contact: Any) -> dict[str, Any]:
    """A clean lead of a person with rare names and details no other row of the database holds."""
    n = next(_people)
    first, last = PEOPLE[n % len(PEOPLE)]
    body = lead_body(offer_id)
    body["contact"].update({"first_name": first, "last_name": last,
                            "email": f"{first}.{last}.{n}@gmail.com".lower(),
                            "phone": f"+1 415 {300 + n % 600:03d} {(n * 37) % 10000:04d}",
                            "address": f"{n + 10} Quillfeather Lane", "postal_code": "94158",
                            "date_of_birth": f"19{60 + n % 30}-03-{10 + n % 18}", **contact})
    body["meta"]["ip"] = f"198.51.100.{200 + n % 50}"
    body["meta"]["user_agent"] = f"Mozilla/5.0 (Quillfeather {n})"
    body["consent"]["ip"] = f"192.0.2.{200 + n % 50}"
    return body


def traces(body: dict[str, Any]) -> list[str]:
    """Strings that would give the person away: contact values as posted and normalized, their
    unkeyed hashes, and the IPs and browser of meta and consent."""
    contact = body["contact"]
    phone = "+" + "".join(ch for ch in contact["phone"] if ch.isdigit())
    email = contact["email"].lower()
    found = [contact["first_name"], contact["last_name"], email, phone, phone[2:], contact["phone"],
             contact.get("address"), contact.get("date_of_birth"), body["meta"]["ip"], body["meta"]["user_agent"],
             body["consent"]["ip"]]
    for value in (email, phone):
        found += [hashlib.sha256(value.encode()).hexdigest(), hashlib.md5(value.encode()).hexdigest(),
                  hashlib.sha1(value.encode()).hexdigest()]
    return [value for value in found if value]


def dump_database(db: sessionmaker[Session]) -> str:
    """Every row of every table as PostgreSQL writes a row as text (bytea as hex)."""
    parts = []
    with db() as session:
        for table in metadata().sorted_tables:
            parts += session.execute(text(f'SELECT CAST(t AS text) FROM "{table.name}" AS t')).scalars().all()
    return "\n".join(parts)


def leaked(haystack: str, needles: list[str]) -> list[str]:
    lowered = haystack.casefold()
    return [needle for needle in needles if needle.casefold() in lowered]


@pytest.fixture
def keys_configured(settings: Settings) -> Iterator[Any]:
    """Switch the process's data keys for a test; the test's settings come back after it."""
    def use(data_keys: str | None) -> Settings:
        return configure(dataclasses.replace(settings, data_keys=data_keys))
    try:
        yield use
    finally:
        configure(settings)


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def sealed_key_ids(db: sessionmaker[Session]) -> dict[str, list[str]]:
    with db() as session:
        leads = session.execute(select(Lead.contact_sealed).where(Lead.contact_sealed.is_not(None))).scalars().all()
        calls = session.execute(select(Call.contact_sealed).where(Call.contact_sealed.is_not(None))).scalars().all()
    return {"lead": sorted(crypto.key_id(v) for v in leads), "call": sorted(crypto.key_id(v) for v in calls)}


# ---------------------------------------------------------------- at rest


def test_no_table_and_no_redis_key_holds_a_persons_data_in_clear(client, network: Network, db, redis_db):
    offer = network.cpl_offer["id"]
    stored, again, typo, fake = (person(offer) for _ in range(4))
    first = created(post_lead(client, network.affiliate["api_key"], stored, idempotency_key="retry-1"))
    assert first["status"] == "accepted"  # nobody's order wants it: it waits in the store
    # the same e-mail again (exact dedupe), the same person under a new e-mail and phone (fuzzy dedupe)
    again["contact"]["email"] = stored["contact"]["email"]
    typo["contact"].update({k: stored["contact"][k] for k in ("first_name", "last_name", "date_of_birth",
                                                                "address", "postal_code")})
    fake["contact"]["phone"] = "+1 415 555 0123"  # a fictional number: the screen rejects it
    answers = [created(post_lead(client, network.affiliate["api_key"], body)) for body in (again, typo, fake)]
    assert [(a["status"], a["reason"]) for a in answers] == [
        ("rejected", "duplicate"), ("rejected", "duplicate"), ("rejected", "phone_fake")]
    assert answers[0]["duplicate_of"] == answers[1]["duplicate_of"] == first["lead_id"]
    buyer = created(client.post("/api/v1/advertisers", headers=network.admin_headers, json={
        "name": "Sealed Buyer", "email": "buyer@sealed-buyer.example", "billing_mode": "prepaid",
        "credit_limit": "500.00"}))
    bought = client.post(f"/api/v1/store/leads/{first['lead_id']}/buy", headers={"X-API-Key": buyer["api_key"]},
                         json={"exclusive": False})
    assert bought.status_code == 201, bought.text

    everything = dump_database(db)
    needles = [t for body in (stored, again, typo, fake) for t in traces(body)]
    assert leaked(everything, needles) == []
    keys = [key.decode() for key in redis_db.scan_iter(match="*", count=1000)]
    assert leaked("\n".join(keys), needles) == []

    # ... and every door that may show the data still shows it, opened
    view = client.get(f"/api/v1/leads/{first['lead_id']}", headers=network.affiliate_headers()).json()
    assert view["contact"]["email"] == stored["contact"]["email"]
    assert view["contact"]["date_of_birth"] == stored["contact"]["date_of_birth"]
    assert view["personal_data"] == "present"
    purchase = client.get("/api/v1/purchases", headers={"X-API-Key": buyer["api_key"]}).json()[0]
    assert purchase["lead"]["contact"]["first_name"] == stored["contact"]["first_name"]
    assert purchase["lead"]["contact"]["address"] == stored["contact"]["address"]
    assert purchase["lead"]["consent"]["ip"] == stored["consent"]["ip"]
    certificate = client.get(f"/api/v1/consents/{purchase['consent_certificate']['certificate_id']}",
                             headers={"X-API-Key": buyer["api_key"]}).json()
    assert certificate["ip"] == stored["consent"]["ip"]
    assert hashlib.sha256(certificate["canonical"].encode()).hexdigest() == certificate["hash"]


def test_a_sealed_value_opens_only_with_its_key_and_in_its_own_column(settings):
    ring = crypto.keyring()
    sealed = crypto.seal_json({"email": "ana@gmail.com"}, LEAD_CONTACT_PURPOSE)
    assert crypto.key_id(sealed) == ring.current_id and b"ana@gmail.com" not in sealed
    assert crypto.open_json(sealed, LEAD_CONTACT_PURPOSE) == {"email": "ana@gmail.com"}
    with pytest.raises(crypto.CannotOpen):
        crypto.open_json(sealed, b"call.contact")  # another column's associated data
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(crypto.CannotOpen):
        crypto.open_json(tampered, LEAD_CONTACT_PURPOSE)
    other = crypto.keyring(dataclasses.replace(settings, data_keys=f"k9:{new_key()}"))
    assert crypto.open_json(sealed, LEAD_CONTACT_PURPOSE, ring=other) == {"email": "ana@gmail.com"}  # derived key kept
    stranger = crypto.keyring(dataclasses.replace(settings, secret_key="another-secret", data_keys=f"k9:{new_key()}"))
    with pytest.raises(crypto.CannotOpen, match="not in LEADMARKET_DATA_KEYS"):
        crypto.open_json(sealed, LEAD_CONTACT_PURPOSE, ring=stranger)


@pytest.mark.parametrize("spec, complaint", [
    ("k1", "entry 1"), ("k1:%%zz-secretish", "'k1' is not base64"), ("k1:" + base64.b64encode(b"short").decode(), "16, 24"),
    (f"k1:{base64.b64encode(bytes(32)).decode()},k1:{base64.b64encode(bytes(32)).decode()}", "twice"),
    ("bad id!:" + base64.b64encode(bytes(32)).decode(), "entry 1"),
])
def test_a_bad_key_setting_is_named_without_showing_the_key(spec, complaint):
    with pytest.raises(crypto.KeyConfigError, match=complaint) as failure:
        crypto.parse_data_keys(spec)
    assert spec.partition(":")[2][:8] not in str(failure.value) or not spec.partition(":")[2]


# ---------------------------------------------------------------- keyed hashes


def test_dedupe_and_person_keys_are_keyed_hashes(client, network: Network, db, settings):
    body = person(network.cpl_offer["id"])
    lead_id = created(post_lead(client, network.affiliate["api_key"], body))["lead_id"]
    email = body["contact"]["email"]
    phone = "+" + "".join(ch for ch in body["contact"]["phone"] if ch.isdigit())
    with db() as session:
        claims = {c.key_kind: c.key_digest for c in session.execute(select(DedupeClaim)).scalars()}
        person_keys = session.execute(select(PersonKey.key_hash).where(PersonKey.lead_id == lead_id)).scalars().all()
    key = crypto.hash_key()
    assert claims == {"email": hmac.new(key, f"email:{email}".encode(), hashlib.sha256).hexdigest(),
                      "phone": hmac.new(key, f"phone:{phone}".encode(), hashlib.sha256).hexdigest()}
    assert hashlib.sha256(email.encode()).hexdigest() not in claims.values()
    assert len(person_keys) >= 3 and all(isinstance(h, int) for h in person_keys)
    # the hash key is a setting of its own; another key gives other digests
    configure(dataclasses.replace(settings, hash_key="another-hash-key"))
    try:
        assert dedupe.key_digest("email", email) != claims["email"]
    finally:
        configure(settings)


# ---------------------------------------------------------------- rotation


def test_data_keys_rotate_in_batches_and_old_keys_can_then_go(client, network: Network, db, keys_configured,
                                                             settings, engine):
    old, new = new_key(), new_key()
    keys_configured(f"k1:{old}")
    bodies = [person(network.cpl_offer["id"]) for _ in range(5)]
    ids = [created(post_lead(client, network.affiliate["api_key"], body))["lead_id"] for body in bodies]
    assert created(client.post("/api/v1/tracking-numbers", headers=network.affiliate_headers(),
                               json={"number": CALL_TRACKING, "offer_id": network.cpl_offer["id"]}))
    call = created(client.post("/api/v1/calls", headers=network.admin_headers, json={
        "call_id": "CA-rotate-1", "tracking_number": CALL_TRACKING, "caller_number": CALLER,
        "duration_seconds": 185, "recording_url": "https://recordings.telephony.example/CA-rotate-1.mp3"}))
    assert sealed_key_ids(db) == {"lead": ["k1"] * 6, "call": ["k1"]}

    keys_configured(f"k2:{new},k1:{old}")  # k2 seals from now on; k1 still opens
    ids.append(created(post_lead(client, network.affiliate["api_key"], person(network.cpl_offer["id"])))["lead_id"])
    assert sealed_key_ids(db)["lead"] == ["k1"] * 6 + ["k2"]
    env = {"DATABASE_URL": settings.database_url, "LEADMARKET_SECRET_KEY": settings.secret_key,
           "LEADMARKET_DATA_KEYS": f"k2:{new},k1:{old}", "REDIS_URL": ""}
    try:
        first = CliRunner().invoke(cli, ["keys", "rotate-data", "--batch", "2"], env=env)
        again = CliRunner().invoke(cli, ["keys", "rotate-data"], env=env)
    finally:
        keys_configured(None)
    assert first.exit_code == 0, first.output
    assert "re-sealed under key k2: lead 6, call 1" in first.output
    assert "lead 0, call 0" in again.output  # nothing left: a second run changes nothing
    assert sealed_key_ids(db) == {"lead": ["k2"] * 7, "call": ["k2"]}

    keys_configured(f"k2:{new}")  # k1 retired
    for lead_id, body in zip(ids, bodies, strict=False):
        view = client.get(f"/api/v1/leads/{lead_id}", headers=network.affiliate_headers()).json()
        assert view["contact"]["email"] == body["contact"]["email"]
    with db() as session:
        sealed = session.execute(select(Call.contact_sealed).where(Call.lead_id == call["lead_id"])).scalar_one()
    assert crypto.open_json(sealed, b"call.contact")["caller_number"] == CALLER
    keys_configured(f"k3:{new_key()}")  # a ring without the key that sealed the rows cannot open them
    assert client.get(f"/api/v1/leads/{ids[0]}", headers=network.affiliate_headers()).status_code == 500


# ---------------------------------------------------------------- migration


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = f"leadmarket_test_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_migration_seals_existing_plaintext_and_drops_its_columns(fresh_database, settings):
    from alembic import command

    upgrade(fresh_database, "0011")
    engine = create_engine(fresh_database)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO vertical (slug, name, fields, dedupe_window_days, max_shared_sales, "
                              "base_price_minor, currency, created_at) VALUES ('v', 'V', '[]', 30, 3, 1000, 'USD', :t)"),
                         {"t": now})
            conn.execute(text("INSERT INTO affiliate (name, email, status, created_at) "
                              "VALUES ('A', 'a@aff.example', 'active', :t)"), {"t": now})
            conn.execute(text("INSERT INTO offer (name, vertical_id, kind, payout_model, payout_minor, currency, "
                              "landing_url, status, created_at) VALUES ('O', 1, 'marketplace', 'cpl', 500, 'USD', "
                              "'https://lp.example', 'active', :t)"), {"t": now})
            for i in range(3):
                conn.execute(text(
                    "INSERT INTO lead (offer_id, affiliate_id, vertical_id, status, first_name, last_name, email, phone, "
                    "country, city, postal_code, address, date_of_birth, attributes, consent, meta, payout_minor, "
                    "currency, fraud_reasons, created_at) VALUES (1, 1, 1, 'accepted', 'Zephyrine', :last, :email, "
                    ":phone, 'US', 'San Francisco', '94158', '7 Quillfeather Lane', :dob, '{}', :consent, :meta, 0, "
                    "'USD', '[]', :t)"),
                    {"last": f"Quackenbush{i}", "email": f"zq{i}@gmail.com", "phone": f"+1415300000{i}",
                     "dob": date(1980, 1, 1 + i), "t": now,
                     "consent": '{"text": "yes", "given_at": "2026-11-01T00:00:00+00:00", "ip": "192.0.2.9"}',
                     "meta": '{"ip": "198.51.100.9", "user_agent": "UA", "form_seconds": 12}'})
            conn.execute(text("INSERT INTO consent_certificate (certificate_id, lead_id, text, given_at, ip, sha256, "
                              "created_at) VALUES ('c-1', 1, 'yes', :t, '192.0.2.9', :h, :t)"), {"t": now, "h": "0" * 64})
            conn.execute(text("INSERT INTO tracking_number (number, affiliate_id, offer_id, status, created_at) "
                              "VALUES ('+14158023900', 1, 1, 'active', :t)"), {"t": now})
            conn.execute(text("INSERT INTO call (provider_call_id, tracking_number_id, affiliate_id, offer_id, "
                              "caller_number, duration_seconds, min_call_seconds, recording_url, started_at, "
                              "received_at, status) VALUES ('CA1', 1, 1, 1, '+12128463917', 90, 60, "
                              "'https://rec.example/CA1.mp3', :t, :t, 'too_short')"), {"t": now})
        upgrade(fresh_database, "0014")

        columns = {t: {c["name"] for c in inspect(engine).get_columns(t)} for t in ("lead", "call",
                                                                                   "consent_certificate")}
        assert not columns["lead"] & {"first_name", "last_name", "email", "phone", "postal_code", "address",
                                      "date_of_birth", "profile_url"}
        assert {"contact_sealed", "postal_prefix", "erased_at"} <= columns["lead"]
        assert not columns["call"] & {"caller_number", "recording_url"} and "ip" not in columns["consent_certificate"]
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, contact_sealed, postal_prefix, meta, consent FROM lead ORDER BY id")).all()
            call_sealed = conn.execute(text("SELECT contact_sealed FROM call")).scalar_one()
            dump = "\n".join(row for table in ("lead", "call", "consent_certificate") for row in conn.execute(
                text(f'SELECT CAST(t AS text) FROM "{table}" AS t')).scalars())
        assert len(rows) == 3 and leaked(dump, ["Zephyrine", "zq0@gmail.com", "+14153000000", "192.0.2.9",
                                               "198.51.100.9", "Quillfeather", "+12128463917", "rec.example"]) == []
        opened = crypto.open_json(bytes(rows[0].contact_sealed), LEAD_CONTACT_PURPOSE)
        assert opened == {"first_name": "Zephyrine", "last_name": "Quackenbush0", "email": "zq0@gmail.com",
                          "phone": "+14153000000", "postal_code": "94158", "address": "7 Quillfeather Lane",
                          "date_of_birth": "1980-01-01", "meta": {"ip": "198.51.100.9", "user_agent": "UA"},
                          "consent": {"ip": "192.0.2.9"}}
        assert rows[0].postal_prefix == "94" and rows[0].meta == {"form_seconds": 12}
        assert rows[0].consent == {"text": "yes", "given_at": "2026-11-01T00:00:00+00:00"}
        assert crypto.open_json(bytes(call_sealed), b"call.contact") == {
            "caller_number": "+12128463917", "recording_url": "https://rec.example/CA1.mp3"}

        command.downgrade(alembic_config(fresh_database), "0011")  # and back, opened again
        with engine.connect() as conn:
            back = conn.execute(text("SELECT first_name, email, date_of_birth, meta FROM lead WHERE id = 1")).one()
            cert_ip = conn.execute(text("SELECT ip FROM consent_certificate")).scalar_one()
        assert (back.first_name, back.email, back.date_of_birth) == ("Zephyrine", "zq0@gmail.com", date(1980, 1, 1))
        assert back.meta == {"ip": "198.51.100.9", "user_agent": "UA", "form_seconds": 12} and cert_ip == "192.0.2.9"
    finally:
        engine.dispose()
