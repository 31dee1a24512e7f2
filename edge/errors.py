"""The daemon's exceptions: one base, retryable failures as their own classes."""

from __future__ import annotations

from collections.abc import Collection, Iterable


class EdgeError(Exception):
    """Base of every StoreEdge error."""


class ConfigError(EdgeError):
    """The config is wrong; names the file and the key."""

    def __init__(self, key: str, message: str, file: str | None = None) -> None:
        self.key, self.message, self.file = key, message, file
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.key}: {self.message}"

    def in_file(self, file: str) -> ConfigError:
        return ConfigError(self.key, self.message, file)


def reject_unknown_keys(table: Iterable[str], where: str, allowed: Collection[str]) -> None:
    """Raise ``ConfigError`` for the first key of ``table`` not in ``allowed``: every config
    section names a misspelt key, and what it expected, the same way."""
    for key in table:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            raise ConfigError(name, f"unknown key (expected one of: {', '.join(sorted(allowed))})")


class StoreError(EdgeError):
    """The local database cannot do what was asked."""


class StoreUnavailable(StoreError):
    """Retryable: the database is locked, or the disk is full right now."""


class SafeModeError(StoreError):
    """The database failed its integrity check; sales are refused until it is repaired."""


class SaleRefused(EdgeError):
    """A sale could not be committed; the cart is intact and the shopper can try again."""


class LaneError(EdgeError):
    """An action does not fit the lane's current state (shown to the user, not a crash)."""
