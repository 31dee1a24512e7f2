"""Liveness of one tracked face: eyelids that close and open again, and frames that never repeat.

Eye openness is each eye's aspect ratio (Soukupová and Čech, 2016) divided by the face's own
proportions (``quality.shape_ratio``): turning or nodding the head, or tilting a printed photo,
scale both alike, so only the eyelids move the quotient. A closure counts when both eyes drop
together below a fraction of their open level — deeply in one frame, or moderately in two
frames running (landmark noise on a photo makes single shallow dips, not sustained ones) — with
open eyes before and after, within ``blink_max_ms``.

A replayed recording shows a frame it showed before; a camera's sensor noise never repeats a
face bit for bit. A face digest seen again (other than the frame just before, which a slow
source may deliver twice) marks the track as a replay for good, and the blink must come after
a minimum observation time, so a loop shorter than that is caught repeating before it passes.

A long recording replayed on a screen held to the camera cannot be told from frames alone; that
needs depth or infrared sensing (docs/face.md).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

PASSED, NO_BLINK, TOO_SHORT, REPLAY = "passed", "no_blink", "too_short", "replay"


@dataclass(frozen=True, slots=True)
class LivenessRules:
    window_ms: int = 3000           # how far back eyelid movement is looked for
    min_observation_ms: int = 1500  # a face must be watched this long before it can pass
    min_samples: int = 6
    deep_ratio: float = 0.6         # both eyes this closed in one frame is a blink
    closed_ratio: float = 0.8       # ... or this closed in two frames running
    open_ratio: float = 0.9         # open again at this fraction of the open level
    blink_max_ms: int = 800         # open -> closed -> open within this


@dataclass(frozen=True, slots=True)
class Sample:
    at: float           # seconds (the frame's capture time)
    ear_left: float
    ear_right: float
    shape: float        # quality.shape_ratio of the same frame

    def openness(self) -> tuple[float, float]:
        shape = self.shape if self.shape > 0 else 1.0
        return self.ear_left / shape, self.ear_right / shape


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: str         # passed, no_blink, too_short, replay

    @property
    def passed(self) -> bool:
        return self.reason == PASSED


class Liveness:
    """The liveness evidence of one face track."""

    def __init__(self, rules: LivenessRules) -> None:
        self.rules = rules
        self._samples: deque[Sample] = deque()
        self._first_at: float | None = None
        self._count = 0
        self.blink_at: float | None = None
        self.replay = False

    def add(self, sample: Sample) -> None:
        """Take the measurements of one more frame of this face."""
        if self._first_at is None:
            self._first_at = sample.at
        self._count += 1
        self._samples.append(sample)
        horizon = sample.at - self.rules.window_ms / 1000
        while self._samples and self._samples[0].at < horizon:
            self._samples.popleft()
        if self.blink_at is None:
            self.blink_at = find_blink(list(self._samples), self.rules)

    def mark_replay(self) -> None:
        self.replay = True

    def verdict(self, now: float) -> Verdict:
        """Say whether this face has shown it is a live person."""
        if self.replay:
            return Verdict(REPLAY)
        watched = 0.0 if self._first_at is None else now - self._first_at
        if watched * 1000 < self.rules.min_observation_ms or self._count < self.rules.min_samples:
            return Verdict(TOO_SHORT)
        if self.blink_at is None:
            return Verdict(NO_BLINK)
        return Verdict(PASSED)


def find_blink(samples: list[Sample], rules: LivenessRules) -> float | None:
    """Return the time of an eyelid closure in ``samples`` (oldest first), or None."""
    if len(samples) < 3:
        return None
    eyes = np.array([s.openness() for s in samples])       # (n, 2)
    level = np.percentile(eyes, 75, axis=0)
    if (level <= 0).any():
        return None
    relative = eyes / level
    closed = relative.max(axis=1)      # both eyes must close: the more open one decides
    opened = relative.mean(axis=1)
    span = rules.blink_max_ms / 1000
    times = [s.at for s in samples]
    for i in range(len(samples)):
        deep = closed[i] <= rules.deep_ratio
        held = i + 1 < len(samples) and max(closed[i], closed[i + 1]) <= rules.closed_ratio
        if not (deep or held):
            continue
        last = i + 1 if held and not deep else i
        before = any(opened[k] >= rules.open_ratio and times[i] - times[k] <= span
                     for k in range(i))
        after = any(opened[k] >= rules.open_ratio and times[k] - times[i] <= span
                    for k in range(last + 1, len(samples)))
        if before and after:
            return times[i]
    return None
