"""Bad input gets a clear 4xx problem+json naming the field, never a 500 nor HTML (invariant 6)."""

from __future__ import annotations

import json

from tests.support import PROBLEM_JSON, count_rows, error_fields, lead_body, post_lead, problem

MIB = 1024 * 1024


def raw_post(client, key, content, content_type="application/json", path="/api/v1/leads"):
    return client.post(path, headers={"X-API-Key": key, "Content-Type": content_type}, content=content)


def assert_problem_4xx(answer):
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith(PROBLEM_JSON), answer.headers["content-type"]
    assert "<html" not in answer.text.lower() and "Traceback" not in answer.text
    body = answer.json()
    assert body["status"] == answer.status_code and body["title"] and body["detail"]
    return body


MALFORMED = [b"{bad json", b"", b"{\"offer_id\": 1,}", b"\xff\xfe\x00", b"nul",
             b"{\"contact\": {\"first_name\": \"\\ud800\"}}"]


def test_malformed_json_is_400(client, network, db):
    for content in MALFORMED:
        answer = raw_post(client, network.affiliate["api_key"], content)
        assert answer.status_code == 400, content
        assert_problem_4xx(answer)
    assert count_rows(db, "lead")["lead"] == 0


def test_a_body_that_is_not_an_object_is_refused(client, network):
    for content in (b"[]", b"42", b"\"lead\"", b"null"):
        answer = raw_post(client, network.affiliate["api_key"], content)
        body = assert_problem_4xx(answer)
        assert answer.status_code == 400 and [e["field"] for e in body["errors"]] == ["body"], content


def test_body_that_is_not_json_is_refused(client, network):
    assert_problem_4xx(raw_post(client, network.affiliate["api_key"], b"first_name=Maria", "text/plain"))
    assert_problem_4xx(raw_post(client, network.affiliate["api_key"], b"first_name=Maria",
                                "application/x-www-form-urlencoded"))


WRONG_TYPES = [
    ({"offer_id": "12"}, "offer_id"),
    ({"offer_id": 1.5}, "offer_id"),
    ({"contact": "Maria Lopez"}, "contact"),
    ({"contact": {"first_name": "Maria", "last_name": "Lopez", "phone": 4155550123, "country": "US"}}, "contact.phone"),
    ({"contact": {"first_name": ["Maria"], "last_name": "Lopez", "phone": "+14155550123", "country": "US"}},
     "contact.first_name"),
    ({"attributes": ["vehicle_year", 2019]}, "attributes"),
    ({"attributes": None}, "attributes"),
    ({"sub_ids": {"sub1": 7}}, "sub_ids"),  # msgspec does not say which key of a mapping
    ({"consent": {"text": "ok", "given_at": "yesterday"}}, "consent.given_at"),
    ({"meta": {"ip": "203.0.113.7", "form_seconds": "fast"}}, "meta.form_seconds"),
    ({"click_id": 123}, "click_id"),
]


def test_wrong_json_types_are_4xx_naming_the_field(client, network, db):
    wrong = []
    for override, field in WRONG_TYPES:
        answer = post_lead(client, network.affiliate["api_key"], {**lead_body(network.cpl_offer["id"]), **override})
        named = [e["field"] for e in assert_problem_4xx(answer).get("errors", [])]
        if named != [field]:
            wrong.append((override, answer.status_code, named))

    assert wrong == []
    assert count_rows(db, "lead")["lead"] == 0


def test_wrong_types_are_named_one_at_a_time(client, network):
    """msgspec stops at the first value of the wrong JSON type: such a body is answered with that
    field alone (values of the right type but wrong content are all listed, see test_validation)."""
    body = lead_body(network.cpl_offer["id"], contact={"phone": 4155550123}, meta={"form_seconds": "fast"})

    assert [e["field"] for e in problem(post_lead(client, network.affiliate["api_key"], body), 422)["errors"]] == [
        "contact.phone"]


