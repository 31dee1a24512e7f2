"""Helpers for the self-checkout tests: a config with the bagging scale and fast timers, staff
with badges and PINs, and scanning through a running EdgeApp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from drivers.sim_scale import send_weight
from edge.app import EdgeApp
from edge.config import load_config
from edge.lane import LaneEvent
from tests.browser import FAST_HASHING
from tests.helpers import write_config
from tests.sync_helpers import wait_for

TEMPLATE = "https://fapiao.example.cn/e?s={store}&id={sale_id}&a={amount_fen}&sig={sig}"
PIN = "246810"
ATTENDANT = "li.attendant"


def checkout_text(**settings: Any) -> str:
    """A ``[checkout]`` table: fast timers and the test's own settings."""
    values: dict[str, Any] = {"bag_timeout_ms": 1500, "unexplained_grace_ms": 300,
                              "ereceipt_url": TEMPLATE, "audit_seed": 7, **settings}
    lines = ["", "[checkout]"]
    for key, value in values.items():
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, dict):
            inner = ", ".join(f"{k} = {v}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


SCALE = """
[[devices]]
id = "scale-1"
driver = "sim_scale"
lane = "1"
[devices.options]
control = "{run_dir}/scale-1.sock"
poll_interval_ms = 20
"""

PRINTER = """
[[devices]]
id = "printer-{lane}"
driver = "printer"
lane = "{lane}"
[devices.options]
host = "127.0.0.1"
port = {port}
journal = "{{state_dir}}/printer-{lane}.jobs.sqlite"
timeout_ms = 5000
status_interval_ms = 0
"""

EXIT_LANE = """
[[lanes]]
id = "9"
kind = "exit"
name = "出口 Exit"
"""


def config_path(tmp_path: Path, *, scale: bool = False, exit_lane: bool = False,
                printer_port: int | None = None, printer_lane: str = "2", extra: str = "",
                **settings: Any) -> Path:
    """Write a test config: kiosk 1 and staffed 2, and what the test asks for."""
    parts = [EXIT_LANE if exit_lane else "", SCALE if scale else "",
             PRINTER.format(port=printer_port, lane=printer_lane) if printer_port else "",
             extra, checkout_text(**settings)]
    return write_config(tmp_path, console=FAST_HASHING, extra="".join(parts))


@asynccontextmanager
async def running(path: Path) -> AsyncIterator[EdgeApp]:
    app = EdgeApp(load_config(path))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def staff(app: EdgeApp) -> dict[str, str]:
    """Create a supervisor with a PIN and a badge, and a cashier with a badge; return badges."""
    await app.users.create("admin", "it_admin", "admin-password-1", actor="test")
    await app.users.create(ATTENDANT, "supervisor", "li-password-1", actor="admin", pin=PIN)
    await app.users.create("wang.cashier", "cashier", "wang-password-1", actor="admin")
    return {"supervisor": await app.checkout.badges.assign(ATTENDANT, actor="admin"),
            "cashier": await app.checkout.badges.assign("wang.cashier", actor="admin")}


async def scan(app: EdgeApp, text: str, lane: str = "1") -> LaneEvent:
    return await app.handle_scan(app.lanes[lane], text, None, None)


async def weigh(app: EdgeApp, line: str) -> None:
    """Set the simulated bagging scale (as store staff would through its control socket)."""
    answer = await asyncio.wait_for(
        send_weight(app.config.paths.run_dir / "scale-1.sock", line), 5)
    assert answer.startswith("OK"), answer


class Recorder:
    """Every event of a lane from now on (observers see events as they are published)."""

    def __init__(self, app: EdgeApp, lane: str = "1") -> None:
        self.events: list[LaneEvent] = []
        self._lane = app.lanes[lane]
        self._lane.observe(lambda _lane, event: self.events.append(event))

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.events]

    def clear(self) -> None:
        self.events.clear()

    async def wait(self, code: str, limit_s: float = 10) -> LaneEvent:
        """Wait for the first event ``code`` since the last ``clear``; return it."""
        await wait_for(lambda: code in self.codes, limit_s, f"{code} (saw {self.codes})")
        return next(e for e in self.events if e.code == code)

    def snapshot(self) -> dict[str, Any]:
        return self._lane.snapshot()


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return every sample of the daemon's ``/metrics`` by (name, sorted labels)."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}
