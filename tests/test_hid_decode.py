"""The scan-gun key decoder, fed the event tuples and kernel bytes evdev delivers."""

from __future__ import annotations

import pytest

from drivers.base import ScanData, ScanRejected
from drivers.hid_decode import (
    INPUT_EVENT,
    DecoderOptions,
    HidDecoder,
    HidResult,
    LayoutDetected,
    detect_layout,
    parse_input_events,
)
from drivers.keymaps import CALIBRATION_TEXT, KEY_ENTER, KEY_KPENTER, KEY_TAB, LAYOUTS
from tests.hid_recordings import (
    DATA,
    KEY_CAPSLOCK,
    KEY_LEFTSHIFT,
    KEY_RIGHTSHIFT,
    Recorder,
    recordings,
)

KEY_F5, KEY_A, KEY_2, KEY_1, KEY_LEFTCTRL, KEY_LEFTALT = 63, 30, 3, 2, 29, 56
KP = {"0": 82, "2": 80, "9": 73}


def decode(data: bytes, **options: object) -> list[HidResult]:
    events, rest = parse_input_events(data)
    assert rest == b""
    decoder = HidDecoder("gun-1", DecoderOptions(**options))  # type: ignore[arg-type]
    results = decoder.feed_many(events)
    tail = decoder.expire()  # what the device's timer does when the stream goes quiet
    return results + ([tail] if tail else [])


def texts(results: list[HidResult]) -> list[str]:
    return [r.text if isinstance(r, ScanData) else f"REJECTED: {r.reason}"
            if isinstance(r, ScanRejected) else f"LAYOUT: {r.layout}" for r in results]


