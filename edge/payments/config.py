"""The ``[payments]`` config table, parsed into frozen dataclasses; errors name the key."""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError, reject_unknown_keys

_T = TypeVar("_T")
_LOOPBACK_HOSTS = ("localhost",)


@dataclass(frozen=True, slots=True)
class WeChatSettings:
    enabled: bool = False
    base_url: str = "https://api.mch.weixin.qq.com"
    appid: str = ""
    mch_id: str = ""
    key_file: Path = Path("keys/wechat_api_key")
    sign_type: str = "HMAC-SHA256"
    terminal_ip: str = "127.0.0.1"
    device_info: str = ""
    cert_file: Path | None = None
    cert_key_file: Path | None = None


@dataclass(frozen=True, slots=True)
class AlipaySettings:
    enabled: bool = False
    base_url: str = "https://openapi.alipay.com/gateway.do"
    app_id: str = ""
    private_key_file: Path = Path("keys/alipay_app_private_key.pem")
    alipay_public_key_file: Path = Path("keys/alipay_public_key.pem")
    store_id: str = ""
    terminal_id: str = ""


@dataclass(frozen=True, slots=True)
class PaymentsConfig:
    """Timeouts and polling for both wallets, and each wallet's merchant settings."""

    request_timeout_ms: int = 10_000
    connect_timeout_ms: int = 3_000
    poll_interval_ms: int = 5_000
    poll_limit: int = 9
    reverse_retries: int = 5
    reverse_interval_ms: int = 3_000
    in_doubt_retry_max_ms: int = 300_000
    max_response_bytes: int = 64 * 1024
    description: str = ""
    wechat: WeChatSettings = field(default_factory=WeChatSettings)
    alipay: AlipaySettings = field(default_factory=AlipaySettings)

    @property
    def enabled(self) -> tuple[str, ...]:
        return tuple(name for name, on in (("wechat", self.wechat.enabled),
                                           ("alipay", self.alipay.enabled)) if on)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], state_dir: Path) -> PaymentsConfig:
        """Validate the ``[payments]`` table; key files are relative to ``state_dir``."""
        numbers = {  # key: (low, high)
            "request_timeout_ms": (100, 120_000), "connect_timeout_ms": (50, 60_000),
            "poll_interval_ms": (10, 60_000), "poll_limit": (1, 1_000),
            "reverse_retries": (1, 100), "reverse_interval_ms": (10, 60_000),
            "in_doubt_retry_max_ms": (10, 3_600_000), "max_response_bytes": (1024, 1 << 20),
        }
        reject_unknown_keys(data, "payments", {*numbers, "description", "wechat", "alipay"})
        kwargs: dict[str, Any] = {}
        for key, (low, high) in numbers.items():
            if key in data:
                kwargs[key] = _int(data, "payments", key, low, high)
        kwargs["description"] = _str(data, "payments", "description", "", 127)
        kwargs["wechat"] = _wechat(_table(data, "wechat"), state_dir)
        kwargs["alipay"] = _alipay(_table(data, "alipay"), state_dir)
        return cls(**kwargs)

    def with_state_dir(self, state_dir: Path) -> PaymentsConfig:
        """Return a copy whose key paths are re-rooted (the demo writes its own keys)."""
        return replace(self, wechat=replace(self.wechat, key_file=state_dir / "wechat_api_key"),
                       alipay=replace(self.alipay,
                                      private_key_file=state_dir / "alipay_app_private_key.pem",
                                      alipay_public_key_file=state_dir / "alipay_public_key.pem"))


