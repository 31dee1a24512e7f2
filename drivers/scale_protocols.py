"""Serial scale protocols as pure frame parsers and encoders (both sides, for the simulator).

Two protocols shops meet most, each a class with the host side (``weight_request``, ``parse``)
and the scale side (``split_requests``, ``answer``) so that a simulated scale speaks exactly
what the driver reads. Weights are integer grams; pounds are converted with the exact
international pound (453.59237 g) and rounded half-even.

**Mettler Toledo 8217** (also "SASI"; 7 data bits, even parity, 1 stop bit):

=======================  ==============================================================
host sends               scale answers
=======================  ==============================================================
``W`` weight             ``STX 01.234 CR`` stable kilograms (3 decimals; pounds use 2:
                         ``STX 002.72 CR``), ``N`` appended for a net weight;
                         or ``STX ? <status> CR`` when it cannot give a weight
``Z`` zero               ``STX ? <status> CR``
=======================  ==============================================================

The status byte is ASCII with bit 6 always set: bit 0 in motion, bit 1 over capacity, bit 2
under zero, bit 3 outside the zero capture range, bit 4 at centre of zero, bit 5 net weight.
A stable weight of 0 is reported as ``zero``.

**Datalogic/NCR single-cable scanner-scale ("SCI")**: the scanner and the scale share one
port; every message starts with ``S`` and ends with CR:

=======================  ==============================================================
host sends               scanner-scale answers
=======================  ==============================================================
``S14`` scale monitor    ``S144wwwww`` stable non-zero weight: 5 digits are grams
                         (metric), 4 digits hundredths of a pound;
                         ``S140`` not ready (cannot find zero), ``S141`` in motion,
                         ``S142`` over capacity, ``S143`` stable zero, ``S145`` under zero
``S11`` valid weight     ``S11wwwww`` (only once the weight is stable and non-zero)
(unsolicited)            ``S08`` + label id + data: a scanned barcode (``A`` UPC-A,
                         ``E`` UPC-E, ``F`` EAN-13, ``FF`` EAN-8, ``B1`` Code 39,
                         ``B2`` Interleaved 2 of 5, ``B3`` Code 128)
=======================  ==============================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import ClassVar

from .base import ScaleState

GRAMS_PER_POUND = Decimal("453.59237")
STX, CR = b"\x02", b"\r"


class ProtocolError(ValueError):
    """A frame that does not follow the protocol."""


@dataclass(frozen=True, slots=True)
class ScaleFrame:
    state: ScaleState
    grams: int = 0          # meaningful for stable and zero readings
    detail: str = ""        # e.g. "net", "outside zero capture range"


@dataclass(frozen=True, slots=True)
class LabelFrame:
    text: str
    symbology: str | None


def to_grams(value: Decimal, unit: str) -> int:
    grams = value * 1000 if unit == "kg" else value * GRAMS_PER_POUND
    return int(grams.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


class ScaleProtocol:
    """One protocol, both directions."""

    name: ClassVar[str]
    framing: ClassVar[str]          # how the scale's answers are framed (see drivers.framing)
    zero_supported: ClassVar[bool]

    def __init__(self, unit: str = "kg") -> None:
        self.unit = unit

    def weight_request(self) -> bytes:
        raise NotImplementedError

    def zero_request(self) -> bytes:
        raise NotImplementedError

    def parse(self, frame: bytes) -> ScaleFrame | LabelFrame:
        raise NotImplementedError

    # -- the scale's side (the simulator) ------------------------------------------------

    def split_requests(self, data: bytes) -> tuple[list[bytes], bytes]:
        raise NotImplementedError

    def answer(self, request: bytes, state: ScaleState, grams: int) -> bytes | None:
        raise NotImplementedError


class Toledo8217(ScaleProtocol):
    name = "toledo8217"
    framing = "stx_cr"
    zero_supported = True
    _WEIGHT = re.compile(rb"^(\d{1,4}\.\d{2,3})(N?)$")
    _STATUS_BITS: ClassVar[dict[ScaleState, int]] = {
        ScaleState.MOTION: 0x01, ScaleState.OVER_CAPACITY: 0x02, ScaleState.UNDER_ZERO: 0x04}

    def weight_request(self) -> bytes:
        return b"W"

    def zero_request(self) -> bytes:
        return b"Z"

    def parse(self, frame: bytes) -> ScaleFrame:
        if frame.startswith(b"?"):
            if len(frame) != 2:
                raise ProtocolError(f"status frame of {len(frame)} bytes")
            return self._status(frame[1] & 0x7F)  # the top bit is parity on 7E1 lines
        found = self._WEIGHT.match(frame)
        if found is None:
            raise ProtocolError(f"not a weight: {frame[:32]!r}")
        try:
            grams = to_grams(Decimal(found.group(1).decode("ascii")), self.unit)
        except InvalidOperation as err:
            raise ProtocolError(f"not a number: {frame[:32]!r}") from err
        detail = "net" if found.group(2) else ""
        return ScaleFrame(ScaleState.ZERO if grams == 0 else ScaleState.STABLE, grams, detail)

    def _status(self, byte: int) -> ScaleFrame:
        if not byte & 0x40:
            raise ProtocolError(f"status byte 0x{byte:02x} lacks bit 6")
        if byte & 0x02:
            return ScaleFrame(ScaleState.OVER_CAPACITY)
        if byte & 0x04:
            return ScaleFrame(ScaleState.UNDER_ZERO)
        if byte & 0x01:
            return ScaleFrame(ScaleState.MOTION)
        if byte & 0x08:
            return ScaleFrame(ScaleState.ERROR, detail="outside zero capture range")
        if byte & 0x10:
            return ScaleFrame(ScaleState.ZERO)
        return ScaleFrame(ScaleState.ERROR, detail=f"status 0x{byte:02x} without a weight")

    def split_requests(self, data: bytes) -> tuple[list[bytes], bytes]:
        # Single letters; some hosts add CR or CRLF, which mean nothing here.
        return [bytes([b]) for b in data if b not in b"\r\n"], b""

    def answer(self, request: bytes, state: ScaleState, grams: int) -> bytes | None:
        if request not in (b"W", b"Z"):
            return STX + b"?" + bytes([0x40]) + CR
        if request == b"W" and state in (ScaleState.STABLE, ScaleState.ZERO):
            kilograms = Decimal(grams) / 1000
            text = f"{kilograms:06.3f}" if self.unit == "kg" else \
                f"{Decimal(grams) / GRAMS_PER_POUND:06.2f}"
            return STX + text.encode("ascii") + CR
        status = 0x40 | self._STATUS_BITS.get(state, 0)
        if state is ScaleState.ZERO or (state is ScaleState.STABLE and grams == 0):
            status |= 0x10
        if state is ScaleState.ERROR:
            status |= 0x08
        return STX + b"?" + bytes([status]) + CR


class SingleCable(ScaleProtocol):
    name = "sci"
    framing = "cr"
    zero_supported = False
    _MONITOR: ClassVar[dict[bytes, tuple[ScaleState, str]]] = {
        b"0": (ScaleState.ERROR, "not ready: cannot find zero"),
        b"1": (ScaleState.MOTION, ""), b"2": (ScaleState.OVER_CAPACITY, ""),
        b"3": (ScaleState.ZERO, ""), b"5": (ScaleState.UNDER_ZERO, "")}
    _LABEL_IDS = (("FF", "]E4"), ("F", "]E0"), ("A", "]E0"), ("E", "]E0"), ("B1", "]A0"),
                  ("B2", "]I0"), ("B3", "]C0"))

    def weight_request(self) -> bytes:
        return b"S14\r"

    def zero_request(self) -> bytes:
        raise ProtocolError("the single-cable protocol has no zero command; use the scale's "
                            "zero button")

    def parse(self, frame: bytes) -> ScaleFrame | LabelFrame:
        if frame.startswith(b"S08"):
            return self._label(frame[3:])
        if frame.startswith(b"S144"):
            return self._weight(frame[4:])
        if frame.startswith(b"S11"):
            return self._weight(frame[3:])
        if frame.startswith(b"S14") and len(frame) == 4 and frame[3:] in self._MONITOR:
            state, detail = self._MONITOR[frame[3:]]
            return ScaleFrame(state, 0, detail)
        raise ProtocolError(f"unexpected message {frame[:32]!r}")

    def _weight(self, digits: bytes) -> ScaleFrame:
        if not digits.isdigit() or len(digits) not in (4, 5):
            raise ProtocolError(f"weight of {len(digits)} characters: {digits[:16]!r}")
        # Five digits are metric grams, four are hundredths of a pound.
        grams = int(digits) if len(digits) == 5 else to_grams(Decimal(int(digits)) / 100, "lb")
        return ScaleFrame(ScaleState.ZERO if grams == 0 else ScaleState.STABLE, grams)

    def _label(self, data: bytes) -> LabelFrame:
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as err:
            raise ProtocolError("label data is not ASCII") from err
        for prefix, aim in self._LABEL_IDS:
            if text.startswith(prefix):
                return LabelFrame(text[len(prefix):], aim)
        return LabelFrame(text, None)

    def split_requests(self, data: bytes) -> tuple[list[bytes], bytes]:
        *lines, rest = data.split(b"\r")
        return [line.strip(b"\n") for line in lines if line.strip(b"\n")], rest

    def answer(self, request: bytes, state: ScaleState, grams: int) -> bytes | None:
        if request == b"S11":
            # A valid-weight request is only answered once there is one.
            return None if state is not ScaleState.STABLE else f"S11{grams:05d}\r".encode()
        if request != b"S14":
            return None
        if state is ScaleState.STABLE and grams > 0:
            return f"S144{grams:05d}\r".encode()
        code = {ScaleState.ERROR: "0", ScaleState.MOTION: "1", ScaleState.OVER_CAPACITY: "2",
                ScaleState.UNDER_ZERO: "5"}.get(state, "3")
        return f"S14{code}\r".encode()

    @staticmethod
    def label(text: str, label_id: str = "F") -> bytes:
        """Encode a scanned barcode as the scanner half sends it."""
        return f"S08{label_id}{text}\r".encode("ascii")


PROTOCOLS: dict[str, type[ScaleProtocol]] = {
    Toledo8217.name: Toledo8217,
    SingleCable.name: SingleCable,
}
