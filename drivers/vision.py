"""Read barcodes and QR codes from images: pure functions over numpy arrays.

One pipeline serves the cameras and ``storeedge decode``:

1. A cheap first pass: zxing-cpp and pyzbar on the grayscale image as it is. Most readable
   images are done here, in a few milliseconds.
2. Only when the first pass found nothing: extra passes over transformed copies (upscaled,
   sharpened, downscaled, contrast-stretched, binarised), cheapest and most useful first, until
   something is read.

A wrong read is worse than no read (it puts the wrong product in a cart), so reads are judged
before they are reported:

- Codes with Reed-Solomon error correction (QR, Data Matrix, Aztec, PDF417) are trusted alone.
- Linear codes (EAN/UPC, Code 128, ...) only carry a weak check digit. Reads of one symbol are
  grouped by where they lie in the image; when two reads of one place disagree, the text both
  libraries agree on wins, and without such agreement the place reports nothing. In the extra
  passes a linear code must be read twice (two passes, or both libraries) to count.
- Every library call is wrapped: pyzbar raises ``ValueError`` on some real photos, and an
  exception costs that one call, never the pipeline.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from biip import ParseError
from biip.gtin import Gtin
from biip.upc import Upc
from PIL import Image as PilImage
from PIL import UnidentifiedImageError

_LOGGER = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in the original image's pixels

MAX_TEXT = 4096            # longer payloads are not what a shop scans; refuse rather than carry
MIN_SIDE = 8               # smaller images hold no readable symbol (and upset the libraries)
_OVERLAP_MARGIN = 0.25     # reads closer than this share of their length are one symbol

# Symbologies whose payload is protected by Reed-Solomon error correction.
STRONG = frozenset({"QRCODE", "MICROQR", "RMQR", "DATAMATRIX", "AZTEC", "PDF417", "MAXICODE"})

_ZXING_NAMES = {
    "EAN13": "EAN13", "EAN8": "EAN8", "UPCA": "EAN13", "UPCE": "UPCE", "Code128": "CODE128",
    "Code39": "CODE39", "Code93": "CODE93", "Codabar": "CODABAR", "ITF": "I25",
    "DataBar": "DATABAR", "DataBarExpanded": "DATABAR_EXP", "DataBarLimited": "DATABAR",
    "QRCode": "QRCODE", "MicroQRCode": "MICROQR", "RMQRCode": "RMQR", "DataMatrix": "DATAMATRIX",
    "Aztec": "AZTEC", "PDF417": "PDF417", "MaxiCode": "MAXICODE",
}
# AIM identifiers for pyzbar reads (zxing-cpp reports its own).
_ZBAR_AIM = {"EAN13": "]E0", "EAN8": "]E4", "UPCE": "]E0", "CODE128": "]C0", "CODE39": "]A0",
             "CODE93": "]G0", "CODABAR": "]F0", "I25": "]I0", "QRCODE": "]Q1"}
# DataBar is left to zxing-cpp: zbar's DataBar decoder prints assertion failures to stderr.
_ZBAR_TYPES = ("EAN13", "EAN8", "UPCE", "CODE128", "CODE39", "CODE93", "CODABAR", "I25", "QRCODE")


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """One code read from an image."""

    symbology: str          # EAN13 (UPC-A is reported in its EAN-13 form), CODE128, QRCODE, ...
    text: str
    aim: str | None = None  # the AIM symbology identifier, e.g. "]E0", "]C1", "]Q1"

    def as_dict(self) -> dict[str, str]:
        return {"symbology": self.symbology, "text": self.text}


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How hard to try: ``extra_passes`` of ``len(EXTRA_PASSES)`` is everything, 0 is none."""

    extra_passes: int = -1  # -1: all of them
    use_zbar: bool = True


@dataclass(frozen=True, slots=True)
class _Read:
    symbology: str
    text: str
    aim: str | None
    box: Box
    library: str
    variant: str


# -- the passes ---------------------------------------------------------------------------------

def _resized(factor: float) -> Callable[[Image], Image]:
    def apply(gray: Image) -> Image:
        interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
        return np.asarray(cv2.resize(gray, None, fx=factor, fy=factor,
                                     interpolation=interpolation), dtype=np.uint8)
    return apply


def _sharpened(sigma: float, amount: float, factor: float = 1.0) -> Callable[[Image], Image]:
    def apply(gray: Image) -> Image:
        source = _resized(factor)(gray) if factor != 1.0 else gray
        blurred = cv2.GaussianBlur(source, (0, 0), sigma)
        return np.asarray(cv2.addWeighted(source, 1 + amount, blurred, -amount, 0),
                          dtype=np.uint8)
    return apply


