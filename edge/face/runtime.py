"""Face recognition inside the daemon: the worker pool, the service and the camera loops.

``EdgeApp._face_ctx`` starts a ``FaceRuntime`` when ``[face] enabled = true``. A runtime that
cannot start (models missing, key file unreadable) logs why and leaves face recognition off;
the rest of the appliance runs on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import EdgeError
from ..sales import OutboxIdentity
from .greeting import lane_greeter
from .pool import ProcessAnalyzer
from .service import FaceService
from .types import Frame

if TYPE_CHECKING:
    from ..app import EdgeApp

_LOGGER = logging.getLogger(__name__)


class FaceRuntime:
    """What ``EdgeApp`` owns for face recognition."""

    def __init__(self, app: EdgeApp) -> None:
        self.app = app
        config = app.config.face
        self.analyzer = ProcessAnalyzer(
            detector=config.detector, workers=config.workers,
            job_timeout_s=config.job_timeout_ms / 1000,
            start_timeout_s=config.start_timeout_ms / 1000)
        self.service = FaceService(
            app.store, config, OutboxIdentity(app.config.store.id, app.config.store.device_id),
            self.analyzer, metrics=app.metrics)
        self.greet = lane_greeter(app.lanes, app.catalog)
        self.started = False

    async def start(self) -> bool:
        """Start the workers and the service; on failure log why and return False."""
        if self.app.store.safe_mode:
            _LOGGER.error("Face recognition is off: the database is in safe mode")
            return False
        try:
            await self.analyzer.start()
            await self.service.start()
        except EdgeError as err:
            _LOGGER.error("Face recognition is off: %s", err)
            await self.analyzer.stop()
            return False
        self.started = True
        return True

    async def stop(self) -> None:
        await self.analyzer.stop()

    def tasks(self) -> Iterator[tuple[str, Callable[[], Awaitable[None]]]]:
        """Yield (name, coroutine factory) for the tasks the app supervises."""
        yield "gallery", self.keep_gallery_fresh
        for camera_id in self.app.config.face.cameras:
            driver: Any = self.app.devices.get(camera_id)
            lane = next((d.lane for d in self.app.config.devices if d.id == camera_id), None)
            if driver is None or lane is None:
                _LOGGER.error("Face camera %s is not running; no recognition on it", camera_id)
                continue
            frames = getattr(driver, "frames", None)
            if not callable(frames):
                _LOGGER.error("Device %s gives no frames (not a camera driver); no face "
                              "recognition on it", camera_id)
                continue
            yield camera_id, functools.partial(self.watch, camera_id, lane, frames)

    async def watch(self, camera_id: str, lane_id: str,
                    frames: Callable[[], AsyncIterator[Frame]]) -> None:
        """Run one camera's recognition loop (the app supervises and restarts it)."""
        await self.service.watch(camera_id, lane_id, frames(), self.greet)

    async def keep_gallery_fresh(self) -> None:
        """Pick up templates other processes changed (CLI enrolment, sync deletions)."""
        while True:
            await asyncio.sleep(self.app.config.face.gallery_refresh_ms / 1000)
            await self.service.refresh()
