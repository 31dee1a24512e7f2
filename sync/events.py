"""The event types the edge sends and the CRM accepts: one registry, one entry per type.

To add a type, add one ``EventType`` to ``EVENT_TYPES`` (a payload schema, and an optional
``rules`` function for checks across fields), write the event with ``edge.sales.append_outbox``
in the transaction that does the thing it describes, and regenerate the published schema
(``python -m sync.schemadoc > docs/sync-schema.json``; a test says when it is stale). The CRM
refuses a type it does not know, or a payload that does not fit, per event: the edge
dead-letters that one event and the queue moves on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

import msgspec

from . import fastschema
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
    _datetime_ok,
)
from .schema import Str as S

LEDGER_ACCOUNT = r"[a-z_]{1,16}:[A-Za-z0-9_.-]{1,64}:[a-z_]{1,24}"
EVENT_TYPE_NAME = r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+"


@dataclass(frozen=True, slots=True)
class EventType:
    """A payload schema plus checks that span fields (return a message when they fail)."""

    description: str
    schema: Schema
    rules: Callable[[dict[str, Any]], str | None] | None = None


class EventRejected(ValueError):
    """An event the CRM will not store; ``code`` is stable, ``message`` says why."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


_SALE_LINE = Obj({
    "line_no": Int(1, 10_000),
    "product_id": ID,
    "name": NAME,
    "qty": Int(1, 1_000_000),
    "weight_g": Nullable(Int(0, 10_000_000)),
    "unit_price_fen": FEN,
    "base_fen": FEN,
    "discount_fen": FEN,
    "net_fen": FEN,
})
_SALE_DISCOUNT = Obj({"promotion_id": ID, "label": NAME, "amount_fen": FEN})
_SALE_TENDER = Obj({
    "tender_id": S(128),
    "kind": S(32, pattern=r"[a-z][a-z0-9_]*"),
    "amount_fen": Int(1, 10**12),
    "reference": Nullable(S(128)),
})
_LEDGER_ENTRY = Obj({
    "entry_id": S(128),
    "account": S(120, pattern=LEDGER_ACCOUNT,
                 description="kind:id:balance, e.g. member:M0001:points, drawer:2:cash"),
    "delta": DELTA,
    "reason": S(64),
})
_COUPON_USE = Obj({"code": S(64), "amount_fen": FEN})

SALE_COMPLETED = Obj(
    {
        "sale_id": ID,
        "cart_id": ID,
        "lane": S(32),
        "member_id": Nullable(ID),
        "created_at": DateTime(),
        "receipt_no": Int(1, 10**12),
        "subtotal_fen": FEN,
        "discount_fen": FEN,
        "total_fen": FEN,
        "paid_fen": FEN,
        "change_fen": FEN,
        "lines": List(_SALE_LINE, 500, min_items=1),
        "discounts": List(_SALE_DISCOUNT, 200),
        "tenders": List(_SALE_TENDER, 20),
        "ledger": List(_LEDGER_ENTRY, 100,
                       description="balance deltas; member:<id>:points and "
                       "member:<id>:stored_value entries change the member at the CRM"),
    },
    {"coupons": List(_COUPON_USE, 50, description="coupons redeemed by this sale"),
     "guide_id": ID},
)


def _sale_rules(p: dict[str, Any]) -> str | None:
    if p["subtotal_fen"] - p["discount_fen"] != p["total_fen"]:
        return "subtotal_fen - discount_fen must equal total_fen"
    if p["paid_fen"] - p["change_fen"] != p["total_fen"]:
        return "paid_fen - change_fen must equal total_fen"
    if p["tenders"] and sum(t["amount_fen"] for t in p["tenders"]) != p["paid_fen"]:
        return "the tenders must add up to paid_fen"
    return None


SALE_REFUNDED = Obj({
    "refund_id": ID,
    "refund_no": Int(1, 10**12),
    "lane": S(32, description="the lane whose drawer paid the refund out"),
    "sale_id": ID,
    "sale_lane": S(32),
    "receipt_no": Int(1, 10**12, "the refunded sale's receipt number at sale_lane"),
    "member_id": Nullable(ID),
    "created_at": DateTime(),
    "amount_fen": Int(1, 10**12),
    "reason": S(200),
    "lines": List(Obj({"line_no": Int(1, 10_000), "product_id": ID, "name": NAME,
                       "qty": Int(1, 1_000_000), "amount_fen": FEN}), 500, min_items=1),
    "tenders": List(_SALE_TENDER, 20, min_items=1),
    "ledger": List(_LEDGER_ENTRY, 100,
                   description="drawer cash out, and member:<id>:points taken back (negative "
                   "deltas, applied at the CRM like a sale's)"),
})


