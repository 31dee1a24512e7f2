"""The harness for page and console tests: Chromium, a running daemon, a signed-in client.

- ``chromium``: Debian's Chromium driven by Playwright (never ``playwright install``), skipped
  with the reason when it is not installed.
- ``PageWatch``: fails a test on what a user would notice: a script error, a console error,
  an unexpected dialog (a ``<script>`` that ran would be one).
- ``screenshot``: saves into ``test-artifacts/`` for people to look at.
- ``running_edge``: the whole daemon (EdgeApp) in the test's event loop on port 0, for tests
  that hand it a part through an interface (dead letters, face consents).
- ``ConsoleClient``: an aiohttp client with its own cookie jar that signs in like the page
  does and sends the CSRF token; every knob (origin, token, content type) can be turned off.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, ConsoleMessage, Dialog, Page, async_playwright

from edge.app import EdgeApp
from edge.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]
# Cheaper argon2 for tests that sign in many times; the code path is the same.
FAST_HASHING = "argon2_time_cost = 1\nargon2_memory_kib = 8192\nargon2_parallelism = 1\n"


HAVE_CHROMIUM = Path(CHROMIUM).exists()


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip("Debian's chromium is not installed (make setup installs it as root)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class PageWatch:
    """Record script errors, console errors and dialogs of a page."""

    def __init__(self, page: Page, *, expect_http_errors: bool = False) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self._expect_http_errors = expect_http_errors
        page.on("pageerror", lambda err: self.errors.append(f"pageerror: {err}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _console(self, message: ConsoleMessage) -> None:
        # A refused request (401/403/409 the page handles) is logged by Chromium as an error
        # line "Failed to load resource"; pages that test refusals say they expect those.
        if message.type == "error" and not (
                self._expect_http_errors and "Failed to load resource" in message.text):
            self.errors.append(f"console: {message.text}")

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@asynccontextmanager
async def running_edge(config_path: Path) -> AsyncIterator[EdgeApp]:
    """Run the daemon in this event loop; stop it (and check it stopped) afterwards."""
    app = EdgeApp(load_config(config_path))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


class ConsoleClient:
    """A console user's browser, minus the browser: cookies, CSRF token, JSON."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.csrf: str | None = None

    async def login(self, name: str, password: str) -> dict[str, Any]:
        status, body = await self.request("POST", "/console/api/login",
                                          json={"name": name, "password": password})
        assert status == 200, (status, body)
        self.csrf = body["csrf"]
        return dict(body)

    async def request(self, method: str, path: str, *, json: Any = None, data: Any = None,
                      headers: dict[str, str] | None = None, csrf: bool = True,
                      origin: bool = True) -> tuple[int, Any]:
        """Return (status, JSON body or text); redirects are not followed."""
        sent = {"Accept": "application/json"}
        if origin:
            sent["Origin"] = self.url
        if csrf and self.csrf and method != "GET":
            sent["X-CSRF-Token"] = self.csrf
        sent.update(headers or {})
        async with self.session.request(method, self.url + path, json=json, data=data,
                                        headers=sent, allow_redirects=False) as response:
            text = await response.text()
            self.last_headers = response.headers
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, text

    async def get(self, path: str) -> Any:
        status, body = await self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    async def post(self, path: str, json: Any = None) -> Any:
        status, body = await self.request("POST", path, json={} if json is None else json)
        assert 200 <= status < 300, (path, status, body)
        return body


@asynccontextmanager
async def console_client(url: str) -> AsyncIterator[ConsoleClient]:
    # unsafe=True: keep cookies set by an IP address (127.0.0.1), as a browser does.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield ConsoleClient(session, url)


def console_url(state_dir: Path, timeout: float = 30.0) -> str:
    """Return the URL a daemon's console wrote (it starts just after the kiosk site)."""
    path = state_dir / "run" / "console-url"
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the console never wrote {path}")
        time.sleep(0.05)
    return path.read_text("utf-8").strip()


def setup_code(state_dir: Path) -> str:
    return (state_dir / "console-setup-code").read_text("utf-8").strip()


@pytest.fixture
def artifacts() -> Iterator[Path]:
    ARTIFACTS.mkdir(exist_ok=True)
    yield ARTIFACTS
