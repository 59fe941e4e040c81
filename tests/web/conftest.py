"""Browser fixtures: Debian's Chromium driven by Playwright, against a live uvicorn.

Every test gets fresh browser contexts (separate cookie jars, like separate people).
Signing someone in for a test that is not about signing in puts the same cookies in
their jar that the login answer sets, which is quicker than typing and keeps the
auth rate limit out of the way.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, sync_playwright

from core.models import User
from core.tokens import issue_pair

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("STAYHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Bounded waits: a live page that needs more than this is a failure, not slowness.
TIMEOUT_MS = 10_000


@pytest.fixture
def browser(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    """Chromium for one test, started after the live server and stopped before the
    database is flushed.

    Playwright's sync API keeps an asyncio loop running on this thread, which makes
    Django refuse ORM calls from the test body. Allowing them is safe here, in the
    test process only and only while the browser runs: the server subprocess got its
    environment before this (and keeps it across `restart()`), so it still checks.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser: Browser, live_server: Any) -> Iterator[Any]:
    """`new_context(user=None)`: a fresh browser profile, signed in as `user` if given."""
    contexts: list[BrowserContext] = []

    def make(user: User | None = None, **options: Any) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        if user is not None:
            sign_in(context, live_server.url, user)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def sign_in(context: BrowserContext, url: str, user: User, *, access: bool = True) -> None:
    """The cookies a login answer sets: access (path /) and refresh (path /api/auth/)."""
    pair = issue_pair(user)
    cookies = [
        {
            "name": "stayhub_refresh",
            "value": pair.refresh,
            "url": f"{url}/api/auth/",
            "httpOnly": True,
            "sameSite": "Strict",
        }
    ]
    if access:
        cookies.append(
            {
                "name": "stayhub_access",
                "value": pair.access,
                "url": f"{url}/",
                "httpOnly": True,
                "sameSite": "Lax",
            }
        )
    context.add_cookies(cookies)


# Roles of controls in an ARIA snapshot; each must carry a name ("- button \"Send\"").
CONTROL = re.compile(r"^\s*- '?(button|link|textbox|searchbox|spinbutton|checkbox|combobox)\b(.*)$")


def unnamed_controls(page: Page) -> list[str]:
    """Controls of the page that a screen reader would announce without a name."""
    snapshot = page.locator("body").aria_snapshot()
    return [
        line.strip()
        for line in snapshot.splitlines()
        if (match := CONTROL.match(line)) and not match.group(2).lstrip().startswith('"')
    ]


def shoot(page: Page, name: str) -> list[Path]:
    """Capture the page at desktop and phone widths into test-artifacts/screenshots/.

    Every page captured is also checked for controls without an accessible name.
    """
    assert unnamed_controls(page) == [], f"{name}: controls without a name"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    paths = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        # From the top, so that the sticky header is not drawn across the middle.
        page.evaluate("window.scrollTo(0, 0)")
        path = SCREENSHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    if original:
        page.set_viewport_size(original)
    print(f"screenshots: {SCREENSHOTS}/{name}-{{desktop,phone}}.png")
    return paths


def wait_until(target: Page | Locator, expression: str, timeout_ms: int = 15_000) -> None:
    """Wait until `expression` is truthy in the page (for a locator: a function of its
    element), asked every 50 ms as `evaluate` asks it.

    Playwright's `wait_for_function` polls with a function the page builds from the
    string, which the pages' Content-Security-Policy (no 'unsafe-eval') refuses as soon
    as the condition is not already true at the first try.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while not target.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout_ms} ms: {expression}"
        time.sleep(0.05)
