"""Shared by the payment tests: keys, both simulators, a lane wired to a payment service."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from edge.catalog import Catalog
from edge.config import load_config
from edge.lane import LaneEvent, LaneSession
from edge.payments.config import AlipaySettings, PaymentsConfig, WeChatSettings
from edge.payments.keys import new_rsa_key, private_pem, public_pem, write_private_file
from edge.payments.service import PaymentService
from edge.payments.sim.alipay import AlipaySimulator
from edge.payments.sim.common import Script
from edge.payments.sim.wechat import WeChatPaySimulator
from edge.sales import OutboxIdentity
from edge.scan_router import route
from edge.seed import seed_demo
from edge.store import Store
from tests.helpers import MILK, ROOT, WATER

RULES = load_config(None).scan
WECHAT_KEY = "192006250b4c09247ec02edce69f6a2d"
APPID, MCH_ID, ALIPAY_APP_ID = "wxd930ea5d5a258f4f", "10000100", "2021000000000001"
HANG_S = 30.0  # no test waits this long unless something hangs
FINAL_EVENTS = {"payment_succeeded", "payment_failed", "payment_in_doubt"}
FAST = {"request_timeout_ms": 1000, "connect_timeout_ms": 500, "poll_interval_ms": 20,
        "poll_limit": 5, "reverse_retries": 3, "reverse_interval_ms": 20,
        "in_doubt_retry_max_ms": 100}


@dataclass(frozen=True)
class Keys:
    app: rsa.RSAPrivateKey      # ours (Alipay application key)
    gateway: rsa.RSAPrivateKey  # the simulated Alipay gateway's


@functools.cache
def keys() -> Keys:
    """RSA keys take a moment to make; every test of a run shares one pair."""
    return Keys(new_rsa_key(), new_rsa_key())


def write_keys(folder: Path) -> dict[str, Path]:
    paths = {"wechat": folder / "wechat_api_key", "app": folder / "app_private.pem",
             "gateway_public": folder / "alipay_public.pem",
             "gateway_private": folder / "gateway_private.pem",
             "app_public": folder / "app_public.pem"}
    write_private_file(paths["wechat"], WECHAT_KEY.encode())
    write_private_file(paths["app"], private_pem(keys().app))
    write_private_file(paths["gateway_public"], public_pem(keys().gateway))
    write_private_file(paths["gateway_private"], private_pem(keys().gateway))
    write_private_file(paths["app_public"], public_pem(keys().app))
    return paths


def payments_config(folder: Path, wechat_url: str, alipay_url: str,
                    **timing: Any) -> PaymentsConfig:
    paths = write_keys(folder)
    return PaymentsConfig(**{**FAST, **timing}, description="测试店",
                          wechat=WeChatSettings(True, wechat_url, APPID, MCH_ID,
                                                paths["wechat"]),
                          alipay=AlipaySettings(True, alipay_url + "/gateway.do",
                                                ALIPAY_APP_ID, paths["app"],
                                                paths["gateway_public"]))


@asynccontextmanager
async def simulators(hold_s: float = 30.0) -> AsyncIterator[tuple[WeChatPaySimulator,
                                                                     AlipaySimulator]]:
    wechat = WeChatPaySimulator(key=WECHAT_KEY, appid=APPID, mch_id=MCH_ID, hold_s=hold_s)
    alipay = AlipaySimulator(app_public_key=keys().app.public_key(), app_id=ALIPAY_APP_ID,
                             private_key=keys().gateway, hold_s=hold_s)
    async with wechat, alipay:
        yield wechat, alipay


@dataclass
class PayEnv:
    store: Store
    lane: LaneSession
    service: PaymentService
    wechat: WeChatPaySimulator
    alipay: AlipaySimulator
    events: asyncio.Queue[LaneEvent] = field(default_factory=asyncio.Queue)

    async def scan(self, text: str) -> LaneEvent:
        return await self.lane.handle_scan(route(text, RULES))

    async def fill_cart(self) -> int:
        for code in (MILK, WATER):
            assert (await self.scan(code)).code == "item_added"
        return self.lane.priced.total_fen

    async def until(self, codes: set[str]) -> LaneEvent:
        """Return the next event whose code is in ``codes`` (the bound only stops a hang)."""
        async with asyncio.timeout(HANG_S):
            while True:
                event = await self.events.get()
                if event.code in codes:
                    return event

    async def finished(self) -> LaneEvent:
        return await self.until(FINAL_EVENTS)

    async def one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        row = await self.store.fetchone(sql, params)
        return None if row is None else row[0]


@asynccontextmanager
async def pay_env(tmp_path: Path, *, online: Callable[[], bool] = lambda: True,
                  hold_s: float = 30.0, **timing: Any) -> AsyncIterator[PayEnv]:
    """A seeded store, both simulators, a payment service and lane 1 wired to them."""
    store = Store(tmp_path / "edge.db", busy_timeout_ms=200)
    await store.open()
    await store.write(seed_demo)
    service = PaymentService(store, online=online)
    try:
        async with simulators(hold_s) as (wechat, alipay):
            config = payments_config(tmp_path / "keys", wechat.url, alipay.url, **timing)
            await service.open(config, device_id="lane-pc-1", description="测试店")
            lane = LaneSession("1", store, Catalog(store), OutboxIdentity("T01", "lane-pc-1"),
                               payments=service)
            env = PayEnv(store, lane, service, wechat, alipay)
            lane.observe(lambda _lane, event: env.events.put_nowait(event))
            try:
                yield env
            finally:
                await service.aclose()
    finally:
        await store.close()


def wechat_code(n: int) -> str:
    """A WeChat payment code: 18 digits, prefix 13, ending in 9 so no demo rule applies."""
    return f"13{n:015d}9"


def alipay_code(n: int) -> str:
    return f"28{n:015d}9"


def http_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def script(**kwargs: Any) -> Script:
    return dataclasses.replace(Script(), **kwargs)


class SimProcess:
    """The WeChat Pay simulator as its own process, outliving the daemons it serves."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> SimProcess:
        key_file = self.folder / "sim" / "wechat_api_key"
        write_private_file(key_file, WECHAT_KEY.encode())
        url_file = self.folder / "sim" / "url"
        self.log = (self.folder / "sim" / "log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.payments.sim", "wechat", "--key-file", str(key_file),
             "--url-file", str(url_file), "--appid", APPID, "--mch-id", MCH_ID],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + HANG_S
        while not url_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.05)
        self.url = url_file.read_text().strip()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=HANG_S)
        self.log.close()

    def script(self, code: str, **script_fields: Any) -> None:
        http_json(self.url + "/_sim/script", {"auth_code": code, **script_fields})

    def orders(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = http_json(self.url + "/_sim/orders")
        return result


def daemon_payments_toml(sim_url: str, state_dir: Path, **timing: int) -> str:
    """The [payments] tables of a daemon config paying against ``sim_url``."""
    write_private_file(state_dir / "keys" / "wechat_api_key", WECHAT_KEY.encode())
    numbers = "\n".join(f"{k} = {v}" for k, v in timing.items())
    return f"""
[payments]
{numbers}

[payments.wechat]
enabled = true
base_url = "{sim_url}"
appid = "{APPID}"
mch_id = "{MCH_ID}"
key_file = "keys/wechat_api_key"
"""


def wait_for(check: Callable[[], Any], what: str) -> Any:
    """Poll ``check`` until it returns something true; the bound only stops a hang."""
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Await until ``check()`` is true; the bound only stops a hang."""
    async with asyncio.timeout(HANG_S):
        while not await check():  # noqa: ASYNC110 - the state is in the database, no event
            await asyncio.sleep(0.02)


async def is_state(env: PayEnv, state: str) -> bool:
    """Whether the (only) payment row is in ``state``."""
    return bool(await env.one("SELECT state FROM payments") == state)
