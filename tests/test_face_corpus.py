"""Enrolment and identification on the corpus photos, as the kiosk and store IT use them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.audit import recent_audit
from edge.face.config import FaceConfig
from edge.face.engine import Job, read_photo
from edge.face.quality import dominant_face
from edge.face.service import FaceService
from edge.face.types import Box, EnrolmentRefused
from edge.store import Store
from tests.conftest import CORPUS
from tests.face_clips import (
    ENROL,
    add_members,
    copy_state,
    engine,
    enrol_corpus,
    face_service,
    photo_in_frame,
)

# Every photo not used for enrolment, and whose face it is.
OTHERS = {
    "faces/obama/obama_2.jpg": "M-OBAMA",
    "faces/obama/obama_3.jpg": "M-OBAMA",
    "faces/obama/obama_4.jpg": "M-OBAMA",
    "faces/obama/obama_480p.jpg": "M-OBAMA",
    "faces/obama/obama_small.jpg": "M-OBAMA",
    "faces/biden/biden_2.jpg": "M-BIDEN",
    "faces/alex_lacamoire/alex_lacamoire_2.jpg": "M-ALEX",
    "faces/alex_lacamoire/alex_lacamoire_3.jpg": "M-ALEX",
    "faces/kit_harington/kit_harington_2.jpg": "M-KIT",
    "faces/kit_harington/kit_harington_3.jpg": "M-KIT",
    "faces/rose_leslie/rose_leslie_2.jpg": "M-ROSE",
}
# The shopper in each group photo: the largest face, preferring the most central. In
# two_people the faces are the same height by their landmarks (the detector's boxes differ by
# one of its 20% steps), so the one nearer the middle of the picture is the shopper.
GROUPS = {
    "faces/group/kit_with_rose.jpg": "M-KIT",
    "faces/group/obama_and_biden.jpg": "M-OBAMA",
    "faces/group/two_people.jpg": "M-OBAMA",
}


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


async def test_each_identity_is_recognised_in_its_other_photos(
        service: FaceService, corpus: Path) -> None:
    assert sorted(service.gallery.members) == sorted(ENROL)
    wrong = {}
    for photo, member in OTHERS.items():
        found = await service.identify(read_photo(corpus / photo))
        if found.member_id != member:
            wrong[photo] = (found.decision, found.nearest_member, found.distance)
    assert wrong == {}


async def test_group_photos_name_the_largest_central_face(
        service: FaceService, corpus: Path) -> None:
    for photo, member in GROUPS.items():
        found = await service.identify(read_photo(corpus / photo))
        assert found.faces >= 2, photo
        assert (found.decision, found.member_id) == ("match", member), photo


def test_the_dominant_face_is_the_largest_then_the_most_central() -> None:
    centre, corner = Box(190, 370, 290, 270), Box(0, 100, 100, 0)
    assert dominant_face([corner, centre], 640, 480) == 1
    big_corner = Box(0, 160, 160, 0)
    assert dominant_face([centre, big_corner], 640, 480) == 1
    # Same boxes, finer sizes from landmarks: the larger face wins, wherever it is.
    assert dominant_face([corner, centre], 640, 480, sizes=[120.0, 80.0]) == 0
    assert dominant_face([], 640, 480) is None


async def test_partial_faces_are_refused_with_the_reason(tmp_path: Path, corpus: Path) -> None:
    store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await store.open()
    try:
        await add_members(store, ["M-OBAMA"])
        service = face_service(store, tmp_path)
        await service.start()
        await service.record_consent("M-OBAMA", service.texts.current, "store", lane="1",
                                     actor="kiosk:1")
        photos = ["faces/quality/obama_partial_face.jpg", "faces/quality/obama_partial_face_2.jpg"]
        for photo, edge in zip(photos, ["left", "right"], strict=True):
            with pytest.raises(EnrolmentRefused) as refused:
                await service.enroll("M-OBAMA", [read_photo(corpus / photo)], actor="kiosk:1",
                                     source="kiosk:1", names=[photo])
            assert refused.value.reasons == [
                f"{photo}: the face is cut off at the {edge} edge of the picture: the whole "
                "face must be in the picture"]
        # A good photo with a partial one: nothing at all is enrolled.
        with pytest.raises(EnrolmentRefused):
            await service.enroll("M-OBAMA", [read_photo(corpus / "faces/obama/obama_1.jpg"),
                                             read_photo(corpus / photos[0])],
                                 actor="kiosk:1", source="kiosk:1")
        assert (await store.fetchall("SELECT id FROM face_templates")) == []
        assert len(service.gallery) == 0
        audit = await recent_audit(store, target="member:M-OBAMA")
        assert [a.action for a in audit].count("face.enrol_refused") == 3
    finally:
        await store.close()


async def test_a_group_photo_is_refused_for_enrolment(tmp_path: Path, corpus: Path) -> None:
    store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await store.open()
    try:
        await add_members(store, ["M-BIDEN"])
        service = face_service(store, tmp_path)
        await service.start()
        await service.record_consent("M-BIDEN", service.texts.current, "store", lane=None,
                                     actor="cli")
        with pytest.raises(EnrolmentRefused, match="several faces of similar size"):
            await service.enroll("M-BIDEN", [read_photo(corpus / "faces/group/two_people.jpg")],
                                 actor="cli", source="cli")
    finally:
        await store.close()


def test_small_and_blurred_faces_fail_the_kiosk_gates(corpus: Path) -> None:
    gates = FaceConfig().kiosk_gates
    job = Job(0, gates, bgr=True)
    sharp = photo_in_frame(corpus, ENROL["M-OBAMA"], face_px=160)
    assert engine().analyse(sharp, job).refused is None
    far = photo_in_frame(corpus, ENROL["M-OBAMA"], face_px=gates.min_face_px - 20)
    small = engine().analyse(far, Job(1, gates, bgr=True))
    assert small.refused is not None and small.refused.code == "too_small"
    assert small.encoding is None  # refused faces are not encoded at all
    blurred = engine().analyse(np.asarray(cv2.GaussianBlur(sharp, (0, 0), 4), np.uint8), job)
    assert blurred.refused is not None and blurred.refused.code == "blurry"
