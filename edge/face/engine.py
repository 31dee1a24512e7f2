"""The recognition engine: face_recognition (dlib) behind a guarded import, and photo reading.

face_recognition calls ``quit()`` when its models cannot be imported, which ends a process
with status 0 — a worker or a test run would vanish "successfully". ``load_face_recognition``
turns that, and a missing ``pkg_resources`` (setuptools 81 removed it), into ``FaceUnavailable``
with the fix in its message.

``FaceEngine.analyse`` is CPU-bound; the daemon runs it in worker processes (``pool``).

Encodings come from face_recognition's own network and weights, run by ``resnet`` on numpy's
BLAS (four times faster than dlib-bin's loops). ``load_encoder`` checks, at every start, that
it gives dlib's encoding on a test picture, and falls back to dlib's encoder when it does not.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import io
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import PIL.Image
import PIL.ImageOps

from .quality import check, dominant_face, face_height, measure
from .resnet import CHIP_PADDING, CHIP_SIDE, MAX_DIFFERENCE, FaceResNet, ModelFormatError
from .types import DETECTORS, Analysis, Box, FaceUnavailable, Gates, Image, ImageUnreadable

MAX_PHOTO_BYTES = 25 * 1024 * 1024
MAX_PHOTO_PIXELS = 50_000_000
# Photos larger than this are scaled down first: detection time grows with the pixel count and
# a face in a portrait is still hundreds of pixels wide at this size.
MAX_PHOTO_SIDE = 1280
LANDMARK_SIDE = 256  # faces smaller than this are enlarged for the landmark predictor


def load_face_recognition() -> Any:
    """Import face_recognition; raise ``FaceUnavailable`` (never exit) when it cannot load."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its own deprecation notice
            import pkg_resources  # noqa: F401, PLC0415 - face_recognition_models needs it
    except ImportError as err:
        raise FaceUnavailable(
            "face recognition needs setuptools' pkg_resources, which is missing (setuptools "
            "81 removed it): run `make setup`, or pip install 'setuptools<81'") from err
    said = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(said):
            warnings.simplefilter("ignore")
            import face_recognition  # noqa: PLC0415 - loads 130 MB of models; only when used
    except SystemExit:
        # What it printed recommends installing from source, which compiles dlib: not ours.
        raise FaceUnavailable("face_recognition could not load its models (the "
                              "face_recognition_models package is missing or broken): run "
                              "`make setup`, which installs it without compiling dlib") from None
    except ImportError as err:
        raise FaceUnavailable(f"face_recognition is not installed ({err}): run `make setup` "
                              "(installs it on top of dlib-bin)") from err
    return face_recognition


@dataclass(frozen=True, slots=True)
class Encoder:
    """Which network encodes faces, and why."""

    net: FaceResNet | None      # None: dlib's own encoder
    note: str                   # for the log and `storeedge doctor`

    @property
    def name(self) -> str:
        return "numpy" if self.net is not None else "dlib"


def load_encoder(fr: Any, model: Path | None = None, keep_dlib: bool = True) -> Encoder:
    """Load face_recognition's encoder network for numpy, if it gives dlib's encodings.

    The check runs dlib's encoder and ours on one fixed picture (150x150 pseudo-random pixels:
    every weight takes part) and compares the 128 numbers. Any failure leaves dlib's encoder in
    use, with the reason in ``note``: slower, never wrong.

    ``keep_dlib=False`` (a face worker, which only ever encodes one way) frees dlib's copy of
    the network once it has encoded the check picture and before ours is loaded, so that the
    worker never holds both: its peak memory stays what dlib alone needs.
    """
    import dlib  # noqa: PLC0415 - both present once face_recognition loaded
    import face_recognition_models  # noqa: PLC0415

    original = Path(face_recognition_models.face_recognition_model_location())
    path = model or original
    picture = np.random.default_rng(CHIP_SIDE).integers(0, 256, (CHIP_SIDE, CHIP_SIDE, 3),
                                                        dtype=np.uint8)
    expected = np.asarray(fr.api.face_encoder.compute_face_descriptor(picture), np.float32)
    if not keep_dlib:
        fr.api.face_encoder = None
        give_back_memory()
    try:
        net = FaceResNet.load(path)
        difference = float(np.abs(net.encode(picture) - expected).max())
        if not difference <= MAX_DIFFERENCE:
            raise ModelFormatError(f"numpy's differs from it by {difference:.2g}, more than "
                                   f"{MAX_DIFFERENCE:g}")
    except ModelFormatError as err:
        if fr.api.face_encoder is None:
            fr.api.face_encoder = dlib.face_recognition_model_v1(str(original))
        return Encoder(None, f"dlib's encoder ({path.name} not run on numpy: {err})")
    return Encoder(net, f"numpy (face_recognition's network on BLAS; {difference:.1g} from "
                        "dlib's on the check picture)")


