"""Coupons issued after payment (支付后发券) by the CRM's rules, in the sale's own transaction.

A rule (the ``coupon_rules`` stream) says: a sale of at least ``min_total_fen`` (optionally
only a member's) earns a coupon valid for ``valid_days``. A *shareable* rule makes a bearer
coupon for a friend (the sharer cannot use it), shown as a QR on the receipt screen. Each
issued coupon is a ``coupons`` row here at once, and a ``coupon.issued`` event for the CRM,
which serves it to every lane in the coupons stream.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .coupons import CouponError, coupon_from_row
from .sales import OutboxIdentity, append_outbox

COUPON_ISSUED = "coupon.issued"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # read aloud and typed by hand without 0/O, 1/I


class RuleError(ValueError):
    """A rule's body cannot be used; the message names the rule and the field."""


@dataclass(frozen=True, slots=True)
class IssueRule:
    id: str
    label: str
    min_total_fen: int
    members_only: bool
    shareable: bool
    valid_days: int
    coupon_label: str
    coupon_body: dict[str, Any]
    starts_at: str | None = None
    ends_at: str | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class IssuedCoupon:
    code: str
    label: str
    rule_id: str
    shareable: bool
    member_id: str | None
    valid_to: str
    qr_payload: str

    def view(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "rule_id": self.rule_id,
                "shareable": self.shareable, "member_id": self.member_id,
                "valid_to": self.valid_to, "qr_payload": self.qr_payload}


def rule_from_row(row: Mapping[str, Any]) -> IssueRule:
    """Build an ``IssueRule`` from a ``coupon_rules`` row; raise ``RuleError``."""
    rule_id = str(row["id"])
    body = json.loads(row["body"]) if isinstance(row["body"], str) else row["body"]
    where = f"coupon rule {rule_id!r}"
    if not isinstance(body, dict):
        raise RuleError(f"{where}: body must be an object")
    numbers = {k: body.get(k, d) for k, d in (("min_total_fen", 0), ("valid_days", 30))}
    if any(type(v) is not int or v < 0 for v in numbers.values()) or numbers["valid_days"] < 1:
        raise RuleError(f"{where}: min_total_fen >= 0 and valid_days >= 1 must be whole numbers")
    flags = {k: body.get(k, False) for k in ("members_only", "shareable")}
    if not all(isinstance(v, bool) for v in flags.values()):
        raise RuleError(f"{where}: members_only and shareable must be true or false")
    coupon = body.get("coupon")
    label = body.get("coupon_label", row["label"])
    if not isinstance(coupon, dict) or not isinstance(label, str) or not label:
        raise RuleError(f"{where}: needs coupon (a coupon body) and coupon_label")
    try:
        coupon_from_row({"code": rule_id, "label": label, "body": coupon})
    except CouponError as err:
        raise RuleError(f"{where}: {err}") from None
    return IssueRule(rule_id, str(row["label"]), numbers["min_total_fen"], flags["members_only"],
                     flags["shareable"], numbers["valid_days"], label, coupon,
                     row.get("starts_at"), row.get("ends_at"), int(row.get("priority") or 0))


def _active(rule: IssueRule, now: str) -> bool:
    return (rule.starts_at is None or rule.starts_at <= now) and (
        rule.ends_at is None or now < rule.ends_at)


def active_rules(conn: sqlite3.Connection, now: str) -> list[IssueRule]:
    """Return the usable rules in force at ``now``, highest priority first (bad ones skipped)."""
    cur = conn.execute("SELECT * FROM coupon_rules WHERE active = 1 ORDER BY priority DESC, id")
    names = [d[0] for d in cur.description]
    rules = []
    for values in cur.fetchall():
        try:
            rule = rule_from_row(dict(zip(names, values, strict=True)))
        except RuleError:
            continue  # the stream's precheck refuses these; an old row must not stop a sale
        if _active(rule, now):
            rules.append(rule)
    return rules


def new_code(conn: sqlite3.Connection) -> str:
    """Return an unused coupon code (12 characters, 60 bits)."""
    while True:
        code = "S" + "".join(secrets.choice(_ALPHABET) for _ in range(11))
        if conn.execute("SELECT 1 FROM coupons WHERE code = ?", (code,)).fetchone() is None:
            return code


def issue_after_sale(conn: sqlite3.Connection, identity: OutboxIdentity, *, sale_id: str,
                     total_fen: int, member_id: str | None, now: str,
                     scan_prefix: str) -> list[IssuedCoupon]:
    """Issue what the rules give for this sale; call inside the sale's write transaction."""
    issued = []
    for rule in active_rules(conn, now):
        if total_fen < rule.min_total_fen or (rule.members_only and member_id is None):
            continue
        code = new_code(conn)
        valid_to = (dt.datetime.fromisoformat(now) + dt.timedelta(days=rule.valid_days)
                    ).isoformat(timespec="milliseconds")
        body = dict(rule.coupon_body)
        owner = None if rule.shareable else member_id
        if rule.shareable and member_id is not None:
            body["not_for_member"] = member_id
        conn.execute("INSERT INTO coupons (code, label, body, valid_from, valid_to, member_id,"
                     " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (code, rule.coupon_label, json.dumps(body, ensure_ascii=False), now,
                      valid_to, owner, now))
        conn.execute("INSERT INTO coupons_issued (code, sale_id, rule_id, shareable, issued_at)"
                     " VALUES (?, ?, ?, ?, ?)", (code, sale_id, rule.id, int(rule.shareable), now))
        append_outbox(conn, identity, COUPON_ISSUED, {
            "code": code, "label": rule.coupon_label, "body": body, "valid_from": now,
            "valid_to": valid_to, "member_id": owner, "rule_id": rule.id, "sale_id": sale_id,
            "shareable": rule.shareable, "issued_at": now}, now)
        issued.append(IssuedCoupon(code, rule.coupon_label, rule.id, rule.shareable, owner,
                                   valid_to, scan_prefix + code))
    return issued
