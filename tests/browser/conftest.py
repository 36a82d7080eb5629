"""Browser tests: Playwright drives Debian's chromium against the app served by uvicorn.

- Chromium comes from Debian (/usr/bin/chromium, installed by scripts/ensure-chromium), not from
  `playwright install`. Without it these tests skip, unless COCON_REQUIRE_BROWSER=1 (set by
  .ci/run), where a missing browser fails them.
- Each test module gets a fresh SQLite database with the Gongshu demo (a copy of one demo
  database made per session from the migrated template) and its own server on a free port.
- Each test gets a new browser context: Chinese (zh-CN) as a new user here would have, a desktop
  window unless it asks for another; `shot(page, step)` saves
  test-artifacts/screenshots/<test name>-<step>.png.
- Playwright's sync API runs its own event loop: keep these tests plain sync functions.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cocon import db
from cocon.demo import DEMO_PASSWORD, load_demo
from cocon.i18n import gettext, use_language
from tests.liveserver import LiveServer

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("COCON_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000


def zh(message: str) -> str:
    """Return what the pages show for message in Chinese (the catalog's text, or message)."""
    with use_language("zh_CN"):
        return gettext(message)


def en(message: str) -> str:
    """Return what the pages show for message in English."""
    with use_language("en"):
        return gettext(message)


def _require_browser() -> bool:
    return os.environ.get("COCON_REQUIRE_BROWSER", "") not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    if _require_browser():
        pytest.fail(f"{reason} (COCON_REQUIRE_BROWSER is set: run scripts/ensure-chromium)")
    pytest.skip(f"{reason}: install it with scripts/ensure-chromium to run the browser tests")


def playwright_expect():
    """Return Playwright's expect for a test module; without Playwright skip it (fail in CI)."""
    try:
        from playwright.sync_api import expect
    except ImportError:
        if _require_browser():
            raise
        pytest.skip(
            "the playwright package is not installed (pip install -e '.[test]')",
            allow_module_level=True,
        )
    return expect


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    """Launch chromium once for the browser tests; stop it when they are done."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def _demo_template(_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the Gongshu demo, loaded once (it takes seconds)."""
    path = tmp_path_factory.mktemp("browser") / "demo.db"
    shutil.copy(_sqlite_template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        with db.session_scope(engine, write=True) as session:
            load_demo(session)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return path


@pytest.fixture(scope="module")
def server(
    browser: object, _demo_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Serve the app on a fresh copy of the demo database, one per test module."""
    path = tmp_path_factory.mktemp("browser-db") / "cocon.db"
    shutil.copy(_demo_template, path)
    live = LiveServer(f"sqlite:///{path}")
    live.start()
    yield live
    live.stop()


@pytest.fixture
def new_page(browser, server: LiveServer) -> Iterator[Callable[..., object]]:
    """Open pages in new browser contexts (zh-CN, desktop unless a viewport is given)."""
    contexts = []

    def open_page(
        viewport: dict[str, int] | None = None,
        locale: str = "zh-CN",
        user: str | None = "gongshu-admin",
    ):
        context = browser.new_context(
            base_url=server.url,
            locale=locale,
            viewport=viewport or DESKTOP,
            accept_downloads=True,
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            sign_in(page, user)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """A page in a new zh-CN desktop context."""
    return new_page()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[object, str], Path]:
    """Save a full-page screenshot as test-artifacts/screenshots/<test name>-<step>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")

    def take(page, step: str) -> Path:
        path = ARTIFACTS / f"{name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def sign_in(page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the login page as a user would, and land on the dashboard."""
    page.goto("/login")
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    page.click("form.edit button[type=submit]")
    page.wait_for_url(re.compile(r".*/(\?.*)?$"))


def choose(select, text: str) -> str:
    """Pick the option of a <select> whose visible text starts with the word(s) text."""
    starts = re.compile(r"^\s*" + re.escape(text) + r"(\s|$)")
    option = select.locator("option", has_text=starts).first
    value = option.get_attribute("value")
    select.select_option(value)
    return value
