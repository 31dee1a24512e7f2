"""Camera stand-ins for the face tests: the corpus video clip, a still photo, a held photo.

Each yields frames shaped like ``drivers.camera.Frame`` (device id, seq, capture time, BGR
image). Paced sources hand over the next frame when asked — every frame is analysed, so a test
sees the same frames on every machine — and stamp each with the time a camera playing the clip
would have captured it. The real-time source behaves like a newest-frame-wins camera: when the
consumer is slow, the frames it missed are gone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.face.config import FaceConfig
from edge.face.engine import FaceEngine, Job, read_photo
from edge.face.pool import InlineAnalyzer
from edge.face.service import FaceService
from edge.sales import OutboxIdentity
from edge.store import Store

CLIP = Path("faces/video/short_hamilton_clip.mp4")
# One enrolment photo per identity in the corpus, and the member each becomes in the tests.
ENROL = {
    "M-ALEX": "faces/alex_lacamoire/alex_lacamoire_1.png",
    "M-BIDEN": "faces/biden/biden_1.jpg",
    "M-KIT": "faces/kit_harington/kit_harington_1.jpg",
    "M-LIN": "faces/lin_manuel_miranda/lin_manuel_miranda_1.png",
    "M-OBAMA": "faces/obama/obama_1.jpg",
    "M-ROSE": "faces/rose_leslie/rose_leslie_1.jpg",
}

BGR = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class VideoFrame:
    device_id: str
    seq: int
    captured_at: float
    image: BGR


async def add_members(store: Store, member_ids: Sequence[str]) -> None:
    """Put members in the local member list, as the CRM's member stream would."""
    def write(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO members (id, name, phone, member_code, tier, points_balance,"
            " stored_value_fen, updated_at) VALUES (?, ?, ?, ?, 'standard', 0, 0, 'now')",
            [(m, m.removeprefix("M-").title(), f"1390000{i:04d}", f"9{i:07d}")
             for i, m in enumerate(member_ids)])
    await store.write(write)


def read_clip(corpus: Path, wanted: set[int] | None = None) -> dict[int, BGR]:
    """Decode the clip's frames (only ``wanted`` ones, if given) into memory."""
    capture = cv2.VideoCapture(str(corpus / CLIP))
    frames: dict[int, BGR] = {}
    try:
        index = 0
        while True:
            ok, image = capture.read()
            if not ok:
                break
            if wanted is None or index in wanted:
                frames[index] = np.asarray(image, dtype=np.uint8)
            index += 1
    finally:
        capture.release()
    return frames


def clip_fps(corpus: Path) -> float:
    capture = cv2.VideoCapture(str(corpus / CLIP))
    try:
        return float(capture.get(cv2.CAP_PROP_FPS)) or 30.0
    finally:
        capture.release()


async def paced(images: Sequence[BGR], fps: float, device_id: str = "cam-1"
                ) -> AsyncIterator[VideoFrame]:
    """Yield ``images`` in order, one each time the consumer asks, stamped at ``fps``."""
    start = time.time()
    for seq, image in enumerate(images):
        yield VideoFrame(device_id, seq, start + seq / fps, image)
        await asyncio.sleep(0)


async def clip_frames(corpus: Path, order: Sequence[int] | None = None,
                      device_id: str = "cam-1") -> AsyncIterator[VideoFrame]:
    """Yield the clip (or its frames in ``order``, e.g. a loop) paced by the consumer."""
    frames = await asyncio.to_thread(read_clip, corpus, None if order is None else set(order))
    sequence = [frames[i] for i in (order if order is not None else sorted(frames))]
    async for frame in paced(sequence, clip_fps(corpus), device_id):
        yield frame


async def realtime(images: Sequence[BGR], fps: float, device_id: str = "cam-1"
                   ) -> AsyncIterator[VideoFrame]:
    """Yield the frame a camera would show now; frames the consumer was too slow for are lost."""
    start = time.time()
    last = -1
    while True:
        index = int((time.time() - start) * fps)
        if index >= len(images):
            return
        if index == last:
            await asyncio.sleep((index + 1) / fps - (time.time() - start))
            continue
        last = index
        yield VideoFrame(device_id, index, start + index / fps, images[index])


@functools.cache
def engine() -> FaceEngine:
    """Return one engine for the whole test run (loading the models takes seconds)."""
    return FaceEngine("hog")


def photo_in_frame(corpus: Path, photo: str, face_px: int) -> BGR:
    """Return a 640x480 BGR frame showing ``photo``, its face ``face_px`` wide in the middle."""
    rgb = read_photo(corpus / photo)
    found = engine().analyse(rgb, Job(1, None, encode=False))
    assert found.dominant is not None, photo
    box = found.boxes[found.dominant]
    scale = face_px / box.width
    small = cv2.resize(np.ascontiguousarray(rgb[:, :, ::-1]), None, fx=scale, fy=scale,
                       interpolation=cv2.INTER_AREA)
    cx, cy = box.center
    matrix = np.array([[1.0, 0, 320 - cx * scale], [0, 1.0, 240 - cy * scale]])
    moved = cv2.warpAffine(small, matrix, (640, 480), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(moved, dtype=np.uint8)


def held_photo(frame: BGR, count: int, seed: int) -> list[BGR]:
    """Return ``count`` frames of a photo held in a hand: drifting, turning, tilting, noisy."""
    rng = np.random.default_rng(seed)
    h, w = frame.shape[:2]
    shift = np.zeros(2)
    frames = []
    for k in range(count):
        shift = 0.9 * shift + rng.normal(0, 1.5, 2)          # hand tremor, smooth
        angle = 3 * np.sin(k / 11) + rng.normal(0, 0.3)       # slow turning
        tilt = np.radians(30 * abs(np.sin(k / 17)))           # the photo tipped back and forth
        matrix = np.asarray(cv2.getRotationMatrix2D((w / 2, h / 2), angle,
                                                    1 + 0.03 * np.sin(k / 7)), dtype=np.float64)
        matrix[:, 2] += shift
        matrix[1] *= np.cos(tilt)
        matrix[1, 2] += h / 2 * (1 - np.cos(tilt))
        moved = cv2.warpAffine(frame, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
        noisy = moved.astype(np.float32) + rng.normal(0, 4, moved.shape)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return frames


IDENTITY = OutboxIdentity("T01", "lane-pc-1")


def face_config(state_dir: Path, **changes: Any) -> FaceConfig:
    """The default [face] config with the key in ``state_dir``, without the idle pause.

    Paced sources stamp frames with the clip's own clock, which runs slower than the wall
    clock while every frame is analysed, so the stale-frame guard is off unless a test asks.
    """
    base = FaceConfig(key_file=state_dir / "face.key", idle_interval_ms=0, max_frame_age_ms=0)
    return dataclasses.replace(base, **changes)


def face_service(store: Store, state_dir: Path, **changes: Any) -> FaceService:
    return FaceService(store, face_config(state_dir, **changes), IDENTITY,
                       InlineAnalyzer(engine=engine()))


async def enrol_corpus(folder: Path, corpus: Path) -> None:
    """Build a store in ``folder`` with every corpus identity consented and enrolled."""
    store = Store(folder / "edge.db", checkpoint_interval_s=0)
    await store.open()
    try:
        await add_members(store, list(ENROL))
        service = face_service(store, folder)
        await service.start()
        for member, photo in ENROL.items():
            await service.record_consent(member, service.texts.current, "store", lane="1",
                                         actor="kiosk:1")
            await service.enroll(member, [read_photo(corpus / photo)], actor="kiosk:1",
                                 source="kiosk:1")
    finally:
        await store.close()


def copy_state(source: Path, dest: Path) -> None:
    """Copy a prepared state folder (database and key) for one test to change freely."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        shutil.copy2(item, dest / item.name)
