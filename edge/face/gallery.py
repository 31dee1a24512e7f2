"""The gallery: every enrolled template in one float32 matrix, searched 1:N in one product.

Distances stay the plain Euclidean distances face_recognition publishes its 0.6 threshold for,
so templates are not scaled to unit length. Instead each row is stored pre-arranged as
``[-2·t, |t|²]``: one matrix-vector product with ``[p, 1]`` gives ``|t - p|² - |p|²`` for every
template at once, and the nearest template is its argmin — no second pass over the matrix.

A decision needs a margin as well as a threshold: when the second-nearest *member* is almost
as close as the nearest, the answer is "ambiguous", which the kiosk treats as unknown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .types import Encoding

DIMENSIONS = 128

MATCH, UNKNOWN, AMBIGUOUS, EMPTY = "match", "unknown", "ambiguous", "empty"


@dataclass(frozen=True, slots=True)
class Match:
    """The answer of one 1:N search."""

    decision: str                  # match, unknown, ambiguous, empty
    member_id: str | None          # only when decision == "match"
    nearest_member: str | None     # the closest member, whatever the decision
    distance: float | None         # to the closest member's nearest template
    second_distance: float | None  # to the next member's nearest template

    @property
    def matched(self) -> bool:
        return self.decision == MATCH


def decide(distance: float, second: float | None, threshold: float, margin: float) -> str:
    """Return match, unknown or ambiguous for a nearest and second-nearest member distance."""
    if distance > threshold:
        return UNKNOWN
    if second is not None and second - distance < margin:
        return AMBIGUOUS
    return MATCH


class Gallery:
    """An immutable set of templates; build a new one to change it (it is rebuilt rarely)."""

    def __init__(self, templates: Iterable[tuple[str, Encoding]] = ()) -> None:
        owners: list[str] = []
        rows: list[Encoding] = []
        for member_id, encoding in templates:
            vector = np.asarray(encoding, dtype=np.float32).reshape(-1)
            if vector.shape != (DIMENSIONS,) or not np.isfinite(vector).all():
                raise ValueError(f"template of member {member_id} is not 128 finite numbers")
            owners.append(member_id)
            rows.append(vector)
        self.members: tuple[str, ...] = tuple(sorted(set(owners)))
        index = {m: i for i, m in enumerate(self.members)}
        self._owner = np.fromiter((index[m] for m in owners), dtype=np.int32, count=len(owners))
        plain = np.stack(rows) if rows else np.empty((0, DIMENSIONS), np.float32)
        self._matrix = arrange(plain)
        order = np.argsort(self._owner, kind="stable")
        bounds = np.searchsorted(self._owner[order], np.arange(len(self.members) + 1))
        self._rows_of = [order[bounds[i]:bounds[i + 1]] for i in range(len(self.members))]

    @classmethod
    def from_matrix(cls, matrix: npt.NDArray[np.float32], owners: npt.NDArray[np.int32],
                    members: tuple[str, ...]) -> Gallery:
        """Wrap an already arranged matrix (``arrange``) without copying it; for large sets."""
        gallery = cls()
        gallery.members, gallery._owner, gallery._matrix = members, owners, matrix
        order = np.argsort(owners, kind="stable")
        bounds = np.searchsorted(owners[order], np.arange(len(members) + 1))
        gallery._rows_of = [order[bounds[i]:bounds[i + 1]] for i in range(len(members))]
        return gallery

    def __len__(self) -> int:
        return int(self._matrix.shape[0])

    def search(self, probe: Encoding, threshold: float, margin: float) -> Match:
        """Find the nearest member and the next-nearest other member; decide."""
        if not len(self):
            return Match(EMPTY, None, None, None, None)
        p = np.asarray(probe, dtype=np.float32).reshape(-1)
        scores = self._matrix @ np.append(p, np.float32(1.0))
        p_sq = float(p @ p)
        best = int(np.argmin(scores))
        member = int(self._owner[best])
        distance = _root(float(scores[best]) + p_sq)
        second: float | None = None
        if len(self.members) > 1:
            scores[self._rows_of[member]] = np.inf
            second = _root(float(scores[int(np.argmin(scores))]) + p_sq)
        decision = decide(distance, second, threshold, margin)
        name = self.members[member]
        return Match(decision, name if decision == MATCH else None, name, distance, second)

    def count(self, member_id: str) -> int:
        """Return how many templates ``member_id`` has here."""
        try:
            return len(self._rows_of[self.members.index(member_id)])
        except ValueError:
            return 0


def arrange(plain: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Return templates as search rows ``[-2·t, |t|²]`` (float32, C order)."""
    matrix = np.empty((plain.shape[0], DIMENSIONS + 1), dtype=np.float32)
    matrix[:, :DIMENSIONS] = -2.0 * plain
    matrix[:, DIMENSIONS] = np.einsum("ij,ij->i", plain, plain)
    return matrix


def distance(a: Encoding, b: Encoding) -> float:
    """Return the Euclidean distance between two encodings (1:1 compare)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.sqrt(diff @ diff))


def _root(squared: float) -> float:
    # float32 rounding can leave a tiny negative for a probe equal to a template
    return math.sqrt(max(squared, 0.0))
