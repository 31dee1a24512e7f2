"""Cameras through OpenCV: frames for face recognition, barcodes and QR codes for the lanes.

A source is a device index (``0``), a device path (``/dev/v4l/by-id/usb-...-video-index0``), a
stream URL (``rtsp://``, ``http://``) or a video file (looped by default, for demos and tests).

A capture thread reads frames (OpenCV blocks) and hands them to the event loop, which:

- gives every ``frames()`` subscriber the newest frame (a queue of one: newest wins), so a slow
  face pipeline never makes the camera lag;
- puts the frame on a bounded decode queue that drops the oldest frame, where one task decodes
  barcodes in a thread (``drivers.vision``). A code seen in consecutive frames is reported once;
  it is reported again only after it was out of sight for ``hold_ms``;
- watches for silence: no frame for ``no_frame_timeout_ms`` means error, and the capture is
  reopened with exponential backoff (a camera unplugged, a stream gone, a file that yields
  nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from . import options as opt
from .base import (
    DeviceConfig,
    DeviceConfigError,
    DeviceState,
    Driver,
    TestResult,
    validate_scan_text,
)
from .vision import EXTRA_PASSES, DecodedCode, DecodeOptions, decode_image

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured picture; ``image`` is BGR, uint8, height x width x 3."""

    device_id: str
    seq: int
    captured_at: float
    image: npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class CameraOptions:
    source: int | str
    loop: bool
    realtime: bool
    decode_codes: bool
    decode_passes: int
    hold: float
    no_frame_timeout: float
    open_timeout: float
    reconnect_min: float
    reconnect_max: float
    decode_queue: int
    width: int | None
    height: int | None


def parse_source(options: Mapping[str, Any]) -> int | str:
    source = options.get("source")
    if isinstance(source, int) and not isinstance(source, bool):
        if not 0 <= source <= 63:
            raise DeviceConfigError("source", "a device index is 0-63")
        return source
    if not isinstance(source, str) or not source or len(source) > 1024:
        raise DeviceConfigError("source", "a device index, a /dev/v4l/by-id path, an rtsp:// "
                                "or http:// URL, or a video file is required")
    return source


def is_stream(source: int | str) -> bool:
    return isinstance(source, str) and source.split("://", 1)[0] in ("rtsp", "http", "https")


def is_device(source: int | str) -> bool:
    return isinstance(source, int) or source.startswith("/dev/")


class _Capture(threading.Thread):
    """Reads frames in its own thread until told to stop or the source fails."""

    def __init__(self, camera: Camera, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name=f"camera:{camera.device_id}", daemon=True)
        self._camera = camera
        self._loop = loop
        self.stopping = threading.Event()

    def _post(self, callback: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody is listening
            self._loop.call_soon_threadsafe(self._camera._from_capture, self, callback, *args)

    def run(self) -> None:
        options = self._camera.options
        try:
            capture = _open(options)
        except Exception as err:  # OpenCV raises cv2.error and more on bad sources
            self._post(self._camera._capture_failed, f"cannot open {options.source}: {err}")
            return
        try:
            if not capture.isOpened():
                self._post(self._camera._capture_failed, f"cannot open {options.source}")
                return
            fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
            self._post(self._camera._capture_opened, capture.getBackendName(), fps)
            self._read_all(capture, fps)
        finally:
            capture.release()

    def _read_all(self, capture: Any, fps: float) -> None:
        options = self._camera.options
        pace = 1.0 / fps if options.realtime and fps > 0 and not is_device(options.source) \
            and not is_stream(options.source) else 0.0
        seq, frames_in_pass = 0, 0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            ok, image = capture.read()
            if not ok or image is None:
                if options.loop and frames_in_pass and not is_device(options.source) \
                        and not is_stream(options.source):
                    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    frames_in_pass = 0
                    continue
                reason = "the source yields no frames" if not frames_in_pass else "end of video"
                self._post(self._camera._capture_failed, reason)
                return
            seq += 1
            frames_in_pass += 1
            self._post(self._camera._deliver, Frame(self._camera.device_id, seq, time.time(),
                                                    np.ascontiguousarray(image)))
            if pace:
                next_at += pace
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stopping.wait(delay)
                else:
                    next_at = time.monotonic()


def _open(options: CameraOptions) -> Any:
    source = options.source
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(options.open_timeout * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(options.no_frame_timeout * 1000)]
    if is_device(source):
        capture = cv2.VideoCapture(source, cv2.CAP_V4L2, params)
        if options.width and options.height:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, options.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, options.height)
        return capture
    if is_stream(source):
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    return cv2.VideoCapture(source)


