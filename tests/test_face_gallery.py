"""The 1:N search and the liveness rules, over plain numbers."""

from __future__ import annotations

import numpy as np
import pytest

from edge.face.gallery import Gallery, decide
from edge.face.liveness import Liveness, LivenessRules, Sample, find_blink

RULES = LivenessRules()


def templates(rng: np.random.Generator, members: int, each: int) -> list[tuple[str, np.ndarray]]:
    # dlib encodings have norms around 1.3-1.5; scale random vectors alike
    return [(f"M{m}", (rng.standard_normal(128) * 0.12).astype(np.float32))
            for m in range(members) for _ in range(each)]


def test_search_finds_the_nearest_and_the_next_other_member() -> None:
    rng = np.random.default_rng(1)
    rows = templates(rng, 300, 3)
    gallery = Gallery(rows)
    assert len(gallery) == 900 and len(gallery.members) == 300
    for _ in range(20):
        probe = (rng.standard_normal(128) * 0.12).astype(np.float32)
        plain = [(m, float(np.linalg.norm(t.astype(np.float64) - probe))) for m, t in rows]
        nearest = min(plain, key=lambda x: x[1])
        second = min(d for m, d in plain if m != nearest[0])
        found = gallery.search(probe, threshold=10.0, margin=0.0)
        assert found.nearest_member == nearest[0]
        assert found.distance == pytest.approx(nearest[1], abs=1e-4)
        assert found.second_distance == pytest.approx(second, abs=1e-4)


def test_a_probe_near_one_member_matches_and_between_two_is_ambiguous() -> None:
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal(128) * 0.12).astype(np.float32), \
        (rng.standard_normal(128) * 0.12).astype(np.float32)
    gallery = Gallery([("A", a), ("B", b), ("A", a + 0.01)])
    near_a = a + np.float32(0.02)
    found = gallery.search(near_a, threshold=0.6, margin=0.06)
    assert (found.decision, found.member_id) == ("match", "A")
    midway = ((a + b) / 2).astype(np.float32)
    found = gallery.search(midway, threshold=10.0, margin=0.06)
    assert (found.decision, found.member_id) == ("ambiguous", None)
    far = a + np.float32(1.0)
    assert gallery.search(far, threshold=0.6, margin=0.06).decision == "unknown"
    assert Gallery().search(a, 0.6, 0.06).decision == "empty"
    assert gallery.count("A") == 2 and gallery.count("Z") == 0


def test_decide_needs_the_threshold_and_the_margin() -> None:
    assert decide(0.45, 0.80, 0.6, 0.06) == "match"
    assert decide(0.45, None, 0.6, 0.06) == "match"
    assert decide(0.61, 0.90, 0.6, 0.06) == "unknown"
    assert decide(0.45, 0.50, 0.6, 0.06) == "ambiguous"


def test_a_template_that_is_not_128_numbers_is_refused() -> None:
    with pytest.raises(ValueError, match="128 finite"):
        Gallery([("A", np.zeros(127, np.float32))])
    with pytest.raises(ValueError, match="128 finite"):
        Gallery([("A", np.full(128, np.nan, np.float32))])


def series(ears: list[float], shapes: list[float] | None = None,
           fps: float = 10.0) -> list[Sample]:
    shapes = shapes or [1.1] * len(ears)
    return [Sample(i / fps, e, e, s) for i, (e, s) in enumerate(zip(ears, shapes, strict=True))]


def test_a_blink_is_eyes_closing_and_opening_again() -> None:
    open_eyes = [0.32, 0.31, 0.33, 0.32, 0.31, 0.32]
    blink = [*open_eyes, 0.12, *open_eyes]           # one deep frame
    assert find_blink(series(blink), RULES) == pytest.approx(0.6)
    slow = [*open_eyes, 0.24, 0.24, *open_eyes]      # two frames three-quarters shut
    assert find_blink(series(slow), RULES) is not None
    shallow = [*open_eyes, 0.24, *open_eyes]         # one shallow frame is noise
    assert find_blink(series(shallow), RULES) is None
    never_reopened = [*open_eyes, 0.12, 0.12, 0.12]
    assert find_blink(series(never_reopened), RULES) is None


def test_tilting_a_photo_is_not_a_blink() -> None:
    # Tipping a photo back shrinks the eyes' height and the face's height alike.
    ears = [0.32] * 6 + [0.2, 0.2] + [0.32] * 6
    shapes = [1.1] * 6 + [1.1 * 0.2 / 0.32] * 2 + [1.1] * 6
    assert find_blink(series(ears, shapes), RULES) is None


def test_liveness_needs_time_a_blink_and_no_replay() -> None:
    live = Liveness(RULES)
    ears = [0.32] * 8 + [0.1] + [0.32] * 12
    for sample in series(ears)[:10]:
        live.add(sample)
    assert live.verdict(0.9).reason == "too_short"      # blinked, but watched under 1.5 s
    for sample in series(ears)[10:]:
        live.add(sample)
    assert live.verdict(2.0).passed
    live.mark_replay()
    assert live.verdict(2.0).reason == "replay"
    still = Liveness(RULES)
    for sample in series([0.32] * 30):
        still.add(sample)
    assert still.verdict(3.0).reason == "no_blink"