def test_unknown_offer_is_422_naming_offer_id(client, network, db):
    for offer_id in (999_999, 0, -1, 2**31, 2**40, 2**63, 2**70):
        answer = post_lead(client, network.affiliate["api_key"], {**lead_body(network.cpl_offer["id"]),
                                                                   "offer_id": offer_id})
        assert list(error_fields(answer)) == ["offer_id"], offer_id
    assert count_rows(db, "lead")["lead"] == 0


def test_missing_offer_id_is_named(client, network):
    body = lead_body(network.cpl_offer["id"])
    del body["offer_id"]
    assert error_fields(post_lead(client, network.affiliate["api_key"], body)) == {"offer_id": "is required"}


def test_body_over_one_mib_is_413(client, network, db):
    body = lead_body(network.cpl_offer["id"], consent={"text": "x" * MIB})

    answer = post_lead(client, network.affiliate["api_key"], body)

    assert answer.status_code == 413 and assert_problem_4xx(answer)
    assert count_rows(db, "lead")["lead"] == 0


def test_streamed_body_over_one_mib_is_413(client, network):
    def chunks():
        yield b"{\"consent\": {\"text\": \""
        for _ in range(40):
            yield b"x" * 32768
        yield b"\"}}"

    answer = client.post("/api/v1/leads", headers={"X-API-Key": network.affiliate["api_key"],
                                                   "Content-Type": "application/json"}, content=chunks())

    assert answer.status_code == 413 and assert_problem_4xx(answer)


def test_body_just_under_the_limit_is_read_and_judged(client, network):
    body = lead_body(network.cpl_offer["id"], consent={"text": "x" * (MIB - 2000)})

    answer = post_lead(client, network.affiliate["api_key"], body)

    assert error_fields(answer) == {"consent.text": "must be at most 5000 characters"}


UNSTORABLE = [
    ({"contact": {"city": "San\u0000Francisco"}}, "contact.city"),
    ({"contact": {"address": "1 Main St\u0000"}}, "contact.address"),
    ({"contact": {"first_name": "Ma\u0000ria"}}, "contact.first_name"),
    ({"contact": {"email": "maria\u0000@example.com"}}, "contact.email"),
    ({"contact": {"phone": "+1 415 555 0\u0000199"}}, "contact.phone"),
    ({"attributes": {"current_insurer": "Gei\u0000co"}}, "attributes.current_insurer"),
    ({"consent": {"text": "I agree\u0000"}}, "consent.text"),
    ({"consent": {"page_url": "https://quotes.example/\u0000"}}, "consent.page_url"),
    ({"meta": {"user_agent": "Mozilla\u0000"}}, "meta.user_agent"),
    ({"sub_ids": {"sub1": "a\u0000b"}}, "sub_ids.sub1"),
    ({"click_id": "clk\u0000"}, "click_id"),
    ({"contact": {"profile_url": "https://social.example/" + "p" * 600}}, "contact.profile_url"),
]


def test_values_the_database_cannot_hold_are_refused_by_field_not_a_500(client, network, db):
    wrong = []
    for override, field in UNSTORABLE:
        answer = post_lead(client, network.affiliate["api_key"], lead_body(network.cpl_offer["id"], **override))
        if answer.status_code != 422 or field not in error_fields(answer):
            wrong.append((field, answer.status_code, answer.text[:200]))

    assert wrong == []
    assert count_rows(db, "lead")["lead"] == 0


UNSTORABLE_ADMIN = [
    ("/api/v1/affiliates", {"name": "Bright\u0000", "email": "a@example.com"}, "name"),
    ("/api/v1/advertisers", {"name": "Acme\u0000", "email": "a@example.com"}, "name"),
    ("/api/v1/verticals", {"slug": "v", "name": "V\u0000", "fields": [], "base_price": "1.00"}, "name"),
    ("/api/v1/verticals", {"slug": "v", "name": "V", "base_price": "1.00",
                           "fields": [{"name": "c", "type": "choice", "choices": ["a\u0000"]}]},
     "fields[0].choices[0]"),
    ("/api/v1/verticals", {"slug": "v", "name": "V", "base_price": "1.00",
                           "fields": [{"name": "c", "type": "string", "label": "L\u0000"}]}, "fields[0].label"),
    ("/api/v1/offers", {"name": "O\u0000", "vertical": "car-insurance", "kind": "marketplace", "payout_model": "cpl",
                        "payout": "1.00", "landing_url": "https://x.example/"}, "name"),
    ("/api/v1/offers", {"name": "O", "vertical": "car-insurance", "kind": "marketplace", "payout_model": "cpl",
                        "payout": "1.00", "landing_url": "https://x.example/\u0000"}, "landing_url"),
    ("/api/v1/offers", {"name": "O", "vertical": "car-insurance", "kind": "targeted", "advertiser_id": 2**40,
                        "payout_model": "cpl", "payout": "1.00", "revenue": "2.00",
                        "landing_url": "https://x.example/"}, "advertiser_id"),
]