def give_back_memory() -> None:
    """Return freed memory to the system.

    A photo's detection pyramid takes tens of MB; glibc keeps freed memory in its arenas, so
    without this a worker would stay that large after one enrolment photo.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def read_photo(path: Path) -> Image:
    """Read a photo file as RGB, upright (EXIF), at most ``MAX_PHOTO_SIDE`` pixels wide."""
    try:
        size = path.stat().st_size
        if size > MAX_PHOTO_BYTES:
            raise ImageUnreadable(f"cannot read {path}: {size // (1024 * 1024)} MB is too large "
                                  f"for a photo (at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB)")
        data = path.read_bytes()
    except IsADirectoryError:
        raise ImageUnreadable(f"cannot read {path}: it is a folder, not a photo") from None
    except OSError as err:
        raise ImageUnreadable(f"cannot read {path}: {err.strerror}") from None
    return decode_photo(data, str(path))


def decode_photo(data: bytes, name: str) -> Image:
    """Decode image bytes as an RGB array; raise ``ImageUnreadable`` with the reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(io.BytesIO(data)) as opened:
                if opened.width * opened.height > MAX_PHOTO_PIXELS:
                    raise ImageUnreadable(f"cannot read {name}: {opened.width}x{opened.height} "
                                          "pixels is too large for a photo")
                upright = PIL.ImageOps.exif_transpose(opened).convert("RGB")
    except ImageUnreadable:
        raise
    except PIL.UnidentifiedImageError:
        raise ImageUnreadable(f"cannot read {name}: not an image file (JPEG, PNG, WebP, BMP "
                              "and the like are)") from None
    except (PIL.Image.DecompressionBombWarning, PIL.Image.DecompressionBombError):
        raise ImageUnreadable(f"cannot read {name}: too many pixels for a photo") from None
    except (OSError, ValueError, SyntaxError) as err:  # truncated or corrupt files
        raise ImageUnreadable(f"cannot read {name}: the image is damaged ({err})") from None
    if max(upright.size) > MAX_PHOTO_SIDE:
        upright.thumbnail((MAX_PHOTO_SIDE, MAX_PHOTO_SIDE), PIL.Image.Resampling.LANCZOS)
    return np.array(upright, dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class Job:
    """What to do with one picture."""

    upsample: int                   # HOG pyramid upsampling: 0 for kiosk frames, 1 for photos
    gates: Gates | None             # quality the dominant face must have to be encoded
    encode: bool = True
    bgr: bool = False               # camera frames are BGR, photos RGB
    retry_upsample: int | None = None  # photos: look harder when nothing was found


class FaceEngine:
    """face_recognition's models, loaded once per process."""

    def __init__(self, detector: str = "hog", model: Path | None = None,
                 keep_dlib: bool = True) -> None:
        if detector not in DETECTORS:
            raise FaceUnavailable(f"unknown face detector {detector!r}")
        self._fr = load_face_recognition()
        self.detector = detector
        self.encoder = load_encoder(self._fr, model, keep_dlib)

    def analyse(self, image: Image, job: Job) -> Analysis:
        """Find every face, measure the dominant one, and encode it if it passes the gates."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ImageUnreadable(f"expected an 8-bit 3-channel image, got {image.dtype} "
                                  f"{image.shape}")
        started = time.perf_counter()
        rgb: Image = (np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), dtype=np.uint8)
                      if job.bgr else np.ascontiguousarray(image))
        gray: Image = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        height, width = rgb.shape[:2]
        locations = self._locate(rgb, gray, job.upsample)
        if not locations and job.retry_upsample is not None:
            locations = self._locate(rgb, gray, job.retry_upsample)
        boxes = tuple(Box(*loc) for loc in locations)
        sizes = None
        if len(boxes) > 1:  # several faces: measure them finer than the detector's box steps
            sizes = [face_height(p) for p in self._fr.face_landmarks(rgb, locations)]
        dominant = dominant_face(boxes, width, height, sizes)
        if dominant is None:
            return Analysis(width, height, (), None, None, None, None, None, None,
                            detect_ms=(time.perf_counter() - started) * 1000)
        box = boxes[dominant]
        points = self._landmarks(rgb, box)
        face = measure(box, points, gray, width, height)
        refused = check(face, job.gates) if job.gates is not None else None
        detected = time.perf_counter()
        encoding = None
        if job.encode and refused is None:
            encoding = self._encode(rgb, box)
        crop = rgb[max(box.top, 0):box.bottom, max(box.left, 0):box.right]
        return Analysis(
            width, height, boxes, dominant, face, refused, encoding,
            np.concatenate(list(points.values())).astype(np.int16),
            hashlib.blake2b(crop.tobytes(), digest_size=16).digest(),
            detect_ms=(detected - started) * 1000,
            encode_ms=(time.perf_counter() - detected) * 1000)

    def _encode(self, rgb: Image, box: Box) -> npt.NDArray[np.float32]:
        # The 5-point alignment ("small") is face_recognition's default: the distances and the
        # 0.6 threshold published for it hold unchanged. face_encodings does these same steps.
        if self.encoder.net is None:
            raw = self._fr.face_encodings(rgb, [_css(box)], model="small")[0]
            return np.asarray(raw, dtype=np.float32)
        import dlib  # noqa: PLC0415 - loaded with face_recognition

        shape = self._fr.api.pose_predictor_5_point(
            rgb, dlib.rectangle(box.left, box.top, box.right, box.bottom))
        chip = dlib.get_face_chip(rgb, shape, size=CHIP_SIDE, padding=CHIP_PADDING)
        return self.encoder.net.encode(np.asarray(chip, dtype=np.uint8))

    def _landmarks(self, rgb: Image, box: Box) -> dict[str, npt.NDArray[np.float64]]:
        """Return the 68 landmarks of the face in ``box``, to a fraction of a pixel.

        dlib gives whole pixels: on a 90-pixel face an eye is 6 pixels high and one pixel is
        15% of its aspect ratio, more than a blink detector can afford. Running the predictor
        on the face enlarged to ``LANDMARK_SIDE`` pixels gives positions 1/scale apart.
        """
        scale = max(1.0, LANDMARK_SIDE / max(box.width, 1))
        if scale == 1.0:
            found = self._fr.face_landmarks(rgb, [_css(box)], model="large")[0]
            return {name: np.asarray(p, dtype=np.float64) for name, p in found.items()}
        height, width = rgb.shape[:2]
        pad = box.width // 2
        top, left = max(box.top - pad, 0), max(box.left - pad, 0)
        bottom, right = min(box.bottom + pad, height), min(box.right + pad, width)
        crop = cv2.resize(rgb[top:bottom, left:right], None, fx=scale, fy=scale,
                          interpolation=cv2.INTER_CUBIC)
        inner = Box(round((box.top - top) * scale), round((box.right - left) * scale),
                    round((box.bottom - top) * scale), round((box.left - left) * scale))
        found = self._fr.face_landmarks(crop, [_css(inner)], model="large")[0]
        return {name: np.asarray(p, dtype=np.float64) / scale + (left, top)
                for name, p in found.items()}

    def _locate(self, rgb: Image, gray: Image, upsample: int) -> list[tuple[int, int, int, int]]:
        # HOG runs on the grey image: on colour dlib takes the strongest gradient of the three
        # channels, a third more work for no face more (on the corpus clip's frames grey found
        # a face in 2 frames more and none fewer; the same faces in every corpus photo).
        found: list[tuple[int, int, int, int]] = self._fr.face_locations(
            gray if self.detector == "hog" else rgb, number_of_times_to_upsample=upsample,
            model=self.detector)
        return found


def _css(box: Box) -> tuple[int, int, int, int]:
    return box.top, box.right, box.bottom, box.left
