"""Turn the key events of a USB scan gun into scans: a plain class fed evdev tuples.

The decoder is fed ``(timestamp, type, code, value)`` exactly as evdev delivers them (EV_KEY
with value 1 down, 0 up, 2 auto-repeat; EV_MSC scan codes and EV_SYN reports are ignored) and
returns a ``ScanData`` or ``ScanRejected`` when a scan ends. It keeps the layout-independent key
strokes of the scan in progress and applies the layout only at the end, so the same strokes can
be re-read under every layout to recognise the calibration barcode.

Rules, in the order they apply:

- A scan ends at a terminator key (Enter, keypad Enter, and Tab if configured).
- A gap longer than the inter-key timeout between two key events discards the scan in progress
  (``ScanRejected`` "incomplete scan"): a half scan must never be glued to the next one. The
  device class calls ``expire()`` when no event came for that long.
- Keys that type nothing in a scan (F-keys, arrows, Escape, Backspace) reject the scan, and so
  does a key held long enough to auto-repeat (except in "keyboard" mode).
- Ctrl+key types the ASCII control character (Ctrl+] is GS, the GS1 separator scanners send in
  keyboard mode); Alt held while typing keypad digits types the character with that code.
- In "auto" mode a device not known to be a scanner must type faster than a person can
  (mean gap between key presses at most ``max_mean_gap``), or the text is rejected as typing.
- AIM symbology identifiers (``]E0``, ``]C1``, ``]Q1``, ...) at the start become the
  ``symbology`` and are removed from the text.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .base import MAX_SCAN_LENGTH, ScanData, ScanRejected, validate_scan_text
from .keymaps import (
    CALIBRATION_TEXT,
    KEY_ENTER,
    KEY_KPENTER,
    KEY_SPACE,
    KEY_TAB,
    KEYPAD_DIGITS,
    LAYOUTS,
    Layout,
)

EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2
KEY_LEFTCTRL, KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_LEFTALT, KEY_CAPSLOCK = 29, 42, 54, 56, 58
KEY_NUMLOCK, KEY_RIGHTCTRL, KEY_RIGHTALT, KEY_LEFTMETA, KEY_RIGHTMETA = 69, 97, 100, 125, 126
TERMINATOR_KEYS = {"enter": (KEY_ENTER, KEY_KPENTER), "tab": (KEY_TAB,)}
_MODIFIERS = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_LEFTALT,
                        KEY_RIGHTALT, KEY_LEFTMETA, KEY_RIGHTMETA, KEY_NUMLOCK})
_AIM = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_CONTROLLABLE = "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_"

# struct input_event on 64-bit Linux: struct timeval (two longs), u16 type, u16 code, s32 value.
INPUT_EVENT = struct.Struct("llHHi")
RawEvent = tuple[float, int, int, int]


def parse_input_events(data: bytes) -> tuple[list[RawEvent], bytes]:
    """Split kernel bytes into events; return them and the bytes of an incomplete last one."""
    size = INPUT_EVENT.size
    whole = len(data) - len(data) % size
    events = [(sec + usec / 1e6, etype, code, value)
              for sec, usec, etype, code, value in INPUT_EVENT.iter_unpack(data[:whole])]
    return events, data[whole:]


def pack_input_event(timestamp: float, etype: int, code: int, value: int) -> bytes:
    sec = int(timestamp)
    return INPUT_EVENT.pack(sec, round((timestamp - sec) * 1e6), etype, code, value)


@dataclass(frozen=True, slots=True)
class Stroke:
    """One key press with the modifier state it was made under, before any layout applies."""

    code: int
    shift: bool = False
    altgr: bool = False
    caps: bool = False
    ctrl: bool = False
    char: str = ""          # set when the press typed a character by code (Alt + keypad)


@dataclass(frozen=True, slots=True)
class LayoutDetected:
    """The calibration barcode was scanned: the device types in ``layout``."""

    device_id: str
    layout: str


@dataclass(frozen=True, slots=True)
class DecoderOptions:
    layout: str = "us"
    terminators: tuple[int, ...] = (KEY_ENTER, KEY_KPENTER)
    inter_key_timeout: float = 0.08     # seconds
    mode: str = "scanner"               # "scanner", "keyboard" or "auto"
    max_mean_gap: float = 0.03          # seconds; "auto" mode only
    max_length: int = MAX_SCAN_LENGTH
    aim: bool = True


HidResult = ScanData | ScanRejected | LayoutDetected


def render(strokes: Sequence[Stroke], layout: Layout) -> tuple[str, str | None]:
    """Return (text, problem) for ``strokes`` typed on ``layout``; problem is None when fine."""
    out: list[str] = []
    pending_dead = False
    for stroke in strokes:
        if stroke.char:
            out.append(stroke.char)
            pending_dead = False
            continue
        char, dead = layout.char(stroke.code, shift=stroke.shift, altgr=stroke.altgr,
                                 caps=stroke.caps)
        if pending_dead and stroke.code == KEY_SPACE and not stroke.ctrl:
            pending_dead = False  # the Space that completed a dead key types nothing itself
            continue
        pending_dead = dead
        if not char:
            return "".join(out), f"unexpected key {_key_name(stroke.code)} in scan"
        if stroke.ctrl:
            upper = char.upper()
            if upper not in _CONTROLLABLE:
                return "".join(out), f"unexpected Ctrl+{char} in scan"
            char = chr(ord(upper) & 0x1F)
        out.append(char)
    return "".join(out), None


def layout_of(strokes: Sequence[Stroke]) -> str | None:
    """Return the one layout that reads ``strokes`` as ``CALIBRATION_TEXT``, else None."""
    found = [name for name, layout in LAYOUTS.items()
             if render(strokes, layout) == (CALIBRATION_TEXT, None)]
    return found[0] if len(found) == 1 else None


def detect_layout(events: Iterable[RawEvent]) -> str | None:
    """Return the layout a scan of the calibration barcode was typed in (evdev tuples)."""
    decoder = HidDecoder("calibration")
    for result in decoder.feed_many(events):
        if isinstance(result, LayoutDetected):
            return result.layout
    return None


def _key_name(code: int) -> str:
    try:
        from evdev import ecodes  # noqa: PLC0415 - names only, for messages
    except ImportError:
        return f"code {code}"
    name: object = ecodes.KEY.get(code)
    if isinstance(name, list):
        name = name[0]
    return f"{name} ({code})" if name else f"code {code}"


@dataclass
class _Scan:
    strokes: list[Stroke] = field(default_factory=list)
    started: float = 0.0
    last: float = 0.0
    presses: int = 0
    overflow: bool = False
    problem: str | None = None


class HidDecoder:
    """Decode one device's key events into scans; see the module docstring for the rules."""

    def __init__(self, device_id: str, options: DecoderOptions | None = None) -> None:
        self.device_id = device_id
        self.options = options or DecoderOptions()
        self.layout = LAYOUTS[self.options.layout]
        self._held: set[int] = set()
        self._caps = False
        self._alt_code: list[int] = []
        self._scan = _Scan()
        self._last_key_at: float | None = None

    @property
    def in_progress(self) -> bool:
        return bool(self._scan.strokes) or bool(self._alt_code)

    def use_layout(self, name: str) -> None:
        self.layout = LAYOUTS[name]

    def feed_many(self, events: Iterable[RawEvent]) -> list[HidResult]:
        results = []
        for event in events:
            result = self.feed(*event)
            if result is not None:
                results.append(result)
        return results

    def feed(self, timestamp: float, etype: int, code: int, value: int) -> HidResult | None:
        """Take one event; return a finished (or discarded) scan, if this event ended one."""
        if etype != EV_KEY:
            return None
        stale = None
        if (self._last_key_at is not None and self.in_progress
                and timestamp - self._last_key_at > self.options.inter_key_timeout):
            stale = self.expire()
        self._last_key_at = timestamp
        if value == KEY_UP:
            self._release(code)
            return stale
        if code in _MODIFIERS:
            self._held.add(code)
            return stale
        if code == KEY_CAPSLOCK:
            if value == KEY_DOWN:
                self._caps = not self._caps
            return stale
        if value == KEY_REPEAT and self.options.mode != "keyboard":
            # A scan gun never holds a key for the kernel's auto-repeat delay; a held key is a
            # stuck key or a person, and what it typed is not a scan.
            self._scan.problem = "a key was held down (auto-repeat) during the scan"
        result = self._press(timestamp, code)
        return stale if result is None else result  # a stale scan is reported before a new one

    def expire(self) -> ScanRejected | None:
        """Discard the scan in progress: no key came within the inter-key timeout."""
        if not self.in_progress:
            return None
        text, problem = render(self._scan.strokes, self.layout)
        self._reset_scan()
        # An unexpected key in an unfinished scan is usually the scanner's terminator set to
        # something this device is not configured for: say so.
        detail = f"; {problem}" if problem else ""
        return ScanRejected(self.device_id,
                            f"incomplete scan (no terminator in time{detail}), discarded",
                            text.encode("utf-8", "replace")[:1024])

    def reset(self, reason: str) -> ScanRejected | None:
        """Forget all state (device gone); return the discarded partial scan, if any."""
        partial = None
        if self.in_progress:
            text, _ = render(self._scan.strokes, self.layout)
            partial = ScanRejected(self.device_id, reason, text.encode("utf-8", "replace")[:1024])
        self._held.clear()
        self._caps = False
        self._reset_scan()
        self._last_key_at = None
        return partial

    # -- internals ------------------------------------------------------------------------

    def _release(self, code: int) -> None:
        self._held.discard(code)
        if code in (KEY_LEFTALT, KEY_RIGHTALT) and self._alt_code:
            digits, self._alt_code = self._alt_code, []
            number = int("".join(map(str, digits)))
            if 0 < number < 0x110000:
                self._add(Stroke(0, char=chr(number)))

    def _press(self, timestamp: float, code: int) -> HidResult | None:
        if code in self.options.terminators:
            return self._finish()
        alt = KEY_LEFTALT in self._held
        if alt and code in KEYPAD_DIGITS:
            self._alt_code.append(KEYPAD_DIGITS[code])
            if not self._scan.strokes:
                self._scan.started = timestamp
            return None
        if not self._scan.strokes:
            self._scan.started = timestamp
        self._scan.last = timestamp
        self._scan.presses += 1
        self._add(Stroke(
            code,
            shift=bool(self._held & {KEY_LEFTSHIFT, KEY_RIGHTSHIFT}),
            altgr=KEY_RIGHTALT in self._held,
            caps=self._caps,
            ctrl=bool(self._held & {KEY_LEFTCTRL, KEY_RIGHTCTRL}),
        ))
        return None

    def _add(self, stroke: Stroke) -> None:
        # Bounded: a stuck key or line noise must not grow memory; the scan is rejected anyway.
        if len(self._scan.strokes) > self.options.max_length * 2:
            self._scan.overflow = True
            return
        self._scan.strokes.append(stroke)

    def _finish(self) -> HidResult | None:
        scan = self._scan
        self._reset_scan()
        if not scan.strokes:
            return None  # a lone Enter: nothing was scanned
        detected = layout_of(scan.strokes)
        if detected is not None:
            return LayoutDetected(self.device_id, detected)
        text, problem = render(scan.strokes, self.layout)
        raw = text.encode("utf-8", "replace")[:1024]
        if scan.overflow:
            return ScanRejected(self.device_id,
                                f"longer than {self.options.max_length} characters", raw)
        problem = scan.problem or problem
        if problem is not None:
            return ScanRejected(self.device_id, problem, raw)
        if self.options.mode == "auto" and scan.presses > 1:
            mean_gap = (scan.last - scan.started) / (scan.presses - 1)
            if mean_gap > self.options.max_mean_gap:
                return ScanRejected(
                    self.device_id, f"typed at keyboard speed ({mean_gap * 1000:.0f} ms "
                    "between keys), not scanned; set kind = \"keyboard\" to accept typing", raw)
        symbology = None
        if self.options.aim and _AIM.match(text):
            symbology, text = text[:3], text[3:]
        return validate_scan_text(self.device_id, text, raw=raw, symbology=symbology,
                                  max_length=self.options.max_length)

    def _reset_scan(self) -> None:
        self._scan = _Scan()
        self._alt_code = []
