"""The fuzzy person matcher: each rule, precision and recall on generated people, and `leadmarket dedupe`."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from marketplace.person_batch import dedupe_records
from marketplace.person_match import DIFFERENT, MATCH, WEAK, blocking_keys, judge, normalize_person
from tests.fuzzy_data import FIELDS, expected_duplicates, make_records

JOHN = {"first_name": "John", "last_name": "Carter", "date_of_birth": "1984-03-07",
        "address": "12 Maple Street", "city": "Springfield", "postal_code": "62704", "region": "IL",
        "country": "US", "phone": "+1 217 555 0143", "email": "john.carter@gmail.com"}


def verdict(a: dict[str, str], b: dict[str, str]) -> str:
    return judge(normalize_person(a), normalize_person(b)).verdict


def same_person(**changes: str) -> dict[str, str]:
    return {**JOHN, **changes}


# --- one person, written another way ---------------------------------------------------------

@pytest.mark.parametrize(("first", "again"), [("John", "Jon"), ("William", "Bill"), ("Robert", "Bob"),
                                               ("Elizabeth", "Liz"), ("Christopher", "Chris")])
def test_a_nickname_is_the_same_person(first, again):
    assert verdict(same_person(first_name=first), same_person(first_name=again, email="")) == MATCH


def test_jon_with_another_email_and_no_phone_is_john():
    assert verdict(JOHN, same_person(first_name="Jon", email="jc1984@yahoo.com", phone="")) == MATCH


@pytest.mark.parametrize("typo", ["Jhon", "Jonh", "Carte", "Crater", "Karter"])
def test_a_typo_in_a_name_is_the_same_person(typo):
    field = "first_name" if typo.lower().startswith("j") else "last_name"
    assert verdict(JOHN, same_person(**{field: typo}, email="", phone="")) == MATCH


def test_swapped_digits_in_the_phone_are_the_same_person():
    assert verdict(JOHN, same_person(phone="+1 217 555 0134", email="", date_of_birth="")) == MATCH


@pytest.mark.parametrize("dob", ["19840307", "1984-07-03", "1984-03-17", "1948-03-07", "07/03/1984"])
def test_a_birth_date_in_another_format_swapped_or_mistyped_is_the_same_person(dob):
    assert verdict(JOHN, same_person(date_of_birth=dob, email="", phone="")) == MATCH


def test_a_changed_house_number_in_the_same_street_and_postcode_is_the_same_person():
    assert verdict(JOHN, same_person(address="14 Maple St.", email="", phone="")) == MATCH


def test_first_and_last_name_swapped_are_the_same_person():
    assert verdict(JOHN, same_person(first_name="Carter", last_name="John", email="")) == MATCH


def test_missing_fields_leave_a_match_on_what_is_left():
    sparse = {"first_name": "JOHN", "last_name": "CARTER", "date_of_birth": "19840307", "postal_code": "62704"}
    assert verdict(JOHN, sparse) == MATCH


def test_accents_case_and_spacing_do_not_matter():
    a = {**JOHN, "first_name": "José", "last_name": "Núñez", "email": ""}
    b = {**JOHN, "first_name": " JOSE ", "last_name": "nunez", "email": ""}
    assert verdict(a, b) == MATCH


# --- two people -------------------------------------------------------------------------------

def test_twins_stay_two_people():
    twin = same_person(first_name="Michael", phone="+1 217 555 0199", email="mike.carter@gmail.com")
    assert verdict(JOHN, twin) == DIFFERENT


def test_a_spouse_at_the_same_address_stays_two_people():
    spouse = same_person(first_name="Mary", date_of_birth="1986-11-21", phone="", email="")
    assert verdict(JOHN, spouse) == DIFFERENT


def test_john_and_joan_of_one_household_stay_two_people():
    """One letter apart, both real names: a sister, not a typo."""
    joan = same_person(first_name="Joan", date_of_birth="", phone="", email="")
    assert verdict(JOHN, joan) == DIFFERENT


def test_a_father_and_son_of_one_name_stay_two_people():
    son = same_person(date_of_birth="2009-05-30", phone="", email="")
    assert verdict(JOHN, son) == DIFFERENT
    senior, junior = same_person(last_name="Carter Sr"), same_person(last_name="Carter Jr", date_of_birth="")
    assert verdict(senior, junior) == DIFFERENT


def test_namesakes_elsewhere_stay_two_people():
    namesake = {"first_name": "John", "last_name": "Carter", "city": "Denver", "postal_code": "80203",
                "region": "CO", "country": "US", "phone": "+1 303 555 0170", "email": "jcarter@outlook.com"}
    assert verdict(JOHN, namesake) == DIFFERENT


def test_one_name_in_one_postcode_is_not_enough():
    a = {"first_name": "Maria", "last_name": "Lopez", "postal_code": "94107", "email": "maria1@gmail.com"}
    b = {"first_name": "Maria", "last_name": "Lopez", "postal_code": "94107", "phone": "+1 415 263 0100"}
    assert verdict(a, b) == DIFFERENT


def test_a_typod_first_name_with_nothing_personal_agreeing_is_only_weak():
    """Same household address, no birth date, phone or e-mail to tell: a person should look."""
    a = same_person(date_of_birth="", phone="", email="")
    b = same_person(first_name="Jonn", date_of_birth="", phone="", email="")
    assert verdict(a, b) == WEAK


# --- blocking ---------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", [
    {"last_name": "Krater"}, {"first_name": "Yohn"}, {"date_of_birth": "1985-03-07"}, {"postal_code": "62740"},
    {"first_name": "Carter", "last_name": "John"}, {"date_of_birth": "", "postal_code": ""},
    {"last_name": "Krater", "date_of_birth": "1985-03-07"}, {"first_name": "", "email": "", "phone": ""},
])
def test_one_damaged_field_still_leaves_a_shared_blocking_key(damage):
    assert set(blocking_keys(normalize_person(JOHN))) & set(blocking_keys(normalize_person(same_person(**damage))))


# --- on generated data ------------------------------------------------------------------------

def test_precision_and_recall_on_generated_people_with_typos_and_households(capsys):
    records = make_records(4000, seed=11)
    truth = {r.id: r.entity for r in records}
    started = time.perf_counter()
    pairs = list(dedupe_records(r.row() for r in records))
    elapsed = time.perf_counter() - started

    correct = sum(truth[first] == truth[again] for first, again in pairs)
    precision = correct / len(pairs)
    recall = correct / len(expected_duplicates(records))
    with capsys.disabled():
        print(f"\nfuzzy dedupe on {len(records)} generated records: precision {precision:.4f}, "
              f"recall {recall:.4f}, {elapsed:.2f} s")
    assert precision >= 0.97
    assert recall >= 0.90
    assert all(int(first[1:]) < int(again[1:]) for first, again in pairs)  # the earlier record first


# --- the command line ---------------------------------------------------------------------------

def leadmarket_command() -> list[str]:
    installed = shutil.which("leadmarket")
    return [installed] if installed else [sys.executable, "-m", "leadmarket.cli"]


def write_csv(path: Path, rows: list[dict[str, str]], fields: tuple[str, ...]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_dedupe_command_prints_each_repeat_with_the_first_record_of_its_person(tmp_path):
    rows = [
        {"id": "a1", **JOHN},
        {"id": "b2", **same_person(first_name="Mary", date_of_birth="1986-11-21", phone="", email="")},  # spouse
        {"id": "c3", **same_person(first_name="Jon", email="jc@yahoo.com", date_of_birth="19840307")},
        {"id": "d4", "first_name": "Ann", "last_name": "Lee", "date_of_birth": "1990-01-02", "postal_code": "10001",
         "country": "US", "phone": "", "email": "ann.lee@gmail.com", "address": "", "city": "", "region": ""},
        {"id": "e5", **same_person(first_name="Jonh", last_name="Crater", phone="+1 217 555 0134", email="")},
        {"id": "f6", **same_person(first_name="Mary", date_of_birth="1986-11-21", address="12 Maple St")},
        {"id": "g7", "first_name": "Lee", "last_name": "Anne", "date_of_birth": "19900102", "postal_code": "10001",
         "country": "US", "phone": "", "email": "", "address": "", "city": "", "region": ""},
    ]
    path = write_csv(tmp_path / "people.csv", rows, ("id", *FIELDS))

    result = subprocess.run([*leadmarket_command(), "dedupe", str(path)], capture_output=True, text=True,
                            timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["a1,c3", "a1,e5", "b2,f6", "d4,g7"]


def test_dedupe_command_takes_any_subset_of_the_columns(tmp_path):
    rows = [{"id": "1", "last_name": "Okafor", "first_name": "Chidi", "date_of_birth": "19770412"},
            {"id": "2", "last_name": "Okafor", "first_name": "Chidi", "date_of_birth": "1977-04-12"},
            {"id": "3", "last_name": "Okafor", "first_name": "Ngozi", "date_of_birth": "1979-09-30"}]
    path = write_csv(tmp_path / "names.csv", rows, ("last_name", "id", "first_name", "date_of_birth"))

    result = subprocess.run([*leadmarket_command(), "dedupe", str(path)], capture_output=True, text=True,
                            timeout=120, check=False)

    assert (result.returncode, result.stdout) == (0, "1,2\n"), result.stderr


def test_dedupe_command_refuses_a_csv_without_an_id_column(tmp_path):
    path = write_csv(tmp_path / "no_id.csv", [{"first_name": "A", "last_name": "B"}], ("first_name", "last_name"))

    result = subprocess.run([*leadmarket_command(), "dedupe", str(path)], capture_output=True, text=True,
                            timeout=120, check=False)

    assert result.returncode == 2 and result.stdout == ""
    assert "id column" in result.stderr
