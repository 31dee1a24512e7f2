"""Readers for ``[devices.options]`` values: each names the bad key in its error.

Every driver's ``parse_options`` is built from these, so a mistake reads the same everywhere:
``devices[2].options.baudrate: must be one of 1200, 2400, ...``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .base import DeviceConfigError

_T = TypeVar("_T")


def only(options: Mapping[str, Any], allowed: Collection[str]) -> None:
    """Refuse options this driver does not know (a typo must not be silently ignored)."""
    for key in options:
        if key not in allowed:
            raise DeviceConfigError(key, f"unknown option (expected one of: "
                                    f"{', '.join(sorted(allowed))})")


def integer(options: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = options.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DeviceConfigError(key, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise DeviceConfigError(key, f"must be {low} to {high}, got {value}")
    return value


def seconds(options: Mapping[str, Any], key: str, default_ms: int, low_ms: int,
            high_ms: int) -> float:
    """Read a ``..._ms`` option as seconds."""
    return integer(options, key, default_ms, low_ms, high_ms) / 1000


def boolean(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise DeviceConfigError(key, f"must be true or false, got {value!r}")
    return value


def choice(options: Mapping[str, Any], key: str, default: _T, choices: Sequence[_T]) -> _T:
    value = options.get(key, default)
    if value not in choices:
        raise DeviceConfigError(key, f"must be one of {', '.join(map(repr, choices))}, "
                                f"got {value!r}")
    return value  # type: ignore[no-any-return]


def text(options: Mapping[str, Any], key: str, default: str | None = None, *,
         max_length: int = 1024) -> str:
    value = options.get(key, default)
    if value is None:
        raise DeviceConfigError(key, "is required")
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise DeviceConfigError(key, f"must be a non-empty string of at most {max_length} "
                                "characters")
    return value


def path(options: Mapping[str, Any], key: str, default: str | None = None) -> Path:
    return Path(text(options, key, default))


def string_list(options: Mapping[str, Any], key: str, default: Sequence[str],
                choices: Collection[str]) -> tuple[str, ...]:
    value = options.get(key, list(default))
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise DeviceConfigError(key, "must be a non-empty list of strings")
    for item in value:
        if item not in choices:
            raise DeviceConfigError(key, f"{item!r} is not one of {', '.join(sorted(choices))}")
    return tuple(value)
