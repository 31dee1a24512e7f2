"""The ``[loyalty]`` and ``[members]`` config tables, parsed into frozen dataclasses.

``[loyalty]``: how points are earned and what they are worth, how many coupons a sale takes,
how long the kiosk offers joining after a payment. ``[members]``: how members are identified
(rotating and static member codes, phone look-ups, the wallet look-up). Every error names its
key, as the rest of the config does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, reject_unknown_keys


@dataclass(frozen=True, slots=True)
class LoyaltyConfig:
    fen_per_point: int = 100
    """Earning: one point per this many fen paid with money (not points or stored value)."""
    tier_earn_percent: tuple[tuple[str, int], ...] = ()
    """Earning multiplier per tier, in per cent; a tier not listed earns 100."""
    point_value_fen: int = 1
    """Burning: what one point pays, in fen (100 points = ¥1 by default)."""
    max_coupons_per_sale: int = 3
    join_offer_s: int = 120
    """How long the kiosk offers one-tap joining after a wallet payment by a non-member."""

    def earn_percent(self, tier: str) -> int:
        return dict(self.tier_earn_percent).get(tier, 100)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> LoyaltyConfig:
        reject_unknown_keys(data, "loyalty", set(cls.__dataclass_fields__))
        tiers = data.get("tier_earn_percent", {})
        if not isinstance(tiers, dict) or not all(
                isinstance(k, str) and _is_int(v) and 0 <= v <= 10_000 for k, v in tiers.items()):
            raise ConfigError("loyalty.tier_earn_percent",
                              "must be a table of tier = per cent (0-10000), e.g. gold = 200")
        return cls(
            fen_per_point=_int(data, "loyalty", "fen_per_point", 100, (1, 10**6)),
            tier_earn_percent=tuple(sorted(tiers.items())),
            point_value_fen=_int(data, "loyalty", "point_value_fen", 1, (1, 10**4)),
            max_coupons_per_sale=_int(data, "loyalty", "max_coupons_per_sale", 3, (1, 10)),
            join_offer_s=_int(data, "loyalty", "join_offer_s", 120, (5, 3600)),
        )


@dataclass(frozen=True, slots=True)
class MembersConfig:
    accept_static_codes: bool = False
    """Static member codes (MC10000001) copy with a screenshot: off in production."""
    code_step_s: int = 60
    code_drift_steps: int = 1
    phone_lookups: int = 5
    """Phone look-ups a lane may make within ``phone_lookup_window_s`` (numbers being tried)."""
    phone_lookup_window_s: int = 300
    phone_confirm_attempts: int = 3
    """Wrong last-4 answers before the phone identification is dropped."""
    phone_confirm_timeout_s: int = 120
    wallet_lookup_timeout_ms: int = 3000
    """Asking the CRM who paid (支付即会员); on timeout the sale simply stays anonymous."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MembersConfig:
        reject_unknown_keys(data, "members", set(cls.__dataclass_fields__))
        static = data.get("accept_static_codes", False)
        if not isinstance(static, bool):
            raise ConfigError("members.accept_static_codes", f"must be true or false, "
                              f"got {static!r}")
        numbers = {key: _int(data, "members", key, default, limits)
                   for key, default, limits in _MEMBER_NUMBERS}
        return cls(accept_static_codes=static, **numbers)


# key, default, (lowest, highest)
_MEMBER_NUMBERS = (
    ("code_step_s", 60, (10, 600)),
    ("code_drift_steps", 1, (0, 5)),
    ("phone_lookups", 5, (1, 1000)),
    ("phone_lookup_window_s", 300, (1, 86_400)),
    ("phone_confirm_attempts", 3, (1, 10)),
    ("phone_confirm_timeout_s", 120, (5, 3600)),
    ("wallet_lookup_timeout_ms", 3000, (100, 60_000)),
)


@dataclass(frozen=True, slots=True)
class LoyaltySettings:
    """Both tables, as a lane session takes them."""

    loyalty: LoyaltyConfig = field(default_factory=LoyaltyConfig)
    members: MembersConfig = field(default_factory=MembersConfig)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(data: Mapping[str, Any], table: str, key: str, default: int, limits: tuple[int, int],
         ) -> int:
    low, high = limits
    value = data.get(key, default)
    if not _is_int(value) or not low <= value <= high:
        raise ConfigError(f"{table}.{key}", f"must be a whole number {low}-{high}, "
                          f"got {value!r}")
    return int(value)


