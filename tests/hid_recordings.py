"""Key-event streams in the shape a USB scan gun produces, as the kernel's bytes.

    python -m tests.hid_recordings      # rewrites tests/data/hid/*.bin

Each key press is what a HID keyboard interface reports through evdev: an EV_MSC/MSC_SCAN
with the HID usage, the EV_KEY, and an EV_SYN/SYN_REPORT; the release follows 1-4 ms later and
the next key 1-4 ms after that (seeded jitter). Shift is pressed around each shifted character,
as most scan guns do; ``hold_shift`` keeps it down across a run of shifted characters instead.
Timestamps start at a fixed second so the files are reproducible; the recordings in
``tests/data/hid`` are exactly what ``write_all()`` writes (a test checks).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from drivers.hid_decode import EV_KEY, EV_MSC, EV_SYN, pack_input_event
from drivers.keymaps import KEY_ENTER, KEY_TAB, LAYOUTS

DATA = Path(__file__).resolve().parent / "data" / "hid"
T0 = 1_718_000_000.0
MSC_SCAN, SYN_REPORT = 4, 0
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_RIGHTALT, KEY_CAPSLOCK = 42, 54, 100, 58

# HID usage IDs (page 7) of the Linux key codes used here; only for realism, decoders skip them.
_LETTERS = "qwertyuiop", "asdfghjkl", "zxcvbnm"
_USAGE = {code: 4 + ord(ch) - ord("a") for row, start in zip(_LETTERS, (16, 30, 44), strict=True)
          for code, ch in enumerate(row, start)}
_USAGE.update({code: 30 + i for i, code in enumerate(range(2, 12))})
_USAGE.update({KEY_ENTER: 40, 1: 41, 14: 42, KEY_TAB: 43, 57: 44, 12: 45, 13: 46, 26: 47,
               27: 48, 43: 49, 39: 51, 40: 52, 41: 53, 51: 54, 52: 55, 53: 56, KEY_CAPSLOCK: 57,
               86: 100, 29: 224, KEY_LEFTSHIFT: 225, 56: 226, KEY_RIGHTSHIFT: 229,
               KEY_RIGHTALT: 230, 96: 88, 63: 62})


@dataclass
class Recorder:
    """Builds one stream of events; ``now`` advances as keys are pressed."""

    seed: int = 1
    now: float = T0
    events: list[tuple[float, int, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _step(self) -> None:
        self.now += self.rng.uniform(0.001, 0.004)

    def key(self, code: int, value: int) -> None:
        usage = _USAGE.get(code)
        if usage is not None:
            self.events.append((self.now, EV_MSC, MSC_SCAN, 0x70000 + usage))
        self.events.append((self.now, EV_KEY, code, value))
        self.events.append((self.now, EV_SYN, SYN_REPORT, 0))

    def tap(self, code: int) -> None:
        self.key(code, 1)
        self._step()
        self.key(code, 0)
        self._step()

    def type(self, text: str, layout: str = "us", *, shift_key: int = KEY_LEFTSHIFT,
             hold_shift: bool = False) -> None:
        held = False
        for code, shift, altgr in LAYOUTS[layout].strokes_for(text):
            if held and not shift:
                self.key(shift_key, 0)
                self._step()
                held = False
            if shift and not held:
                self.key(shift_key, 1)
                self._step()
                held = True
            if altgr:
                self.key(KEY_RIGHTALT, 1)
                self._step()
            self.tap(code)
            if altgr:
                self.key(KEY_RIGHTALT, 0)
                self._step()
            if held and not hold_shift:
                self.key(shift_key, 0)
                self._step()
                held = False
        if held:
            self.key(shift_key, 0)
            self._step()

    def scan(self, text: str, layout: str = "us", terminator: int = KEY_ENTER,
             **kwargs: object) -> None:
        self.type(text, layout, **kwargs)  # type: ignore[arg-type]
        self.tap(terminator)

    def pause(self, seconds: float) -> None:
        self.now += seconds

    def repeat(self, code: int, times: int) -> None:
        """Hold a key long enough for the kernel's auto-repeat (250 ms, then every 33 ms)."""
        self.key(code, 1)
        self.now += 0.25
        for _ in range(times):
            self.key(code, 2)
            self.now += 0.033
        self.key(code, 0)
        self._step()

    def bytes(self) -> bytes:
        return b"".join(pack_input_event(*event) for event in self.events)


def recordings() -> dict[str, bytes]:
    """Return every recording by file name."""
    out = {}

    r = Recorder(seed=1)
    r.scan("6901234500011")
    r.pause(0.8)
    r.scan("MC10000001")
    out["us_two_scans.bin"] = r.bytes()

    r = Recorder(seed=2)
    r.scan("Qty-7/Yz.ABC", "de", shift_key=KEY_RIGHTSHIFT, hold_shift=True)
    out["de_shift_runs.bin"] = r.bytes()

    r = Recorder(seed=3)
    r.scan("ZAQ-wm.0123456789", "fr")
    out["fr_azerty_digits.bin"] = r.bytes()

    r = Recorder(seed=4)
    r.scan("]E06901234500011")
    r.pause(0.5)
    r.scan("]Q1https://w.example/p?id=42")
    out["us_aim_ids.bin"] = r.bytes()

    r = Recorder(seed=5)
    r.type("690123")            # the gun lost the label half way
    r.pause(0.6)
    r.scan("6901234500011")
    r.pause(0.4)
    r.type("4006")              # ... and again, at the very end of the stream
    out["us_half_scans.bin"] = r.bytes()

    r = Recorder(seed=6)
    r.type("12")
    r.repeat(4, times=5)        # KEY_3 stuck: auto-repeat
    r.tap(KEY_ENTER)
    r.pause(0.5)
    r.scan("6901234500011")
    out["us_stuck_key.bin"] = r.bytes()
    return out


def write_all(folder: Path = DATA) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in recordings().items():
        (folder / name).write_bytes(data)
        written.append(folder / name)
    return written


def stream(events: Iterable[tuple[float, int, int, int]]) -> bytes:
    return b"".join(pack_input_event(*event) for event in events)


if __name__ == "__main__":
    for path in write_all():
        print(f"wrote {path} ({path.stat().st_size} bytes)")
