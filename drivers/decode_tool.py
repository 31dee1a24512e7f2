"""``storeedge decode IMAGE...``: read barcodes from image files exactly as a camera would.

Store IT uses it to find out why a label does not scan. One JSON line per file:

    {"file": "label.jpg", "codes": [{"symbology": "EAN13", "text": "6901234500011"}]}
    {"file": "broken.jpg", "error": "not an image format OpenCV or Pillow can read"}
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2

from .vision import (
    EXTRA_PASSES,
    MAX_IMAGE_BYTES,
    DecodeOptions,
    Image,
    ImageError,
    decode_image,
    load_image,
)

EXIT_OK, EXIT_FAIL = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                        help="image files (PNG, JPEG, WebP, BMP, TIFF, ...)")
    parser.add_argument("--passes", type=int, default=len(EXTRA_PASSES),
                        help="extra passes after the first when nothing is found "
                        f"(0-{len(EXTRA_PASSES)}, default all; cameras use fewer)")
    parser.add_argument("--no-zbar", action="store_true", help="use zxing-cpp only")


def decode_file(path: Path, options: DecodeOptions) -> dict[str, Any]:
    """Return the JSON object for one file: its codes, or a clear error."""
    try:
        return {"file": str(path), "codes": [c.as_dict() for c in decode_image(
            _read_image(path), options)]}
    except ImageError as err:
        return {"file": str(path), "error": str(err)}
    except Exception as err:  # a tool for store IT prints the reason, never a traceback
        return {"file": str(path), "error": f"decoding failed: {err}"}


def _read_image(path: Path) -> Image:
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise ImageError(f"larger than {MAX_IMAGE_BYTES // 2**20} MB")
        return load_image(path.read_bytes())
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except IsADirectoryError:
        raise ImageError("is a folder, not an image") from None
    except OSError as err:
        raise ImageError(f"cannot read: {err.strerror or err}") from None


def run(args: argparse.Namespace) -> int:
    # OpenCV prints its own errors for files it cannot parse; ours is the JSON line.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    options = DecodeOptions(extra_passes=max(0, args.passes), use_zbar=not args.no_zbar)
    failed = False
    for path in args.images:
        result = decode_file(path, options)
        failed = failed or "error" in result
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return EXIT_FAIL if failed else EXIT_OK