def test_admin_bodies_the_database_cannot_hold_are_422_not_500(client, network, db):
    wrong = []
    for path, body, field in UNSTORABLE_ADMIN:
        answer = client.post(path, headers=network.admin_headers, json=body)
        if answer.status_code != 422 or field not in error_fields(answer):
            wrong.append((path, field, answer.status_code, answer.text[:200]))

    assert wrong == []
    assert count_rows(db, "vertical", "offer", "affiliate") == {"vertical": 1, "offer": 2, "affiliate": 2}


ODD_REQUESTS = [
    ("GET", "/nope"), ("GET", "/api/v1/nope"), ("DELETE", "/api/v1/leads"), ("PUT", "/api/v1/offers"),
    ("GET", "/api/v1/leads/abc"), ("GET", "/api/v1/leads/0"), ("GET", "/api/v1/leads/-5"),
    ("GET", "/api/v1/leads/99999999999999999999999"), ("GET", "/api/v1/leads/1.5"),
]


def test_odd_requests_get_4xx_problems(client, network):
    for method, path in ODD_REQUESTS:
        assert_problem_4xx(client.request(method, path, headers=network.affiliate_headers()))


def test_missing_lead_is_404_problem(client, network):
    assert problem(client.get("/api/v1/leads/123456", headers=network.affiliate_headers()), 404)


def test_unknown_fields_and_missing_fields_are_named(client, network):
    missing = client.post("/api/v1/affiliates", headers=network.admin_headers, json={"name": "No e-mail"})
    unknown = client.post("/api/v1/verticals", headers=network.admin_headers, json={
        "slug": "v", "name": "V", "base_price": "1.00", "fields": [{"name": "a", "type": "string", "colour": "red"}]})

    assert list(error_fields(missing)) == ["email"]
    assert list(error_fields(unknown)) == ["fields[0].colour"]


def test_no_bad_lead_body_is_ever_a_500(client, network, db):
    """A sweep of hostile values in every lead field: each answer is a 201 or a 4xx problem."""
    hostile = ["", " ", "\u0000", "\U0001F600" * 50, "x" * 10_000, "<script>alert(1)</script>", "' OR 1=1 --",
               2**64, -2**63, 1e308, -0.0, True, None, [], {}, {"$gt": ""}]
    base = lead_body(network.cpl_offer["id"])
    paths = [("offer_id",), ("click_id",), ("contact", "first_name"), ("contact", "email"), ("contact", "phone"),
             ("contact", "country"), ("contact", "postal_code"), ("contact", "date_of_birth"),
             ("attributes", "vehicle_year"), ("attributes", "current_insurer"), ("attributes", "x"),
             ("consent", "given_at"), ("consent", "ip"), ("meta", "ip"), ("meta", "form_seconds"), ("sub_ids", "sub1")]
    seen = set()
    for path in paths:
        for value in hostile:
            body = json.loads(json.dumps(base))
            target = body
            for step in path[:-1]:
                target = target.setdefault(step, {})
            target[path[-1]] = value
            answer = post_lead(client, network.affiliate["api_key"], body)
            seen.add(answer.status_code)
            assert answer.status_code == 201 or (
                400 <= answer.status_code < 500 and answer.headers["content-type"].startswith(PROBLEM_JSON)), (
                path, repr(value)[:40], answer.status_code, answer.text[:300])
    assert seen <= {201, 400, 422}
