"""Devices inside the daemon: weights reach EdgeApp, a broken device never stops the others."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base import ScaleState
from drivers.registry import DRIVERS
from drivers.sim_scale import send_weight
from edge.app import EdgeApp
from edge.config import default_config_text, load_config
from tests.devices import wait_for
from tests.helpers import WATER, Daemon, write_config

DEVICES = """
[[devices]]
id = "scale-1"
driver = "sim_scale"
lane = "1"
[devices.options]
control = "{{run_dir}}/scale-1.sock"
poll_interval_ms = 20

[[devices]]
id = "serial-2"
driver = "serial_scanner"
lane = "2"
[devices.options]
port = "{missing}"
reconnect_min_ms = 50
reconnect_max_ms = 200

[[devices]]
id = "gun-2"
driver = "hid"
lane = "2"
[devices.options]
by_id = "usb-Acme_Barcode_Scanner_SN1-event-kbd"
by_id_dir = "{by_id}"
rescan_interval_ms = 50
"""


def devices_config(tmp_path: Path) -> Path:
    (tmp_path / "by-id").mkdir()
    return write_config(tmp_path, extra=DEVICES.format(
        missing=tmp_path / "ttyUSB-not-plugged", by_id=tmp_path / "by-id"))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(devices_config(tmp_path), tmp_path / "state").start()
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.signal(signal.SIGTERM)


def poll(daemon: Daemon, what: str, check: Callable[[Any], bool],
         within: float = 15.0) -> Any:
    """Return /api/status once ``check`` holds for it (bounded; fails naming ``what``)."""
    deadline = time.monotonic() + within
    while True:
        status = daemon.get("/api/status")
        if check(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}; last status: {status}")
        time.sleep(0.05)


def device(status: Any, device_id: str) -> Any:
    return next(d for d in status["devices"] if d["device_id"] == device_id)


def test_weights_reach_the_daemon_and_a_broken_device_stops_nothing(
        daemon: Daemon, tmp_path: Path) -> None:
    status = poll(daemon, "the scale idle", lambda s: device(s, "scale-1")["state"] == "idle")
    serial = device(status, "serial-2")
    assert serial["state"] == "error"
    assert "cannot open" in serial["reason"] and "ttyUSB-not-plugged" in serial["reason"]
    gun = device(status, "gun-2")
    assert gun["state"] == "error"
    assert gun["reason"] == "no device matches by_id=usb-Acme_Barcode_Scanner_SN1-event-kbd; " \
        "waiting"

    control = tmp_path / "state" / "run" / "scale-1.sock"
    assert asyncio.run(send_weight(control, "1250")) == "OK 1250 stable"
    status = poll(daemon, "1250 g in the daemon",
                  lambda s: s["weights"].get("scale-1", {}).get("grams") == 1250)
    assert status["weights"]["scale-1"]["state"] == "stable"
    asyncio.run(send_weight(control, "1250 motion"))
    poll(daemon, "motion", lambda s: s["weights"]["scale-1"]["state"] == "motion")

    result = daemon.cli("scan", WATER, "--lane", "1")     # the other devices still work
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in daemon.output()


async def test_edge_app_keeps_the_last_weight_and_tests_devices(tmp_path: Path) -> None:
    app = EdgeApp(load_config(devices_config(tmp_path)))
    await app.start()
    try:
        control = app.config.paths.run_dir / "scale-1.sock"
        await send_weight(control, "730")
        await wait_for(lambda: "scale-1" in app.last_weight
                       and app.last_weight["scale-1"].grams == 730, "the reading")
        lane = app.lanes["1"]
        assert lane.last_weight is not None
        assert (lane.last_weight.grams, lane.last_weight.state) == (730, ScaleState.STABLE)

        scale = await app.test_device("scale-1")
        assert scale.ok and "730 g" in scale.message
        broken = await app.test_device("serial-2")
        assert not broken.ok and "cannot open" in broken.message
        gone = await app.test_device("printer-9")
        assert (gone.ok, gone.message) == (False, "no such device")
    finally:
        await app.stop()


def test_every_registered_driver_loads_under_its_name() -> None:
    assert sorted(DRIVERS) == ["camera", "hid", "printer", "scale", "serial_scanner",
                               "sim_scale", "sim_scanner"]
    for name in DRIVERS:
        assert DRIVERS[name].name == name


def test_every_commented_device_example_in_the_default_config_loads(tmp_path: Path) -> None:
    text = default_config_text()
    examples = re.findall(r"^# \[\[devices\]\]\n(?:^# .*\n)+", text, re.MULTILINE)
    assert len(examples) == 5
    uncommented = "\n".join(
        "\n".join(line[2:] for line in block.splitlines() if not line.startswith("# #"))
        for block in examples)
    path = tmp_path / "storeedge.toml"
    path.write_text(text + "\n" + uncommented, "utf-8")
    config = load_config(path)
    assert [d.driver for d in config.devices][-5:] == [
        "hid", "serial_scanner", "scale", "camera", "printer"]
    assert {d.driver for d in config.devices} == set(DRIVERS)
