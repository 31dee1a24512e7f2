"""The ``[console]`` section: where the console listens, TLS, sessions, sign-in limits.

Parsed here (not in ``edge/config.py``) like the scan rules; every error names its key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, reject_unknown_keys
from edge.login_limits import LoginPolicy
from edge.sessions import SessionPolicy
from edge.users import HashParams

KEYS = {
    "enabled", "host", "port", "tls_cert", "tls_key", "allowed_hosts", "trusted_origins",
    "session_idle_s", "session_max_s", "session_recheck_s", "login_max_failures",
    "login_window_s", "login_lockout_s", "address_max_failures", "argon2_time_cost",
    "argon2_memory_kib", "argon2_parallelism", "push_interval_s", "device_test_timeout_s",
    "log_tail_lines", "log_poll_s",
}


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8081
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allowed_hosts: tuple[str, ...] = ()
    trusted_origins: tuple[str, ...] = ()
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    login: LoginPolicy = field(default_factory=LoginPolicy)
    hashing: HashParams = field(default_factory=HashParams)
    push_interval_s: float = 5.0
    device_test_timeout_s: float = 10.0
    log_tail_lines: int = 200
    log_poll_s: float = 1.0

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], base: Path) -> ConsoleConfig:
        """Build from the ``[console]`` table; relative paths are relative to ``base``."""
        reject_unknown_keys(table, "console", KEYS)
        d = cls()
        host = _typed(table, "host", str, d.host)
        if not host:
            raise ConfigError("console.host", "must not be empty (127.0.0.1, 0.0.0.0, ...)")
        port = _typed(table, "port", int, d.port)
        if not 0 <= port <= 65535:
            raise ConfigError("console.port", f"{port} is not a TCP port (0-65535)")
        cert, key = _path(table, "tls_cert", base), _path(table, "tls_key", base)
        if (cert is None) != (key is None):
            raise ConfigError("console.tls_key" if key is None else "console.tls_cert",
                              "TLS needs both tls_cert and tls_key")
        return cls(
            enabled=_typed(table, "enabled", bool, d.enabled),
            host=host,
            port=port,
            tls_cert=cert,
            tls_key=key,
            allowed_hosts=_strings(table, "allowed_hosts"),
            trusted_origins=tuple(_origin(o) for o in _strings(table, "trusted_origins")),
            sessions=SessionPolicy(
                idle_s=_seconds(table, "session_idle_s", d.sessions.idle_s),
                max_s=_seconds(table, "session_max_s", d.sessions.max_s),
                recheck_s=_seconds(table, "session_recheck_s", d.sessions.recheck_s)),
            login=LoginPolicy(
                max_failures=_count(table, "login_max_failures", d.login.max_failures),
                window_s=_seconds(table, "login_window_s", d.login.window_s),
                lockout_s=_seconds(table, "login_lockout_s", d.login.lockout_s),
                address_max_failures=_count(table, "address_max_failures",
                                            d.login.address_max_failures)),
            hashing=HashParams(
                time_cost=_count(table, "argon2_time_cost", d.hashing.time_cost),
                memory_kib=_count(table, "argon2_memory_kib", d.hashing.memory_kib, low=8),
                parallelism=_count(table, "argon2_parallelism", d.hashing.parallelism)),
            push_interval_s=_seconds(table, "push_interval_s", d.push_interval_s),
            device_test_timeout_s=_seconds(table, "device_test_timeout_s",
                                           d.device_test_timeout_s),
            log_tail_lines=_count(table, "log_tail_lines", d.log_tail_lines, high=5000),
            log_poll_s=_seconds(table, "log_poll_s", d.log_poll_s),
        )

    def local_url(self, port: int) -> str:
        """Return the URL a browser on the appliance itself uses."""
        host = self.host
        if host in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard bind is reached on loopback
            host = "127.0.0.1"
        elif _is_ipv6(host):
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{port}"


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _typed(table: Mapping[str, Any], key: str, kind: type[Any], default: Any) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"console.{key}", f"must be {kind.__name__}, got {value!r}")
    return value


def _seconds(table: Mapping[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10**7:
        raise ConfigError(f"console.{key}", f"must be a number of seconds above 0, got {value!r}")
    return float(value)


def _count(table: Mapping[str, Any], key: str, default: int, *, low: int = 1,
           high: int = 10**7) -> int:
    value = _typed(table, key, int, default)
    if not low <= value <= high:
        raise ConfigError(f"console.{key}", f"must be {low} to {high}, got {value}")
    return int(value)


def _strings(table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"console.{key}", "must be a list of non-empty strings")
    return tuple(value)


def _origin(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
        raise ConfigError("console.trusted_origins",
                          f"{value!r} is not an origin like https://console.store.lan:8081")
    return value.lower()


def _path(table: Mapping[str, Any], key: str, base: Path) -> Path | None:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"console.{key}", f"must be a file path, got {value!r}")
    if not value:
        return None
    path = base / value
    if not path.is_file():
        raise ConfigError(f"console.{key}", f"{path} does not exist or is not a file")
    return path
