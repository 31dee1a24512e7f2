"""QR codes drawn on the server (qrcode, as SVG): no CDN, no script in the page.

A QR is embedded in the page's JSON as a ``data:`` URI, which the CSP allows for images, so a
screen keeps showing it while the daemon is away.
"""

from __future__ import annotations

import base64
from collections import OrderedDict

import qrcode
import qrcode.image.svg

MAX_DATA = 1000
MAX_CACHED = 256


def qr_svg(data: str) -> bytes:
    """Return ``data`` as an SVG QR code (medium error correction, white quiet zone)."""
    if not data or len(data.encode()) > MAX_DATA:
        raise ValueError(f"QR data must be 1-{MAX_DATA} bytes")
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4,
                         image_factory=qrcode.image.svg.SvgPathFillImage)
    code.add_data(data)
    code.make(fit=True)
    image = code.make_image()
    return bytes(image.to_string())


def qr_data_uri(data: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(data)).decode("ascii")


class QrCache:
    """QR data URIs by content, the most recent ``MAX_CACHED`` kept (rotation redraws none)."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, str] = OrderedDict()

    def get(self, data: str) -> str:
        uri = self._cache.get(data)
        if uri is None:
            uri = self._cache[data] = qr_data_uri(data)
        self._cache.move_to_end(data)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        return uri