def recording(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_recordings_are_what_the_generator_writes() -> None:
    generated = recordings()
    assert sorted(generated) == sorted(p.name for p in DATA.glob("*.bin"))
    for name, data in generated.items():
        assert recording(name) == data, f"{name}: run python -m tests.hid_recordings"


# Every character each layout can type: plain, shifted and AltGr, dead keys included.
def _typable(layout: str) -> str:
    chars = []
    for key in LAYOUTS[layout].keys.values():
        chars += [c for c in (key.plain, key.shifted, key.altgr) if c and c != " "]
    return "".join(dict.fromkeys(chars))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("shift", ["left", "right", "held"])
def test_every_character_of_every_layout_with_each_shift(layout: str, shift: str) -> None:
    text = _typable(layout)
    for chunk in (text[i:i + 40] for i in range(0, len(text), 40)):
        r = Recorder()
        r.scan(chunk, layout, shift_key=KEY_RIGHTSHIFT if shift == "right" else KEY_LEFTSHIFT,
               hold_shift=shift == "held")
        assert texts(decode(r.bytes(), layout=layout)) == [chunk]


def test_layouts_type_differently_so_the_layout_matters() -> None:
    r = Recorder()
    r.scan("yzaqm-0", "us")
    by_layout = {name: texts(decode(r.bytes(), layout=name)) for name in sorted(LAYOUTS)}
    assert by_layout == {"us": ["yzaqm-0"], "de": ["zyaqmß0"], "fr": ["ywqa,)à"]}


def test_caps_lock_upper_cases_letters_only_and_shift_reverses_it() -> None:
    r = Recorder()
    r.tap(KEY_CAPSLOCK)
    r.tap(KEY_A)                                     # A
    r.key(KEY_LEFTSHIFT, 1)
    r.tap(KEY_A)                                     # Shift + A under Caps Lock: a
    r.key(KEY_LEFTSHIFT, 0)
    r.tap(KEY_1)                                     # digits are not letters
    r.tap(KEY_ENTER)
    r.tap(KEY_CAPSLOCK)                              # off again
    r.scan("aB")
    assert texts(decode(r.bytes())) == ["Aa1", "aB"]
    # On AZERTY the 2 key types é, a letter: Caps Lock gives É and Shift still types 2, as
    # on Linux; Shift + the A key (q on AZERTY) under Caps Lock is lower case.
    r = Recorder()
    r.tap(KEY_CAPSLOCK)
    r.tap(KEY_2)
    r.key(KEY_LEFTSHIFT, 1)
    r.tap(KEY_2)
    r.tap(KEY_A)
    r.key(KEY_LEFTSHIFT, 0)
    r.tap(KEY_ENTER)
    assert texts(decode(r.bytes(), layout="fr")) == ["É2q"]


def test_recorded_scans_in_each_layout() -> None:
    assert texts(decode(recording("us_two_scans.bin"))) == ["6901234500011", "MC10000001"]
    assert texts(decode(recording("de_shift_runs.bin"), layout="de")) == ["Qty-7/Yz.ABC"]
    assert texts(decode(recording("fr_azerty_digits.bin"), layout="fr")) == [
        "ZAQ-wm.0123456789"]
    # The same German recording read as US shows why the layout must be right.
    assert texts(decode(recording("de_shift_runs.bin"), layout="us")) == ["Qtz/7&Zy.ABC"]


def test_aim_identifiers_become_the_symbology() -> None:
    results = decode(recording("us_aim_ids.bin"))
    assert [(r.symbology, r.text) for r in results if isinstance(r, ScanData)] == [
        ("]E0", "6901234500011"), ("]Q1", "https://w.example/p?id=42")]
    kept = decode(recording("us_aim_ids.bin"), aim=False)
    assert next(r.text for r in kept if isinstance(r, ScanData)) == "]E06901234500011"


def test_terminators() -> None:
    r = Recorder()
    r.scan("111", terminator=KEY_ENTER)
    r.scan("222", terminator=KEY_KPENTER)
    r.scan("333", terminator=KEY_TAB)
    assert texts(decode(r.bytes())) == ["111", "222", "REJECTED: incomplete scan (no terminator "
                                        "in time; unexpected key KEY_TAB (15) in scan), discarded"]
    tabbed = Recorder()
    tabbed.scan("333", terminator=KEY_TAB)
    assert texts(decode(tabbed.bytes(), terminators=(KEY_TAB,))) == ["333"]
    assert texts(decode(r.bytes(), terminators=(KEY_TAB,))) == [
        "REJECTED: unexpected key KEY_ENTER (28) in scan"]


def test_half_scans_are_discarded_by_the_inter_key_timeout() -> None:
    results = decode(recording("us_half_scans.bin"))
    assert texts(results) == [
        "REJECTED: incomplete scan (no terminator in time), discarded",
        "6901234500011",
        "REJECTED: incomplete scan (no terminator in time), discarded",
    ]
    assert [r.raw for r in results if isinstance(r, ScanRejected)] == [b"690123", b"4006"]
    # With a timeout longer than the pause, the halves would be glued: the timeout matters.
    glued = decode(recording("us_half_scans.bin"), inter_key_timeout=1.0)
    assert texts(glued)[0] == "6901236901234500011"


def test_a_stuck_key_auto_repeating_is_not_a_scan() -> None:
    assert texts(decode(recording("us_stuck_key.bin"))) == [
        "REJECTED: incomplete scan (no terminator in time), discarded",
        "REJECTED: a key was held down (auto-repeat) during the scan",
        "6901234500011",
    ]


def test_garbage_keys_control_characters_and_over_length_are_rejected() -> None:
    r = Recorder()
    r.type("690")
    r.tap(KEY_F5)
    r.scan("123")
    r.key(KEY_LEFTCTRL, 1)
    r.tap(KEY_A)                        # Ctrl+A: SOH, line noise
    r.key(KEY_LEFTCTRL, 0)
    r.scan("42")
    r.scan("9" * 300)
    r.scan("6901234500011")
    assert texts(decode(r.bytes())) == [
        "REJECTED: unexpected key KEY_F5 (63) in scan",
        "REJECTED: control character 0x01 in scan",
        "REJECTED: longer than 256 characters",
        "6901234500011",
    ]


def test_group_separator_by_ctrl_and_by_alt_keypad() -> None:
    r = Recorder()
    r.type("]C1010950110153000317")
    r.key(KEY_LEFTCTRL, 1)
    r.tap(27)                           # Ctrl+] is GS on US
    r.key(KEY_LEFTCTRL, 0)
    r.scan("10ABC")
    r.type("]C10109501101530003")
    r.key(KEY_LEFTALT, 1)
    for digit in "029":                 # Alt + keypad 0 2 9 types character 29, GS
        r.tap(KP[digit])
    r.key(KEY_LEFTALT, 0)
    r.scan("17250101")
    results = decode(r.bytes())
    assert [(x.symbology, x.text) for x in results if isinstance(x, ScanData)] == [
        ("]C1", "010950110153000317\x1d10ABC"), ("]C1", "0109501101530003\x1d17250101")]


def test_typing_is_told_from_scanning_in_auto_mode() -> None:
    typed = Recorder()
    for char in "6901234500011":
        typed.type(char)
        typed.pause(0.06)               # a fast typist: 60 ms between keys
    typed.tap(KEY_ENTER)
    assert texts(decode(typed.bytes(), mode="auto"))[0].startswith(
        "REJECTED: typed at keyboard speed")
    assert texts(decode(typed.bytes(), mode="scanner")) == ["6901234500011"]
    scanned = Recorder()
    scanned.scan("6901234500011")
    assert texts(decode(scanned.bytes(), mode="auto")) == ["6901234500011"]
    slow = Recorder()
    for char in "MC10000001":
        slow.type(char)
        slow.pause(0.4)                 # a cashier typing a code on a keypad
    slow.tap(KEY_ENTER)
    assert texts(decode(slow.bytes(), mode="keyboard", inter_key_timeout=5.0)) == ["MC10000001"]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_calibration_barcode_tells_the_layout(layout: str) -> None:
    r = Recorder()
    r.scan(CALIBRATION_TEXT, layout)
    results = decode(r.bytes(), layout="us")
    assert results == [LayoutDetected("gun-1", layout)]
    assert detect_layout(parse_input_events(r.bytes())[0]) == layout
    other = Recorder()
    other.scan("SECAL-yzaqwm.0123456788", layout)     # not the calibration text
    assert detect_layout(parse_input_events(other.bytes())[0]) is None


def test_kernel_bytes_split_anywhere_are_reassembled() -> None:
    r = Recorder()
    r.scan("6901234500011")
    data = r.bytes()
    decoder = HidDecoder("gun-1")
    results: list[HidResult] = []
    pending = b""
    for i in range(0, len(data), 7):           # 7-byte reads cut events anywhere
        events, pending = parse_input_events(pending + data[i:i + 7])
        results += decoder.feed_many(events)
    assert pending == b"" and texts(results) == ["6901234500011"]
    assert INPUT_EVENT.size == 24


def test_unplug_mid_scan_discards_the_partial_scan() -> None:
    r = Recorder()
    r.type("69012")
    events, _ = parse_input_events(r.bytes())
    decoder = HidDecoder("gun-1")
    assert decoder.feed_many(events) == []
    gone = decoder.reset("unplugged mid-scan; partial scan discarded")
    assert isinstance(gone, ScanRejected) and gone.raw == b"69012"
    r = Recorder()
    r.scan("6901234500011")
    assert texts(decoder.feed_many(parse_input_events(r.bytes())[0])) == ["6901234500011"]
