"""The ``[signage]`` table and the ``[[screens]]`` of the aisles: what each zone's screen shows.

A screen shows products (by id and/or category), promotions and coupons, each either listed by
id or ``"all"``; ``[[screens.schedule]]`` entries replace some of those for a time of day
(store time), e.g. breakfast items until 10:00. Parsed here; every error names its key.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .errors import ConfigError, reject_unknown_keys

ALL: Literal["all"] = "all"
Selection = tuple[str, ...] | Literal["all"]
SIGNAGE_KEYS = {"claim_url", "refresh_s", "guide_call_cooldown_s", "guide_calls_shown"}
SCREEN_KEYS = {"zone", "name", "rotate_s", "products", "categories", "promotions", "coupons",
               "max_products", "schedule"}
RULE_KEYS = ("products", "categories", "promotions", "coupons")
SCHEDULE_KEYS = {"from", "to", *RULE_KEYS}
_PLACEHOLDER = re.compile(r"\{(\w*)\}")
_IDENT = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True, slots=True)
class ScreenRules:
    """What to show: products by id or category, promotions and coupons by id or all."""

    products: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    promotions: Selection = ALL
    coupons: Selection = ALL


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    start: dt.time
    end: dt.time
    rules: dict[str, Any]
    """Only the rule keys this entry sets; they replace the screen's own while it is on."""

    def covers(self, now: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end  # a window across midnight


@dataclass(frozen=True, slots=True)
class ScreenConfig:
    zone: str
    name: str
    rotate_s: float = 8.0
    rules: ScreenRules = field(default_factory=ScreenRules)
    max_products: int = 12
    schedule: tuple[ScheduleEntry, ...] = ()

    def rules_at(self, now: dt.time) -> ScreenRules:
        """Return the rules in force at local time ``now`` (the first matching entry wins)."""
        for entry in self.schedule:
            if entry.covers(now):
                return replace(self.rules, **entry.rules)
        return self.rules


@dataclass(frozen=True, slots=True)
class SignageConfig:
    claim_url: str = ""
    """Template of the page that claims a coupon into the wallet: {code}, {store}, {zone}."""
    refresh_s: float = 30.0
    guide_call_cooldown_s: float = 20.0
    guide_calls_shown: int = 50
    screens: tuple[ScreenConfig, ...] = ()

    def screen(self, zone: str) -> ScreenConfig | None:
        return next((s for s in self.screens if s.zone == zone), None)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], screens: Any) -> SignageConfig:
        """Build from ``[signage]`` and the ``[[screens]]`` array; errors name the key."""
        reject_unknown_keys(table, "signage", SIGNAGE_KEYS)
        d = cls()
        claim = table.get("claim_url", d.claim_url)
        if not isinstance(claim, str):
            raise ConfigError("signage.claim_url", "must be text")
        if claim:
            _check_claim_url(claim)
        if not isinstance(screens, list):
            raise ConfigError("screens", "must be an array of tables ([[screens]])")
        parsed: list[ScreenConfig] = []
        for i, item in enumerate(screens):
            screen = _screen(f"screens[{i}]", item)
            if any(s.zone == screen.zone for s in parsed):
                raise ConfigError(f"screens[{i}].zone", f"zone {screen.zone!r} is declared twice")
            parsed.append(screen)
        return cls(
            claim_url=claim,
            refresh_s=_number(table, "signage", "refresh_s", d.refresh_s, low=0.01, high=86400),
            guide_call_cooldown_s=_number(table, "signage", "guide_call_cooldown_s",
                                          d.guide_call_cooldown_s, low=0, high=86400),
            guide_calls_shown=int(_number(table, "signage", "guide_calls_shown",
                                          d.guide_calls_shown, low=1, high=1000, integer=True)),
            screens=tuple(parsed),
        )


def _check_claim_url(url: str) -> None:
    if not re.match(r"https?://[^/\s]+", url) or any(c.isspace() for c in url):
        raise ConfigError("signage.claim_url", "must be an http(s) URL, e.g. "
                          "https://coupons.example.com/claim?code={code}")
    names = set(_PLACEHOLDER.findall(url))
    if "code" not in names:
        raise ConfigError("signage.claim_url", "must contain {code}")
    unknown = names - {"code", "store", "zone"}
    if unknown:
        raise ConfigError("signage.claim_url", f"unknown placeholder {{{sorted(unknown)[0]}}}"
                          " (known: {code}, {store}, {zone})")


def _screen(where: str, item: Any) -> ScreenConfig:
    if not isinstance(item, dict):
        raise ConfigError(where, "must be a table")
    reject_unknown_keys(item, where, SCREEN_KEYS)
    zone = item.get("zone")
    if not isinstance(zone, str) or not _IDENT.fullmatch(zone):
        raise ConfigError(f"{where}.zone", f"{zone!r} must be 1-32 letters, digits, - or _")
    name = item.get("name", zone)
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise ConfigError(f"{where}.name", "must be text of 1-64 characters")
    rules = ScreenRules(**_rules(where, item))
    schedule = item.get("schedule", [])
    if not isinstance(schedule, list):
        raise ConfigError(f"{where}.schedule", "must be an array of tables")
    return ScreenConfig(
        zone=zone, name=name,
        rotate_s=_number(item, where, "rotate_s", 8.0, low=0.1, high=3600),
        rules=rules,
        max_products=int(_number(item, where, "max_products", 12, low=1, high=100, integer=True)),
        schedule=tuple(_entry(f"{where}.schedule[{i}]", e) for i, e in enumerate(schedule)),
    )


def _entry(where: str, item: Any) -> ScheduleEntry:
    if not isinstance(item, dict):
        raise ConfigError(where, "must be a table")
    reject_unknown_keys(item, where, SCHEDULE_KEYS)
    start, end = _clock(item, where, "from"), _clock(item, where, "to")
    if start == end:
        raise ConfigError(f"{where}.to", "must differ from 'from'")
    return ScheduleEntry(start, end, _rules(where, item))


def _rules(where: str, item: Mapping[str, Any]) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for key in RULE_KEYS:
        if key not in item:
            continue
        value = item[key]
        if value == ALL and key in ("promotions", "coupons"):
            rules[key] = ALL
        elif isinstance(value, list) and all(isinstance(v, str) and 0 < len(v) <= 64
                                             for v in value) and len(value) <= 200:
            rules[key] = tuple(value)
        else:
            also = ' or "all"' if key in ("promotions", "coupons") else ""
            raise ConfigError(f"{where}.{key}", f"must be a list of ids{also}")
    return rules


def _clock(item: Mapping[str, Any], where: str, key: str) -> dt.time:
    value = item.get(key)
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}", value):
        raise ConfigError(f"{where}.{key}", f"must be a time of day like \"06:30\", got {value!r}")
    hours, minutes = int(value[:2]), int(value[3:])
    if hours > 23 or minutes > 59:
        raise ConfigError(f"{where}.{key}", f"{value!r} is not a time of day")
    return dt.time(hours, minutes)


def _number(table: Mapping[str, Any], where: str, key: str, default: float, *, low: float,
            high: float, integer: bool = False) -> float:
    value: Any = table.get(key, default)
    number = isinstance(value, int) or (isinstance(value, float) and not integer)
    if isinstance(value, bool) or not number or not low <= value <= high:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{where}.{key}", f"must be {kind} from {low:g} to {high:g}, "
                          f"got {value!r}")
    return float(value)


