"""Hostile input at every place bytes come in from outside, fuzzed (bounded; --fuzz-examples=N
runs more): scan-gun key events, serial frames, scale frames, GS1 element strings, and the
CRM's answers as the sync client reads them. Each answers with a typed result or a clear
rejection; none raises anything else, and the results keep their promises.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from drivers.base import MAX_SCAN_LENGTH, ScanData, ScanRejected
from drivers.framing import FRAMINGS, Framer, Overflow
from drivers.hid_decode import (
    EV_KEY,
    DecoderOptions,
    HidDecoder,
    LayoutDetected,
    pack_input_event,
    parse_input_events,
)
from drivers.scale_protocols import PROTOCOLS, LabelFrame, ProtocolError, ScaleFrame
from edge.barcodes import BarcodeError, check_digit, parse_element_string
from sync.messages import STREAM_ROWS, parse_changes_page, parse_error, parse_push_response
from sync.protocol import ProtocolError as SyncProtocolError

# -- scan guns --------------------------------------------------------------------------------

KEY_EVENTS = st.lists(st.tuples(
    st.floats(min_value=0.0, max_value=0.2),             # gap to the previous event, seconds
    st.sampled_from([EV_KEY, EV_KEY, EV_KEY, 0, 4, 2]),  # mostly keys; SYN, MSC, REL too
    st.integers(min_value=0, max_value=300),             # key codes, known and unknown
    st.sampled_from([0, 1, 1, 2, -1, 7])), max_size=120)


def _clean_scan(result: object) -> None:
    """A scan the decoder lets through is text a lane can route; a refusal says why."""
    if isinstance(result, ScanData):
        assert 0 < len(result.text) <= MAX_SCAN_LENGTH
        assert not any(ord(c) < 0x20 and c != "\x1d" for c in result.text), result.text
    elif isinstance(result, ScanRejected):
        assert result.reason
    else:
        assert isinstance(result, LayoutDetected)


def _decode(events: list[tuple[float, int, int, int]], layout: str, mode: str) -> None:
    decoder = HidDecoder("gun-1", DecoderOptions(layout=layout, mode=mode))
    now = 1_000.0
    for gap, etype, code, value in events:
        now += gap
        result = decoder.feed(now, etype, code, value)
        if result is not None:
            _clean_scan(result)


LAYOUTS_AND_MODES = (st.sampled_from(["us", "de", "fr"]),
                     st.sampled_from(["scanner", "keyboard", "auto"]))


@given(KEY_EVENTS, *LAYOUTS_AND_MODES)
def test_any_key_events_decode_to_clean_scans_or_reasons(
        events: list[tuple[float, int, int, int]], layout: str, mode: str) -> None:
    _decode(events, layout, mode)


MODIFIERS = [29, 97, 42, 54, 56, 100]    # ctrl, right ctrl, shifts, alt, altgr
TYPING_KEYS = list(range(2, 14)) + list(range(16, 28)) + list(range(30, 42)) + list(
    range(43, 54)) + [57] + list(range(71, 84))   # rows, space, keypad


@st.composite
def typed_scans(draw: st.DrawFn) -> list[tuple[float, int, int, int]]:
    """Key strokes a scan gun (or someone at a keyboard) could really send, then Enter."""
    events: list[tuple[float, int, int, int]] = []
    for _ in range(draw(st.integers(1, 30))):
        held = draw(st.lists(st.sampled_from(MODIFIERS), max_size=2, unique=True))
        key = draw(st.sampled_from(TYPING_KEYS))
        gap = draw(st.sampled_from([0.002, 0.003, 0.05, 0.2]))
        events += [(gap, EV_KEY, m, 1) for m in held]
        events += [(0.001, EV_KEY, key, 1), (0.002, EV_KEY, key, 0)]
        events += [(0.001, EV_KEY, m, 0) for m in held]
    events += [(0.002, EV_KEY, draw(st.sampled_from([28, 96, 15])), 1), (0.002, EV_KEY, 28, 0)]
    return events


@given(typed_scans(), *LAYOUTS_AND_MODES)
def test_typed_scans_decode_to_clean_text_or_reasons(
        events: list[tuple[float, int, int, int]], layout: str, mode: str) -> None:
    _decode(events, layout, mode)


@given(st.binary(max_size=600), st.integers(min_value=1, max_value=64))
def test_any_kernel_bytes_split_into_whole_events(data: bytes, cut: int) -> None:
    events, rest = parse_input_events(data)
    assert len(rest) < 24 and len(events) * 24 + len(rest) == len(data)
    # Read in two pieces as the device node delivers them: the same events.
    first, rest1 = parse_input_events(data[:cut])
    second, rest2 = parse_input_events(rest1 + data[cut:])
    assert first + second == events and rest2 == rest
    assert parse_input_events(b"".join(pack_input_event(*e) for e in events))[0] == events


# -- serial scanners and scales -----------------------------------------------------------

@given(st.sampled_from(FRAMINGS), st.lists(st.binary(max_size=80), max_size=12),
       st.integers(min_value=4, max_value=64))
@example("crlf", [b"12345\r", b"\n678"], 8)
@example("stx_etx", [b"\x02abc", b"\x03\x02", b"x" * 70 + b"\x03"], 16)
def test_serial_frames_do_not_depend_on_how_the_bytes_arrive(
        framing: str, chunks: list[bytes], max_length: int) -> None:
    whole, pieces = Framer(framing, max_length), Framer(framing, max_length)
    at_once = whole.feed(b"".join(chunks))
    one_by_one = [item for chunk in chunks for item in pieces.feed(chunk)]
    frames = [f for f in at_once if not isinstance(f, Overflow)]
    assert frames == [f for f in one_by_one if not isinstance(f, Overflow)]
    assert all(len(f) <= max_length for f in frames)
    assert all(o.reason for o in at_once + one_by_one if isinstance(o, Overflow))


@given(st.sampled_from(sorted(PROTOCOLS)), st.binary(max_size=40) | st.sampled_from([
    b"\x02?P\r", b"\x0201.234\r", b"S1100100", b"S08A0123456", b"S144", b"\x02-0.010\r",
    b"S11999999", b"\x02\x0d", b""]))
def test_any_scale_frame_is_a_reading_or_a_protocol_error(name: str, frame: bytes) -> None:
    protocol = PROTOCOLS[name]()
    try:
        parsed = protocol.parse(frame)
    except ProtocolError as err:
        assert str(err)
        return
    if isinstance(parsed, ScaleFrame):
        assert isinstance(parsed.grams, int) and parsed.state
    else:
        assert isinstance(parsed, LabelFrame)


# -- GS1 element strings ------------------------------------------------------------------

GS1_PIECES = st.lists(st.sampled_from(
    ["01", "(01)", "3103", "(3103)", "3922", "(3922)", "17", "(17)", "10", "\x1d", "21",
     "0", "6", "9", "12345678901231", "0690123450001", "00012", "A", "(", ")", "ÿ"]),
    max_size=12)


@given(GS1_PIECES | st.text(max_size=60).map(lambda t: [t]))
def test_gs1_element_strings_parse_or_say_why(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        element = parse_element_string(text)
    except BarcodeError as err:
        assert str(err)
        return
    gtin = element.gtin
    assert len(gtin) == 14 and gtin.isdigit() and check_digit(gtin[:13]) == int(gtin[13])
    assert element.weight_g is None or element.weight_g >= 0
    assert element.price_fen is None or element.price_fen >= 0


# -- what the CRM answers, as the sync client reads it -----------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=5),
    max_leaves=12)
VALID_PUSH = {"acked_through_seq": 3, "rejected": [], "conflicts": []}


def _mutate(value: Any, draw: st.DrawFn) -> Any:
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: _mutate(value[key], draw)}
    return draw(JSON)


@st.composite
def crm_answers(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    return json.dumps(_mutate(VALID_PUSH, draw)).encode()


@given(crm_answers(), st.sampled_from(sorted(STREAM_ROWS)))
@example(json.dumps(VALID_PUSH).encode(), "catalog")
def test_any_crm_answer_is_understood_or_refused_as_a_protocol_error(
        raw: bytes, stream: str) -> None:
    for parse in (lambda: parse_push_response(raw, frozenset({1, 2, 3}), 3),
                  lambda: parse_changes_page(raw, stream, 500)):
        try:
            parse()
        except SyncProtocolError as err:
            assert str(err)
    error = parse_error(raw)
    assert error is None or all(isinstance(part, str) for part in error)
