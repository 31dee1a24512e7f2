"""The ``[face]`` table of the config, checked key by key into a frozen ``FaceConfig``.

Cameras that run recognition are named here by device id; each must be bound to a *kiosk*
lane: aisle screens and staffed lanes never identify passers-by, and a config that says
otherwise does not load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.base import DeviceConfig

from ..errors import ConfigError, reject_unknown_keys
from .liveness import LivenessRules
from .session import SessionRules
from .types import DETECTORS, Gates

# key: (type, default, lowest, highest). Floats accept whole numbers too.
_SPEC: dict[str, tuple[type, Any, float, float]] = {
    "upsample": (int, 0, 0, 3),
    "photo_upsample": (int, 1, 0, 3),
    "workers": (int, 1, 1, 8),
    "job_timeout_ms": (int, 10_000, 100, 600_000),
    "start_timeout_ms": (int, 60_000, 1_000, 600_000),
    "match_threshold": (float, 0.6, 0.1, 1.2),
    "match_margin": (float, 0.06, 0.0, 0.5),
    "min_face_px": (int, 80, 20, 2000),
    "min_sharpness": (float, 40.0, 0.0, 10_000.0),
    "max_yaw_deg": (float, 45.0, 0.0, 90.0),
    "max_pitch_deg": (float, 30.0, 0.0, 90.0),
    "max_roll_deg": (float, 30.0, 0.0, 90.0),
    "enrol_min_face_px": (int, 100, 20, 4000),
    "enrol_min_sharpness": (float, 60.0, 0.0, 10_000.0),
    "enrol_max_yaw_deg": (float, 35.0, 0.0, 90.0),
    "enrol_max_pitch_deg": (float, 25.0, 0.0, 90.0),
    "enrol_max_roll_deg": (float, 25.0, 0.0, 90.0),
    "max_templates_per_member": (int, 5, 1, 50),
    "agree_frames": (int, 3, 1, 50),
    "agree_window": (int, 5, 1, 100),
    "track_gap_ms": (int, 700, 0, 60_000),
    "greet_cooldown_s": (float, 120.0, 0.0, 86_400.0),
    "replay_memory_s": (float, 120.0, 0.0, 86_400.0),
    "liveness_window_ms": (int, 3000, 200, 60_000),
    "liveness_min_observation_ms": (int, 1500, 0, 60_000),
    "liveness_min_samples": (int, 6, 1, 1000),
    "blink_deep_ratio": (float, 0.6, 0.05, 1.0),
    "blink_closed_ratio": (float, 0.8, 0.05, 1.0),
    "blink_open_ratio": (float, 0.9, 0.05, 1.5),
    "blink_max_ms": (int, 800, 50, 10_000),
    "idle_interval_ms": (int, 200, 0, 10_000),
    "max_frame_age_ms": (int, 1000, 0, 600_000),
    "gallery_refresh_ms": (int, 2000, 50, 3_600_000),
}
_OTHER_KEYS = {"enabled", "detector", "key_file", "cameras"}


@dataclass(frozen=True, slots=True)
class FaceConfig:
    enabled: bool = False
    detector: str = "hog"
    upsample: int = 0                # kiosk frames: faces are large, HOG without upsampling
    photo_upsample: int = 1          # photos (enrolment, CLI): as face_recognition's default
    workers: int = 1
    job_timeout_ms: int = 10_000
    start_timeout_ms: int = 60_000
    match_threshold: float = 0.6
    match_margin: float = 0.06
    kiosk_gates: Gates = field(default_factory=lambda: Gates(80, 40.0, 45.0, 30.0, 30.0))
    enrol_gates: Gates = field(default_factory=lambda: Gates(100, 60.0, 35.0, 25.0, 25.0))
    max_templates_per_member: int = 5
    session: SessionRules = field(default_factory=SessionRules)
    idle_interval_ms: int = 200
    max_frame_age_ms: int = 1000
    gallery_refresh_ms: int = 2000
    key_file: Path = Path("face.key")
    cameras: tuple[str, ...] = ()

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        state_dir: Path,
        kiosk_lanes: Iterable[str],
        devices: Iterable[DeviceConfig],
    ) -> FaceConfig:
        """Check the ``[face]`` table; raise ``ConfigError`` naming the bad key."""
        reject_unknown_keys(data, "face", {*_SPEC, *_OTHER_KEYS})
        v = {key: _number(data, key, spec) for key, spec in _SPEC.items()}
        enabled = data.get("enabled", False)
        if not isinstance(enabled, bool):
            raise ConfigError("face.enabled", f"must be true or false, got {enabled!r}")
        detector = data.get("detector", "hog")
        if detector not in DETECTORS:
            raise ConfigError("face.detector", f"{detector!r} is not one of 'hog', 'cnn'")
        key_file = data.get("key_file", "face.key")
        if not isinstance(key_file, str) or not key_file:
            raise ConfigError("face.key_file", "must be a file name in the state directory")
        if v["agree_frames"] > v["agree_window"]:
            raise ConfigError("face.agree_frames", "cannot exceed face.agree_window")
        return cls(
            enabled=enabled, detector=detector, upsample=v["upsample"],
            photo_upsample=v["photo_upsample"], workers=v["workers"],
            job_timeout_ms=v["job_timeout_ms"], start_timeout_ms=v["start_timeout_ms"],
            match_threshold=v["match_threshold"], match_margin=v["match_margin"],
            kiosk_gates=Gates(v["min_face_px"], v["min_sharpness"], v["max_yaw_deg"],
                              v["max_pitch_deg"], v["max_roll_deg"]),
            enrol_gates=Gates(v["enrol_min_face_px"], v["enrol_min_sharpness"],
                              v["enrol_max_yaw_deg"], v["enrol_max_pitch_deg"],
                              v["enrol_max_roll_deg"]),
            max_templates_per_member=v["max_templates_per_member"],
            session=SessionRules(
                agree_frames=v["agree_frames"], agree_window=v["agree_window"],
                track_gap_ms=v["track_gap_ms"], greet_cooldown_s=v["greet_cooldown_s"],
                repeat_memory_s=v["replay_memory_s"],
                liveness=LivenessRules(
                    window_ms=v["liveness_window_ms"],
                    min_observation_ms=v["liveness_min_observation_ms"],
                    min_samples=v["liveness_min_samples"], deep_ratio=v["blink_deep_ratio"],
                    closed_ratio=v["blink_closed_ratio"], open_ratio=v["blink_open_ratio"],
                    blink_max_ms=v["blink_max_ms"])),
            idle_interval_ms=v["idle_interval_ms"], max_frame_age_ms=v["max_frame_age_ms"],
            gallery_refresh_ms=v["gallery_refresh_ms"],
            key_file=state_dir / key_file,
            cameras=_cameras(data.get("cameras", []), set(kiosk_lanes), list(devices)),
        )


def _number(data: Mapping[str, Any], key: str, spec: tuple[type, Any, float, float]) -> Any:
    kind, default, low, high = spec
    value = data.get(key, default)
    ok = isinstance(value, int | float) if kind is float else isinstance(value, int)
    if not ok or isinstance(value, bool) or not low <= value <= high:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"face.{key}", f"must be {what} from {low:g} to {high:g}, "
                          f"got {value!r}")
    return kind(value)


def _cameras(raw: Any, kiosk_lanes: set[str], devices: list[DeviceConfig]) -> tuple[str, ...]:
    """Check that every camera named for recognition sits at a kiosk lane."""
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise ConfigError("face.cameras", "must be a list of device ids from [[devices]]")
    by_id = {d.id: d for d in devices}
    for i, camera in enumerate(raw):
        where = f"face.cameras[{i}]"
        device = by_id.get(camera)
        if device is None:
            raise ConfigError(where, f"{camera!r} is not a device declared in [[devices]]")
        if device.driver != "camera":
            raise ConfigError(where, f"device {camera!r} uses the {device.driver!r} driver; "
                              "face recognition needs a 'camera' device")
        if device.lane is None:
            raise ConfigError(where, f"device {camera!r} is not bound to a lane: face "
                              "recognition runs only at kiosk lanes, never on aisle screens")
        if device.lane not in kiosk_lanes:
            raise ConfigError(where, f"device {camera!r} is on lane {device.lane!r}, which "
                              "is not a kiosk: face recognition runs only at kiosk lanes")
        if raw.count(camera) > 1:
            raise ConfigError(where, f"{camera!r} is listed twice")
    return tuple(raw)
