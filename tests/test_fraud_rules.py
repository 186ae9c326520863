"""The fraud screen's rules, each with good and bad input: as functions, and through HTTP intake
as the affiliate sees the answer (status, reason) and an admin sees the lead (score, reasons)."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from fraud.rules import Signal, bots, contact, jokers
from fraud.screen import combine
from fraud.thresholds import Thresholds
from leadmarket.audit import AuditEvent
from tests.fraud_helpers import patch_offer, patch_vertical, person_lead, post, staff_view
from tests.support import error_fields, problem

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def codes(signals: list[Signal]) -> list[str]:
    return sorted(s.code for s in signals)


# --- contact validity ------------------------------------------------------------------------------

@pytest.mark.parametrize("phone", ["+14152012345", "+447400123456", "+441212345678", "+4915123456789"])
def test_mobile_and_fixed_numbers_are_plausible(phone):
    assert contact.phone_signals(phone) == []


@pytest.mark.parametrize(("phone", "code"), [
    ("+19002345679", "phone_premium_rate"), ("+449012345678", "phone_premium_rate"),
    ("+18882013344", "phone_toll_free"), ("+447640123456", "phone_pager"), ("+445612345678", "phone_voip"),
    ("+445512345678", "phone_uan"), ("+447012345678", "phone_personal_number"),
    ("+1415201", "phone_invalid"),
])
def test_implausible_number_types_are_flagged(phone, code):
    assert codes(contact.phone_signals(phone)) == [code]


@pytest.mark.parametrize("email", ["maria.lopez@gmail.com", "j.smith@acme-insurance.co.uk", "ana+quotes@outlook.com",
                                   "testa.rossi@libero.it"])
def test_personal_addresses_are_clean(email):
    assert contact.email_signals(email) == []


@pytest.mark.parametrize(("email", "expected"), [
    ("someone@mailinator.com", ["email_disposable"]),
    ("someone@eu.mailinator.com", ["email_disposable"]),           # subdomains of a throwaway domain too
    ("x9@guerrillamail.com", ["email_disposable"]),
    ("info@acme-insurance.com", ["email_role"]),
    ("noreply@acme-insurance.com", ["email_role"]),
    ("Admin@Acme-Insurance.com", ["email_role"]),
    ("test@gmail.com", ["email_test"]),
    ("asdf+1@gmail.com", ["email_test"]),
    ("maria@test.com", ["email_test"]),
    ("maria@example.com", ["email_reserved_domain"]),
    ("maria@shop.invalid", ["email_reserved_domain"]),
    ("test@example.com", ["email_reserved_domain", "email_test"]),
])
def test_throwaway_role_and_test_addresses_are_flagged(email, expected):
    assert codes(contact.email_signals(email)) == expected


def test_the_disposable_list_comes_from_the_maintained_package():
    from disposable_email_domains import blocklist

    assert len(blocklist) > 1000 and "mailinator.com" in blocklist and "gmail.com" not in blocklist


# --- jokers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("first", "last"), [
    ("Maria", "Lopez"), ("Anne-Marie", "O'Neill"), ("José", "Núñez"), ("Siobhan", "Doherty"), ("Tereza", "Nováková"),
    ("Ng", "Li"), ("婷婷", "王"), ("Hans-J.", "Koch III"), ("Aaron", "Aalto"), ("Liberty", "Flaherty"),
])
def test_real_names_are_clean(first, last):
    assert jokers.name_signals(first, last) == []


def test_no_real_name_in_thirty_locales_looks_like_a_joker():
    """Every given name and surname Faker knows for 30 locales (about 25,000) passes clean."""
    names: set[str] = set()
    for locale in ("en_US", "en_GB", "en_IE", "en_IN", "de_DE", "de_AT", "fr_FR", "fr_CA", "es_ES", "es_MX", "it_IT",
                   "nl_NL", "pl_PL", "pt_BR", "sv_SE", "cs_CZ", "tr_TR", "fi_FI", "da_DK", "hu_HU", "ro_RO", "ru_RU",
                   "uk_UA", "el_GR", "ja_JP", "zh_CN", "ko_KR", "vi_VN", "th_TH", "id_ID"):
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attribute in ("first_names", "first_names_male", "first_names_female", "last_names",
                          "last_names_male", "last_names_female"):
            values = getattr(provider, attribute, None) or ()
            names.update(values.keys() if isinstance(values, dict) else values)
    assert len(names) > 20_000
    flagged = {name: codes(jokers.name_signals(name, "Zed")) for name in names}
    assert {name: c for name, c in flagged.items() if c} == {}


@pytest.mark.parametrize(("first", "last", "expected"), [
    ("Test", "Test", ["name_first_equals_last", "name_test"]),
    ("Maria", "Testing", ["name_test"]),
    ("asdf", "Lopez", ["name_keyboard_run", "name_test"]),
    ("Qwert", "Lopez", ["name_keyboard_run"]),
    ("Maria", "Ghjkl", ["name_keyboard_run"]),
    ("Abcd", "Lopez", ["name_keyboard_run"]),
    ("Aaaa", "Lopez", ["name_repeated_char"]),
    ("Maria", "Lopppez", ["name_repeated_char"]),
    ("Xx", "Lopez", ["name_repeated_char", "name_test"]),
    ("John", "John", ["name_first_equals_last"]),
    ("maria", "MARIA", ["name_first_equals_last"]),
    ("M4ria", "Lopez", ["name_digits"]),
    ("Maria", "Lopez2", ["name_digits"]),
    ("Jane", "Doe", ["name_test"]),
])
def test_joker_names_are_flagged(first, last, expected):
    assert codes(jokers.name_signals(first, last)) == expected


@pytest.mark.parametrize("phone", ["+14152010001", "+14158675309", "+447400938271", "+33612457890", "+4915129384756"])
def test_ordinary_numbers_are_not_fake(phone):
    assert not jokers.phone_is_fake(phone)


@pytest.mark.parametrize("phone", [
    "+14155550123", "+12125550199",   # 555-01xx, reserved for fiction
    "+14155551212",                   # 555 directory services, nobody's own line
    "+12134567890",                   # 456-7890
    "+491711234567",                  # 1234567
    "+447777777777", "+33611111111",  # one digit over and over
    "+4930987654321",                 # counting down
])
def test_fake_numbers_are_flagged(phone):
    assert jokers.phone_is_fake(phone)


# --- bots ------------------------------------------------------------------------------------------

def test_form_time_against_the_minimum():
    assert bots.form_signals(42, 5) == []
    assert bots.form_signals(5, 5) == []
    assert codes(bots.form_signals(4.9, 5)) == ["form_too_fast"]
    assert codes(bots.form_signals(None, 5)) == ["form_time_missing"]


@pytest.mark.parametrize("agent", [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile "
    "Safari/537.36",
])
def test_browsers_pass(agent):
    assert bots.user_agent_signals(agent) == []


@pytest.mark.parametrize(("agent", "code"), [
    (None, "user_agent_missing"), ("  ", "user_agent_missing"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
     "user_agent_bot"),
    ("python-requests/2.32.3", "user_agent_bot"), ("curl/8.5.0", "user_agent_bot"),
    ("Go-http-client/2.0", "user_agent_bot"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "user_agent_bot"),
    ("Mozilla/5.0", "user_agent_bot"),
])
def test_missing_and_automation_agents_are_flagged(agent, code):
    assert codes(bots.user_agent_signals(agent)) == [code]


def consent_at(moment: datetime) -> dict[str, str]:
    return {"text": "I agree.", "given_at": moment.isoformat()}


def test_consent_given_just_before_the_lead_is_clean():
    assert bots.consent_signals(consent_at(NOW - timedelta(minutes=3)), NOW, timedelta(hours=72)) == []
    assert bots.consent_signals(consent_at(NOW + timedelta(minutes=4)), NOW, timedelta(hours=72)) == []  # clock skew


@pytest.mark.parametrize(("consent", "code"), [
    (None, "consent_missing"),
    ({"text": "I agree."}, "consent_missing"),
    (consent_at(NOW + timedelta(hours=2)), "consent_in_future"),
    (consent_at(NOW - timedelta(days=30)), "consent_stale"),
])
def test_missing_future_and_stale_consent_are_flagged(consent, code):
    assert codes(bots.consent_signals(consent, NOW, timedelta(hours=72))) == [code]


# --- the score -------------------------------------------------------------------------------------

def test_score_adds_weights_counts_a_code_once_and_caps_at_100():
    assert combine([]) == (0, [])
    assert combine([Signal("a", 20), Signal("b", 30), Signal("a", 25)]) == (55, ["b", "a"])
    assert combine([Signal("x", 70), Signal("y", 60), Signal("z", 0)]) == (100, ["x", "y", "z"])


def test_thresholds_turn_a_score_into_a_verdict():
    lines = Thresholds(review_at=40, reject_at=70, min_form_seconds=5)
    assert [lines.verdict(s) for s in (0, 39, 40, 69, 70, 100)] == [
        "accept", "accept", "review", "review", "reject", "reject"]


# --- through intake, as the affiliate and an admin see it --------------------------------------------

def test_a_clean_lead_is_accepted_with_score_zero(client, network):
    decision = post(client, network, person_lead(network.cpl_offer["id"]))

    assert (decision["status"], decision["reason"], decision["payout"]) == ("accepted", None, "12.50")
    lead = staff_view(client, network, decision["lead_id"])
    assert (lead["fraud_score"], lead["fraud_reasons"]) == (0, [])


def test_a_joker_is_rejected_and_told_the_heaviest_reason(client, network):
    body = person_lead(network.cpl_offer["id"], contact={"first_name": "Test", "last_name": "Test",
                                                        "email": "test@example.com"})
    decision = post(client, network, body)

    assert (decision["status"], decision["reason"], decision["payout"]) == ("rejected", "name_test", "0.00")
    lead = staff_view(client, network, decision["lead_id"])
    assert lead["fraud_score"] == 100
    assert lead["fraud_reasons"] == ["name_test", "email_test", "name_first_equals_last", "email_reserved_domain"]


@pytest.mark.parametrize(("change", "reason", "score", "status"), [
    ({"contact": {"first_name": "M4ria"}}, "name_digits", 40, "review"),
    ({"contact": {"last_name": "Qwerty"}}, "name_test", 100, "rejected"),
    ({"contact": {"phone": "+1 415 555 0123"}}, "phone_fake", 70, "rejected"),
    ({"contact": {"phone": "+1 888 201 3344"}}, "phone_toll_free", 40, "review"),
    ({"contact": {"email": "maria@mailinator.com"}}, "email_disposable", 50, "review"),
    ({"contact": {"email": "info@lopez-family.net"}}, "email_role", 20, "accepted"),
    ({"meta": {"user_agent": "python-requests/2.32.3"}}, "user_agent_bot", 60, "review"),
    ({"meta": {"user_agent": None}}, "user_agent_missing", 25, "accepted"),
    ({"meta": {"form_seconds": 2}}, "form_too_fast", 50, "review"),
    ({"consent": None}, "consent_missing", 45, "review"),
])
def test_each_rule_through_intake(client, network, change, reason, score, status):
    body = person_lead(network.cpl_offer["id"])
    for part, values in change.items():
        body[part] = None if values is None else {**body[part], **values}
    decision = post(client, network, body)

    assert decision["status"] == status
    assert decision["reason"] == {"rejected": reason, "review": "review", "accepted": None}[status]
    lead = staff_view(client, network, decision["lead_id"])
    assert lead["fraud_score"] == score and lead["fraud_reasons"][0] == reason


def test_consent_in_the_future_or_long_before_the_lead_is_flagged(client, network):
    future = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    stale = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    early = post(client, network, person_lead(network.cpl_offer["id"], consent={"given_at": future}))
    late = post(client, network, person_lead(network.cpl_offer["id"], consent={"given_at": stale}))

    assert early["status"] == "review" and staff_view(client, network, early["lead_id"])["fraud_reasons"] == [
        "consent_in_future"]
    assert late["status"] == "accepted" and staff_view(client, network, late["lead_id"])["fraud_reasons"] == [
        "consent_stale"]


def test_the_offer_sets_its_minimum_form_seconds(client, network):
    offer = network.cpl_offer["id"]
    view = patch_offer(client, network, offer, min_form_seconds=60)
    assert (view["min_form_seconds"], view["effective_min_form_seconds"]) == (60, 60)

    slow_for_this_offer = post(client, network, person_lead(offer, meta={"form_seconds": 42}))
    elsewhere = post(client, network, person_lead(network.cpa_offer["id"], meta={"form_seconds": 42}))

    assert slow_for_this_offer["status"] == "review"
    assert staff_view(client, network, slow_for_this_offer["lead_id"])["fraud_reasons"] == ["form_too_fast"]
    assert elsewhere["status"] == "accepted"


def test_offer_thresholds_override_the_verticals(client, network):
    offer = network.cpl_offer["id"]
    view = patch_offer(client, network, offer, review_at=70, reject_at=90)
    assert (view["effective_review_at"], view["effective_reject_at"]) == (70, 90)
    bot = {"meta": {"user_agent": "curl/8.5.0"}}          # 60 points

    lenient = post(client, network, person_lead(offer, **bot))
    strict = post(client, network, person_lead(network.cpa_offer["id"], **bot))

    assert lenient["status"] == "accepted" and strict["status"] == "review"
    view = patch_offer(client, network, offer, review_at=None, reject_at=None)   # back to the vertical's
    assert (view["review_at"], view["effective_review_at"], view["effective_reject_at"]) == (None, 40, 70)
    assert post(client, network, person_lead(offer, **bot))["status"] == "review"


def test_vertical_thresholds_are_configurable_and_audited(client, network, db):
    vertical_id = network.vertical["id"]
    view = client.get(f"/api/v1/verticals/{vertical_id}/screening", headers=network.admin_headers).json()
    assert (view["review_at"], view["reject_at"], view["quality_rules_are_defaults"]) == (40, 70, True)

    view = patch_vertical(client, network, vertical_id, review_at=20, reject_at=50)
    assert (view["review_at"], view["reject_at"]) == (20, 50)
    assert post(client, network, person_lead(network.cpl_offer["id"], meta={"user_agent": None}))["status"] == "review"
    assert post(client, network, person_lead(network.cpl_offer["id"], contact={"email": "x@mailinator.com"}))[
        "status"] == "rejected"
    with db() as session:
        event = session.execute(select(AuditEvent).where(AuditEvent.action == "screening.vertical_update")).scalar_one()
        assert event.subject_id == str(vertical_id) and event.details == {"review_at": 20, "reject_at": 50}
        assert event.actor_role == "admin"


def test_bad_thresholds_are_refused_naming_the_field(client, network):
    vertical_id, offer_id = network.vertical["id"], network.cpl_offer["id"]
    url = f"/api/v1/verticals/{vertical_id}/screening"

    assert error_fields(client.patch(url, headers=network.admin_headers, json={"review_at": 80})) == {
        "reject_at": "must not be below review_at"}
    assert set(error_fields(client.patch(url, headers=network.admin_headers,
                                         json={"review_at": 0, "reject_at": 101}))) == {"review_at", "reject_at"}
    fields = error_fields(client.patch(f"/api/v1/offers/{offer_id}/screening", headers=network.admin_headers,
                                       json={"review_at": 75, "min_form_seconds": -1}))
    assert set(fields) == {"min_form_seconds"}
    fields = error_fields(client.patch(f"/api/v1/offers/{offer_id}/screening", headers=network.admin_headers,
                                       json={"review_at": 75}))
    assert "reject at 70" in fields["reject_at"]
    problem(client.patch("/api/v1/verticals/999/screening", headers=network.admin_headers, json={}), 404)
    problem(client.patch(url, headers=network.affiliate_headers(), json={"review_at": 1}), 403)
    # nothing changed
    view = client.get(url, headers=network.admin_headers).json()
    assert (view["review_at"], view["reject_at"]) == (40, 70)
