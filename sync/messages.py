"""The messages of the protocol: their schemas, and parsers that turn bytes into values.

A parser either returns a fully checked value or raises ``ProtocolError``: the client never
acts on half of a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .protocol import MAX_BATCH_EVENTS, ProtocolError, loads_strict
from .schema import (
    DELTA,
    FEN,
    ID,
    NAME,
    AnyObj,
    Bool,
    DateTime,
    Int,
    List,
    Nullable,
    Obj,
    Schema,
    SchemaError,
    Str,
)

IDENT = Str(32, pattern=r"[A-Za-z0-9_-]+")
CURSOR = Str(128, min_len=0, pattern=r"[A-Za-z0-9._-]*")
STREAM_NAMES = ("catalog", "promotions", "coupons", "members", "allowances", "coupon_rules",
                "guides", "exit_keys")

# A push body is NDJSON: one line per event (EVENT_ENVELOPE, "payload" last), or per event
# the edge cannot send at all (dead-lettered there; the CRM records it as rejected so its
# watermark moves past it).
SKIPPED_LINE = Obj({"skipped": Obj({
    "seq": Int(1, 10**16), "event_id": Str(120), "code": Str(64), "message": Str(1000),
})}, max_keys=1)

PUSH_RESPONSE = Obj({
    "acked_through_seq": Int(0, 10**16, "every seq up to this one is settled at the CRM "
                             "(stored, or rejected and listed when it was)"),
    "rejected": List(Obj({
        "seq": Int(1, 10**16), "event_id": Str(120), "code": Str(64), "message": Str(1000),
    }), MAX_BATCH_EVENTS),
    "conflicts": List(Obj({
        "seq": Int(1, 10**16), "event_id": Str(120), "kind": Str(64), "subject": Str(128),
        "detail": AnyObj(64),
    }), MAX_BATCH_EVENTS),
})

ERROR = Obj({"error": Obj({"code": Str(64), "message": Str(1000)})})

PAIR_REQUEST = Obj({"code": Str(64, pattern=r"[A-Za-z0-9-]+"), "store_id": IDENT,
                    "device_id": IDENT})
PAIR_RESPONSE = Obj({
    "device_key": Str(65, pattern=r"[A-Za-z0-9_-]+:[A-Za-z0-9_-]+"),
    "secret": Str(128, min_len=43, pattern=r"[A-Za-z0-9_-]+",
                  description="base64url, at least 32 bytes; HMAC key"),
    "store_id": IDENT,
    "device_id": IDENT,
})

_BARCODE = Obj({"code": Str(20, pattern=r"[0-9A-Za-z]+"), "kind": Str(8, enum=("gtin", "item"))})
STREAM_ROWS: Mapping[str, Schema] = {
    "catalog": Obj({
        "id": ID, "name": NAME, "name_en": Nullable(NAME), "category": Str(64),
        "price_fen": FEN, "member_price_fen": Nullable(FEN), "sold_by_weight": Bool(),
        "age_restricted": Bool(), "expected_weight_g": Nullable(Int(1, 10**7)),
        "weight_tolerance_g": Nullable(Int(0, 10**7)), "active": Bool(),
        "barcodes": List(_BARCODE, 64), "updated_at": DateTime(),
    }),
    "promotions": Obj({
        "id": ID, "kind": Str(32, enum=("item_percent", "buy_n_get_m", "threshold")),
        "label": NAME, "body": AnyObj(64), "active": Bool(),
        "starts_at": Nullable(DateTime()), "ends_at": Nullable(DateTime()),
        "priority": Int(-10_000, 10_000), "updated_at": DateTime(),
    }),
    "coupons": Obj({
        "code": Str(64), "label": NAME, "body": AnyObj(64), "valid_from": Nullable(DateTime()),
        "valid_to": Nullable(DateTime()), "member_id": Nullable(ID),
        "redeemed_at": Nullable(DateTime()), "updated_at": DateTime(),
    }),
    "members": Obj({
        "id": ID, "name": NAME, "phone": Nullable(Str(20, pattern=r"\+?[0-9]{5,19}")),
        "member_code": Nullable(Str(32, pattern=r"[A-Za-z0-9]+")), "tier": Str(32),
        "points_balance": DELTA, "stored_value_fen": DELTA,
        "code_seed": Nullable(Str(64, min_len=16, pattern=r"[A-Z2-7]+",
                                  description="base32 secret of the rotating member code")),
        "updated_at": DateTime(),
    }),
    "allowances": Obj({
        "kind": Str(32, enum=("stored_value",)), "limit_fen": FEN, "per_transaction_fen": FEN,
        "granted_at": DateTime(), "expires_at": Nullable(DateTime()),
    }),
    "coupon_rules": Obj({
        "id": ID, "label": NAME,
        "body": AnyObj(64, description="min_total_fen, members_only, shareable, valid_days, "
                       "coupon_label and coupon (a coupon body): docs/loyalty.md"),
        "active": Bool(), "starts_at": Nullable(DateTime()), "ends_at": Nullable(DateTime()),
        "priority": Int(-10_000, 10_000), "updated_at": DateTime(),
    }),
    "guides": Obj({
        "id": Str(48, pattern=r"[A-Za-z0-9_-]+", description="the guide's code is GD<id>"),
        "name": NAME, "active": Bool(), "updated_at": DateTime(),
    }),
    "exit_keys": Obj({
        "key_id": Str(8, min_len=8, pattern=r"[A-Za-z0-9_-]{8}"),
        "public_key": Str(43, min_len=43, pattern=r"[A-Za-z0-9_-]{43}",
                          description="base64url of a raw 32-byte Ed25519 public key that "
                          "signs scan-and-go exit tokens"),
        "created_at": DateTime(),
    }),
}
STREAM_KEYS = {"catalog": "id", "promotions": "id", "coupons": "code", "members": "id",
               "allowances": "kind", "coupon_rules": "id", "guides": "id", "exit_keys": "key_id"}

CHANGE = Obj({
    "op": Str(8, enum=("upsert", "delete")),
    "key": Str(64),
    "version": Int(1, 10**16),
    "data": Nullable(AnyObj(64), description="the whole row for an upsert (see the stream "
                     "row schemas), null for a delete"),
})
CHANGES_PAGE = Obj({
    "stream": Str(16, enum=STREAM_NAMES),
    "changes": List(CHANGE, 5_000),
    "cursor": CURSOR,
    "has_more": Bool(),
    "device_seq": Int(0, 10**16, "this device's acked_through_seq when the page was read: "
                      "member balances include every event up to it"),
})


@dataclass(frozen=True, slots=True)
class Rejection:
    seq: int
    event_id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Conflict:
    seq: int
    event_id: str
    kind: str
    subject: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PushResult:
    acked_through_seq: int
    rejected: tuple[Rejection, ...]
    conflicts: tuple[Conflict, ...]


@dataclass(frozen=True, slots=True)
class Change:
    op: str
    key: str
    version: int
    data: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChangesPage:
    stream: str
    changes: tuple[Change, ...]
    cursor: str
    has_more: bool
    device_seq: int


def _checked(raw: bytes, schema: Schema, what: str) -> Any:
    value = loads_strict(raw)
    try:
        schema.validate(value)
    except SchemaError as err:
        raise ProtocolError(f"{what}: {err}") from None
    return value


def parse_push_response(raw: bytes, sent_seqs: frozenset[int], ack_limit: int) -> PushResult:
    """Parse the answer to a push of ``sent_seqs``; refuse an answer about other events.

    ``ack_limit`` is the highest seq the answer may acknowledge: the last one sent, or the
    cursor already held when dead letters behind it were sent again.
    """
    value = _checked(raw, PUSH_RESPONSE, "push response")
    rejected = tuple(Rejection(r["seq"], r["event_id"], r["code"], r["message"])
                     for r in value["rejected"])
    conflicts = tuple(Conflict(c["seq"], c["event_id"], c["kind"], c["subject"], c["detail"])
                      for c in value["conflicts"])
    strangers = {r.seq for r in rejected} | {c.seq for c in conflicts}
    if not strangers <= sent_seqs:
        raise ProtocolError("push response names events not sent: "
                            f"{sorted(strangers - sent_seqs)[:5]}")
    if value["acked_through_seq"] > ack_limit:
        raise ProtocolError("push response acknowledges events that were not sent")
    return PushResult(value["acked_through_seq"], rejected, conflicts)


def parse_changes_page(raw: bytes, stream: str, max_changes: int) -> ChangesPage:
    """Parse a change-stream page, checking every row against its stream's schema."""
    value = _checked(raw, CHANGES_PAGE, "changes page")
    if value["stream"] != stream:
        raise ProtocolError(f"asked for stream {stream!r}, got {value['stream']!r}")
    if len(value["changes"]) > max_changes:
        raise ProtocolError(f"page holds {len(value['changes'])} changes, asked for "
                            f"at most {max_changes}")
    schema, key_field = STREAM_ROWS[stream], STREAM_KEYS[stream]
    changes = []
    last_version = 0
    for i, item in enumerate(value["changes"]):
        where = f"changes[{i}]"
        if item["version"] <= last_version:
            raise ProtocolError(f"{where}: versions must increase within a page")
        last_version = item["version"]
        data = item["data"]
        if item["op"] == "upsert":
            if data is None:
                raise ProtocolError(f"{where}: an upsert needs data")
            try:
                schema.validate(data)
            except SchemaError as err:
                raise ProtocolError(f"{where}.data: {err}") from None
            if data[key_field] != item["key"]:
                raise ProtocolError(f"{where}: key {item['key']!r} differs from the row's "
                                    f"{key_field}")
        changes.append(Change(item["op"], item["key"], item["version"], data))
    return ChangesPage(stream, tuple(changes), value["cursor"], value["has_more"],
                       value["device_seq"])


def parse_error(raw: bytes) -> tuple[str, str] | None:
    """Return (code, message) of an error body, or None when it is not one."""
    try:
        value = _checked(raw, ERROR, "error")
    except ProtocolError:
        return None
    return value["error"]["code"], value["error"]["message"]
