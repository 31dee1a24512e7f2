"""A receipt as data, and its ESC/POS bytes (rendered with python-escpos).

The sales side fills a ``Receipt`` with blocks: lines of text (bold, size, alignment), QR codes
(an e-receipt link, a coupon to share), blank lines and a cut. ``render`` turns it into the
bytes a receipt printer takes, without touching any printer, so a job can be journaled and
sent in one piece.

Chinese receipt printers print GB18030 text in their Chinese character mode (``FS &``);
``encoding = "gb18030"`` (the default) does that. ``encoding = "escpos"`` lets python-escpos
pick single-byte code pages for Latin text instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from escpos.printer import Dummy

MAX_BLOCKS = 500
MAX_TEXT = 256
MAX_QR = 1000
FS_CHINESE_ON = b"\x1c\x26"
ENCODINGS = ("gb18030", "escpos")


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    bold: bool = False
    size: Literal["normal", "wide", "tall", "double"] = "normal"
    align: Literal["left", "center", "right"] = "left"


@dataclass(frozen=True, slots=True)
class Qr:
    data: str
    size: int = 6           # module size in dots, 1-16
    align: Literal["left", "center", "right"] = "center"


@dataclass(frozen=True, slots=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True, slots=True)
class Cut:
    partial: bool = False


Block = Text | Qr | Feed | Cut


class ReceiptError(ValueError):
    """A receipt that cannot be printed as given; the message names the block."""


@dataclass(frozen=True, slots=True)
class Receipt:
    blocks: tuple[Block, ...]

    def validate(self) -> None:
        if not self.blocks or len(self.blocks) > MAX_BLOCKS:
            raise ReceiptError(f"a receipt has 1-{MAX_BLOCKS} blocks, not {len(self.blocks)}")
        for i, block in enumerate(self.blocks):
            _check(i, block)


def _check(i: int, block: Block) -> None:
    if isinstance(block, Text):
        if len(block.text) > MAX_TEXT:
            raise ReceiptError(f"block {i}: text longer than {MAX_TEXT} characters")
        if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in block.text):
            raise ReceiptError(f"block {i}: control characters would reach the printer")
        if block.size not in ("normal", "wide", "tall", "double"):
            raise ReceiptError(f"block {i}: size {block.size!r}")
    elif isinstance(block, Qr):
        if not block.data or len(block.data.encode()) > MAX_QR:
            raise ReceiptError(f"block {i}: QR data must be 1-{MAX_QR} bytes")
        if not 1 <= block.size <= 16:
            raise ReceiptError(f"block {i}: QR size must be 1-16")
    elif isinstance(block, Feed) and not 0 <= block.lines <= 20:
        raise ReceiptError(f"block {i}: feed 0-20 lines")


def render(receipt: Receipt, *, encoding: str = "gb18030", profile: str = "default") -> bytes:
    """Return the ESC/POS bytes of ``receipt``."""
    receipt.validate()
    out = Dummy(profile=profile)
    if encoding == "gb18030":
        out._raw(FS_CHINESE_ON)
    for block in receipt.blocks:
        if isinstance(block, Text):
            out.set(align=block.align, bold=block.bold, normal_textsize=block.size == "normal",
                    double_width=block.size in ("wide", "double"),
                    double_height=block.size in ("tall", "double"))
            if encoding == "gb18030":
                out._raw(block.text.encode("gb18030", "replace") + b"\n")
            else:
                out.textln(block.text)
        elif isinstance(block, Qr):
            out.set(align=block.align)
            out.qr(block.data, size=block.size, native=True)
        elif isinstance(block, Feed):
            out.ln(block.lines)
        else:
            out.cut(mode="PART" if block.partial else "FULL")
    out.set(align="left", bold=False, normal_textsize=True)
    return bytes(out.output)


def drawer_kick(pin: int) -> bytes:
    """Return the ESC/POS pulse that opens the cash drawer on connector pin 2 or 5."""
    out = Dummy()
    out.cashdraw(pin)
    return bytes(out.output)
