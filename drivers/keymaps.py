"""Keyboard layouts a USB scan gun may type in: Linux key codes to characters, and back.

A scan gun in keyboard mode does not send characters: it presses the keys that type its text on
the layout it was configured for. Each layout here maps a key code (``linux/input-event-codes.h``)
to the character it types plain, with Shift, and with AltGr, following the Linux console and xkb
layouts ``us``, ``de`` and ``fr`` (AZERTY):

- Caps Lock upper-cases letters only (accented ones too: ``é`` -> ``É`` on AZERTY); Shift with
  Caps Lock gives lower case on letter keys and the shifted character on AZERTY's number row
  (xkb's semi-alphabetic keys), as on Linux.
- Dead keys (``^`` and ``´`` on QWERTZ, ``^`` and ``¨`` on AZERTY) type their own character; a
  scanner followed a dead key by Space to type it, so that one Space is dropped.
- Keypad digits and operators type the same on every layout, with or without Num Lock.

No X11 or xkb library is involved: the appliance reads keys from evdev under a grab, before
any desktop could interpret them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

KEY_TAB, KEY_ENTER, KEY_SPACE, KEY_KPENTER = 15, 28, 57, 96

# Key codes of the main block, row by row, in the order their characters are listed below.
_ROW_NUMBERS = range(2, 14)        # KEY_1 .. KEY_EQUAL
_ROW_TOP = range(16, 28)           # KEY_Q .. KEY_RIGHTBRACE
_ROW_HOME = range(30, 42)          # KEY_A .. KEY_GRAVE
_ROW_BOTTOM = range(44, 54)        # KEY_Z .. KEY_SLASH
KEY_BACKSLASH, KEY_102ND = 43, 86

KEYPAD: Mapping[int, str] = {
    71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+",
    79: "1", 80: "2", 81: "3", 82: "0", 83: ".", 55: "*", 98: "/",
}
KEYPAD_DIGITS: Mapping[int, int] = {code: int(c) for code, c in KEYPAD.items() if c.isdigit()}


@dataclass(frozen=True, slots=True)
class Key:
    plain: str
    shifted: str
    altgr: str = ""
    dead: bool = False          # the plain character is a dead key
    dead_shifted: bool = False  # the shifted character is a dead key

    @property
    def letter(self) -> bool:
        """Whether Caps Lock affects this key (a cased letter)."""
        return self.plain.isalpha() and self.plain != self.plain.upper()


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    keys: Mapping[int, Key]

    def char(self, code: int, *, shift: bool, altgr: bool, caps: bool) -> tuple[str, bool]:
        """Return (character, is a dead key) for one key press; ("", False) when none."""
        key = self.keys.get(code)
        if code in KEYPAD or key is None:
            return KEYPAD.get(code, ""), False
        if altgr:
            return key.altgr, False
        if caps and key.letter and not shift:
            return key.plain.upper(), False
        # Shift under Caps Lock types lower case on a letter key (but still the digit on
        # AZERTY's number row, whose shifted level is not the capital).
        if shift and not (caps and key.letter and key.shifted == key.plain.upper()):
            return key.shifted, key.dead_shifted
        return key.plain, key.dead

    def strokes_for(self, text: str) -> list[tuple[int, bool, bool]]:
        """Return the (code, shift, altgr) presses that type ``text`` (what a scanner sends)."""
        reverse: dict[str, tuple[int, bool, bool]] = {}
        for code, key in sorted(self.keys.items()):
            for char, shift, altgr in ((key.altgr, False, True), (key.shifted, True, False),
                                       (key.plain, False, False)):
                if char:
                    reverse.setdefault(char, (code, shift, altgr))
        strokes: list[tuple[int, bool, bool]] = []
        for char in text:
            if char not in reverse:
                raise ValueError(f"{char!r} cannot be typed on layout {self.name}")
            strokes.append(reverse[char])
            code, shift, _ = reverse[char]
            key = self.keys[code]
            if (key.dead_shifted if shift else key.dead) and reverse.get(" "):
                strokes.append(reverse[" "])
        return strokes


def _rows(*rows: tuple[Iterable[int], str, str]) -> dict[int, Key]:
    keys = {}
    for codes, plain, shifted in rows:
        for code, p, s in zip(codes, plain, shifted, strict=True):
            keys[code] = Key(p, s if s != "·" else "")
    return keys


def _with(keys: dict[int, Key], changes: Mapping[int, dict[str, object]]) -> dict[int, Key]:
    out = dict(keys)
    for code, fields in changes.items():
        key = out[code]
        out[code] = Key(
            plain=str(fields.get("plain", key.plain)),
            shifted=str(fields.get("shifted", key.shifted)),
            altgr=str(fields.get("altgr", key.altgr)),
            dead=bool(fields.get("dead", key.dead)),
            dead_shifted=bool(fields.get("dead_shifted", key.dead_shifted)),
        )
    return out


US = Layout("us", _rows(
    (_ROW_NUMBERS, "1234567890-=", "!@#$%^&*()_+"),
    (_ROW_TOP, "qwertyuiop[]", "QWERTYUIOP{}"),
    (_ROW_HOME, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
    ([KEY_BACKSLASH], "\\", "|"),
    (_ROW_BOTTOM, "zxcvbnm,./", "ZXCVBNM<>?"),
    ([KEY_SPACE, KEY_102ND], " <", " >"),
))

DE = Layout("de", _with(_rows(
    (_ROW_NUMBERS, "1234567890ß´", '!"§$%&/()=?`'),
    (_ROW_TOP, "qwertzuiopü+", "QWERTZUIOPÜ*"),
    (_ROW_HOME, "asdfghjklöä^", "ASDFGHJKLÖÄ°"),
    ([KEY_BACKSLASH], "#", "'"),
    (_ROW_BOTTOM, "yxcvbnm,.-", "YXCVBNM;:_"),
    ([KEY_SPACE, KEY_102ND], " <", " >"),
), {
    3: {"altgr": "²"}, 4: {"altgr": "³"}, 8: {"altgr": "{"}, 9: {"altgr": "["},
    10: {"altgr": "]"}, 11: {"altgr": "}"}, 12: {"altgr": "\\"},
    13: {"dead": True, "dead_shifted": True}, 16: {"altgr": "@"}, 18: {"altgr": "€"},
    27: {"altgr": "~"}, 41: {"dead": True}, 50: {"altgr": "µ"}, KEY_102ND: {"altgr": "|"},
}))

FR = Layout("fr", _with(_rows(
    (_ROW_NUMBERS, "&é\"'(-è_çà)=", "1234567890°+"),
    (_ROW_TOP, "azertyuiop^$", "AZERTYUIOP¨£"),
    (_ROW_HOME, "qsdfghjklmù²", "QSDFGHJKLM%·"),
    ([KEY_BACKSLASH], "*", "µ"),
    (_ROW_BOTTOM, "wxcvbn,;:!", "WXCVBN?./§"),
    ([KEY_SPACE, KEY_102ND], " <", " >"),
), {
    3: {"altgr": "~"}, 4: {"altgr": "#"}, 5: {"altgr": "{"}, 6: {"altgr": "["},
    7: {"altgr": "|"}, 8: {"altgr": "`"}, 9: {"altgr": "\\"}, 10: {"altgr": "^"},
    11: {"altgr": "@"}, 12: {"altgr": "]"}, 13: {"altgr": "}"}, 18: {"altgr": "€"},
    26: {"dead": True, "dead_shifted": True}, 27: {"altgr": "¤"},
}))

LAYOUTS: Mapping[str, Layout] = {layout.name: layout for layout in (US, DE, FR)}

# A calibration barcode (Code 128) the console shows or prints: its letters and punctuation sit
# on different keys in each layout (y/z swap on QWERTZ; a/q, z/w, m move and digits need Shift
# on AZERTY; - and . move too), so exactly one layout decodes it back to itself.
CALIBRATION_TEXT = "SECAL-yzaqwm.0123456789"
