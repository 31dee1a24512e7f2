"""The bagging-area check of a self-checkout kiosk: a pure state machine over scans, stable
weights and the clock.

After each scan the kiosk expects the bagging scale's next *stable* weight to move by the
item's weight (within its tolerance) before ``bag_timeout``. A stable change nobody scanned
for is "unexpected weight" (or "item removed" when it goes down) once it has lasted
``grace`` — long enough for a shopper who bags first and scans second. Readings in motion
are ignored until the scale settles. While the cart is empty the machine is disarmed and
only follows the weight (shoppers put down and pick up their own bags freely).

The machine never reads a clock or a device: the caller passes ``now`` (monotonic seconds)
and readings, and acts on the outcomes it returns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from drivers.base import ScaleState

SETTLED = frozenset({ScaleState.STABLE, ScaleState.ZERO})


@dataclass(frozen=True, slots=True)
class BaggingRules:
    bag_timeout_s: float = 15.0
    grace_s: float = 1.5
    noise_g: int = 5


@dataclass(frozen=True, slots=True)
class Expectation:
    """The weight change a scan (or a removal from the cart) calls for.

    ``grams`` is signed: negative when the shopper must take something out. ``source`` says
    where the weight comes from: "catalog", "label" (a weighed item's label), "learned", or
    "unknown" — then any change in the right direction is accepted, and the caller may keep
    it as a sample of what the item weighs.
    """

    product_id: str
    name: str
    grams: int
    tolerance: int
    since: float
    deadline: float
    source: str = "catalog"
    units: int = 1

    @property
    def learn(self) -> bool:
        return self.source == "unknown"


@dataclass(frozen=True, slots=True)
class WeightOk:
    expectation: Expectation
    delta: int


@dataclass(frozen=True, slots=True)
class Mismatch:
    expectation: Expectation
    delta: int | None          # None: nothing settled before the deadline
    cause: str                 # "wrong_weight" or "timeout"


@dataclass(frozen=True, slots=True)
class Unexplained:
    """A settled change no scan accounts for: reported as ``unexpected_weight`` (up) or
    ``item_removed`` (down)."""

    delta: int
    since: float

    @property
    def reason(self) -> str:
        return "unexpected_weight" if self.delta > 0 else "item_removed"


Outcome = WeightOk | Mismatch | Unexplained


class Bagging:
    """The state of one kiosk's bagging area."""

    def __init__(self, rules: BaggingRules) -> None:
        self.rules = rules
        self.baseline: int | None = None     # the weight already accounted for
        self.current: int | None = None      # the last settled weight
        self.expectation: Expectation | None = None
        self.unexplained: Unexplained | None = None
        self.armed = False

    # -- inputs ---------------------------------------------------------------------------

    def arm(self, armed: bool) -> None:
        """Check weights while the cart has items; follow them freely while it is empty."""
        self.armed = armed
        if not armed:
            self.expectation = self.unexplained = None
            self.baseline = self.current

    def expect(self, expectation: Expectation) -> list[Outcome]:
        """Start waiting for a scanned item; a change already settled is judged at once."""
        self.expectation = expectation
        self.unexplained = None
        if self.current is None or self.baseline is None:
            return []
        return self._judge(self.current - self.baseline)

    def reading(self, grams: int, state: ScaleState, now: float) -> list[Outcome]:
        """Take one reading; only settled ones (stable or zero) count."""
        if state not in SETTLED:
            return []
        self.current = 0 if state is ScaleState.ZERO else grams
        if self.baseline is None or not self.armed:
            self.baseline = self.current
            return []
        delta = self.current - self.baseline
        if self.expectation is not None:
            return self._judge(delta)
        if abs(delta) <= self.rules.noise_g:
            self.baseline = self.current    # drift, or a change that came back
            self.unexplained = None
        elif self.unexplained is None or (self.unexplained.delta > 0) != (delta > 0):
            self.unexplained = Unexplained(delta, now)
        else:
            self.unexplained = Unexplained(delta, self.unexplained.since)
        return []

    def tick(self, now: float) -> list[Outcome]:
        """Report what the clock decides: a bagging timeout, or a change left unexplained."""
        expectation = self.expectation
        if expectation is not None and now >= expectation.deadline:
            self.expectation = None
            return [Mismatch(expectation, None, "timeout")]
        if expectation is None and self.unexplained is not None and \
                now >= self.unexplained.since + self.rules.grace_s:
            found, self.unexplained = self.unexplained, None
            return [found]
        return []

    def next_deadline(self) -> float | None:
        """Return when ``tick`` may next have something to say (None: nothing pending)."""
        if self.expectation is not None:
            return self.expectation.deadline
        if self.unexplained is not None:
            return self.unexplained.since + self.rules.grace_s
        return None

    def accept_current(self) -> None:
        """An attendant looked at the bagging area: what is there now is accounted for."""
        self.baseline = self.current
        self.expectation = self.unexplained = None

    def restart_clock(self, now: float) -> None:
        """Give the shopper a full timeout again (after a lock that stopped the clock)."""
        if self.expectation is not None:
            self.expectation = dataclasses.replace(
                self.expectation, deadline=now + self.rules.bag_timeout_s)
        if self.unexplained is not None:
            self.unexplained = Unexplained(self.unexplained.delta, now)

    # -- internals ------------------------------------------------------------------------

    def _judge(self, delta: int) -> list[Outcome]:
        expectation = self.expectation
        assert expectation is not None
        if abs(delta) <= self.rules.noise_g:
            return []                           # not placed yet
        if expectation.learn:
            right_way = (delta > 0) == (expectation.grams > 0)
            ok = right_way
        else:
            ok = abs(delta - expectation.grams) <= expectation.tolerance
        self.expectation = None
        if ok:
            self.baseline = self.current
            return [WeightOk(expectation, delta)]
        return [Mismatch(expectation, delta, "wrong_weight")]
