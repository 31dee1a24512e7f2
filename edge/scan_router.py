"""Classify every scanned string, from any scanner or camera, into a typed scan.

The order is DESIGN.md's: rejections first, then attendant badge, exit token, WeChat and Alipay
payment codes, member, coupon and guide codes, GS1 element strings, in-store variable-measure
labels, product GTINs, and finally unknown. ``route`` is pure and never raises: whatever a
scanner sends becomes one typed value. Prefixes and formats come from ``ScanRules``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .barcodes import BarcodeError, LabelFormat, normalise_gtin, parse_element_string
from .errors import ConfigError, reject_unknown_keys


@dataclass(frozen=True, slots=True)
class BadgeScan:
    text: str
    badge_id: str


@dataclass(frozen=True, slots=True)
class ExitTokenScan:
    text: str
    token: str


@dataclass(frozen=True, slots=True)
class PaymentCodeScan:
    text: str
    provider: Literal["wechat", "alipay"]
    code: str


@dataclass(frozen=True, slots=True)
class MemberCodeScan:
    text: str
    code: str


@dataclass(frozen=True, slots=True)
class CouponCodeScan:
    text: str
    code: str


@dataclass(frozen=True, slots=True)
class GuideCodeScan:
    text: str
    guide_id: str


@dataclass(frozen=True, slots=True)
class WeighedItemScan:
    """A GS1 in-store variable-measure label: an item code with a price or a weight."""

    text: str
    item_code: str
    price_fen: int | None
    weight_g: int | None


@dataclass(frozen=True, slots=True)
class ProductScan:
    """A product GTIN with a valid check digit, normalised to 14 digits.

    A GS1 element string (GS1-128, DataBar, GS1 QR) may also carry a net weight (AI 310n) or an
    amount payable (AI 392n); those arrive here in grams and fen.
    """

    text: str
    gtin: str
    weight_g: int | None = None
    price_fen: int | None = None


@dataclass(frozen=True, slots=True)
class UnknownScan:
    text: str


@dataclass(frozen=True, slots=True)
class RejectedScan:
    text: str
    reason: str


RoutedScan = (
    BadgeScan
    | ExitTokenScan
    | PaymentCodeScan
    | MemberCodeScan
    | CouponCodeScan
    | GuideCodeScan
    | WeighedItemScan
    | ProductScan
    | UnknownScan
    | RejectedScan
)


# -- rules ------------------------------------------------------------------------------------

_AIM = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_GS1_SYMBOLOGIES = frozenset({"]C1", "]e0", "]Q3", "]d2", "]J1"})
_PAYLOAD = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_MAX_SCAN_LENGTH = 256


def _default_formats() -> tuple[LabelFormat, ...]:
    return (
        LabelFormat("22IIIIIPPPPPC"),  # price in fen, as most Chinese retail scales print
        LabelFormat("23IIIIIWWWWWC"),  # weight in grams
        LabelFormat("24IIIIVPPPPPC"),  # price in fen with the GS1 price verifier digit
    )


@dataclass(frozen=True, slots=True)
class ScanRules:
    """What the router recognises; the ``[scan]`` table of the config."""

    max_length: int = _MAX_SCAN_LENGTH
    badge_prefixes: tuple[str, ...] = ("BADGE:",)
    exit_token_prefixes: tuple[str, ...] = ("EXIT.",)
    wechat_lengths: tuple[int, ...] = (18,)
    wechat_prefix_range: tuple[int, int] = (10, 15)
    alipay_lengths: tuple[int, int] = (16, 24)
    alipay_prefix_range: tuple[int, int] = (25, 30)
    member_prefixes: tuple[str, ...] = ("MC",)
    coupon_prefixes: tuple[str, ...] = ("CP",)
    guide_prefixes: tuple[str, ...] = ("GD",)
    label_formats: tuple[LabelFormat, ...] = field(default_factory=_default_formats)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ScanRules:
        """Validate the ``[scan]`` table; raise ``ConfigError`` naming the bad key."""
        reject_unknown_keys(data, "scan", cls.__dataclass_fields__)
        kwargs: dict[str, Any] = {}
        if "max_length" in data:
            kwargs["max_length"] = _int(data, "max_length", 1, 4096)
        for key in ("badge_prefixes", "exit_token_prefixes", "member_prefixes",
                    "coupon_prefixes", "guide_prefixes"):
            if key in data:
                kwargs[key] = _prefixes(data, key)
        for key in ("wechat_prefix_range", "alipay_prefix_range", "alipay_lengths"):
            if key in data:
                kwargs[key] = _pair(data, key)
        if "wechat_lengths" in data:
            value = data["wechat_lengths"]
            if not isinstance(value, list) or not value or not all(
                    isinstance(v, int) and not isinstance(v, bool) and 10 <= v <= 32
                    for v in value):
                raise ConfigError("scan.wechat_lengths", "must be a list of lengths 10-32")
            kwargs["wechat_lengths"] = tuple(value)
        if "label_formats" in data:
            kwargs["label_formats"] = _formats(data["label_formats"])
        return cls(**kwargs)


def _int(data: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"scan.{key}", f"must be a whole number {low}-{high}, got {value!r}")
    return value


def _prefixes(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data[key]
    if not isinstance(value, list) or not all(
            isinstance(v, str) and 0 < len(v) <= 16 and v.isprintable() and not v.isdigit()
            for v in value):
        raise ConfigError(f"scan.{key}", "must be a list of short non-numeric prefixes "
                          "(a numeric prefix would swallow product barcodes)")
    return tuple(value)


def _pair(data: Mapping[str, Any], key: str) -> tuple[int, int]:
    value = data[key]
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
            or value[0] > value[1]):
        raise ConfigError(f"scan.{key}", f"must be [low, high] with low <= high, got {value!r}")
    return value[0], value[1]


def _formats(value: Any) -> tuple[LabelFormat, ...]:
    if not isinstance(value, list):
        raise ConfigError("scan.label_formats", "must be an array of tables")
    formats = []
    for i, item in enumerate(value):
        where = f"scan.label_formats[{i}]"
        if not isinstance(item, dict) or set(item) - {"template", "price_unit_fen"}:
            raise ConfigError(where, "must be a table with template and price_unit_fen")
        try:
            formats.append(LabelFormat(str(item.get("template", "")),
                                       int(item.get("price_unit_fen", 1))))
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{where}.template", str(err)) from None
    return tuple(formats)


# -- routing ----------------------------------------------------------------------------------

def route(text: str, rules: ScanRules, symbology: str | None = None) -> RoutedScan:
    """Classify one scanned string; never raises."""
    try:
        return _route(text, rules, symbology)
    except Exception as err:  # a router bug must cost one scan, never the lane
        return RejectedScan(text[:rules.max_length], f"could not classify: {err}")


def _route(raw: str, rules: ScanRules, symbology: str | None) -> RoutedScan:
    text = raw.strip(" \r\n\t")
    if _AIM.match(text):
        symbology, text = text[:3], text[3:]
    for step in (_rejected, _prefixed, _payment_code):
        found = step(text, rules)
        if found is not None:
            return found
    if symbology in _GS1_SYMBOLOGIES or text.startswith("(01)") or "\x1d" in text:
        try:
            element = parse_element_string(text)
        except BarcodeError as err:
            return RejectedScan(text, str(err))
        return ProductScan(text, element.gtin, element.weight_g, element.price_fen)
    if not (text.isdigit() and text.isascii()):
        return UnknownScan(text)
    return _label(text, rules) or _numeric(text, symbology)


def _rejected(text: str, rules: ScanRules) -> RoutedScan | None:
    if not text:
        return RejectedScan(text, "empty scan")
    if len(text) > rules.max_length:
        return RejectedScan(text[: rules.max_length], f"longer than {rules.max_length} characters")
    bad = next((c for c in text if (ord(c) < 0x20 and c != "\x1d") or 0x7F <= ord(c) < 0xA0),
               None)
    if bad is not None:
        return RejectedScan(text, f"control character 0x{ord(bad):02x} in scan")
    return None


def _prefixed(text: str, rules: ScanRules) -> RoutedScan | None:
    """Badge, exit token, member, coupon and guide codes: all told apart by their prefix."""
    for prefix in rules.badge_prefixes:
        if text.startswith(prefix):
            return _payload(text, prefix, lambda p: BadgeScan(text, p))
    for prefix in rules.exit_token_prefixes:
        if text.startswith(prefix) and len(text) > len(prefix):
            return ExitTokenScan(text, text[len(prefix):])
    if text.isdigit():
        return None  # payment codes come before member codes in the design's order
    return _member_coupon_guide(text, rules)


def _member_coupon_guide(text: str, rules: ScanRules) -> RoutedScan | None:
    for prefixes, make in (
        (rules.member_prefixes, lambda p: MemberCodeScan(text, p)),
        (rules.coupon_prefixes, lambda p: CouponCodeScan(text, p)),
        (rules.guide_prefixes, lambda p: GuideCodeScan(text, p)),
    ):
        for prefix in prefixes:
            if text.startswith(prefix):
                return _payload(text, prefix, make)
    return None


def _payment_code(text: str, rules: ScanRules) -> RoutedScan | None:
    if not (text.isdigit() and text.isascii()):
        return None
    head = int(text[:2])
    low, high = rules.wechat_prefix_range
    if len(text) in rules.wechat_lengths and low <= head <= high:
        return PaymentCodeScan(text, "wechat", text)
    low, high = rules.alipay_prefix_range
    if rules.alipay_lengths[0] <= len(text) <= rules.alipay_lengths[1] and low <= head <= high:
        return PaymentCodeScan(text, "alipay", text)
    return None


def _payload(text: str, prefix: str, make: Any) -> RoutedScan:
    payload = text[len(prefix):]
    if not _PAYLOAD.match(payload):
        return RejectedScan(text, f"malformed code after {prefix!r}")
    result: RoutedScan = make(payload)
    return result


def _label(text: str, rules: ScanRules) -> RoutedScan | None:
    if len(text) != 13 or text[0] != "2":
        return None
    for fmt in rules.label_formats:
        try:
            found = fmt.match(text)
        except BarcodeError as err:
            return RejectedScan(text, str(err))
        if found is not None:
            return WeighedItemScan(text, *found)
    return None  # a prefix-2 code no format claims is an in-store fixed-price product


def _numeric(text: str, symbology: str | None) -> RoutedScan:
    # UPC-E travels as 6-8 digits. An 8-digit code is EAN-8 unless the scanner said ]E0
    # (the UPC/EAN-13 family; EAN-8 is ]E4) or it only makes sense as UPC-E.
    upc_e = len(text) in (6, 7) or (
        len(text) == 8 and (symbology == "]E0" or not _ean8_valid(text)))
    if upc_e:
        try:
            return ProductScan(text, normalise_gtin(text, upc_e=True))
        except BarcodeError:
            if len(text) != 8:
                return UnknownScan(text)
            # Neither UPC-E nor EAN-8: report it as the EAN-8 it most likely is.
    if len(text) in (8, 12, 13, 14):
        try:
            return ProductScan(text, normalise_gtin(text))
        except BarcodeError as err:
            return RejectedScan(text, str(err))
    return UnknownScan(text)


def _ean8_valid(text: str) -> bool:
    try:
        normalise_gtin(text)
    except BarcodeError:
        return False
    return True
