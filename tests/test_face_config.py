"""The [face] table: defaults, and a config that would recognise passers-by does not load."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_config
from edge.doctor import run_checks
from edge.errors import ConfigError
from tests.helpers import write_config

CAMERAS = """
[[devices]]
id = "cam-kiosk"
driver = "camera"
lane = "1"
[devices.options]
source = "/dev/v4l/by-id/usb-kiosk-camera-video-index0"

[[devices]]
id = "cam-lane-2"
driver = "camera"
lane = "2"
[devices.options]
source = "/dev/v4l/by-id/usb-lane-camera-video-index0"

[[devices]]
id = "aisle-screen"
driver = "camera"
[devices.options]
source = "rtsp://10.0.0.9/aisle"
"""


def config_with(tmp_path: Path, face: str) -> Path:
    path = write_config(tmp_path, extra=CAMERAS + "\n[face]\n" + face)
    return path


def test_defaults_keep_face_recognition_off(tmp_path: Path) -> None:
    face = load_config(write_config(tmp_path)).face
    assert face.enabled is False and face.cameras == ()
    assert face.match_threshold == 0.6 and face.detector == "hog"
    assert face.key_file == tmp_path / "state" / "face.key"
    embedded = load_config(None).face
    assert embedded.enabled is False and embedded.kiosk_gates.min_face_px == 80


def test_a_kiosk_camera_is_accepted(tmp_path: Path) -> None:
    face = load_config(config_with(tmp_path, 'enabled = true\ncameras = ["cam-kiosk"]\n'
                                             "match_margin = 0\nagree_frames = 2\n")).face
    assert face.cameras == ("cam-kiosk",) and face.match_margin == 0.0
    assert face.session.agree_frames == 2


@pytest.mark.parametrize(("face", "key", "words"), [
    ('cameras = ["aisle-screen"]', "face.cameras[0]", "never on aisle screens"),
    ('cameras = ["sim-1"]', "face.cameras[0]", "needs a 'camera' device"),
    ('cameras = ["cam-lane-2"]', "face.cameras[0]", "not a kiosk"),
    ('cameras = ["cam-kiosk", "nope"]', "face.cameras[1]", "not a device"),
    ('cameras = ["cam-kiosk", "cam-kiosk"]', "face.cameras[0]", "listed twice"),
    ('cameras = "cam-kiosk"', "face.cameras", "must be a list"),
    ('detector = "mtcnn"', "face.detector", "'hog', 'cnn'"),
    ("match_threshold = 2.5", "face.match_threshold", "from 0.1 to 1.2"),
    ("min_face_px = 40.5", "face.min_face_px", "whole number"),
    ("enabled = 1", "face.enabled", "true or false"),
    ("agree_frames = 6\nagree_window = 5", "face.agree_frames", "agree_window"),
    ("recognise_everyone = true", "face.recognise_everyone", "unknown key"),
])
def test_a_wrong_face_table_names_the_key(tmp_path: Path, face: str, key: str,
                                          words: str) -> None:
    path = config_with(tmp_path, face + "\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.key == key and words in error.value.message
    assert str(path) in str(error.value)


def test_doctor_checks_the_face_key(tmp_path: Path) -> None:
    path = config_with(tmp_path, "enabled = true\n")
    config = load_config(path)
    assert "will be created" in next(c for c in run_checks(config) if c.name == "face key").message
    config.face.key_file.parent.mkdir(parents=True)
    config.face.key_file.write_bytes(bytes(32))
    config.face.key_file.chmod(0o644)
    check = next(c for c in run_checks(config) if c.name == "face key")
    assert check.level == "fail" and check.fix == f"chmod 600 {config.face.key_file}"