def _refund_rules(p: dict[str, Any]) -> str | None:
    if sum(line["amount_fen"] for line in p["lines"]) != p["amount_fen"]:
        return "the lines must add up to amount_fen"
    if sum(t["amount_fen"] for t in p["tenders"]) != p["amount_fen"]:
        return "the tenders must add up to amount_fen"
    return None


CART_VOIDED = Obj({
    "cart_id": ID,
    "lane": S(32),
    "reason": S(200),
    "lines": Int(0, 10_000),
    "total_fen": FEN,
})

_SCOPE = S(8, enum=("store", "chain"))

FACE_CONSENT_RECORDED = Obj({
    "consent_id": ID,
    "member_id": ID,
    "scope": _SCOPE,
    "text_version": S(64),
    "language": S(16, enum=("zh-CN", "en")),
    "device_id": ID,
    "lane": Nullable(S(32)),
    "actor": S(128),
    "given_at": DateTime(),
    "supersedes": Nullable(ID),
})

FACE_CONSENT_WITHDRAWN = Obj({
    "member_id": ID,
    "scopes": List(_SCOPE, 2),
    "consent_ids": List(ID, 50),
    "templates_deleted": Int(0, 1000),
    "reason": S(32, enum=("withdrawn", "deleted_by_store")),
    "actor": S(128),
    "withdrawn_at": DateTime(),
})

_PROVIDER = S(16, enum=("wechat", "alipay"))

COUPON_ISSUED = Obj({
    "code": S(64, pattern=r"[A-Za-z0-9._-]+"),
    "label": NAME,
    "body": AnyObj(64, description="the coupon: kind, amounts, scope, stacking "
                   "(docs/loyalty.md)"),
    "valid_from": DateTime(),
    "valid_to": DateTime(),
    "member_id": Nullable(ID, "whose coupon it is; null for a bearer (shareable) coupon"),
    "rule_id": ID,
    "sale_id": ID,
    "shareable": Bool(),
    "issued_at": DateTime(),
})

SALE_MEMBER_ATTACHED = Obj({
    "sale_id": ID,
    "member_id": ID,
    "how": S(16, enum=("wallet",)),
    "provider": _PROVIDER,
    "attached_at": DateTime(),
    "ledger": List(_LEDGER_ENTRY, 4, description="the sale's points for the member"),
})

MEMBER_JOINED = Obj({
    "join_id": S(128),
    "member_id": ID,
    "name": NAME,
    "provider": _PROVIDER,
    "payer_id": S(128, pattern=r"[A-Za-z0-9_-]+", description="the wallet's id of the payer "
                  "(openid, buyer_user_id), linked to the new member"),
    "consent_version": S(64),
    "consented_at": DateTime(),
    "device_id": ID,
    "lane": S(32),
    "sale_id": ID,
    "ledger": List(_LEDGER_ENTRY, 4, description="the first sale's points"),
})


def _member_ledger_rules(p: dict[str, Any]) -> str | None:
    account = f"member:{p['member_id']}:points"
    if any(e["account"] != account or e["delta"] < 0 for e in p["ledger"]):
        return f"ledger entries must credit {account}"
    return None


INTERVENTION_REASONS = ("age_restricted", "weight_mismatch", "unexpected_weight",
                        "item_removed", "unknown_item", "quantity_limit", "rescan_audit",
                        "attendant_called")

INTERVENTION_CLEARED = Obj({
    "intervention_id": ID,
    "lane": S(32),
    "cart_id": ID,
    "reason": S(32, enum=INTERVENTION_REASONS),
    "raised_at": DateTime(),
    "cleared_at": DateTime(),
    "cleared_by": S(128, description="the console user whose badge or PIN cleared it"),
    "method": S(8, enum=("badge", "pin")),
    "detail": AnyObj(32, description="what raised it: the item, grams measured and expected"),
    "outcome": AnyObj(32, description="what the attendant did: items rescanned, ..."),
})

