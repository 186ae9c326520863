"""Portal test fixtures (a pytest plugin loaded by conftest): the app served by uvicorn on a free
port, Debian's Chromium driven by Playwright, portal users, and log-in.

Every test that uses `page` leaves a screenshot of its last screen in tests/artifacts/screenshots/.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from leadmarket import accounts
from leadmarket.db import transaction
from leadmarket.settings import Settings
from tests.ports import free_port

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def live_server(settings: Settings, engine: Engine) -> Iterator[str]:
    """The whole app (API and portal) on a real socket, same database and settings as the test."""
    from api.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API keeps an event loop running in this
    thread while it lives, which later tests calling asyncio.run() must not inherit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])[:120]


@pytest.fixture
def page(browser: Any, live_server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no cookies) at a laptop-sized viewport; screenshot kept at the end."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900},
                                  timezone_id="UTC", locale="en-US")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        tab.screenshot(path=str(ARTIFACTS / f"{_artifact_name(request.node.nodeid)}.png"), full_page=True)
    finally:
        context.close()


@dataclass(frozen=True)
class PortalUser:
    id: int
    email: str
    password: str
    role: str
    advertiser_id: int | None = None
    affiliate_id: int | None = None


@pytest.fixture
def make_user(db: sessionmaker[Session]) -> Callable[..., PortalUser]:
    """Create a portal user: make_user("advertiser", advertiser_id=3, email=..., time_zone=...)."""
    counter = iter(range(1, 10_000))

    def make(role: str, *, advertiser_id: int | None = None, affiliate_id: int | None = None,
             email: str | None = None, password: str = PASSWORD, time_zone: str = "UTC", name: str = "") -> PortalUser:
        email = email or f"{role}{next(counter)}@example.com"
        with db() as session, transaction(session):
            user = accounts.create_user(session, email=email, password=password, role=role, name=name,
                                        advertiser_id=advertiser_id, affiliate_id=affiliate_id, time_zone=time_zone)
        return PortalUser(user.id, user.email, password, role, advertiser_id, affiliate_id)

    return make


def log_in(page: Any, user: PortalUser) -> None:
    """Log in through the form, as a person would, and wait for the role's home page."""
    page.goto("/login")
    page.fill("#f-email", user.email)
    page.fill("#f-password", user.password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf".*/{user.role}(\?.*)?$"))
