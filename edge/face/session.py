"""What one kiosk camera has seen: the shopper's face track, its votes and its liveness.

Pure decisions over analysed frames: a face is followed from frame to frame while it stays
about where it was; each encoded frame votes for a member (or for nobody); a greeting needs
``agree_frames`` votes for the same member among the last ``agree_window`` with no vote for
anyone else, *and* a live face. One greeting per track, and a member is not greeted again on
the same camera within the cooldown.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

from .gallery import AMBIGUOUS, Match
from .liveness import Liveness, LivenessRules, Sample
from .types import Analysis, Box

_MAX_DIGESTS = 20_000


@dataclass(frozen=True, slots=True)
class SessionRules:
    agree_frames: int = 3
    agree_window: int = 5
    track_gap_ms: int = 700       # a face unseen this long is a new face when it comes back
    greet_cooldown_s: float = 120.0
    repeat_memory_s: float = 120.0  # how long frame digests are kept to catch a replay
    liveness: LivenessRules = field(default_factory=LivenessRules)


@dataclass(frozen=True, slots=True)
class Step:
    """What one frame changed, for the greeting, the metrics and the console."""

    outcome: str                 # no_face, refused, replay, unknown, ambiguous, match, tracked
    track: int | None = None
    member_id: str | None = None  # the member this frame matched, if it did
    liveness: str | None = None   # the track's liveness verdict after this frame
    quality: str | None = None    # why the face was refused
    greet: str | None = None      # the member to greet now


class _Track:
    def __init__(self, number: int, box: Box, at: float, rules: SessionRules) -> None:
        self.number = number
        self.box = box
        self.last_at = at
        self.liveness = Liveness(rules.liveness)
        self.votes: deque[str | None] = deque(maxlen=rules.agree_window)
        self.greeted = False

    def agreed(self, needed: int) -> str | None:
        named = Counter(v for v in self.votes if v is not None)
        if len(named) != 1:
            return None
        member, count = named.most_common(1)[0]
        return member if count >= needed else None


class CameraSession:
    """The running decisions of one camera."""

    def __init__(self, camera_id: str, rules: SessionRules) -> None:
        self.camera_id = camera_id
        self.rules = rules
        self._track: _Track | None = None
        self._tracks = 0
        self._digests: OrderedDict[bytes, float] = OrderedDict()
        self._last_digest: bytes | None = None
        self._greeted_at: dict[str, float] = {}

    def wants_encoding(self) -> bool:
        """Say whether the next frame needs an encoding (not once the face is settled)."""
        track = self._track
        return track is None or not (track.greeted or track.liveness.replay)

    def observe(self, at: float, analysis: Analysis, match: Match | None) -> Step:
        """Take one analysed frame (``match`` is its gallery search, if it was encoded)."""
        face = analysis.face
        if face is None:
            if self._track and at - self._track.last_at > self.rules.track_gap_ms / 1000:
                self._track = None
            return Step("no_face")
        track = self._follow(face.box, at)
        if analysis.digest is not None and self._seen_before(analysis.digest, at):
            track.liveness.mark_replay()
        verdict = track.liveness.verdict(at)
        if analysis.refused is not None:
            return Step("refused", track.number, liveness=verdict.reason,
                        quality=analysis.refused.code)
        track.liveness.add(Sample(at, face.ear_left, face.ear_right, face.shape_ratio))
        verdict = track.liveness.verdict(at)
        if track.liveness.replay:
            return Step("replay", track.number, liveness=verdict.reason)
        member = None
        outcome = "tracked"
        if match is not None:
            member = match.member_id
            track.votes.append(member)
            outcome = match.decision if match.decision in ("match", AMBIGUOUS) else "unknown"
        greet = None
        agreed = track.agreed(self.rules.agree_frames)
        if agreed and verdict.passed and not track.greeted and self._may_greet(agreed, at):
            track.greeted = True
            self._greeted_at[agreed] = at
            greet = agreed
        return Step(outcome, track.number, member, verdict.reason, greet=greet)

    def _follow(self, box: Box, at: float) -> _Track:
        """Continue the current track if ``box`` is the same face, else start a new one."""
        track = self._track
        if track is not None and at - track.last_at <= self.rules.track_gap_ms / 1000 \
                and _same_face(track.box, box):
            track.box, track.last_at = box, at
            return track
        self._tracks += 1
        self._track = _Track(self._tracks, box, at, self.rules)
        return self._track

    def _seen_before(self, digest: bytes, at: float) -> bool:
        """Say whether this face crop was seen before, other than in the frame just before."""
        previous, self._last_digest = self._last_digest, digest
        if digest == previous:
            return False  # a source that delivers a frame twice is slow, not replaying
        horizon = at - self.rules.repeat_memory_s
        while self._digests:
            oldest, seen_at = next(iter(self._digests.items()))
            if seen_at >= horizon and len(self._digests) < _MAX_DIGESTS:
                break
            del self._digests[oldest]
        repeated = digest in self._digests
        self._digests[digest] = at
        self._digests.move_to_end(digest)
        return repeated

    def _may_greet(self, member_id: str, at: float) -> bool:
        last = self._greeted_at.get(member_id)
        return last is None or at - last >= self.rules.greet_cooldown_s

    def forget(self, member_id: str) -> None:
        """Drop what this camera remembers of a member (consent withdrawn)."""
        self._greeted_at.pop(member_id, None)
        if self._track is not None and member_id in self._track.votes:
            self._track = None


def _same_face(previous: Box, current: Box) -> bool:
    """Say whether ``current`` is plausibly the face that was at ``previous``."""
    size = max(previous.width, current.width, 1)
    (x0, y0), (x1, y1) = previous.center, current.center
    grown = current.width / max(previous.width, 1)
    return math.hypot(x1 - x0, y1 - y0) <= size and 0.6 <= grown <= 1.6