EVENT_TYPES: Mapping[str, EventType] = {
    "sale.completed": EventType("a sale committed at a lane, with its lines, tenders and "
                                "balance deltas", SALE_COMPLETED, _sale_rules),
    "sale.refunded": EventType("a past sale refunded in cash at a staffed lane, whole or some "
                               "lines, with the points taken back", SALE_REFUNDED,
                               _refund_rules),
    "cart.voided": EventType("an open cart thrown away (audit)", CART_VOIDED),
    "face.consent_recorded": EventType(
        "a member agreed to face recognition at a kiosk (store, or chain-wide as a second "
        "consent); no biometric data travels with it", FACE_CONSENT_RECORDED),
    "face.consent_withdrawn": EventType(
        "a member withdrew face consent, or store IT deleted their face data: every holder "
        "of the member's templates deletes them", FACE_CONSENT_WITHDRAWN),
    "coupon.issued": EventType(
        "a coupon issued after a payment by a CRM rule (支付后发券); the CRM serves it to "
        "every lane in the coupons stream", COUPON_ISSUED),
    "sale.member_attached": EventType(
        "a paid sale turned out to be a known member's (found by the wallet's payer id): "
        "the sale's points for the member", SALE_MEMBER_ATTACHED, _member_ledger_rules),
    "member.joined": EventType(
        "a shopper joined on the kiosk after paying (consent version and time): the CRM "
        "creates the member, links the wallet's payer id and credits the sale's points",
        MEMBER_JOINED, _member_ledger_rules),
    "intervention.cleared": EventType(
        "an attendant cleared a self-checkout intervention (age check, bagging-area weight, "
        "unknown item, quantity limit, random rescan, call for help) with a badge or PIN",
        INTERVENTION_CLEARED),
}


def check_payload(event_type: str, payload: Any,
                  registry: Mapping[str, EventType] = EVENT_TYPES, *,
                  schema_checked: bool = False) -> None:
    """Raise ``EventRejected`` unless ``payload`` is a valid payload of ``event_type``.

    ``schema_checked``: the fast path already fitted the payload to the type's schema; only
    the rules across fields are left to check.
    """
    spec = registry.get(event_type)
    if spec is None:
        raise EventRejected("unknown_type", f"unknown event type {event_type!r}")
    if not schema_checked:
        try:
            spec.schema.validate(payload)
        except SchemaError as err:
            raise EventRejected("bad_payload", str(err)) from None
    if spec.rules is not None:
        problem = spec.rules(payload)
        if problem:
            raise EventRejected("bad_payload", problem)


EVENT_ENVELOPE = Obj({
    "event_id": S(120, pattern=r"[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{1,32}:[1-9][0-9]{0,15}",
                  description="store:device:seq"),
    "seq": Int(1, 2**40 - 1, "per-device sequence, gap-free from 1"),
    "type": S(64, pattern=EVENT_TYPE_NAME),
    "occurred_at": DateTime(),
    "payload": Obj({}, max_keys=128, description="per type: see the event type schemas"),
})


# -- the fast path (sync/fastschema.py): the same schemas, compiled for msgspec ----------------

_ENVELOPE_FIELDS = dict(EVENT_ENVELOPE.required)


def _event_decoder(registry: Mapping[str, EventType]) -> msgspec.json.Decoder[Any] | None:
    """Return one decoder for whole event lines: a union of one struct per event type, told
    apart by ``type``, so a line is parsed and checked in one pass (envelope and payload).

    Types without a fast path, or whose name the envelope schema would refuse, are left out:
    their lines fail to decode here and take the schemas' own path.
    """
    envelope = [
        ("event_id", fastschema.fast_type(_ENVELOPE_FIELDS["event_id"])),
        ("seq", fastschema.fast_type(_ENVELOPE_FIELDS["seq"])),
        ("occurred_at", str),   # checked after decoding, with the schema's own date-time rule
    ]
    members = []
    for name, spec in registry.items():
        try:
            _ENVELOPE_FIELDS["type"].check(name)
            payload = fastschema.fast_type(spec.schema, name.replace(".", "_"))
        except (SchemaError, fastschema.NoFastPath):
            continue
        members.append(msgspec.defstruct(
            "Event_" + name.replace(".", "_"), [*envelope, ("payload", payload)],
            tag_field="type", tag=name, forbid_unknown_fields=True, gc=False))
    if not members:
        return None
    union: Any = Union[tuple(members)]  # noqa: UP007 - built at run time
    return msgspec.json.Decoder(union, strict=True)


_EVENT_DECODER = _event_decoder(EVENT_TYPES)


def fast_event(line: bytes, registry: Mapping[str, EventType] = EVENT_TYPES) -> Any:
    """Return the event of one pushed line with its envelope and payload fitted to their
    schemas, or None: then the line takes the schemas' own (slower, wordier) path."""
    decoder = _EVENT_DECODER if registry is EVENT_TYPES else _event_decoder(registry)
    if decoder is None:
        return None
    try:
        event: Any = decoder.decode(line)
        if not _datetime_ok(event.occurred_at):
            return None
        # The checked structs hold every value (the tag gives back "type"): turning them into
        # plain JSON values is cheaper than parsing the line a second time.
        return msgspec.to_builtins(event)
    except (msgspec.MsgspecError, RecursionError, ValueError):
        return None
