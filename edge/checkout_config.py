"""The ``[checkout]`` table: interventions, bagging-scale checks, receipts and the exit station.

Parsed key by key into a frozen ``CheckoutConfig``; every mistake names ``checkout.<key>``.
Every time is in milliseconds and configurable, so tests run the same rules faster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, reject_unknown_keys

RULES = ("age_restricted", "weight", "unknown_item", "quantity_limit", "rescan_audit")
ATTENDANT_ROLES = ("cashier", "supervisor", "it_admin")
_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Placeholders an e-receipt URL may use; the ones in _SIGNED are what the HMAC covers.
URL_FIELDS = ("store", "sale_id", "amount_fen", "receipt_no", "lane", "sig")
_SIGNED = ("store", "sale_id", "amount_fen", "sig")

# key: (type, default, lowest, highest)
_NUMBERS: dict[str, tuple[type, Any, float, float]] = {
    "bag_timeout_ms": (int, 15_000, 100, 600_000),
    "unexplained_grace_ms": (int, 1_500, 0, 60_000),
    "noise_g": (int, 5, 0, 1_000),
    "default_tolerance_g": (int, 15, 0, 10_000),
    "learn_min_samples": (int, 5, 1, 1_000),
    "attendant_sample_weight": (int, 3, 1, 100),
    "learn_window": (int, 50, 3, 10_000),
    "learn_tolerance_pct": (int, 10, 0, 100),
    "learn_min_tolerance_g": (int, 10, 0, 10_000),
    "max_qty_per_product": (int, 0, 0, 100_000),
    "max_items_per_sale": (int, 0, 0, 1_000_000),
    "rescan_audit_rate": (float, 0.0, 0.0, 1.0),
    "rescan_items": (int, 3, 1, 100),
    "exit_audit_rate": (float, 0.0, 0.0, 1.0),
    "exit_audit_items": (int, 2, 1, 100),
    "exit_clock_skew_s": (int, 120, 0, 86_400),
    "audit_seed": (int, None, 0, 2**63 - 1),
    "receipt_columns": (int, 32, 24, 64),
}
_OTHER = {"kiosk_rules", "staffed_rules", "attendant_role", "quantity_limits",
          "print_receipts", "receipt_footer", "ereceipt_url", "ereceipt_key_file",
          "exit_public_keys"}


@dataclass(frozen=True, slots=True)
class CheckoutConfig:
    kiosk_rules: frozenset[str] = frozenset(RULES)
    staffed_rules: frozenset[str] = frozenset({"age_restricted", "quantity_limit"})
    attendant_role: str = "cashier"
    bag_timeout_ms: int = 15_000
    unexplained_grace_ms: int = 1_500
    noise_g: int = 5
    default_tolerance_g: int = 15
    learn_min_samples: int = 5
    attendant_sample_weight: int = 3
    learn_window: int = 50
    learn_tolerance_pct: int = 10
    learn_min_tolerance_g: int = 10
    max_qty_per_product: int = 0
    max_items_per_sale: int = 0
    quantity_limits: Mapping[str, int] = field(default_factory=dict)
    rescan_audit_rate: float = 0.0
    rescan_items: int = 3
    audit_seed: int | None = None
    print_receipts: bool = True
    receipt_footer: str = "谢谢惠顾 Thank you"
    receipt_columns: int = 32
    ereceipt_url: str = ""
    ereceipt_key_file: Path = Path("ereceipt.key")
    exit_audit_rate: float = 0.0
    exit_audit_items: int = 2
    exit_clock_skew_s: int = 120
    exit_public_keys: tuple[Path, ...] = ()

    def rules_for(self, lane_kind: str) -> frozenset[str]:
        """Return the rules that apply at a lane of ``lane_kind``."""
        return {"kiosk": self.kiosk_rules, "staffed": self.staffed_rules}.get(
            lane_kind, frozenset())

    def quantity_limit(self, product_id: str) -> int:
        """Return the most units of a product one sale may hold without an attendant (0: any)."""
        return self.quantity_limits.get(product_id, self.max_qty_per_product)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, state_dir: Path) -> CheckoutConfig:
        """Validate the ``[checkout]`` table; raise ``ConfigError`` naming the bad key."""
        reject_unknown_keys(data, "checkout", {*_NUMBERS, *_OTHER})
        kwargs: dict[str, Any] = {k: _number(data, k) for k in _NUMBERS if k in data}
        return cls(**kwargs, **_others(data, state_dir))


def _others(data: Mapping[str, Any], state_dir: Path) -> dict[str, Any]:
    """Check the keys that are not plain numbers."""
    kwargs: dict[str, Any] = {}
    for key in ("kiosk_rules", "staffed_rules"):
        if key in data:
            kwargs[key] = _rules(data[key], key)
    if "attendant_role" in data:
        kwargs["attendant_role"] = _choice(data, "attendant_role", ATTENDANT_ROLES)
    if "quantity_limits" in data:
        kwargs["quantity_limits"] = _limits(data["quantity_limits"])
    if "print_receipts" in data:
        if not isinstance(data["print_receipts"], bool):
            raise ConfigError("checkout.print_receipts", "must be true or false")
        kwargs["print_receipts"] = data["print_receipts"]
    if "receipt_footer" in data:
        kwargs["receipt_footer"] = _text(data, "receipt_footer", 64)
    return {**kwargs, **_files(data, state_dir)}


def _files(data: Mapping[str, Any], state_dir: Path) -> dict[str, Any]:
    """Check the e-receipt link and the key files (relative to the state directory)."""
    kwargs: dict[str, Any] = {"ereceipt_key_file": state_dir / "ereceipt.key"}
    if "ereceipt_url" in data:
        kwargs["ereceipt_url"] = _url_template(data["ereceipt_url"])
    if "ereceipt_key_file" in data:
        kwargs["ereceipt_key_file"] = state_dir / _text(data, "ereceipt_key_file", 255)
    if "exit_public_keys" in data:
        value = data["exit_public_keys"]
        if not isinstance(value, list) or not all(
                isinstance(v, str) and 0 < len(v) < 256 for v in value):
            raise ConfigError("checkout.exit_public_keys", "must be a list of PEM file paths "
                              "(relative to [paths] state_dir)")
        kwargs["exit_public_keys"] = tuple(state_dir / v for v in value)
    return kwargs


def _number(data: Mapping[str, Any], key: str) -> Any:
    kind, _default, low, high = _NUMBERS[key]
    value = data[key]
    ok_type = isinstance(value, int) if kind is int else isinstance(value, int | float)
    if not ok_type or isinstance(value, bool) or not low <= value <= high:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"checkout.{key}", f"must be {what} from {low:g} to {high:g}, "
                          f"got {value!r}")
    return kind(value)


def _rules(value: Any, key: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v in RULES for v in value):
        raise ConfigError(f"checkout.{key}", f"must be a list of: {', '.join(RULES)}")
    return frozenset(value)


def _choice(data: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = data[key]
    if value not in allowed:
        raise ConfigError(f"checkout.{key}", f"{value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _text(data: Mapping[str, Any], key: str, max_len: int) -> str:
    value = data[key]
    if not isinstance(value, str) or len(value) > max_len or not value.isprintable():
        raise ConfigError(f"checkout.{key}", f"must be printable text of at most {max_len} "
                          "characters")
    return value


def _limits(value: Any) -> Mapping[str, int]:
    if not isinstance(value, dict):
        raise ConfigError("checkout.quantity_limits", "must be a table of product id = units")
    for product_id, units in value.items():
        if not _ID.fullmatch(product_id) or not isinstance(units, int) or \
                isinstance(units, bool) or not 1 <= units <= 100_000:
            raise ConfigError(f"checkout.quantity_limits.{product_id}",
                              "must be a whole number of units from 1 to 100000")
    return dict(value)


def _url_template(value: Any) -> str:
    if value == "":
        return ""
    if not isinstance(value, str) or len(value) > 400 or \
            not value.startswith(("https://", "http://")):
        raise ConfigError("checkout.ereceipt_url", "must be an http(s) URL template of at most "
                          "400 characters, or empty to turn the e-receipt QR off")
    names = re.findall(r"{([^{}]*)}", value)
    unknown = [n for n in names if n not in URL_FIELDS]
    if unknown:
        raise ConfigError("checkout.ereceipt_url", f"unknown placeholder {{{unknown[0]}}}; "
                          f"use {', '.join('{' + f + '}' for f in URL_FIELDS)}")
    missing = [n for n in _SIGNED if n not in names]
    if missing or len(names) != len(set(names)):
        raise ConfigError("checkout.ereceipt_url", "must hold {store}, {sale_id}, "
                          "{amount_fen} and {sig} once each (the signature covers them)")
    return value