class Camera(Driver):
    """A camera: frames for subscribers, and scans of the codes it sees."""

    name = "camera"
    queue_size = 64

    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(config)
        self.options = self.parse_options(config.options)
        self._decode_options = DecodeOptions(extra_passes=self.options.decode_passes)
        self._capture: _Capture | None = None
        self._task: asyncio.Task[None] | None = None
        self._decoder: asyncio.Task[None] | None = None
        self._subscribers: set[asyncio.Queue[Frame]] = set()
        self._to_decode: asyncio.Queue[Frame] = asyncio.Queue(self.options.decode_queue)
        self._latest: Frame | None = None
        self._last_frame_at = 0.0
        self._failed: asyncio.Event = asyncio.Event()
        self._failure = ""
        self._seen: dict[tuple[str, str], float] = {}
        self.frames_captured = 0
        self.frames_dropped = 0

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> CameraOptions:
        opt.only(options, {"source", "loop", "realtime", "decode_codes", "decode_passes",
                           "hold_ms", "no_frame_timeout_ms", "open_timeout_ms",
                           "reconnect_min_ms", "reconnect_max_ms", "decode_queue", "width",
                           "height"})
        width = options.get("width")
        height = options.get("height")
        if (width is None) != (height is None):
            raise DeviceConfigError("width" if width is None else "height",
                                    "give width and height together")
        low = opt.seconds(options, "reconnect_min_ms", 1000, 10, 600_000)
        high = opt.seconds(options, "reconnect_max_ms", 30_000, 10, 3_600_000)
        if high < low:
            raise DeviceConfigError("reconnect_max_ms", "must not be below reconnect_min_ms")
        return CameraOptions(
            source=parse_source(options),
            loop=opt.boolean(options, "loop", True),
            realtime=opt.boolean(options, "realtime", True),
            decode_codes=opt.boolean(options, "decode_codes", True),
            decode_passes=opt.integer(options, "decode_passes", 2, 0, len(EXTRA_PASSES)),
            hold=opt.seconds(options, "hold_ms", 2000, 0, 600_000),
            no_frame_timeout=opt.seconds(options, "no_frame_timeout_ms", 5000, 50, 600_000),
            open_timeout=opt.seconds(options, "open_timeout_ms", 10_000, 50, 600_000),
            reconnect_min=low, reconnect_max=high,
            decode_queue=opt.integer(options, "decode_queue", 2, 1, 64),
            width=None if width is None else opt.integer(options, "width", 640, 16, 8192),
            height=None if height is None else opt.integer(options, "height", 480, 16, 8192),
        )

    # -- lifecycle ----------------------------------------------------------------------

    async def _open(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"camera:{self.device_id}")
        if self.options.decode_codes:
            self._decoder = asyncio.create_task(self._decode_loop(),
                                                name=f"camera-decode:{self.device_id}")

    async def _close(self) -> None:
        for task in (self._task, self._decoder):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._decoder = None
        await self._stop_capture()

    async def _run(self) -> None:
        delay = 0.0
        while True:
            self._failed.clear()
            self._failure = ""
            started = asyncio.get_running_loop().time()
            self._start_capture()
            reason = await self._watch()
            await self._stop_capture()
            if asyncio.get_running_loop().time() - started > self.options.reconnect_max:
                delay = 0.0
            delay = min(max(delay * 2, self.options.reconnect_min), self.options.reconnect_max)
            self._set_state(DeviceState.ERROR, f"{reason}; retrying in {delay:g} s")
            await asyncio.sleep(delay)

    def _start_capture(self) -> None:
        self._last_frame_at = asyncio.get_running_loop().time()
        self._capture = _Capture(self, asyncio.get_running_loop())
        self._capture.start()

    async def _stop_capture(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.stopping.set()
            # A read can block up to the read timeout; the thread is a daemon either way.
            await asyncio.to_thread(capture.join, self.options.no_frame_timeout + 1)

    async def _watch(self) -> str:
        """Return why the capture stopped: it failed, or it went silent."""
        loop = asyncio.get_running_loop()
        while True:
            silent_for = loop.time() - self._last_frame_at
            wait = self.options.no_frame_timeout - silent_for
            if wait <= 0:
                return f"no frames for {self.options.no_frame_timeout:g} s"
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._failed.wait()
            if self._failed.is_set():
                return self._failure

    # -- called on the loop by the capture thread ----------------------------------------

    def _from_capture(self, capture: _Capture, callback: Any, *args: Any) -> None:
        if capture is self._capture:  # news from a capture already stopped is stale
            callback(*args)

    def _capture_opened(self, backend: str, fps: float) -> None:
        self._detail.update(backend=backend, fps=round(fps, 2), source=str(self.options.source))
        _LOGGER.info("Device %s: capturing from %s (%s)", self.device_id, self.options.source,
                     backend)
        self._set_state(DeviceState.IDLE)

    def _capture_failed(self, reason: str) -> None:
        self._failure = reason
        self._failed.set()

    def _deliver(self, frame: Frame) -> None:
        self._last_frame_at = asyncio.get_running_loop().time()
        self._last_seen = frame.captured_at
        self._latest = frame
        self.frames_captured += 1
        if self.frames_captured == 1 or self._state is not DeviceState.IDLE:
            height, width = frame.image.shape[:2]
            self._detail.update(width=width, height=height)
            self._set_state(DeviceState.IDLE)
        for queue in self._subscribers:
            _put_newest(queue, frame)
        if self.options.decode_codes and _put_newest(self._to_decode, frame):
            self.frames_dropped += 1

    # -- frames and codes ---------------------------------------------------------------

    async def frames(self) -> AsyncGenerator[Frame, None]:
        """Yield the newest frame each time one arrives; frames the consumer missed are gone."""
        queue: asyncio.Queue[Frame] = asyncio.Queue(1)
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

    async def _decode_loop(self) -> None:
        while True:
            frame = await self._to_decode.get()
            try:
                codes = await asyncio.to_thread(decode_image, frame.image, self._decode_options)
            except Exception:  # a decoding failure costs this frame, never the camera
                _LOGGER.exception("Device %s: decoding frame %d failed", self.device_id,
                                  frame.seq)
                continue
            self._report(codes, frame.captured_at)

    def _report(self, codes: list[DecodedCode], at: float) -> None:
        hold = self.options.hold
        for key in [k for k, seen in self._seen.items() if at - seen > hold]:
            del self._seen[key]
        for code in codes:
            key = (code.symbology, code.text)
            fresh = key not in self._seen
            self._seen[key] = at
            if fresh:
                self._emit(validate_scan_text(self.device_id, code.text,
                                              raw=code.text.encode("utf-8", "replace"),
                                              symbology=code.aim))

    async def grab(self, within: float = 5.0) -> Frame:
        """Return the next frame (or raise TimeoutError)."""
        frames = self.frames()
        try:
            async with asyncio.timeout(within):
                return await anext(frames)
        finally:
            await frames.aclose()

    async def test(self) -> TestResult:
        try:
            frame = await self.grab(self.options.no_frame_timeout)
        except TimeoutError:
            status = self.status
            return TestResult(False, status.reason or "no frame", dict(status.detail))
        codes = await asyncio.to_thread(decode_image, frame.image, self._decode_options)
        height, width = frame.image.shape[:2]
        found = ", ".join(f"{c.symbology} {c.text[:40]}" for c in codes) or "no code"
        return TestResult(True, f"{width}x{height} frame; {found}",
                          {"width": width, "height": height,
                           "codes": [c.as_dict() for c in codes]})


def _put_newest(queue: asyncio.Queue[Frame], frame: Frame) -> bool:
    """Put ``frame``, dropping the oldest when full; return whether one was dropped."""
    dropped = False
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
            dropped = True
    queue.put_nowait(frame)
    return dropped
