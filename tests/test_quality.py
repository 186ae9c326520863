"""Lead quality: temperature (cold/warm/hot) and targeted, from the lead's fields and behaviour,
configurable per vertical — as rules, and through intake as an admin sees the lead."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest

from fraud.quality import classify, completeness, intent_field, rules_for
from fraud.schemas import QualityRules
from marketplace.models import Lead, Vertical
from tests.fraud_helpers import patch_vertical, person_lead, post, staff_view
from tests.support import error_fields, make_offer, make_vertical

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
MOVING_FIELDS = [
    {"name": "move_date", "type": "date", "required": True},
    {"name": "rooms", "type": "integer", "required": True, "min": 1, "max": 20},
    {"name": "elevator", "type": "boolean"},
    {"name": "timeframe", "type": "choice", "choices": ["this_week", "this_month", "this_year", "just_looking"]},
]
CONSENT = {"text": "I agree to be contacted.", "given_at": (NOW - timedelta(minutes=2)).isoformat()}


def vertical(rules: QualityRules | None = None, fields=MOVING_FIELDS) -> Vertical:
    return Vertical(slug="moving", fields=fields, quality_rules=msgspec.to_builtins(rules) if rules else None)


def lead(*, consent=CONSENT, form_seconds=42, move_in_days=None, complete=False, **attributes) -> Lead:
    if move_in_days is not None:
        attributes["move_date"] = (NOW.date() + timedelta(days=move_in_days)).isoformat()
    extras = {"region": "CA", "city": "Oakland", "postal_code": "94607", "address": "1 Main St",
              "date_of_birth": date(1990, 1, 1)} if complete else {}
    if complete:
        attributes.setdefault("elevator", True)
        attributes.setdefault("timeframe", "this_year")
    return Lead(first_name="Ana", last_name="Silva", email="ana@gmail.com", phone="+14152010001", country="US",
                attributes={"rooms": 3, **attributes}, consent=consent, meta={"form_seconds": form_seconds},
                **extras)


def temperature(the_lead: Lead, the_vertical: Vertical | None = None) -> str:
    return classify(the_lead, the_vertical or vertical(), NOW).temperature


def test_no_consent_is_cold_whatever_else():
    assert temperature(lead(consent=None, move_in_days=3, complete=True)) == "cold"


def test_points_make_the_temperature():
    assert temperature(lead(form_seconds=10)) == "cold"                         # consent only: 1 point
    assert temperature(lead()) == "warm"                                        # consent + engaged form
    assert temperature(lead(form_seconds=None, complete=True)) == "warm"        # consent + complete
    assert temperature(lead(move_in_days=10)) == "hot"                          # consent + engaged + near intent
    assert temperature(lead(form_seconds=5, complete=True, move_in_days=29)) == "hot"


def test_nobody_is_hot_without_saying_so():
    assert temperature(lead(complete=True)) == "warm"                           # 3 points, no stated intent
    assert temperature(lead(form_seconds=5, move_in_days=10)) == "warm"         # near intent, 3 points
    assert temperature(lead(complete=True, move_in_days=60)) == "warm"          # within 90 days: warm intent
    assert temperature(lead(form_seconds=5, move_in_days=200)) == "cold"        # far off: no intent points
    assert temperature(lead(form_seconds=5, move_in_days=-3)) == "cold"         # a date in the past


def test_completeness_counts_contact_extras_and_optional_attributes():
    assert completeness(lead(), vertical()) == pytest.approx(2 / 9)             # e-mail, phone of 7 + 2 optional
    assert completeness(lead(complete=True), vertical()) == 1.0


def test_the_intent_field_is_found_or_named():
    assert intent_field(vertical(), rules_for(vertical()))["name"] == "move_date"
    fields = [{"name": "date_of_birth_confirm", "type": "date"}, {"name": "delivery_date", "type": "date"}]
    assert intent_field(vertical(fields=fields), QualityRules())["name"] == "delivery_date"
    assert intent_field(vertical(fields=[{"name": "age", "type": "integer"}]), QualityRules()) is None
    by_choice = vertical(QualityRules(intent_field="timeframe", hot_values=["this_week"], warm_values=["this_month"]))
    assert temperature(lead(timeframe="this_week"), by_choice) == "hot"
    assert temperature(lead(timeframe="this_month", form_seconds=5), by_choice) == "warm"
    assert temperature(lead(timeframe="just_looking", form_seconds=5), by_choice) == "cold"


def test_rules_are_configurable():
    eager = vertical(QualityRules(engaged_form_seconds=5, warm_at=1, hot_at=3, hot_within_days=7))
    assert temperature(lead(form_seconds=10), eager) == "warm"
    assert temperature(lead(move_in_days=6, form_seconds=6), eager) == "hot"
    assert temperature(lead(move_in_days=8, form_seconds=6), eager) == "warm"


def test_targeted_follows_consent_countries_and_conditions():
    assert classify(lead(), vertical(), NOW).targeted is True                  # default: consent is enough
    assert classify(lead(consent=None), vertical(), NOW).targeted is False
    rules = QualityRules(target_countries=["US", "CA"],
                         target_conditions=[{"field": "rooms", "min": 2, "max": 6},
                                            {"field": "elevator", "present": True}])
    rules = msgspec.convert(msgspec.to_builtins(rules), QualityRules)
    picky = vertical(rules)
    assert classify(lead(elevator=False), picky, NOW).targeted is True
    assert classify(lead(elevator=False, rooms=9), picky, NOW).targeted is False
    assert classify(lead(), picky, NOW).targeted is False                      # elevator not given
    abroad = lead(elevator=True)
    abroad.country = "GB"
    assert classify(abroad, picky, NOW).targeted is False


# --- through intake and the admin API ---------------------------------------------------------------

@pytest.fixture
def moving(client, network):
    made = make_vertical(client, network.admin_headers, "moving", MOVING_FIELDS)
    offer = make_offer(client, network.admin_headers, "moving")
    return made, offer


def moving_lead(offer_id, move_in_days, **changes):
    body = person_lead(offer_id, **changes)
    body["attributes"] = {"rooms": 3, "move_date": (date.today() + timedelta(days=move_in_days)).isoformat(),
                          **changes.get("attributes", {})}
    return body


def test_temperature_and_targeted_are_stored_on_the_lead(client, network, moving):
    _, offer = moving
    hot = post(client, network, moving_lead(offer["id"], 5))
    warm = post(client, network, moving_lead(offer["id"], 60))
    cold = post(client, network, moving_lead(offer["id"], 300, meta={"form_seconds": 8}))

    seen = [staff_view(client, network, d["lead_id"]) for d in (hot, warm, cold)]
    assert [s["temperature"] for s in seen] == ["hot", "warm", "cold"]
    assert [s["targeted"] for s in seen] == [True, True, True]
    assert [d["status"] for d in (hot, warm, cold)] == ["accepted"] * 3     # quality does not decide the sale


def test_an_admin_configures_a_verticals_quality_rules(client, network, moving):
    made, offer = moving
    view = patch_vertical(client, network, made["id"], quality_rules={
        "hot_within_days": 14, "target_countries": ["us"],
        "target_conditions": [{"field": "rooms", "min": 2}, {"field": "elevator", "one_of": [True]}]})
    assert view["quality_rules_are_defaults"] is False and view["quality_rules"]["target_countries"] == ["US"]
    assert view["review_at"] == 40                                              # untouched

    fits = post(client, network, moving_lead(offer["id"], 10, attributes={"elevator": True}))
    misses = post(client, network, moving_lead(offer["id"], 20, attributes={"elevator": True, "rooms": 1}))
    fits, misses = staff_view(client, network, fits["lead_id"]), staff_view(client, network, misses["lead_id"])
    assert (fits["temperature"], fits["targeted"]) == ("hot", True)
    assert (misses["temperature"], misses["targeted"]) == ("warm", False)       # 20 days is past the 14-day line

    view = patch_vertical(client, network, made["id"], quality_rules=None)
    assert view["quality_rules_are_defaults"] is True and view["quality_rules"]["hot_within_days"] == 30


def test_bad_quality_rules_are_refused_naming_every_field(client, network, moving):
    made, _ = moving
    answer = client.patch(f"/api/v1/verticals/{made['id']}/screening", headers=network.admin_headers, json={
        "quality_rules": {"intent_field": "rooms", "warm_at": 4, "hot_at": 2, "complete_at": 1.5,
                          "target_countries": ["XX"], "target_conditions": [{"field": "pets"}, {"field": "rooms"}]}})
    fields = error_fields(answer)
    assert set(fields) == {"quality_rules.intent_field", "quality_rules.warm_at", "quality_rules.complete_at",
                           "quality_rules.target_countries[0]", "quality_rules.target_conditions[0].field",
                           "quality_rules.target_conditions[0]", "quality_rules.target_conditions[1]"}
    assert "date, choice or string" in fields["quality_rules.intent_field"]
    unknown = client.patch(f"/api/v1/verticals/{made['id']}/screening", headers=network.admin_headers,
                           json={"quality_rules": {"hotness": 3}})
    assert unknown.status_code in (400, 422)
    view = client.get(f"/api/v1/verticals/{made['id']}/screening", headers=network.admin_headers).json()
    assert view["quality_rules_are_defaults"] is True