def _otsu(gray: Image) -> Image:
    return np.asarray(cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1],
                      dtype=np.uint8)


def _clahe(gray: Image) -> Image:
    return np.asarray(cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray),
                      dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class Pass:
    name: str
    transform: Callable[[Image], Image]
    scale: float            # how the transform scales coordinates (to map boxes back)
    zbar: bool = False      # pyzbar too (it misreads more often on processed images)


# Ordered by how often each rescues a hard photo per millisecond spent: small or dense codes
# want more pixels, blurred ones want sharper edges, big noisy ones fewer pixels.
EXTRA_PASSES: tuple[Pass, ...] = (
    Pass("upscale-1.5", _resized(1.5), 1.5),
    Pass("sharpen", _sharpened(2.0, 1.5), 1.0),
    Pass("upscale-2", _resized(2.0), 2.0),
    Pass("sharpen-upscale", _sharpened(2.0, 1.5, 1.5), 1.5),
    Pass("downscale", _resized(0.5), 0.5),
    Pass("clahe", _clahe, 1.0, zbar=True),
    Pass("otsu", _otsu, 1.0),
)


# -- the libraries, each call wrapped ---------------------------------------------------------

def _zxing(gray: Image, variant: str, scale: float) -> list[_Read]:
    try:
        results = zxingcpp.read_barcodes(gray)
    except Exception as err:  # a library failure costs this pass, not the pipeline
        _LOGGER.debug("zxing-cpp failed on %s: %s", variant, err)
        return []
    reads = []
    for result in results:
        try:
            if not result.valid:
                continue
            name = result.format.name
            symbology = _ZXING_NAMES.get(name, name.upper())
            text = str(result.text)
            if name == "UPCA" and len(text) == 12:
                text = "0" + text
            pos = result.position
            points = [pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left]
            box = _box([(p.x, p.y) for p in points], scale)
            reads.append(_Read(symbology, text, result.symbology_identifier or None, box,
                               "zxing", variant))
        except Exception as err:
            _LOGGER.debug("zxing-cpp result unreadable on %s: %s", variant, err)
    return reads


def _zbar(gray: Image, variant: str, scale: float) -> list[_Read]:
    from pyzbar import pyzbar  # noqa: PLC0415 - needs libzbar; a missing one costs only pyzbar

    try:
        symbols = [pyzbar.ZBarSymbol[name] for name in _ZBAR_TYPES]
        results = pyzbar.decode(gray, symbols=symbols)
    except Exception as err:  # pyzbar raises ValueError on some real photos
        _LOGGER.debug("pyzbar failed on %s: %s", variant, err)
        return []
    reads = []
    for result in results:
        try:
            text = result.data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        rect = result.rect
        box = _box([(rect.left, rect.top), (rect.left + rect.width, rect.top + rect.height)],
                   scale)
        reads.append(_Read(result.type, text, _ZBAR_AIM.get(result.type), box, "zbar", variant))
    return reads


def _box(points: Sequence[tuple[float, float]], scale: float) -> Box:
    xs = [p[0] / scale for p in points]
    ys = [p[1] / scale for p in points]
    return min(xs), min(ys), max(xs), max(ys)


# -- judging the reads --------------------------------------------------------------------------

def _plausible(read: _Read) -> bool:
    """Check length and, for retail codes, the check digit (a second opinion on each library)."""
    if not read.text or len(read.text) > MAX_TEXT:
        return False
    try:
        if read.symbology in ("EAN13", "EAN8"):
            Gtin.parse(read.text)
        elif read.symbology == "UPCE":
            Upc.parse(read.text)
    except ParseError:
        return False
    return True


def _near(a: Box, b: Box) -> bool:
    """Whether two reads lie on one symbol: their boxes, widened, intersect."""
    margin = _OVERLAP_MARGIN * max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1], 1.0)
    return not (a[2] + margin < b[0] or b[2] + margin < a[0]
                or a[3] + margin < b[1] or b[3] + margin < a[1])


def _groups(reads: Sequence[_Read]) -> Iterator[list[_Read]]:
    """Yield the reads clustered by place (single linkage on ``_near``)."""
    left = list(reads)
    while left:
        group = [left.pop()]
        grew = True
        while grew:
            grew = False
            for read in list(left):
                if any(_near(read.box, member.box) for member in group):
                    group.append(read)
                    left.remove(read)
                    grew = True
        yield group