def _wechat(data: Mapping[str, Any], state_dir: Path) -> WeChatSettings:
    where = "payments.wechat"
    reject_unknown_keys(data, where, set(WeChatSettings.__dataclass_fields__))
    enabled = _bool(data, where, "enabled")
    sign_type = _str(data, where, "sign_type", "HMAC-SHA256", 16)
    if sign_type not in ("MD5", "HMAC-SHA256"):
        raise ConfigError(f"{where}.sign_type", f"{sign_type!r} is not 'MD5' or 'HMAC-SHA256'")
    terminal_ip = _str(data, where, "terminal_ip", "127.0.0.1", 64)
    try:
        ipaddress.ip_address(terminal_ip)
    except ValueError:
        raise ConfigError(f"{where}.terminal_ip", f"{terminal_ip!r} is not an IP address") \
            from None
    cert, cert_key = data.get("cert_file"), data.get("cert_key_file")
    if (cert is None) != (cert_key is None):
        raise ConfigError(f"{where}.cert_file", "set both cert_file and cert_key_file, or "
                          "neither (the reverse call needs the merchant API certificate)")
    settings = WeChatSettings(
        enabled=enabled,
        base_url=_url(data, where, "base_url", WeChatSettings().base_url),
        appid=_str(data, where, "appid", "", 32),
        mch_id=_str(data, where, "mch_id", "", 32),
        key_file=_path(data, where, "key_file", state_dir, WeChatSettings().key_file),
        sign_type=sign_type,
        terminal_ip=terminal_ip,
        device_info=_str(data, where, "device_info", "", 32),
        cert_file=None if cert is None else _path(data, where, "cert_file", state_dir, None),
        cert_key_file=None if cert_key is None
        else _path(data, where, "cert_key_file", state_dir, None),
    )
    if enabled:
        for key in ("appid", "mch_id"):
            if not getattr(settings, key):
                raise ConfigError(f"{where}.{key}", "is required when enabled = true")
    return settings


def _alipay(data: Mapping[str, Any], state_dir: Path) -> AlipaySettings:
    where = "payments.alipay"
    reject_unknown_keys(data, where, set(AlipaySettings.__dataclass_fields__))
    settings = AlipaySettings(
        enabled=_bool(data, where, "enabled"),
        base_url=_url(data, where, "base_url", AlipaySettings().base_url),
        app_id=_str(data, where, "app_id", "", 32),
        private_key_file=_path(data, where, "private_key_file", state_dir,
                               AlipaySettings().private_key_file),
        alipay_public_key_file=_path(data, where, "alipay_public_key_file", state_dir,
                                     AlipaySettings().alipay_public_key_file),
        store_id=_str(data, where, "store_id", "", 32),
        terminal_id=_str(data, where, "terminal_id", "", 32),
    )
    if settings.enabled and not settings.app_id:
        raise ConfigError(f"{where}.app_id", "is required when enabled = true")
    return settings


def _url(data: Mapping[str, Any], where: str, key: str, default: str) -> str:
    value = _str(data, where, key, default, 256)
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}.{key}", f"{value!r} is not an http(s) URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        # Plain HTTP is for the simulators on this machine; money never crosses a LAN in clear.
        raise ConfigError(f"{where}.{key}", "plain http is only allowed to 127.0.0.1 "
                          "(the simulators); use https for a provider")
    return value.rstrip("/")


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"payments.{key}", "must be a table")
    return value




def _typed(data: Mapping[str, Any], where: str, key: str, kind: type[_T], default: _T) -> _T:
    value = data.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key}", f"must be {kind.__name__}, got {value!r}")
    return value


def _int(data: Mapping[str, Any], where: str, key: str, low: int, high: int) -> int:
    value = _typed(data, where, key, int, 0)
    if not low <= value <= high:
        raise ConfigError(f"{where}.{key}", f"must be {low}-{high}, got {value}")
    return value


def _bool(data: Mapping[str, Any], where: str, key: str) -> bool:
    return _typed(data, where, key, bool, False)


def _str(data: Mapping[str, Any], where: str, key: str, default: str, limit: int) -> str:
    value = _typed(data, where, key, str, default)
    if len(value) > limit or not value.isprintable():
        raise ConfigError(f"{where}.{key}", f"must be printable and at most {limit} characters")
    return value


def _path(
    data: Mapping[str, Any], where: str, key: str, state_dir: Path, default: Path | None
) -> Path:
    raw = data.get(key)
    if raw is None:
        if default is None:
            raise ConfigError(f"{where}.{key}", "is required")
        return state_dir / default
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{where}.{key}", "must be a file path")
    return state_dir / raw
