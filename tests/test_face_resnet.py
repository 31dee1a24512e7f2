"""The face encoder on numpy: face_recognition's encodings, to float rounding, or dlib's own.

The encodings are compared with plain face_recognition's on the corpus photos; the model files
a store could end up with (truncated, another model, altered weights) leave dlib's encoder in
use with the reason, and the kiosk still gets the same encodings.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.face.engine import FaceEngine, Job, load_encoder, read_photo
from edge.face.resnet import FaceResNet, ModelFormatError
from tests.conftest import CORPUS
from tests.face_clips import engine

PHOTOS = ["faces/obama/obama_1.jpg", "faces/obama/obama_480p.jpg", "faces/biden/biden_1.jpg",
          "faces/alex_lacamoire/alex_lacamoire_2.jpg", "faces/kit_harington/kit_harington_2.jpg",
          "faces/rose_leslie/rose_leslie_1.jpg", "faces/group/obama_and_biden.jpg",
          "faces/lin_manuel_miranda/lin_manuel_miranda_1.png"]


def models() -> Path:
    engine()  # face_recognition_models imports only after the engine's guarded import
    import face_recognition_models  # noqa: PLC0415

    return Path(face_recognition_models.face_recognition_model_location()).parent


def plain_encodings(rgb: np.ndarray, locations: list[tuple[int, int, int, int]]) -> np.ndarray:
    fr = engine()._fr
    return np.asarray(fr.face_encodings(rgb, locations, model="small"), dtype=np.float32)


def test_the_engine_encodes_on_numpy_what_face_recognition_encodes() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"test corpus not found at {CORPUS} (it lives in ../shared beside the clone)")
    face = engine()
    assert face.encoder.name == "numpy", face.encoder.note
    compared = 0
    for photo in PHOTOS:
        rgb = read_photo(CORPUS / photo)
        analysis = face.analyse(rgb, Job(1, None))
        assert analysis.encoding is not None and analysis.dominant is not None, photo
        box = analysis.boxes[analysis.dominant]
        expected = plain_encodings(rgb, [(box.top, box.right, box.bottom, box.left)])[0]
        # Matching faces are up to 0.6 apart; the two differ by float rounding only.
        assert float(np.abs(analysis.encoding - expected).max()) < 1e-4, photo
        compared += 1
    assert compared == len(PHOTOS)


def test_a_truncated_model_file_leaves_dlibs_encoder_in_use(tmp_path: Path) -> None:
    model = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    data = (models() / model.name).read_bytes()
    model.write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFormatError, match="ends early"):
        FaceResNet.load(model)
    chosen = load_encoder(engine()._fr, model)
    assert chosen.name == "dlib"
    assert "ends early" in chosen.note and model.name in chosen.note


def test_another_networks_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="metric-learning"):
        FaceResNet.load(models() / "shape_predictor_5_face_landmarks.dat")
    with pytest.raises(ModelFormatError, match="cannot read"):
        FaceResNet.load(tmp_path / "missing.dat")


def test_altered_weights_fail_the_start_check_and_the_kiosk_gets_dlibs_encodings(
        tmp_path: Path) -> None:
    model = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    shutil.copy(models() / model.name, model)
    data = bytearray(model.read_bytes())
    # 4,000 weights of the last convolution set to 0.5: the file still parses.
    last = data.rindex(b"con_4")
    start = last + 64
    data[start:start + 16_000] = np.full(4_000, 0.5, dtype="<f4").tobytes()
    model.write_bytes(bytes(data))
    FaceResNet.load(model)                        # parses: only the check can tell
    # As a worker loads it: dlib's copy of the network is freed before the check and loaded
    # again when the check fails.
    altered = FaceEngine("hog", model=model, keep_dlib=False)
    assert altered.encoder.name == "dlib"
    assert "differs from it" in altered.encoder.note
    if not CORPUS.is_dir():
        return
    rgb = read_photo(CORPUS / PHOTOS[0])
    analysis = altered.analyse(rgb, Job(1, None))
    assert analysis.encoding is not None and analysis.dominant is not None
    box = analysis.boxes[analysis.dominant]
    expected = plain_encodings(rgb, [(box.top, box.right, box.bottom, box.left)])[0]
    assert float(np.abs(analysis.encoding - expected).max()) == 0.0   # dlib's, exactly


def test_a_chip_of_the_wrong_shape_is_refused() -> None:
    net = FaceResNet.load(models() / "dlib_face_recognition_resnet_model_v1.dat")
    with pytest.raises(ValueError, match="150x150"):
        net.encode(np.zeros((160, 160, 3), dtype=np.uint8))
