"""Shared by the kiosk page tests: a `storeedge run` daemon, the WeChat Pay simulator, Chromium
at a kiosk's screen size, and scans through the kiosk's simulated scanner."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page

from drivers.sim_scanner import send_scan
from tests.browser import FAST_HASHING, PageWatch
from tests.helpers import Daemon, write_config
from tests.payments_support import SimProcess, daemon_payments_toml

LANDSCAPE = {"width": 1920, "height": 1080}
PORTRAIT = {"width": 1080, "height": 1920}
PAYMENT_TIMING = {"poll_interval_ms": 100, "reverse_interval_ms": 50, "request_timeout_ms": 3000,
                  "poll_limit": 50}


def kiosk_toml(**settings: int | bool) -> str:
    lines = ["", "[kiosk]"]
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


@contextmanager
def kiosk_daemon(tmp_path: Path, *, sim: SimProcess | None = None, extra: str = "",
                 prepare: Callable[[Path], None] | None = None,
                 **kiosk: int | bool) -> Iterator[Daemon]:
    """Run `storeedge run` with kiosk lane 1 (and WeChat Pay against ``sim``); ``prepare``
    gets the config file first (to pair it with a CRM, say)."""
    state = tmp_path / "state"
    payments = daemon_payments_toml(sim.url, state, **PAYMENT_TIMING) if sim else ""
    config = write_config(tmp_path, console=FAST_HASHING,
                          extra=payments + extra + kiosk_toml(**kiosk))
    if prepare is not None:
        prepare(config)
    daemon = Daemon(config, state).start()
    try:
        yield daemon
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.signal(signal.SIGTERM)


async def scan(daemon: Daemon, page: Page | None, code: str) -> str:
    """Scan ``code`` at kiosk 1; wait until the page has drawn it; return the scan id."""
    answer = await asyncio.wait_for(send_scan(daemon.state_dir / "run" / "s1.sock", code), 10)
    scan_id = answer.split()[1]
    if page is not None:
        await page.wait_for_selector(f"body[data-scan='{scan_id}']")
    return scan_id


@asynccontextmanager
async def kiosk_page(chromium: Browser, daemon: Daemon, *, viewport: dict[str, int] | None = None,
                     expect_http_errors: bool = False) -> AsyncIterator[tuple[Page, PageWatch]]:
    """Open kiosk 1 in a fresh browser context; fail on script errors when done."""
    context = await chromium.new_context(viewport=viewport or LANDSCAPE)  # type: ignore[arg-type]
    page = await context.new_page()
    watch = PageWatch(page, expect_http_errors=expect_http_errors)
    try:
        await page.goto(f"{daemon.url}/kiosk/1")
        await page.wait_for_selector("body[data-live='yes'][data-ready='yes']")
        yield page, watch
        watch.assert_clean()
    finally:
        await context.close()


def db_execute(daemon: Daemon, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Write to the daemon's database as the CRM's change streams would have."""
    conn = sqlite3.connect(daemon.state_dir / "storeedge.db", timeout=10)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()
