"""The ``[kiosk]`` section: the self-checkout page's timers and what it offers.

Parsed here (not in ``edge/config.py``) like the cashier's; every error names its key. The
page reads these from its embedded data, so a store tunes them without touching the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .errors import ConfigError, reject_unknown_keys

# key: (default, lowest, highest), all in milliseconds
_TIMES: dict[str, tuple[int, int, int]] = {
    "idle_ms": (60_000, 1_000, 3_600_000),
    "still_there_ms": (20_000, 1_000, 600_000),
    "receipt_ms": (30_000, 1_000, 3_600_000),
    "message_ms": (8_000, 500, 600_000),
}
KEYS = {*_TIMES, "show_face"}


@dataclass(frozen=True, slots=True)
class KioskConfig:
    idle_ms: int = 60_000
    """Nobody touched or scanned for this long with an unpaid cart: ask "still there?"."""
    still_there_ms: int = 20_000
    """The question stays this long; unanswered, the unpaid cart is voided (never a paid one)."""
    receipt_ms: int = 30_000
    """The receipt screen (e-receipt and coupon QR) stays this long, then the attract screen."""
    message_ms: int = 8_000
    """A refusal or failure stays on screen this long unless the shopper acts first."""
    show_face: bool = True
    """Offer face recognition (the consent screen) when ``[face]`` is enabled."""

    def page_data(self) -> dict[str, Any]:
        """Return what the kiosk page needs of this section (its ``data.kiosk``)."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> KioskConfig:
        """Build from the ``[kiosk]`` table; raise ``ConfigError`` naming the bad key."""
        reject_unknown_keys(table, "kiosk", KEYS)
        values: dict[str, Any] = {}
        for key, (default, low, high) in _TIMES.items():
            value = table.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"kiosk.{key}", f"must be a whole number of milliseconds "
                                  f"from {low} to {high}, got {value!r}")
            values[key] = value
        show_face = table.get("show_face", True)
        if not isinstance(show_face, bool):
            raise ConfigError("kiosk.show_face", f"must be true or false, got {show_face!r}")
        return cls(**values, show_face=show_face)
