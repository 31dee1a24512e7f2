"""Scales: both protocols frame by frame, then the driver against a simulated scale on a pty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base import (
    DeviceConfig,
    DeviceConfigError,
    DeviceState,
    ScaleState,
    ScanData,
    WeightReading,
)
from drivers.scale import Scale
from drivers.scale_protocols import (
    PROTOCOLS,
    LabelFrame,
    ProtocolError,
    ScaleFrame,
    SingleCable,
    Toledo8217,
)
from drivers.sim_scale import PtyScale, ScaleFirmware, SimScale, send_weight
from tests.conftest import hw_option
from tests.devices import next_event, wait_state

# -- the protocols, frame by frame ------------------------------------------------------------


@pytest.mark.parametrize(("frame", "expected"), [
    (b"01.234", ScaleFrame(ScaleState.STABLE, 1234)),
    (b"00.000", ScaleFrame(ScaleState.ZERO, 0)),
    (b"12.345N", ScaleFrame(ScaleState.STABLE, 12345, "net")),
    (b"?A", ScaleFrame(ScaleState.MOTION)),                    # 0x41: bit 0
    (b"?B", ScaleFrame(ScaleState.OVER_CAPACITY)),             # 0x42: bit 1
    (b"?D", ScaleFrame(ScaleState.UNDER_ZERO)),                # 0x44: bit 2
    (b"?H", ScaleFrame(ScaleState.ERROR, 0, "outside zero capture range")),
    (b"?P", ScaleFrame(ScaleState.ZERO)),                      # 0x50: centre of zero
    (b"?\xc1", ScaleFrame(ScaleState.MOTION)),                 # parity bit set on a 7E1 line
])
def test_toledo_8217_frames(frame: bytes, expected: ScaleFrame) -> None:
    assert Toledo8217("kg").parse(frame) == expected


def test_toledo_8217_in_pounds_becomes_grams() -> None:
    assert Toledo8217("lb").parse(b"002.72") == ScaleFrame(ScaleState.STABLE, 1234)
    assert Toledo8217("lb").parse(b"001.00") == ScaleFrame(ScaleState.STABLE, 454)


@pytest.mark.parametrize(("frame", "expected"), [
    (b"S14401250", ScaleFrame(ScaleState.STABLE, 1250)),
    (b"S1440272", ScaleFrame(ScaleState.STABLE, 1234)),        # 2.72 lb
    (b"S1101250", ScaleFrame(ScaleState.STABLE, 1250)),
    (b"S140", ScaleFrame(ScaleState.ERROR, 0, "not ready: cannot find zero")),
    (b"S141", ScaleFrame(ScaleState.MOTION)),
    (b"S142", ScaleFrame(ScaleState.OVER_CAPACITY)),
    (b"S143", ScaleFrame(ScaleState.ZERO)),
    (b"S145", ScaleFrame(ScaleState.UNDER_ZERO)),
    (b"S08F6901234500011", LabelFrame("6901234500011", "]E0")),
    (b"S08FF12345670", LabelFrame("12345670", "]E4")),
    (b"S08B3ABC-123", LabelFrame("ABC-123", "]C0")),
])
def test_single_cable_frames(frame: bytes, expected: ScaleFrame | LabelFrame) -> None:
    assert SingleCable().parse(frame) == expected


@pytest.mark.parametrize("frame", [b"", b"?", b"?AB", b"?\x01", b"1.2.3", b"12,345", b"-1.000",
                                   b"abc"])
def test_toledo_garbage_is_a_protocol_error(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        Toledo8217().parse(frame)


@pytest.mark.parametrize("frame", [b"", b"S14", b"S149", b"S144abcde", b"S144123456", b"X11",
                                   b"S08F\xff"])
def test_single_cable_garbage_is_a_protocol_error(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        SingleCable().parse(frame)


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@pytest.mark.parametrize(("state", "grams"), [
    (ScaleState.STABLE, 1250), (ScaleState.ZERO, 0), (ScaleState.MOTION, 0),
    (ScaleState.OVER_CAPACITY, 0), (ScaleState.UNDER_ZERO, 0)])
def test_what_the_simulator_answers_the_driver_reads(name: str, state: ScaleState,
                                                     grams: int) -> None:
    protocol = PROTOCOLS[name]("kg")
    reply = protocol.answer(protocol.weight_request().rstrip(b"\r"), state, grams)
    assert reply is not None
    frame = reply.strip(b"\x02\r")
    assert protocol.parse(frame) == ScaleFrame(state, grams)


# -- the driver over a pty ---------------------------------------------------------------------

def scale_config(port: str, protocol: str, **options: Any) -> DeviceConfig:
    # 8N1: this kernel's ptys refuse 7 data bits and parity (the scales' own 7E1 default).
    return DeviceConfig("scale-1", "scale", "1", {
        "port": port, "protocol": protocol, "bytesize": 8, "parity": "none",
        "poll_interval_ms": 10, "response_timeout_ms": 200, "max_missed": 2,
        "reconnect_min_ms": 20, "reconnect_max_ms": 100, **options})


@pytest.fixture(params=sorted(PROTOCOLS))
async def rig(request: pytest.FixtureRequest,
              tmp_path: Path) -> AsyncIterator[tuple[ScaleFirmware, PtyScale, Scale]]:
    protocol = str(request.param)
    firmware = ScaleFirmware(PROTOCOLS[protocol]("kg"))
    link = tmp_path / "serial" / "by-id" / "usb-Acme_Scale-if00"
    async with PtyScale(firmware, link) as pty, Scale(scale_config(str(link), protocol)) as scale:
        yield firmware, pty, scale


async def reading(scale: Scale) -> tuple[int, ScaleState]:
    event = await next_event(scale)
    assert isinstance(event, WeightReading), event
    return event.grams, event.state


async def test_every_state_reaches_the_driver_as_a_reading(
        rig: tuple[ScaleFirmware, PtyScale, Scale]) -> None:
    firmware, _, scale = rig
    assert scale.status.state is DeviceState.IDLE
    assert await reading(scale) == (0, ScaleState.ZERO)
    for grams, state in [(1250, ScaleState.STABLE), (0, ScaleState.MOTION),
                         (0, ScaleState.OVER_CAPACITY), (0, ScaleState.UNDER_ZERO),
                         (2, ScaleState.STABLE), (0, ScaleState.ZERO)]:
        firmware.set(grams, state)
        assert await reading(scale) == (grams, state)
    assert scale.status.detail["last_weight"]["state"] == "zero"
    result = await scale.test()
    assert result.ok and "0 g, zero" in result.message


async def test_a_scale_that_stops_answering_is_an_error_until_it_answers(
        rig: tuple[ScaleFirmware, PtyScale, Scale]) -> None:
    firmware, _, scale = rig
    await reading(scale)
    firmware.answering = False
    await wait_state(scale, DeviceState.ERROR, "no answer to 2 weight requests")
    firmware.answering = True
    firmware.set(730)
    await wait_state(scale, DeviceState.IDLE)
    assert await reading(scale) == (730, ScaleState.STABLE)


async def test_unplugged_scale_reconnects_and_reports_again(
        rig: tuple[ScaleFirmware, PtyScale, Scale]) -> None:
    firmware, pty, scale = rig
    await reading(scale)
    firmware.set(500)
    assert await reading(scale) == (500, ScaleState.STABLE)
    pty.close()
    await wait_state(scale, DeviceState.ERROR)
    assert scale.status.reason is not None
    async with PtyScale(firmware, pty.link):
        await wait_state(scale, DeviceState.IDLE)
        assert await reading(scale) == (500, ScaleState.STABLE)


async def test_garbage_from_the_scale_is_skipped(
        rig: tuple[ScaleFirmware, PtyScale, Scale]) -> None:
    firmware, pty, scale = rig
    await reading(scale)
    pty.send(b"\x02#garbage\r\xff\xfe\rS149\r")
    firmware.set(321)
    assert await reading(scale) == (321, ScaleState.STABLE)
    assert "last_error" in scale.status.detail


async def test_scanner_scale_barcodes_arrive_as_scans(tmp_path: Path) -> None:
    firmware = ScaleFirmware(SingleCable())
    async with PtyScale(firmware) as pty, Scale(scale_config(pty.port, "sci")) as scale:
        await reading(scale)
        pty.send(SingleCable.label("6901234500011"))
        event = await next_event(scale)
        assert isinstance(event, ScanData)
        assert (event.symbology, event.text) == ("]E0", "6901234500011")


async def test_toledo_zero_command(tmp_path: Path) -> None:
    firmware = ScaleFirmware(Toledo8217())
    async with PtyScale(firmware) as pty, Scale(scale_config(pty.port, "toledo8217")) as scale:
        await reading(scale)
        firmware.set(120)
        assert await reading(scale) == (120, ScaleState.STABLE)
        assert await scale.zero()
        assert await reading(scale) == (0, ScaleState.ZERO)


async def test_simulated_scale_driver_and_its_control_socket(tmp_path: Path) -> None:
    control = tmp_path / "run" / "scale.sock"
    config = DeviceConfig("sim-scale", "sim_scale", "1", {
        "control": str(control), "protocol": "toledo8217", "poll_interval_ms": 10})
    async with SimScale(config) as scale:
        assert await reading(scale) == (0, ScaleState.ZERO)
        assert await send_weight(control, "1500") == "OK 1500 stable"
        assert await reading(scale) == (1500, ScaleState.STABLE)
        assert await send_weight(control, "1500 motion") == "OK 1500 motion"
        assert await reading(scale) == (0, ScaleState.MOTION)
        assert (await send_weight(control, "heavy")).startswith("ERROR")
    assert not control.exists()


@pytest.mark.parametrize(("options", "key"), [
    ({"port": "/dev/ttyS0", "protocol": "cas"}, "protocol"),
    ({"port": "/dev/ttyS0", "unit": "oz"}, "unit"),
    ({"port": "/dev/ttyS0", "poll_interval_ms": 0}, "poll_interval_ms"),
    ({"protocol": "sci"}, "port"),
])
def test_bad_options_name_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(DeviceConfigError) as info:
        Scale.parse_options(options)
    assert info.value.key == key


async def test_hw_scale(request: pytest.FixtureRequest) -> None:
    """With --hw-scale=URL (Toledo 8217, 9600 7E1): the real scale answers with a reading."""
    url = hw_option(request.config, "--hw-scale")
    config = DeviceConfig("hw-scale", "scale", None, {"port": url, "protocol": "toledo8217"})
    async with Scale(config) as scale:
        assert scale.status.state is DeviceState.IDLE, scale.status.reason
        event = await next_event(scale, within=10)
        assert isinstance(event, WeightReading), event
