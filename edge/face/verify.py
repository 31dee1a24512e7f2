"""1:1 verification: are the dominant faces of two pictures the same person?

``storeedge face compare`` and ``benchmarks.face_verify`` both use this, with the kiosk's
threshold, so what store IT checks by hand is what the kiosk decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .engine import Job
from .gallery import distance
from .pool import Analyzer
from .types import Image


@dataclass(frozen=True, slots=True)
class Comparison:
    distance: float | None    # None when either picture has no face
    match: bool
    faces: tuple[int, int]    # faces found in each picture

    def as_dict(self) -> dict[str, Any]:
        return {"distance": None if self.distance is None else round(self.distance, 4),
                "match": self.match, "faces": list(self.faces)}


async def compare_images(analyzer: Analyzer, a: Image, b: Image, *, upsample: int,
                         threshold: float) -> Comparison:
    """Compare the dominant faces of ``a`` and ``b`` (RGB pictures)."""
    # No quality gates: store IT wants a distance for any face, and a small face in a photo
    # still compares well. A picture with no face at the usual upsampling is searched once
    # more, finer, before it counts as faceless.
    job = Job(upsample, None, retry_upsample=upsample + 1)
    first = await analyzer.analyse(a, job)
    second = await analyzer.analyse(b, job)
    faces = (len(first.boxes), len(second.boxes))
    if first.encoding is None or second.encoding is None:
        return Comparison(None, False, faces)
    found = distance(first.encoding, second.encoding)
    return Comparison(found, found <= threshold, faces)
