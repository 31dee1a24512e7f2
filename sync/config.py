"""The ``[sync]`` config section: where the CRM is, how hard to try, and the offline limits."""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, reject_unknown_keys

_MS_RANGE = (1, 86_400_000)


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """Every knob of the sync client; times are milliseconds unless the name says otherwise."""

    enabled: bool = True
    crm_url: str = ""                      # empty: the URL the device was paired with
    credentials_file: str = "sync-credentials.json"   # inside the state directory
    ca_file: str = ""                      # a chain's private CA bundle; empty: system CAs
    allow_insecure_http: bool = False      # plain http to a non-loopback host
    connect_timeout_ms: int = 5_000
    request_timeout_ms: int = 30_000
    push_batch_events: int = 1_000
    push_batch_bytes: int = 4 * 1024 * 1024     # uncompressed JSON per request
    push_in_flight: int = 3                # batches posted before the oldest one's answer
    push_interval_ms: int = 1_000          # look for new events this often without a nudge
    push_linger_ms: int = 20               # after a sale, wait this long for more to batch
    pull_interval_ms: int = 30_000
    pull_page_size: int = 500
    backoff_base_ms: int = 500
    backoff_max_ms: int = 60_000
    retry_after_max_ms: int = 600_000      # never obey a Retry-After longer than this
    breaker_failures: int = 5
    breaker_reset_ms: int = 30_000
    offline_after_ms: int = 60_000         # no answer for this long: offline
    max_clock_skew_ms: int = 30_000        # larger: degraded, and the console says so
    backlog_warn_ms: int = 300_000         # an unsent event older than this: degraded
    max_response_bytes: int = 16 * 1024 * 1024
    status_refresh_ms: int = 2_000
    credentials_poll_ms: int = 2_000       # an unpaired daemon looks for a pairing this often
    offline_per_transaction_fen: int = 20_000
    offline_total_fen: int = 100_000
    offline_max_age_s: int = 86_400

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: Path | None = None) -> SyncConfig:
        """Validate the ``[sync]`` table; raise ``ConfigError`` naming the bad key.

        A relative ``ca_file`` is taken from ``base``, the folder of the config file.
        """
        known = {f.name: f for f in fields(cls)}
        reject_unknown_keys(data, "sync", known)
        kwargs = {key: _checked(key, value, known[key].default) for key, value in data.items()}
        if kwargs.get("ca_file") and base is not None:
            kwargs["ca_file"] = str(base / kwargs["ca_file"])
        config = cls(**kwargs)
        if config.crm_url:
            check_crm_url(config.crm_url, config.allow_insecure_http, "sync.crm_url")
        if config.push_linger_ms >= config.push_interval_ms:
            raise ConfigError("sync.push_linger_ms", "must be shorter than push_interval_ms")
        if config.backoff_base_ms > config.backoff_max_ms:
            raise ConfigError("sync.backoff_base_ms", "must not exceed backoff_max_ms")
        return config

    def credentials_path(self, state_dir: Path) -> Path:
        return state_dir / self.credentials_file


_RANGES = {
    "push_batch_events": (1, 10_000),
    "push_batch_bytes": (4096, 64 * 1024 * 1024),
    "push_in_flight": (1, 4),
    "pull_page_size": (1, 5_000),
    "breaker_failures": (1, 1_000),
    "max_response_bytes": (4096, 256 * 1024 * 1024),
}


def _range(key: str) -> tuple[int, int]:
    if key in _RANGES:
        return _RANGES[key]
    if key.endswith("_fen"):
        return 0, 100_000_000
    if key.endswith("_s"):
        return 1, 365 * 86_400
    return _MS_RANGE


def _checked(key: str, value: Any, default: Any) -> Any:
    """Check one value against the type of its default and the key's range."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"sync.{key}", f"must be true or false, got {value!r}")
    elif isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"sync.{key}", f"must be a whole number, got {value!r}")
        low, high = _range(key)
        if not low <= value <= high:
            raise ConfigError(f"sync.{key}", f"must be {low}-{high}, got {value}")
    elif not isinstance(value, str) or len(value) > 1024:
        raise ConfigError(f"sync.{key}", f"must be a string, got {value!r}")
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_crm_url(url: str, allow_insecure_http: bool, key: str = "crm_url") -> str:
    """Return ``url`` without a trailing slash; refuse what would send secrets in the clear."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(key, f"{url!r} is not an http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(key, "must not carry a query, a fragment or credentials")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not allow_insecure_http:
        raise ConfigError(key, f"plain http to {parts.hostname} would expose sales on the "
                          "network; use https, or set sync.allow_insecure_http = true")
    return url.rstrip("/")
