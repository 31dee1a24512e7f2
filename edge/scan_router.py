"""Classify every scanned string, from any scanner or camera, into a typed scan.

STUB: the rules are implemented in a follow-up; the types are the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
