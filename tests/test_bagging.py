"""The bagging-area state machine, fed values: scans, settled and moving weights, the clock."""

from __future__ import annotations

from drivers.base import ScaleState
from edge.bagging import Bagging, BaggingRules, Expectation, Mismatch, Unexplained, WeightOk

STABLE, MOTION, ZERO = ScaleState.STABLE, ScaleState.MOTION, ScaleState.ZERO
RULES = BaggingRules(bag_timeout_s=10.0, grace_s=1.5, noise_g=5)


def water(now: float, *, grams: int = 570, tolerance: int = 28, units: int = 1,
          source: str = "catalog") -> Expectation:
    return Expectation("P001", "农夫山泉 550ml", grams * units, tolerance * units, now,
                       now + RULES.bag_timeout_s, source, units)


def armed(start_g: int = 0) -> Bagging:
    bagging = Bagging(RULES)
    bagging.reading(start_g, STABLE if start_g else ZERO, 0.0)
    bagging.arm(True)
    return bagging


def test_the_right_weight_settling_after_a_scan_is_ok() -> None:
    bagging = armed(200)                        # the shopper's own bag is already there
    assert bagging.expect(water(1.0)) == []     # nothing placed yet: keep waiting
    assert bagging.reading(640, MOTION, 1.5) == []
    [ok] = bagging.reading(775, STABLE, 2.0)
    assert isinstance(ok, WeightOk) and ok.delta == 575
    assert bagging.expectation is None and bagging.baseline == 775
    assert bagging.tick(100.0) == []            # nothing pending any more


def test_motion_is_ignored_however_far_it_swings() -> None:
    bagging = armed()
    bagging.expect(water(0.0))
    for grams in (3000, 10, 2500, 900):
        assert bagging.reading(grams, MOTION, 1.0) == []
    assert bagging.expectation is not None
    [ok] = bagging.reading(566, STABLE, 2.0)
    assert isinstance(ok, WeightOk)


def test_a_wrong_weight_is_a_mismatch_with_what_was_measured() -> None:
    bagging = armed()
    bagging.expect(water(0.0))
    [found] = bagging.reading(1140, STABLE, 1.0)   # two bottles for one scan
    assert isinstance(found, Mismatch)
    assert (found.cause, found.delta, found.expectation.grams) == ("wrong_weight", 1140, 570)
    assert bagging.baseline == 0                   # not accounted for until an attendant says


def test_tolerance_is_inclusive_and_scales_with_units() -> None:
    bagging = armed()
    bagging.expect(water(0.0, units=3))
    [ok] = bagging.reading(3 * 570 + 3 * 28, STABLE, 1.0)
    assert isinstance(ok, WeightOk)
    bagging.expect(water(2.0))
    [bad] = bagging.reading(3 * 570 + 3 * 28 + 570 + 29, STABLE, 3.0)
    assert isinstance(bad, Mismatch)


def test_nothing_bagged_before_the_deadline_is_a_timeout() -> None:
    bagging = armed()
    bagging.expect(water(0.0))
    assert bagging.next_deadline() == 10.0
    assert bagging.tick(9.9) == []
    [found] = bagging.tick(10.0)
    assert isinstance(found, Mismatch) and found.cause == "timeout" and found.delta is None


def test_weight_with_no_scan_is_unexpected_after_the_grace() -> None:
    bagging = armed(570)
    assert bagging.reading(900, STABLE, 5.0) == []
    assert bagging.next_deadline() == 6.5
    assert bagging.tick(6.4) == []
    [found] = bagging.tick(6.5)
    assert isinstance(found, Unexplained) and found.reason == "unexpected_weight"
    assert found.delta == 330


def test_bagging_first_and_scanning_within_the_grace_is_fine() -> None:
    bagging = armed()
    bagging.reading(572, STABLE, 1.0)
    [ok] = bagging.expect(water(1.5))
    assert isinstance(ok, WeightOk) and bagging.unexplained is None


def test_an_item_taken_out_is_reported_as_removed() -> None:
    bagging = armed(1140)
    bagging.reading(570, STABLE, 1.0)
    [found] = bagging.tick(2.5)
    assert isinstance(found, Unexplained) and found.reason == "item_removed"
    assert found.delta == -570


def test_a_bag_lifted_and_put_back_raises_nothing() -> None:
    bagging = armed(1140)
    bagging.reading(0, ZERO, 1.0)
    bagging.reading(1143, STABLE, 2.0)        # back within the noise: drift, not theft
    assert bagging.tick(10.0) == [] and bagging.baseline == 1143


def test_a_taking_out_expectation_wants_the_weight_to_go_down() -> None:
    bagging = armed(1140)
    bagging.expect(water(0.0, grams=-570, tolerance=28))
    [ok] = bagging.reading(571, STABLE, 1.0)
    assert isinstance(ok, WeightOk) and ok.delta == -569


def test_an_item_of_unknown_weight_accepts_any_placement() -> None:
    bagging = armed()
    bagging.expect(water(0.0, grams=1, tolerance=0, source="unknown"))
    [ok] = bagging.reading(431, STABLE, 1.0)
    assert isinstance(ok, WeightOk) and ok.delta == 431
    bagging.expect(water(2.0, grams=1, tolerance=0, source="unknown"))
    [bad] = bagging.reading(100, STABLE, 3.0)           # it went down instead
    assert isinstance(bad, Mismatch)


def test_an_empty_cart_follows_the_weight_without_complaint() -> None:
    bagging = armed(2000)
    bagging.arm(False)                                   # the sale is paid
    bagging.reading(0, ZERO, 1.0)                        # bags picked up
    assert bagging.tick(60.0) == [] and bagging.baseline == 0
    bagging.reading(150, STABLE, 61.0)                   # the next shopper's own bag
    bagging.arm(True)
    assert bagging.baseline == 150 and bagging.tick(120.0) == []


def test_an_attendant_accepts_what_is_there_and_the_clock_restarts() -> None:
    bagging = armed()
    bagging.expect(water(0.0))
    bagging.reading(1140, STABLE, 1.0)                   # mismatch: the caller locks the lane
    bagging.accept_current()
    assert bagging.baseline == 1140 and bagging.expectation is None
    bagging.expect(water(50.0))
    bagging.restart_clock(80.0)                          # a lock ended at t=80
    assert bagging.next_deadline() == 90.0


def test_zero_counts_as_a_settled_reading_at_zero_grams() -> None:
    bagging = armed(570)
    bagging.expect(water(0.0, grams=-570))
    [ok] = bagging.reading(3, ZERO, 1.0)                 # some scales report the last grams
    assert isinstance(ok, WeightOk) and ok.delta == -570
