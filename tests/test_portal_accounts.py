"""Portal accounts in a real browser: log in and out, cookie flags, CSRF, throttling, role walls."""

from __future__ import annotations

import re

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from leadmarket import accounts
from leadmarket.audit import AuditEvent
from leadmarket.cli import main
from tests.portal_fixtures import log_in

ROLES = ("admin", "finance", "advertiser", "affiliate")


@pytest.fixture
def users(network, make_user):
    return {
        "admin": make_user("admin"),
        "finance": make_user("finance"),
        "advertiser": make_user("advertiser", advertiser_id=network.advertiser["id"]),
        "affiliate": make_user("affiliate", affiliate_id=network.affiliate["id"]),
    }


def test_each_role_logs_in_to_its_home_with_its_menu_and_logs_out(page, users):
    expected_menu = {"admin": "Review queue", "finance": "Settlement", "advertiser": "Lead store",
                     "affiliate": "Offers & links"}
    for role in ROLES:
        log_in(page, users[role])
        assert page.locator("nav.menu").get_by_text(expected_menu[role]).is_visible()
        for other, item in expected_menu.items():
            if other != role and item not in ("Dashboard",):
                assert page.locator("nav.menu").get_by_text(item, exact=True).count() == 0
        cookie = next(c for c in page.context.cookies() if c["name"] == "lm_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
        page.click("text=Log out")
        page.wait_for_url(re.compile(r".*/login$"))
        page.goto(f"/{role}")
        assert "/login" in page.url  # the session is gone, not just the cookie


def test_wrong_password_is_shown_beside_the_field_and_keeps_the_email(page, users):
    page.goto("/login")
    page.fill("#f-email", users["finance"].email)
    page.fill("#f-password", "not the password")
    page.click("button[type=submit]")
    assert page.locator(".error[data-field=password]").inner_text() == "wrong e-mail or password"
    assert page.input_value("#f-email") == users["finance"].email


def test_a_stranger_is_sent_to_log_in_and_back_to_the_page_asked_for(page, users):
    page.goto("/finance?page=2")
    assert page.url.endswith("/login?next=%2Ffinance%3Fpage%3D2")
    page.fill("#f-email", users["finance"].email)
    page.fill("#f-password", users["finance"].password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/finance\?page=2$"))


def _csrf(live_server: str) -> str:
    """The CSRF cookie a browser gets with any page (httpx keeps Secure cookies off plain http,
    so tests carry cookies by hand)."""
    answer = httpx.get(f"{live_server}/login")
    match = re.search(r"lm_csrf=([^;]+)", answer.headers["set-cookie"])
    assert match, answer.headers
    return match.group(1)


def _post_login(live_server: str, user, **extra: str) -> httpx.Response:
    token = _csrf(live_server)
    return httpx.post(f"{live_server}/login", cookies={"lm_csrf": token},
                      data={"email": user.email, "password": user.password, "_csrf_token": token, **extra})


def _session_cookie(live_server: str, user) -> str:
    answer = _post_login(live_server, user)
    match = re.search(r"lm_session=([^;]+)", answer.headers.get("set-cookie", ""))
    assert match, (answer.status_code, answer.headers)
    return match.group(1)


def test_log_in_never_redirects_off_site(live_server, users):
    answer = _post_login(live_server, users["admin"], next="//evil.example/x")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin"
    assert _post_login(live_server, users["admin"], next="/admin/users").headers["location"] == "/admin/users"


def test_each_role_s_pages_refuse_the_other_roles(live_server, users):
    for role in ROLES:
        cookie = _session_cookie(live_server, users[role])
        for other in ROLES:
            answer = httpx.get(f"{live_server}/{other}", cookies={"lm_session": cookie})
            assert answer.status_code == (200 if other == role else 403), (role, other)
            if other != role:
                assert "Not for your role" in answer.text


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(live_server, users, db):
    cookie = _session_cookie(live_server, users["admin"])
    answer = httpx.post(f"{live_server}/account/time-zone", data={"time_zone": "Europe/Berlin"},
                        cookies={"lm_session": cookie, "lm_csrf": _csrf(live_server)})
    assert answer.status_code == 403
    with db() as session:
        assert session.get(accounts.User, users["admin"].id).time_zone == "UTC"


def test_failed_log_ins_are_throttled_even_for_the_right_password(live_server, users):
    wrong = users["advertiser"].__class__(**{**users["advertiser"].__dict__, "password": "nope-nope-nope"})
    for _ in range(accounts.LOGIN_FAILURES_PER_EMAIL):
        assert _post_login(live_server, wrong).status_code == 401
    right = _post_login(live_server, users["advertiser"])
    assert right.status_code == 429 and "too many failed log-ins" in right.text
    assert _post_login(live_server, users["finance"]).status_code == 303  # other people still get in


def test_time_zone_setting_changes_how_times_are_shown(page, users, db):
    log_in(page, users["finance"])
    page.goto("/account")
    page.select_option("#f-time_zone", "Asia/Tokyo")
    page.click("form[action='/account/time-zone'] button")
    page.wait_for_selector(".notice")
    assert page.locator(".notice").inner_text() == "Time zone saved."
    with db() as session:
        assert session.get(accounts.User, users["finance"].id).time_zone == "Asia/Tokyo"


def test_password_change_checks_the_current_one_and_signs_out_everywhere(page, users):
    log_in(page, users["affiliate"])
    page.goto("/account")
    page.fill("#f-current_password", "wrong password!")
    page.fill("#f-new_password", "short")
    page.click("form[action='/account/password'] button")
    assert page.locator(".error[data-field=current_password]").inner_text() == "is not your current password"
    assert "at least 10 characters" in page.locator(".error[data-field=new_password]").inner_text()
    page.fill("#f-current_password", users["affiliate"].password)
    page.fill("#f-new_password", "a much better secret")
    page.click("form[action='/account/password'] button")
    page.wait_for_url(re.compile(r".*/login$"))
    page.goto("/affiliate")
    assert "/login" in page.url


def test_user_create_command_makes_a_user_who_can_log_in(settings, db, network, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LEADMARKET_SECRET_KEY", settings.secret_key)
    result = CliRunner().invoke(main, ["user", "create", "--email", "Ann@Example.com", "--password",
                                       "long enough secret", "--role", "advertiser", "--advertiser-id",
                                       str(network.advertiser["id"])])
    assert result.exit_code == 0, result.output
    user_id = int(result.output.strip())
    bad = CliRunner().invoke(main, ["user", "create", "--email", "not-an-email", "--password", "short",
                                    "--role", "affiliate"])
    assert bad.exit_code != 0
    assert "email" in bad.output and "password" in bad.output and "affiliate_id" in bad.output
    with db() as session:
        user = session.get(accounts.User, user_id)
        assert user.email == "ann@example.com" and user.advertiser_id == network.advertiser["id"]
        assert session.execute(select(AuditEvent).where(AuditEvent.action == "user.create")).scalar_one()


def test_portal_pages_answer_503_when_the_database_is_unreachable(settings):
    from dataclasses import replace

    from litestar.testing import TestClient

    from api.app import create_app
    from leadmarket.db import make_engine

    dead = replace(settings, database_url="postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
    app = create_app(dead, engine=make_engine(dead.database_url))
    with TestClient(app, base_url="https://testserver.local", raise_server_exceptions=False,
                    cookies={"lm_session": "some-session"}) as http:
        answer = http.get("/admin")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert "Try again shortly" in answer.text
