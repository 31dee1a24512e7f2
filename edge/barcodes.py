"""Barcode arithmetic: GTIN check digits and normalisation, GS1 element strings, scale labels.

GTINs, UPC-E expansion, GS1 element strings and the price/weight verifier digit come from
``biip``, a maintained GS1 library. The in-store variable-measure label is parsed by hand from a
template, because its layout is each store's choice (GS1 leaves prefix-2 numbers to the retailer)
and biip's RCN support only knows a handful of European national layouts.

Template syntax, 13 characters long: digits are literal prefix digits; letters are fields —
``I`` item code, ``P`` price, ``W`` weight in grams, ``V`` the GS1 price/weight verifier digit
over the P or W field (4- or 5-digit fields), ``C`` the final GTIN check digit. Example:
``22IIIIIPPPPPC`` is prefix 22, a 5-digit item code, a 5-digit price and the check digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from biip import ParseError
from biip.checksums import gs1_price_weight_check_digit, gs1_standard_check_digit
from biip.gs1_messages import GS1Message
from biip.upc import Upc

_TEMPLATE = re.compile(r"^2[0-9]*I+V?(?:P+|W+)C$")


class BarcodeError(ValueError):
    """The code has the shape of a barcode but is wrong; the message says how."""


def check_digit(payload: str) -> int:
    """Return the GS1 mod-10 check digit for ``payload`` (all digits)."""
    return gs1_standard_check_digit(payload)


def normalise_gtin(digits: str, *, upc_e: bool = False) -> str:
    """Return the 14-digit GTIN of an EAN-13/8, UPC-A or UPC-E code; raise ``BarcodeError``.

    An 8-digit code is EAN-8 unless ``upc_e`` says the scanner read UPC-E.
    """
    if not digits.isdigit() or not digits.isascii():
        raise BarcodeError("not all digits")
    if upc_e:
        try:
            upc = Upc.parse(digits)
        except ParseError as err:
            raise BarcodeError(str(err)) from None
        return upc.as_upc_a().rjust(14, "0")
    if len(digits) not in (8, 12, 13, 14):
        raise BarcodeError(f"{len(digits)} digits is not a GTIN length")
    expected = check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise BarcodeError(f"bad check digit: got {digits[-1]}, expected {expected}")
    return digits.rjust(14, "0")


@dataclass(frozen=True, slots=True)
class ElementString:
    """What a GS1 element string says about a product."""

    gtin: str
    weight_g: int | None
    price_fen: int | None


def parse_element_string(text: str) -> ElementString:
    """Parse a GS1 element string (raw with GS separators, or "(01)..." text)."""
    try:
        message = GS1Message.parse_hri(text) if text.startswith("(") else GS1Message.parse(text)
    except ParseError as err:
        raise BarcodeError(f"not a valid GS1 element string: {err}") from None
    gtin = weight = price = None
    for element in message.element_strings:
        ai = element.ai.ai
        if ai == "01":
            if element.gtin is None:
                raise BarcodeError(f"bad GTIN in AI 01: {element.gtin_error}")
            gtin = element.gtin.as_gtin_14()
        elif ai.startswith("310") and element.decimal is not None:
            weight = int(element.decimal * 1000)  # kilograms, exact in Decimal
        elif ai.startswith("392") and element.decimal is not None:
            price = int(element.decimal * 100)
    if gtin is None:
        raise BarcodeError("GS1 element string has no GTIN (AI 01)")
    return ElementString(gtin, weight, price)


@dataclass(frozen=True, slots=True)
class LabelFormat:
    """One in-store variable-measure label layout."""

    template: str
    price_unit_fen: int = 1

    def __post_init__(self) -> None:
        if len(self.template) != 13 or not _TEMPLATE.match(self.template):
            raise ValueError(
                f"{self.template!r} is not a 13-character template like '22IIIIIPPPPPC'")
        if self.template[0] != "2":
            raise ValueError("in-store labels start with 2 (GS1 restricted circulation)")
        if self.price_unit_fen not in (1, 10, 100):
            raise ValueError("price_unit_fen must be 1 (fen), 10 (jiao) or 100 (yuan)")
        value_len = self.template.count("P") + self.template.count("W")
        if "V" in self.template and value_len not in (4, 5):
            raise ValueError("a verifier digit (V) needs a 4- or 5-digit price or weight")

    @property
    def prefix(self) -> str:
        return self.template[: len(self.template) - len(self.template.lstrip("0123456789"))]

    def _field(self, code: str, letter: str) -> str:
        return "".join(c for c, t in zip(code, self.template, strict=True) if t == letter)

    def match(self, code: str) -> tuple[str, int | None, int | None] | None:
        """Return (item code, price in fen, weight in grams), or None if the prefix differs.

        Raises ``BarcodeError`` when the prefix matches but a check digit is wrong.
        """
        if len(code) != 13 or not code.startswith(self.prefix):
            return None
        expected = check_digit(code[:12])
        if int(code[12]) != expected:
            raise BarcodeError(f"bad check digit: got {code[12]}, expected {expected}")
        value = self._field(code, "P") or self._field(code, "W")
        verifier = self._field(code, "V")
        if verifier:
            want = gs1_price_weight_check_digit(value)
            if int(verifier) != want:
                raise BarcodeError(f"bad price/weight verifier digit: got {verifier}, "
                                   f"expected {want}")
        item = self._field(code, "I")
        if "P" in self.template:
            return item, int(value) * self.price_unit_fen, None
        return item, None, int(value)

