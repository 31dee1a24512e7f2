"""Cut a serial byte stream into frames: CR, LF, CRLF, STX/ETX or STX/CR; bounded.

Serial devices send whatever the line carries: a frame may arrive in pieces, several at once,
with noise between them, or never end. ``Framer.feed`` returns complete frames (without their
delimiters) and, as ``Overflow``, what had to be thrown away: a frame longer than the limit is
dropped up to its end, and bytes outside STX...ETX are reported once per run.
"""

from __future__ import annotations

from dataclasses import dataclass

STX, ETX, CR, LF = 0x02, 0x03, 0x0D, 0x0A
FRAMINGS = ("cr", "lf", "crlf", "stx_etx", "stx_cr")


@dataclass(frozen=True, slots=True)
class Overflow:
    """Bytes that are not part of a usable frame, and why."""

    reason: str
    raw: bytes


class Framer:
    """Incremental framer for one stream; ``feed`` it bytes as they arrive."""

    def __init__(self, framing: str, max_length: int) -> None:
        if framing not in FRAMINGS:
            raise ValueError(f"unknown framing {framing!r}")
        self.framing = framing
        self.max_length = max_length
        self._buffer = bytearray()
        self._in_frame = not framing.startswith("stx")
        self._junk = bytearray()
        self._skipping = False   # dropping an over-long frame until its end

    def feed(self, data: bytes) -> list[bytes | Overflow]:
        out: list[bytes | Overflow] = []
        for byte in data:
            if self.framing.startswith("stx"):
                self._feed_stx(byte, out)
            else:
                self._feed_line(byte, out)
        if self._junk and not self._in_frame:
            out.append(self._take_junk())
        return out

    def _feed_line(self, byte: int, out: list[bytes | Overflow]) -> None:
        end = {"cr": CR, "lf": LF, "crlf": LF}[self.framing]
        if byte == end:
            frame = bytes(self._buffer)
            self._buffer.clear()
            if self.framing == "crlf":
                # A lone LF (no CR before it) still ends the line: scanners set to CRLF
                # sometimes send LF only, and a line must not grow into the next scan.
                frame = frame.removesuffix(b"\r")
            elif self.framing == "lf":
                frame = frame.removesuffix(b"\r")
            if self._skipping:
                self._skipping = False
                return
            out.append(frame)
            return
        self._append(byte, out)

    def _feed_stx(self, byte: int, out: list[bytes | Overflow]) -> None:
        end = ETX if self.framing == "stx_etx" else CR
        if byte == STX:
            if self._in_frame and self._buffer:
                out.append(Overflow("frame cut short by a new STX", bytes(self._buffer[:1024])))
            if self._junk:
                out.append(self._take_junk())
            self._buffer.clear()
            self._in_frame, self._skipping = True, False
            return
        if not self._in_frame:
            if len(self._junk) < 1024:
                self._junk.append(byte)
            return
        if byte == end:
            frame = bytes(self._buffer)
            self._buffer.clear()
            self._in_frame = False
            if self._skipping:
                self._skipping = False
                return
            out.append(frame)
            return
        self._append(byte, out)

    def _append(self, byte: int, out: list[bytes | Overflow]) -> None:
        if self._skipping:
            return
        self._buffer.append(byte)
        if len(self._buffer) > self.max_length:
            out.append(Overflow(f"longer than {self.max_length} bytes",
                                bytes(self._buffer[:1024])))
            self._buffer.clear()
            self._skipping = True

    def _take_junk(self) -> Overflow:
        junk = bytes(self._junk)
        self._junk.clear()
        return Overflow(f"{len(junk)} byte(s) outside a frame", junk)

    def reset(self) -> bytes:
        """Forget a partial frame (the link dropped); return what was pending."""
        pending = bytes(self._buffer)
        self._buffer.clear()
        self._junk.clear()
        self._in_frame = not self.framing.startswith("stx")
        self._skipping = False
        return pending
