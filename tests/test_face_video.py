"""A kiosk camera as the shopper meets it: the corpus clip, a held-up photo, a looped video.

The gallery holds every corpus identity. The clip's main face is Lin-Manuel Miranda; the
frames are fed as a camera would hand them over and analysed by the real engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from edge.face.engine import Job
from edge.face.service import FaceService, Recognition
from edge.face.session import Step
from edge.face.types import Analysis, Frame, Image
from edge.store import Store
from tests.conftest import CORPUS
from tests.face_clips import (
    ENROL,
    VideoFrame,
    clip_fps,
    clip_frames,
    copy_state,
    enrol_corpus,
    face_service,
    held_photo,
    paced,
    photo_in_frame,
    read_clip,
    realtime,
)

LIN = "M-LIN"


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"test corpus not found at {CORPUS} (it lives in ../shared beside the clone)")
    folder = tmp_path_factory.mktemp("enrolled")
    asyncio.run(enrol_corpus(folder, CORPUS))
    return folder


@pytest.fixture
async def service(enrolled: Path, tmp_path: Path) -> AsyncIterator[FaceService]:
    copy_state(enrolled, tmp_path)
    store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await store.open()
    service = face_service(store, tmp_path)
    await service.start()
    yield service
    await store.close()


class Watch:
    """What one camera loop did: the greetings and every analysed frame's step."""

    def __init__(self) -> None:
        self.greeted: list[Recognition] = []
        self.steps: list[tuple[int, Step]] = []

    async def greet(self, recognition: Recognition) -> None:
        self.greeted.append(recognition)

    def step(self, frame: Frame, step: Step) -> None:
        self.steps.append((frame.seq, step))

    @property
    def named(self) -> set[str]:
        return {s.member_id for _, s in self.steps if s.member_id is not None}

    @property
    def liveness(self) -> set[str]:
        return {s.liveness for _, s in self.steps if s.liveness is not None}


async def run(service: FaceService, frames: AsyncIterator[VideoFrame]) -> Watch:
    watch = Watch()
    await service.watch("cam-1", "1", frames, watch.greet, watch.step)
    return watch


async def test_the_clip_greets_him_once_and_names_nobody_else(
        service: FaceService, corpus: Path) -> None:
    watch = await run(service, clip_frames(corpus))
    assert [g.member_id for g in watch.greeted] == [LIN]
    assert watch.greeted[0].lane_id == "1"
    assert watch.named == {LIN}
    # He is greeted only after several agreeing frames and a live face, not on first sight.
    first_named = next(seq for seq, s in watch.steps if s.member_id == LIN)
    greeted_at = next(seq for seq, s in watch.steps if s.greet == LIN)
    assert greeted_at > first_named
    # The audience at the end is somebody else: never named.
    assert any(seq > 210 and s.outcome != "no_face" for seq, s in watch.steps)
    assert all(s.member_id is None for seq, s in watch.steps if seq > 210)


async def test_an_unknown_face_stays_unknown(service: FaceService, corpus: Path) -> None:
    await service.withdraw(LIN, "console:admin")  # now he is a stranger to the gallery
    assert len(service.gallery.members) == len(ENROL) - 1
    watch = await run(service, clip_frames(corpus))
    assert watch.greeted == []
    assert watch.named == set()
    assert sum(s.outcome == "unknown" for _, s in watch.steps) > 20


async def test_a_still_photo_repeated_as_frames_never_passes(
        service: FaceService, corpus: Path) -> None:
    frame = photo_in_frame(corpus, ENROL[LIN], face_px=160)
    watch = await run(service, paced([frame] * 120, clip_fps(corpus)))
    assert LIN in watch.named          # recognised ...
    assert watch.greeted == []         # ... but never greeted: it never blinks
    assert "passed" not in watch.liveness
    assert watch.steps[-1][1].liveness == "no_blink"


async def test_a_photo_held_up_and_moved_never_passes(
        service: FaceService, corpus: Path) -> None:
    frame = photo_in_frame(corpus, ENROL[LIN], face_px=160)
    watch = await run(service, paced(held_photo(frame, 150, seed=7), clip_fps(corpus)))
    assert LIN in watch.named
    assert watch.greeted == []
    assert "passed" not in watch.liveness


async def test_the_clip_looped_never_passes(service: FaceService, corpus: Path) -> None:
    # One second of him on stage, eyelids moving, played over and over like a looped video.
    loop = list(range(96, 127)) * 6
    watch = await run(service, clip_frames(corpus, loop))
    assert LIN in watch.named
    assert watch.greeted == []
    assert "passed" not in watch.liveness
    assert "replay" in watch.liveness


class InFlight:
    """The service's analyzer, counting how many jobs run at once."""

    def __init__(self, service: FaceService) -> None:
        self.inner = service.analyzer
        self.now = self.most = self.calls = 0

    async def start(self) -> None:
        await self.inner.start()

    async def analyse(self, image: Image, job: Job) -> Analysis:
        self.now += 1
        self.most, self.calls = max(self.most, self.now), self.calls + 1
        try:
            return await self.inner.analyse(image, job)
        finally:
            self.now -= 1

    async def stop(self) -> None:
        await self.inner.stop()


@pytest.fixture
def clip_images(corpus: Path) -> Iterator[list[Image]]:
    frames = read_clip(corpus, set(range(82, 150)))
    yield [frames[i] for i in sorted(frames)]


async def test_one_job_at_a_time_and_the_newest_frame_wins(
        service: FaceService, corpus: Path, clip_images: list[Image]) -> None:
    probe = InFlight(service)
    service.analyzer = probe
    watch = await run(service, realtime(clip_images, clip_fps(corpus)))
    assert probe.most == 1
    seqs = [seq for seq, _ in watch.steps]
    assert seqs == sorted(set(seqs))   # never an older frame after a newer one


async def test_frames_that_waited_too_long_are_skipped(
        service: FaceService, clip_images: list[Image]) -> None:
    probe = InFlight(service)
    service.analyzer = probe
    service.config = dataclasses.replace(service.config, max_frame_age_ms=1000)

    async def queued() -> AsyncIterator[VideoFrame]:
        for seq, image in enumerate(clip_images[:10]):
            yield VideoFrame("cam-1", seq, 0.0 + seq, image)  # captured long ago

    watch = await run(service, queued())
    assert probe.calls == 0 and watch.steps == []