def judge(reads: Sequence[_Read], *, confirmations: int) -> list[DecodedCode]:
    """Return the reads worth reporting; a linear code needs ``confirmations`` supports."""
    accepted: dict[tuple[str, str], DecodedCode] = {}
    weak = []
    for read in reads:
        if not _plausible(read):
            continue
        if read.symbology in STRONG:
            accepted.setdefault((read.symbology, read.text),
                                DecodedCode(read.symbology, read.text, read.aim))
        else:
            weak.append(read)
    for group in _groups(weak):
        winner = _winner(group, confirmations)
        if winner is not None:
            accepted.setdefault((winner.symbology, winner.text), winner)
    return list(accepted.values())


def _winner(group: Sequence[_Read], confirmations: int) -> DecodedCode | None:
    supports: dict[tuple[str, str], set[tuple[str, str]]] = {}
    aims: dict[tuple[str, str], str | None] = {}
    for read in group:
        key = (read.symbology, read.text)
        supports.setdefault(key, set()).add((read.library, read.variant))
        if read.library == "zxing" or key not in aims:
            aims[key] = read.aim
    if len(supports) > 1:
        # The libraries disagree about one symbol: only a text both of them read may stand.
        both = [key for key, support in supports.items()
                if {library for library, _ in support} >= {"zxing", "zbar"}]
        if len(both) != 1:
            _LOGGER.debug("Conflicting reads of one symbol dropped: %s", sorted(supports))
            return None
        key = both[0]
    else:
        key = next(iter(supports))
    if len(supports[key]) < confirmations:
        return None
    return DecodedCode(key[0], key[1], aims[key])


# -- images from files ------------------------------------------------------------------------

MAX_IMAGE_BYTES = 64 * 1024 * 1024
MAX_PIXELS = 40_000_000


class ImageError(ValueError):
    """The bytes are not an image this pipeline can read; the message says why."""


def load_image(data: bytes) -> Image:
    """Decode image file bytes (PNG, JPEG, WebP, BMP, TIFF, ...) into a BGR array."""
    if not data:
        raise ImageError("empty file")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    image = None
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None:
        # OpenCV refuses some valid files (tiny lossless WebP, GIF); Pillow reads those.
        image = _load_with_pillow(data)
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise ImageError(f"more than {MAX_PIXELS} pixels")
    return np.asarray(image, dtype=np.uint8)


def _load_with_pillow(data: bytes) -> Image:
    try:
        with PilImage.open(io.BytesIO(data)) as pil:
            if pil.width * pil.height > MAX_PIXELS:
                raise ImageError(f"more than {MAX_PIXELS} pixels")
            rgb = np.asarray(pil.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError:
        raise ImageError("not an image format OpenCV or Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageError(f"damaged image: {err}") from None
    return np.ascontiguousarray(rgb[:, :, ::-1])


# -- the pipeline -------------------------------------------------------------------------------

def to_gray(image: npt.NDArray[Any]) -> Image:
    """Return a contiguous 8-bit grayscale copy of a BGR, BGRA or gray image."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit image, got {image.dtype}")
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY), dtype=np.uint8)
    raise ValueError(f"expected a gray or BGR image, got shape {image.shape}")


def decode_image(image: npt.NDArray[Any],
                 options: DecodeOptions | None = None) -> list[DecodedCode]:
    """Return the codes in ``image`` (BGR or gray, uint8); never raises for a bad photo."""
    options = options or DecodeOptions()
    gray = to_gray(image)
    if min(gray.shape[:2]) < MIN_SIDE:
        return []
    reads = _zxing(gray, "original", 1.0)
    if options.use_zbar:
        reads += _zbar(gray, "original", 1.0)
    found = judge(reads, confirmations=1)
    if found:
        return found
    passes = EXTRA_PASSES if options.extra_passes < 0 else EXTRA_PASSES[:options.extra_passes]
    # The first pass's reads stay in the pool: what it read into a conflict still counts
    # against a later read of the same place.
    pool = list(reads)
    for extra in passes:
        try:
            variant = extra.transform(gray)
        except cv2.error as err:
            _LOGGER.debug("Pass %s failed: %s", extra.name, err)
            continue
        pool += _zxing(variant, extra.name, extra.scale)
        if extra.zbar and options.use_zbar:
            pool += _zbar(variant, extra.name, extra.scale)
        found = judge(pool, confirmations=2)
        if found:
            return found
    return []
