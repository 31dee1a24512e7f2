"""Cameras over video files: frames for subscribers, codes reported once, silence and retry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import qrcode
import zxingcpp

from drivers.base import DeviceConfig, DeviceConfigError, DeviceState, ScanData
from drivers.camera import Camera, Frame
from tests.conftest import hw_option
from tests.devices import next_event, wait_for, wait_state

SIZE = (480, 360)


def camera(source: str | int, **options: Any) -> Camera:
    return Camera(DeviceConfig("cam-1", "camera", "1", {
        "source": source, "reconnect_min_ms": 50, "reconnect_max_ms": 200, **options}))


def _qr(text: str) -> np.ndarray:
    image = np.asarray(qrcode.make(text, box_size=6, border=4).get_image().convert("L"),
                       dtype=np.uint8)
    return _on_canvas(image)


def _ean13(text: str) -> np.ndarray:
    bars = np.asarray(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.EAN13).to_image(
        scale=3), dtype=np.uint8)
    return _on_canvas(bars)


def _on_canvas(gray: np.ndarray) -> np.ndarray:
    canvas = np.full((SIZE[1], SIZE[0]), 255, np.uint8)
    h, w = gray.shape
    y, x = (SIZE[1] - h) // 2, (SIZE[0] - w) // 2
    canvas[y:y + h, x:x + w] = gray
    return np.asarray(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, SIZE)
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def code_video(path: Path) -> Path:
    blank = np.full((SIZE[1], SIZE[0], 3), 255, np.uint8)
    return write_video(path, [_qr("MC10000001")] * 15 + [blank] * 15
                       + [_ean13("6901234500011")] * 15 + [blank] * 15)


async def test_the_clip_as_a_camera_feeds_every_subscriber_the_newest_frame(
        corpus: Path) -> None:
    clip = corpus / "faces" / "video" / "short_hamilton_clip.mp4"
    async with camera(str(clip), decode_codes=False) as cam:
        face_pipeline, preview = cam.frames(), cam.frames()
        try:
            first = await asyncio.wait_for(anext(face_pipeline), 10)
            await asyncio.sleep(0.3)       # a slow consumer: frames pile up, only the newest waits
            later = await asyncio.wait_for(anext(face_pipeline), 10)
            other = await asyncio.wait_for(anext(preview), 10)
        finally:
            await face_pipeline.aclose()
            await preview.aclose()
        assert isinstance(first, Frame) and first.device_id == "cam-1"
        assert first.image.shape == (360, 640, 3) and first.image.dtype == np.uint8
        assert later.seq > first.seq + 1 and later.captured_at > first.captured_at
        assert other.seq >= later.seq - 1
        assert cam.status.state is DeviceState.IDLE
        assert (cam.status.detail["width"], cam.status.detail["height"]) == (640, 360)
        with pytest.raises(AttributeError):
            first.seq = 0  # type: ignore[misc]


async def test_a_code_in_consecutive_frames_is_reported_once(tmp_path: Path) -> None:
    video = code_video(tmp_path / "codes.avi")
    async with camera(str(video), hold_ms=60_000) as cam:
        scans = [await next_event(cam), await next_event(cam)]
        assert [(s.symbology, s.text) for s in scans if isinstance(s, ScanData)] == [
            ("]Q1", "MC10000001"), ("]E0", "6901234500011")]
        frames_so_far = cam.frames_captured
        # The video loops: the same codes come back, still within the hold time.
        await wait_for(lambda: cam.frames_captured > frames_so_far + 70, "a second loop")
        assert cam._queue.empty()


async def test_a_code_is_reported_again_after_it_was_out_of_sight(tmp_path: Path) -> None:
    video = code_video(tmp_path / "codes.avi")
    async with camera(str(video), hold_ms=200) as cam:
        texts: list[str] = []
        while len(texts) < 3:
            event = await next_event(cam)
            assert isinstance(event, ScanData)
            texts.append(event.text)
        assert texts == ["MC10000001", "6901234500011", "MC10000001"]


async def test_a_file_that_yields_nothing_is_an_error_then_retried(tmp_path: Path) -> None:
    source = tmp_path / "camera.avi"
    source.write_bytes(b"")
    async with camera(str(source), decode_codes=False) as cam:
        await wait_state(cam, DeviceState.ERROR, "retrying in")
        assert "cannot open" in (cam.status.reason or "")
        write_video(tmp_path / "good.avi", [_qr("x")] * 5).replace(source)
        await wait_state(cam, DeviceState.IDLE)
        frame = await cam.grab()
        assert frame.image.shape == (360, 480, 3)


async def test_a_silent_source_is_an_error_and_is_reopened(tmp_path: Path) -> None:
    # One frame every 4 s played in real time: after the first, the camera is silent.
    video = write_video(tmp_path / "slow.avi", [_qr("x")] * 3, fps=0.25)
    async with camera(str(video), decode_codes=False, no_frame_timeout_ms=300) as cam:
        await wait_state(cam, DeviceState.ERROR, "no frames for 0.3 s; retrying in")
        first_pass = cam.frames_captured
        await wait_for(lambda: cam.frames_captured > first_pass, "the reopened capture")


async def test_the_test_action_grabs_a_frame_and_its_codes(tmp_path: Path) -> None:
    video = write_video(tmp_path / "one.avi", [_qr("CP20250101")] * 10)
    async with camera(str(video)) as cam:
        result = await cam.test()
    assert result.ok, result.message
    assert result.message == "480x360 frame; QRCODE CP20250101"
    assert result.detail["codes"] == [{"symbology": "QRCODE", "text": "CP20250101"}]


@pytest.mark.parametrize(("options", "key"), [
    ({}, "source"),
    ({"source": 99}, "source"),
    ({"source": 0, "width": 640}, "height"),
    ({"source": 0, "decode_passes": 99}, "decode_passes"),
    ({"source": 0, "fps": 30}, "fps"),
])
def test_bad_options_name_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(DeviceConfigError) as info:
        Camera.parse_options(options)
    assert info.value.key == key


async def test_hw_camera(request: pytest.FixtureRequest) -> None:
    """With --hw-camera=SRC: frames flow from the real camera and the Test action answers."""
    source: str | int = hw_option(request.config, "--hw-camera")
    if str(source).isdigit():
        source = int(source)
    async with camera(source, decode_codes=False) as cam:
        frame = await cam.grab(within=15)
        assert frame.image.ndim == 3
        assert (await cam.test()).ok
