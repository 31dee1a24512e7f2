"""Helpers for the sync tests: the real reference CRM, its admin API, a paired daemon."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from edge.app import EdgeApp
from edge.config import Config, load_config
from sync.crm.server import CrmServer, CrmSettings
from sync.pairing import pair_and_save
from tests.helpers import ROOT, staff_lane, write_config

ADMIN_TOKEN = "test-admin-token-0123456789"
STORE, DEVICE = "T01", "lane-pc-1"
DEVICE_KEY = f"{STORE}:{DEVICE}"

FAST_SYNC = """
[sync]
crm_url = "{url}"
push_interval_ms = 100
push_linger_ms = 5
pull_interval_ms = {pull_ms}
backoff_base_ms = 20
backoff_max_ms = 200
retry_after_max_ms = 2000
breaker_failures = 50
breaker_reset_ms = 200
status_refresh_ms = 100
credentials_poll_ms = 100
request_timeout_ms = {timeout_ms}
connect_timeout_ms = 1000
offline_after_ms = 5000
push_batch_events = {batch}
"""


def sync_config_text(url: str, *, pull_ms: int = 200, timeout_ms: int = 2000,
                     batch: int = 1000, extra: str = "") -> str:
    return FAST_SYNC.format(url=url, pull_ms=pull_ms, timeout_ms=timeout_ms,
                            batch=batch) + extra


def make_sync_config(tmp_path: Path, url: str, **kwargs: Any) -> Config:
    return load_config(write_config(tmp_path, extra=sync_config_text(url, **kwargs)))


@asynccontextmanager
async def running_crm(tmp_path: Path, name: str = "crm.db", *,
                      parse_workers: int = 0) -> AsyncIterator[CrmServer]:
    settings = CrmSettings(admin_token=ADMIN_TOKEN, parse_workers=parse_workers)
    async with CrmServer(tmp_path / name, settings=settings, seed_demo=True) as server:
        yield server


class Admin:
    """The CRM's admin API over HTTP, as the chain's staff would use it."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_context if ssl_context else True),
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    async def close(self) -> None:
        await self._session.close()

    async def call(self, method: str, path: str, body: Any = None,
                   expect: int | None = 200) -> Any:
        async with self._session.request(method, self.url + path,
                                         data=None if body is None else json.dumps(body),
                                         headers={"Content-Type": "application/json"}) as resp:
            data = await resp.json()
            if expect is not None:
                assert resp.status == expect, f"{method} {path}: {resp.status} {data}"
            return data

    async def pairing_code(self, store: str = STORE, device: str | None = DEVICE) -> str:
        answer = await self.call("POST", "/admin/pairing-codes",
                                 {"store_id": store, "device_id": device}, expect=201)
        return str(answer["code"])


@asynccontextmanager
async def admin_of(server: CrmServer,
                   ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Admin]:
    admin = Admin(server.url, ssl_context)
    try:
        yield admin
    finally:
        await admin.close()


async def pair(config: Config, server: CrmServer) -> None:
    async with admin_of(server) as admin:
        code = await admin.pairing_code(config.store.id, config.store.device_id)
    await pair_and_save(config, code, server.url)


@asynccontextmanager
async def started(config: Config) -> AsyncIterator[EdgeApp]:
    app = EdgeApp(config)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def wait_for(check: Callable[[], Awaitable[bool]] | Callable[[], bool],
                   limit_s: float = 20.0, what: str = "condition") -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``limit_s`` seconds."""
    deadline = time.monotonic() + limit_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def crm_rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the CRM's own file (WAL mode lets a reader in beside the server)."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


async def sell(app: EdgeApp, codes: list[str], lane_id: str = "1", *,
               member_code: str | None = None, tendered_fen: int | None = None) -> Any:
    """Scan ``codes`` (and a member) on a lane and pay cash; return the completed sale."""
    from edge.scan_router import route  # noqa: PLC0415

    lane = app.lanes[lane_id]
    if app.cashier.staffed(lane_id):
        await staff_lane(app, lane_id)
    for code in codes:
        event = await lane.handle_scan(route(code, app.config.scan))
        assert event.ok, event.message
    if member_code:
        event = await lane.handle_scan(route(member_code, app.config.scan))
        assert event.ok, event.message
    return await lane.pay_cash(tendered_fen or lane.priced.total_fen)


class CrmProcess:
    """`storeedge crm-server` in its own process, as a chain would run its CRM."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.log = open(db.with_suffix(".log"), "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "crm-server", "--db", str(db), "--port", "0",
             "--seed-demo"], cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"serving on (http://\S+);", line)
        assert match, f"CRM did not start: {line} {db.with_suffix('.log').read_text()}"
        self.url = match.group(1)
        self.token = db.with_name(db.name + ".admin-token").read_text().strip()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, method=method, data=data,
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.log.close()


def pair_process(crm: CrmProcess, config: Path) -> None:
    """Pair the daemon of ``config`` with ``crm`` through `storeedge pair`, as store IT does."""
    code = crm.admin("POST", "/admin/pairing-codes", {"store_id": "T01",
                                                      "device_id": "lane-pc-1"})["code"]
    result = subprocess.run([sys.executable, "-m", "edge.cli", "pair", code, "--crm", crm.url,
                             "--config", str(config)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
