"""Helpers shared by the tests: configs in tmp_path, a seeded store, a lane, a live daemon."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from edge.catalog import Catalog
from edge.config import Config, load_config
from edge.lane import LaneSession
from edge.loyalty_config import LoyaltySettings, MembersConfig
from edge.sales import OutboxIdentity
from edge.seed import demo_barcodes
from edge.store import Store

if TYPE_CHECKING:
    from edge.app import EdgeApp

ROOT = Path(__file__).resolve().parents[1]
BARCODES = demo_barcodes()
WATER = BARCODES["P001"]      # 农夫山泉 ¥2.00, in the buy-2-get-1 drinks promotion
MILK = BARCODES["P006"]       # 伊利纯牛奶 ¥65.00, member price ¥59.00
CHIPS = BARCODES["P010"]      # 乐事薯片 ¥7.50, snacks 10% off
RICE = BARCODES["P014"]       # 五常大米 ¥69.90, member price ¥59.90
BEER = BARCODES["P023"]       # age restricted
MEMBER_CODE = "MC10000001"    # 张伟, gold

CONFIG_TEMPLATE = """
[store]
id = "T01"
name = "测试店"
device_id = "lane-pc-1"

[paths]
state_dir = "{state_dir}"

[database]
busy_timeout_ms = {busy_timeout_ms}

[http]
host = "127.0.0.1"
port = 0

[console]
{console}

[demo]
seed = true

[members]
accept_static_codes = true   # the demo's static member codes (MEMBER_CODE) work in tests

[[lanes]]
id = "1"
kind = "kiosk"

[[lanes]]
id = "2"
kind = "staffed"

[[devices]]
id = "sim-1"
driver = "sim_scanner"
lane = "1"
[devices.options]
socket = "{{run_dir}}/s1.sock"
"""


def write_config(tmp_path: Path, *, busy_timeout_ms: int = 200, extra: str = "",
                 console: str = "") -> Path:
    """Write a test config; ``console`` holds extra lines for its [console] table."""
    path = tmp_path / "storeedge.toml"
    path.write_text(
        CONFIG_TEMPLATE.format(
            state_dir=tmp_path / "state", busy_timeout_ms=busy_timeout_ms,
            # The console listens on a free port unless a test names one.
            console=console if re.search(r"^port\s*=", console, re.M) else "port = 0\n" + console)
        + extra,
        "utf-8",
    )
    return path


def make_config(tmp_path: Path, **kwargs: Any) -> Config:
    return load_config(write_config(tmp_path, **kwargs))


def make_lane(store: Store, lane_id: str = "1") -> LaneSession:
    """A lane as the demo runs it: static member codes (MEMBER_CODE) are accepted."""
    return LaneSession(lane_id, store, Catalog(store), OutboxIdentity("T01", "lane-pc-1"),
                       loyalty=LoyaltySettings(members=MembersConfig(accept_static_codes=True)))


CASHIER, CASHIER_PASSWORD = "cashier1", "cashier password"


async def staff_lane(app: EdgeApp, lane_id: str = "2", *, float_fen: int = 0) -> str:
    """Sign a cashier in at a staffed lane and open a shift, as a lane does before it sells.

    Staffed lanes refuse scans until then; tests about other things (sync, crashes) that sell
    on one call this once. A restarted daemon keeps both, so a second call does nothing.
    """
    if await app.users.get(CASHIER) is None:
        await app.users.create(CASHIER, "cashier", CASHIER_PASSWORD, actor="test")
    if app.cashier.current(lane_id) is None:
        signed = await app.cashier.sign_in(lane_id, CASHIER, CASHIER_PASSWORD, address="test")
        assert signed is not None
    if app.cashier.shifts.open_shift(lane_id) is None:
        await app.cashier.shifts.open(lane_id, float_fen, actor=CASHIER)
    return CASHIER


@contextlib.contextmanager
def small_disk(path: Path, size: str = "4m") -> Iterator[Path]:
    """Mount a real tmpfs of ``size`` at ``path``: a disk that can really fill up."""
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs root to mount a small tmpfs (CI runs as root)")
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_disk(folder: Path) -> Path:
    """Write a filler file until the filesystem says ENOSPC; return it (delete to free space)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 512, b"\0"):
            try:
                while os.write(fd, chunk):
                    pass
            except OSError as err:
                assert err.errno == errno.ENOSPC, err
    finally:
        os.close(fd)
    return filler


class Daemon:
    """`storeedge run` in a subprocess, as systemd would start it."""

    def __init__(self, config_path: Path, state_dir: Path) -> None:
        self.config_path = config_path
        self.state_dir = state_dir
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> Daemon:
        url_file = self.state_dir / "run" / "http-url"
        url_file.unlink(missing_ok=True)
        self.log = open(self.state_dir.parent / "daemon.log", "a", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(self.config_path)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"daemon exited with {self.proc.returncode}: "
                                       f"{self.output()}")
                url = url_file.read_text().strip() if url_file.exists() else ""
                if url:
                    self.url = url
                    with contextlib.suppress(OSError):
                        self.get("/api/status")
                        return self
                time.sleep(0.05)
            raise RuntimeError(f"daemon did not start: {self.output()}")
        except BaseException:
            # Never leave a daemon or its log behind for a later test to trip over.
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.log.close()
            raise

    def output(self) -> str:
        return (self.state_dir.parent / "daemon.log").read_text("utf-8", "replace")

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, f"GET {path}: {status} {body}"
        return body

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Return (status, JSON body) for any status; the connection is always closed."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as err:
            # An HTTPError holds the open response; closing it here keeps the socket from
            # leaking into a later test as a ResourceWarning.
            with err:
                return err.code, json.load(err)

    def signal(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge.cli", *args, "--config", str(self.config_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
