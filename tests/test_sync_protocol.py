"""The protocol's pure parts: signing, limits, strict parsing, retry policy, state, schema."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.store import Store
from sync.errors import AuthFailed, RequestRefused, TransientError
from sync.events import EVENT_ENVELOPE, EVENT_TYPES, EventRejected, check_payload
from sync.health import Facts, assess
from sync.messages import parse_changes_page, parse_push_response
from sync.outbox import read_batch
from sync.protocol import (
    AuthError,
    ProtocolError,
    check_timestamp,
    decode_body,
    encode_events,
    loads_strict,
    parse_auth_headers,
    signed_headers,
    verify_signature,
)
from sync.retry import Backoff, CircuitBreaker, error_for_status, parse_retry_after
from sync.schema import SchemaError
from sync.schemadoc import render
from tests.helpers import MEMBER_CODE, MILK, ROOT, WATER, make_lane

SECRET = b"k" * 32


def test_signature_covers_method_path_time_device_key_and_body() -> None:
    headers = signed_headers(SECRET, "S1:d1", "POST", "/v1/events", b"body", timestamp_ms=1000,
                             idempotency_key="1-2.ab")
    auth = parse_auth_headers(headers)
    verify_signature(SECRET, "POST", "/v1/events", b"body", auth)
    for method, path, body in (("PUT", "/v1/events", b"body"), ("POST", "/v1/event", b"body"),
                               ("POST", "/v1/events", b"bodY")):
        with pytest.raises(AuthError, match="does not match"):
            verify_signature(SECRET, method, path, body, auth)
    for header, value in (("X-StoreEdge-Timestamp", "1001"), ("X-StoreEdge-Device", "S1:d2"),
                          ("Idempotency-Key", "1-2.ac"), ("X-StoreEdge-Nonce", "n" * 24)):
        with pytest.raises(AuthError):
            verify_signature(SECRET, "POST", "/v1/events", b"body",
                             parse_auth_headers(dict(headers, **{header: value})))
    with pytest.raises(AuthError, match="does not match"):
        verify_signature(b"j" * 32, "POST", "/v1/events", b"body", auth)


def test_malformed_auth_headers_are_named() -> None:
    good = signed_headers(SECRET, "S1:d1", "GET", "/", b"", timestamp_ms=1)
    for header, value, code in (("X-StoreEdge-Device", "no colon", "bad_device"),
                                ("X-StoreEdge-Timestamp", "12a", "bad_timestamp"),
                                ("X-StoreEdge-Nonce", "short", "bad_nonce"),
                                ("X-StoreEdge-Signature", "v2=00", "bad_signature"),
                                ("Idempotency-Key", "spaces here", "bad_idempotency_key")):
        with pytest.raises(AuthError) as caught:
            parse_auth_headers(dict(good, **{header: value}))
        assert caught.value.code == code


def test_replay_window() -> None:
    check_timestamp(1_000_000, 1_000_000 + 300_000)
    check_timestamp(1_000_000, 1_000_000 - 300_000)
    with pytest.raises(AuthError, match="301 s off"):
        check_timestamp(1_000_000, 1_000_000 + 301_000)


def test_bodies_are_bounded_before_they_are_held() -> None:
    raw = b'{"a":1}'
    assert decode_body(gzip.compress(raw), "gzip", 100) == raw
    assert decode_body(raw, None, 100) == raw
    bomb = gzip.compress(b"\0" * 10_000_000)
    assert len(bomb) < 20_000
    with pytest.raises(ProtocolError, match="inflates beyond"):
        decode_body(bomb, "gzip", 1_000_000)
    with pytest.raises(ProtocolError, match="truncated"):
        decode_body(gzip.compress(raw)[:-5], "gzip", 100)
    with pytest.raises(ProtocolError, match="damaged"):
        decode_body(b"\x1f\x8bnot gzip at all", "gzip", 100)
    with pytest.raises(ProtocolError, match="Content-Encoding"):
        decode_body(raw, "br", 100)
    with pytest.raises(ProtocolError, match="larger than"):
        decode_body(raw * 20, "identity", 100)


@pytest.mark.parametrize(("raw", "problem"), [
    (b'{"a": NaN}', "constant"), (b'{"a": 1, "a": 2}', "repeats a key"),
    (b"[" * 100_000, "nests too deeply"), (b'{"a": "\xff"}', "UTF-8"), (b"{", "not JSON"),
    (b"", "not JSON"),
])
def test_strict_json(raw: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        loads_strict(raw)


async def test_real_sale_events_encode_and_pass_their_schema(tmp_path: Path) -> None:
    from edge.config import load_config  # noqa: PLC0415
    from edge.scan_router import route  # noqa: PLC0415
    from edge.seed import seed_demo  # noqa: PLC0415

    store = Store(tmp_path / "e.db")
    await store.open()
    try:
        await store.write(seed_demo)
        lane, rules = make_lane(store), load_config(None).scan
        for code in (MILK, WATER, MEMBER_CODE):
            await lane.handle_scan(route(code, rules))
        await lane.pay_cash(20_000)
        await lane.handle_scan(route(WATER, rules))
        await lane.void("changed my mind")
        batch = await store.read(lambda c: read_batch(c, 10, 10**6))
    finally:
        await store.close()
    lines = encode_events(batch.rows).split(b"\n")
    events = [loads_strict(line) for line in lines]
    assert [e["type"] for e in events] == ["sale.completed", "cart.voided"]
    for event in events:
        EVENT_ENVELOPE.check(event)
        check_payload(event["type"], event["payload"])
    sale = events[0]["payload"]
    assert sale["member_id"] == "M0001" and sale["change_fen"] == 20_000 - sale["total_fen"]


def test_event_registry_refuses_what_it_does_not_know() -> None:
    assert set(EVENT_TYPES) >= {"sale.completed", "cart.voided"}
    with pytest.raises(EventRejected) as caught:
        check_payload("member.teleported", {})
    assert caught.value.code == "unknown_type"
    with pytest.raises(EventRejected, match="total_fen: must be an integer, got a number"):
        check_payload("cart.voided", {"cart_id": "c", "lane": "1", "reason": "r", "lines": 1,
                                      "total_fen": 1.5})


def _push_answer(**kw: object) -> bytes:
    return json.dumps({"acked_through_seq": 3, "rejected": [], "conflicts": [], **kw}).encode()


def test_push_answers_that_claim_too_much_are_refused() -> None:
    sent = frozenset({2, 3})
    assert parse_push_response(_push_answer(), sent, 3).acked_through_seq == 3
    with pytest.raises(ProtocolError, match="not sent"):
        parse_push_response(_push_answer(acked_through_seq=4), sent, 3)
    with pytest.raises(ProtocolError, match="names events not sent"):
        parse_push_response(_push_answer(rejected=[{"seq": 9, "event_id": "x", "code": "c",
                                                    "message": "m"}]), sent, 3)
    with pytest.raises(ProtocolError, match="acked_through_seq: must be an integer"):
        parse_push_response(_push_answer(acked_through_seq="3"), sent, 3)
    with pytest.raises(ProtocolError, match="not JSON"):
        parse_push_response(b"<html>502 Bad Gateway</html>", sent, 3)


def _page(changes: list[dict[str, object]]) -> bytes:
    return json.dumps({"stream": "coupons", "changes": changes, "cursor": "9",
                       "has_more": False, "device_seq": 0}).encode()


def test_change_pages_are_checked_row_by_row() -> None:
    row: dict[str, object] = {
        "code": "C1", "label": "x", "body": {}, "valid_from": None, "valid_to": None,
        "member_id": None, "redeemed_at": None, "updated_at": "2026-01-01T00:00:00+00:00"}
    good = {"op": "upsert", "key": "C1", "version": 1, "data": row}
    page = parse_changes_page(_page([good, {"op": "delete", "key": "C0", "version": 2,
                                            "data": None}]), "coupons", 10)
    assert [c.op for c in page.changes] == ["upsert", "delete"]
    for bad, problem in (
            ([good, dict(good, version=1)], "versions must increase"),
            ([dict(good, key="C2")], "differs from the row"),
            ([dict(good, data=dict(row, label=7))], r"changes\[0\]\.data: label"),
            ([dict(good, data=None)], "needs data"),
            ([good] * 11, "at most 10")):
        with pytest.raises(ProtocolError, match=problem):
            parse_changes_page(_page(bad), "coupons", 10)
    with pytest.raises(ProtocolError, match="asked for stream"):
        parse_changes_page(_page([good]), "members", 10)


def test_retry_policy_sorts_answers() -> None:
    assert isinstance(error_for_status(503, b"", None, 60), TransientError)
    throttled = error_for_status(429, b"", "7", 60)
    assert isinstance(throttled, TransientError) and throttled.retry_after_s == 7
    capped = error_for_status(429, b"", "99999", 60)
    assert isinstance(capped, TransientError) and capped.retry_after_s == 60
    assert isinstance(error_for_status(401, b"", None, 60), AuthFailed)
    replay = b'{"error": {"code": "replayed", "message": "m"}}'
    assert isinstance(error_for_status(409, replay, None, 60), TransientError)
    refused = error_for_status(400, b'{"error": {"code": "bad_request", "message": "no"}}',
                               None, 60)
    assert isinstance(refused, RequestRefused) and refused.code == "bad_request"
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 60) == 0.0
    assert parse_retry_after("soon", 60) is None


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    assert all(0.25 <= d <= 0.5 for d in delays[:1])
    assert all(4.0 <= d <= 8.0 for d in delays[5:])
    assert backoff.next_delay(retry_after_s=30) == 30
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_circuit_breaker_opens_pauses_and_probes_once() -> None:
    breaker = CircuitBreaker(failures_to_open=3, reset_s=10)
    for t in range(3):
        assert breaker.wait_s(t) == 0
        breaker.failure(t)
    assert breaker.state == "open" and breaker.wait_s(5) == pytest.approx(7)
    assert breaker.wait_s(13) == 0 and breaker.state == "half-open"
    assert breaker.wait_s(13) > 0          # one probe at a time
    breaker.failure(14)                     # the probe failed: open again
    assert breaker.state == "open" and breaker.wait_s(20) > 0
    assert breaker.wait_s(24) == 0
    breaker.success()
    assert breaker.state == "closed" and breaker.wait_s(24) == 0


def _facts(**kw: object) -> Facts:
    base: dict[str, object] = dict(
        now=1000.0, enabled=True, not_paired=None, breaker="closed", last_success=990.0,
        last_failure=None, last_error=None, stream_error=None, dead_letters=0, skew_s=0.4,
        oldest_pending_age_s=None, pending_count=0, offline_after_s=60, max_skew_s=30,
        backlog_warn_s=300)
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "state", "words"), [
    ({}, "online", "in sync"),
    ({"enabled": False}, "offline", "switched off"),
    ({"not_paired": "not paired: run storeedge pair"}, "offline", "not paired"),
    ({"last_success": None}, "offline", "connecting"),
    ({"last_success": None, "last_failure": 999.0, "last_error": "refused"}, "offline",
     "unreachable: refused"),
    ({"breaker": "open", "last_error": "timeout"}, "offline", "pausing"),
    ({"last_success": 900.0, "last_error": "timeout"}, "offline", "for 100 s"),
    ({"last_failure": 995.0, "last_error": "HTTP 503"}, "degraded", "retrying: HTTP 503"),
    ({"dead_letters": 2}, "degraded", "2 event(s) refused"),
    ({"skew_s": -95.0}, "degraded", "-95 s off"),
    ({"oldest_pending_age_s": 400.0, "pending_count": 12}, "degraded", "12 event(s) waiting"),
])
def test_sync_state_and_reason(kw: dict[str, object], state: str, words: str) -> None:
    result = assess(_facts(**kw))
    assert result.state == state and words in result.reason, result


def test_published_schema_matches_the_code() -> None:
    published = (ROOT / "docs" / "sync-schema.json").read_text("utf-8")
    assert published == render(), "run: python -m sync.schemadoc > docs/sync-schema.json"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False)
    | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6)


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_fast_validator_agrees_with_the_careful_one(data: st.DataObject) -> None:
    """The generated predicate and the tree walk must say the same about any damage."""
    from benchmarks.sync_drain import sale_payload  # noqa: PLC0415

    payload = sale_payload(data.draw(st.integers(1, 10**6)), random.Random(1))
    path = data.draw(st.sampled_from(_paths(payload)[1:]))
    target: Any = payload
    for step in path[:-1]:
        target = target[step]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(_JSON)
    schema = EVENT_TYPES["sale.completed"].schema
    try:
        schema.check(payload)
        careful = True
    except SchemaError:
        careful = False
    try:
        schema.validate(payload)
        fast = True
    except SchemaError:
        fast = False
    assert fast == careful
