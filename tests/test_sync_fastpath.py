"""The CRM's fast path (msgspec) is never more permissive than the schemas it is compiled from.

Every line the fast path accepts must be accepted by the schemas' own checks and give the same
values; what it declines goes to those checks anyway, so declining is always safe. Hypothesis
mutates valid events of every registered type: any value replaced by any JSON value, keys added
or dropped, odd date-times.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.crm.ingest import parse_push
from sync.events import EVENT_ENVELOPE, EVENT_TYPES, EventRejected, check_payload, fast_event
from sync.schema import SchemaError

NOW = "2026-11-20T10:00:00.000+00:00"
SALE = {
    "sale_id": "5a1e", "cart_id": "c4r7", "lane": "1", "member_id": "M0001", "created_at": NOW,
    "receipt_no": 7, "subtotal_fen": 1500, "discount_fen": 100, "total_fen": 1400,
    "paid_fen": 2000, "change_fen": 600,
    "lines": [{"line_no": 1, "product_id": "P001", "name": "农夫山泉 550ml", "qty": 3,
               "weight_g": None, "unit_price_fen": 500, "base_fen": 1500,
               "discount_fen": 100, "net_fen": 1400}],
    "discounts": [{"promotion_id": "PROMO-1", "label": "满减", "amount_fen": 100}],
    "tenders": [{"tender_id": "5a1e:t1", "kind": "cash", "amount_fen": 2000,
                 "reference": None}],
    "ledger": [{"entry_id": "5a1e:points", "account": "member:M0001:points", "delta": 14,
                "reason": "earned"}],
    "coupons": [{"code": "WELCOME10", "amount_fen": 100}],
}
PAYLOADS: dict[str, dict[str, Any]] = {
    "sale.completed": SALE,
    "cart.voided": {"cart_id": "c4r7", "lane": "1", "reason": "voided", "lines": 2,
                    "total_fen": 700},
    "sale.refunded": {
        "refund_id": "r3f", "refund_no": 1, "lane": "2", "sale_id": "5a1e", "sale_lane": "2",
        "receipt_no": 7, "member_id": "M0001", "created_at": NOW, "amount_fen": 500,
        "reason": "damaged",
        "lines": [{"line_no": 1, "product_id": "P001", "name": "农夫山泉 550ml", "qty": 1,
                   "amount_fen": 500}],
        "tenders": [{"tender_id": "r3f:t1", "kind": "cash", "amount_fen": 500,
                     "reference": None}],
        "ledger": [{"entry_id": "r3f:drawer", "account": "drawer:2:cash", "delta": -500,
                    "reason": "refund"},
                   {"entry_id": "r3f:points", "account": "member:M0001:points", "delta": -5,
                    "reason": "refund"}]},
    "face.consent_recorded": {
        "consent_id": "fc1", "member_id": "M0001", "scope": "store",
        "text_version": "2025-06-v1", "language": "zh-CN", "device_id": "lane-pc-1",
        "lane": "1", "actor": "kiosk:1", "given_at": NOW, "supersedes": None},
    "face.consent_withdrawn": {
        "member_id": "M0001", "scopes": ["store"], "consent_ids": ["fc1"],
        "templates_deleted": 2, "reason": "withdrawn", "actor": "kiosk:1",
        "withdrawn_at": NOW},
    "coupon.issued": {
        "code": "CPN-5a1e-1", "label": "下次满50减5", "member_id": None, "rule_id": "R1",
        "body": {"kind": "cash_off", "amount_fen": 500, "min_total_fen": 5000},
        "valid_from": NOW, "valid_to": "2026-12-20T10:00:00.000+00:00", "sale_id": "5a1e",
        "shareable": True, "issued_at": NOW},
    "sale.member_attached": {
        "sale_id": "5a1e", "member_id": "M0001", "how": "wallet", "provider": "wechat",
        "attached_at": NOW,
        "ledger": [{"entry_id": "5a1e:points", "account": "member:M0001:points", "delta": 14,
                    "reason": "earned"}]},
    "member.joined": {
        "join_id": "j01", "member_id": "M9001", "name": "新会员", "provider": "alipay",
        "payer_id": "2088000000000001", "consent_version": "2026-01-v1", "consented_at": NOW,
        "device_id": "lane-pc-1", "lane": "1", "sale_id": "5a1e",
        "ledger": [{"entry_id": "5a1e:points", "account": "member:M9001:points", "delta": 14,
                    "reason": "earned"}]},
    "intervention.cleared": {
        "intervention_id": "iv1", "lane": "1", "cart_id": "c4r7", "reason": "weight_mismatch",
        "raised_at": NOW, "cleared_at": NOW, "cleared_by": "zhang.wei", "method": "badge",
        "detail": {"measured_g": 512, "expected_g": 550}, "outcome": {"rescanned": 1}},
}

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80)
    | st.sampled_from(["", " ", "M0001\n", "member:M0001:points", "2026-11-20T10:00:00Z",
                       "2026-11-20T10:00:00", "2026-13-01T10:00:00+00:00",
                       "2026-11-20t10:00:00+00:00", "2026-11-20T10:00:60+00:00",
                       "2026-11-20 10:00:00+08:00", "2026-11-20T10:00:00.1234567+00:00",
                       "x" * 65, "x" * 201, "cash", "store", "chain", "zh-CN"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=10)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _slow_accepts(event: Any) -> bool:
    try:
        EVENT_ENVELOPE.validate(event)
        check_payload(event["type"], event["payload"])
    except (SchemaError, EventRejected, KeyError, TypeError):
        return False
    return True


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(PAYLOADS)))
    event: dict[str, Any] = {"event_id": "S001:edge-01:9", "seq": 9, "type": kind,
                             "occurred_at": NOW, "payload": copy.deepcopy(PAYLOADS[kind])}
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(event)))
        action = draw(st.sampled_from(["replace", "add", "drop"]))
        parent: Any = event
        for step in path[:-1]:
            parent = parent[step]
        if not path:
            continue
        if action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(JSON_VALUES)
        elif action == "drop" and isinstance(parent, dict):
            parent.pop(path[-1], None)
    return event


def test_valid_events_of_every_type_take_the_fast_path_unchanged() -> None:
    assert set(PAYLOADS) == set(EVENT_TYPES), "a new event type needs an example here"
    for kind, payload in PAYLOADS.items():
        event = {"event_id": "S001:edge-01:9", "seq": 9, "type": kind, "occurred_at": NOW,
                 "payload": payload}
        line = json.dumps(event, ensure_ascii=False).encode()
        assert _slow_accepts(event), kind
        assert fast_event(line) == event, kind


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_events())
def test_the_fast_path_accepts_nothing_the_schemas_refuse(event: dict[str, Any]) -> None:
    line = json.dumps(event, ensure_ascii=False).encode()
    fast = fast_event(line)
    if fast is not None:
        assert _slow_accepts(event), f"fast path accepted what the schemas refuse: {line!r}"
        assert fast == event


def test_a_push_mixing_fast_and_declined_lines_answers_as_the_schemas_do() -> None:
    good = {"event_id": "S001:edge-01:1", "seq": 1, "type": "cart.voided", "occurred_at": NOW,
            "payload": PAYLOADS["cart.voided"]}
    extra = dict(good, seq=2, event_id="S001:edge-01:2",
                 payload=dict(PAYLOADS["cart.voided"], newer_field="kept, not checked"))
    bad = dict(good, seq=3, event_id="S001:edge-01:3",
               payload=dict(PAYLOADS["cart.voided"], total_fen=-5))
    body = b"\n".join(json.dumps(e, ensure_ascii=False).encode() for e in (good, extra, bad))
    incoming, skipped = parse_push(body, "S001:edge-01")
    assert skipped == []
    assert [i.problem is None for i in incoming] == [True, True, False]
    assert incoming[2].problem is not None and "total_fen" in incoming[2].problem.message


def test_the_type_tag_is_read_wherever_it_stands_and_never_trusted_twice() -> None:
    """One decode per line picks the payload's struct by ``type``: the key may come last, and a
    line naming two types, or an unknown one, is left to the schemas' own path."""
    event = {"event_id": "S001:edge-01:9", "seq": 9, "type": "cart.voided", "occurred_at": NOW,
             "payload": PAYLOADS["cart.voided"]}
    reordered = {key: event[key] for key in ("payload", "seq", "occurred_at", "event_id", "type")}
    assert fast_event(json.dumps(reordered, ensure_ascii=False).encode()) == event
    line = json.dumps(event, ensure_ascii=False)
    assert fast_event((line[:-1] + ', "type": "sale.completed"}').encode()) is None
    assert fast_event(line.replace("cart.voided", "cart.unknown").encode()) is None
    assert fast_event(line.replace('"cart.voided"', "7").encode()) is None
    incoming, _ = parse_push((line[:-1] + ', "type": "sale.completed"}').encode(), "S001:edge-01")
    assert incoming[0].problem is not None  # the last "type" wins, and the payload is no sale
