"""The ``[cashier]`` section: sign-in at staffed lanes, approvals, refunds, the drawer.

Parsed here (not in ``edge/config.py``) like the scan rules; every error names its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, reject_unknown_keys

KEYS = {
    "session_idle_s", "session_max_s", "sweep_interval_s", "allow_self_approval",
    "kick_drawer_on_cash", "device_timeout_s", "refund_max_age_days", "max_tender_fen",
}


@dataclass(frozen=True, slots=True)
class CashierConfig:
    session_idle_s: float = 1800.0
    """A lane with no request and no scan for this long signs its cashier out."""
    session_max_s: float = 43200.0
    sweep_interval_s: float = 15.0
    allow_self_approval: bool = False
    """Whether a supervisor signed in at the lane may approve their own voids and refunds."""
    kick_drawer_on_cash: bool = True
    device_timeout_s: float = 10.0
    """How long a drawer kick or a Z report print may take before it is reported failed."""
    refund_max_age_days: int = 30
    max_tender_fen: int = 10_000_000
    """A cash amount typed above this (¥100,000) is refused as a typing slip."""

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> CashierConfig:
        """Build from the ``[cashier]`` table; raise ``ConfigError`` naming the bad key."""
        reject_unknown_keys(table, "cashier", KEYS)
        d = cls()
        idle = _seconds(table, "session_idle_s", d.session_idle_s)
        longest = _seconds(table, "session_max_s", d.session_max_s)
        if longest < idle:
            raise ConfigError("cashier.session_max_s", "must not be shorter than session_idle_s")
        return cls(
            session_idle_s=idle,
            session_max_s=longest,
            sweep_interval_s=_seconds(table, "sweep_interval_s", d.sweep_interval_s),
            allow_self_approval=_bool(table, "allow_self_approval", d.allow_self_approval),
            kick_drawer_on_cash=_bool(table, "kick_drawer_on_cash", d.kick_drawer_on_cash),
            device_timeout_s=_seconds(table, "device_timeout_s", d.device_timeout_s),
            refund_max_age_days=_int(table, "refund_max_age_days", d.refund_max_age_days,
                                     0, 3650),
            max_tender_fen=_int(table, "max_tender_fen", d.max_tender_fen, 100, 10**10),
        )


def _bool(table: Mapping[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"cashier.{key}", f"must be true or false, got {value!r}")
    return value


def _seconds(table: Mapping[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10**7:
        raise ConfigError(f"cashier.{key}", f"must be a number of seconds above 0, got {value!r}")
    return float(value)


def _int(table: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"cashier.{key}", f"must be a whole number {low} to {high}, "
                          f"got {value!r}")
    return value
