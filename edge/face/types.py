"""Values that cross the face package: frames, per-face measurements, analyses and errors.

Everything here pickles cheaply: analyses travel from the worker processes to the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..errors import EdgeError

DETECTORS = ("hog", "cnn")

Encoding = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]


class Frame(Protocol):
    """One camera frame, as ``drivers.camera.Camera.frames()`` yields it (BGR, uint8)."""

    @property
    def device_id(self) -> str: ...

    @property
    def seq(self) -> int: ...

    @property
    def captured_at(self) -> float: ...

    @property
    def image(self) -> Image: ...


class FaceError(EdgeError):
    """Base of the face package's errors; the message is meant for a person."""


class FaceUnavailable(FaceError):
    """The recognition engine cannot run here (library or model files missing)."""


class ImageUnreadable(FaceError):
    """A photo file could not be read as an image."""


class ConsentRequired(FaceError):
    """Enrolment or chain-wide use without the member's recorded consent."""


class EnrolmentRefused(FaceError):
    """The photos are not good enough to enrol from; ``reasons`` says why, per photo."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class UnknownMember(FaceError):
    """No member with that id in the local copy of the member list."""


@dataclass(frozen=True, slots=True)
class Gates:
    """The quality a face must have to be used (kiosk frames and enrolment photos differ)."""

    min_face_px: int
    min_sharpness: float
    max_yaw_deg: float
    max_pitch_deg: float
    max_roll_deg: float


@dataclass(frozen=True, slots=True)
class Box:
    """A face rectangle in pixels, as dlib gives it (right and bottom exclusive)."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2


@dataclass(frozen=True, slots=True)
class FaceMeasure:
    """What the landmarks and pixels say about one face in a picture."""

    box: Box
    size_px: int            # the smaller side of the box
    sharpness: float        # variance of the Laplacian on the face, at a fixed scale
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    ear_left: float         # eye aspect ratio of the eye on the picture's left
    ear_right: float
    shape_ratio: float      # eyes-to-mouth height over eye distance (see quality.shape_ratio)
    cut_off: str | None     # the picture edge the face runs over, or None


@dataclass(frozen=True, slots=True)
class Quality:
    """Why a face was refused: a stable code for screens and a sentence for people."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class Analysis:
    """One picture through the pipeline: every face found, the dominant one measured."""

    width: int
    height: int
    boxes: tuple[Box, ...]         # every face found
    dominant: int | None           # index into ``boxes`` of the shopper's face
    face: FaceMeasure | None       # the dominant face's measurements
    refused: Quality | None        # the dominant face failed a quality gate
    encoding: Encoding | None      # 128 float32 of the dominant face, when asked and usable
    landmarks: npt.NDArray[np.int16] | None  # the dominant face's landmark points
    digest: bytes | None           # hash of the dominant face's pixels (replay detection)
    detect_ms: float = 0.0
    encode_ms: float = 0.0
