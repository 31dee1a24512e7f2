"""The scan-and-go exit station: a lane of kind ``exit`` that checks exit tokens offline.

A token passes when its Ed25519 signature verifies under a key the CRM published (the
``exit_keys`` stream) or a key file pinned in the config, it names this store, it is within
its validity (with ``exit_clock_skew_s`` of slack) and its sale has not gone out before: each
sale leaves once, recorded in ``exit_passes`` in the same transaction as its audit row. At the
``exit_audit_rate`` a pass becomes a check: the attendant rescans ``exit_audit_items`` units.
When the sale was made at this appliance the station lists which units (from its lines) and
matches each rescan; otherwise it asks for that many and the attendant confirms with a badge.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .audit import record_audit
from .cart import utc_now
from .exit_tokens import ExitClaims, ExitTokenRefused, public_key_from_b64, verify_token
from .intervention_rules import draws_audit, event, match_rescan, message_data, pick_units
from .lane_hooks import Dispatch, LaneHooks
from .login_limits import LoginLocked
from .scan_router import BadgeScan, ExitTokenScan, ProductScan, RoutedScan, WeighedItemScan
from .users import ROLE_RANK, Role

if TYPE_CHECKING:
    from .interventions import CheckoutServices
    from .lane import LaneEvent, LaneSession

_LOGGER = logging.getLogger(__name__)


class _Used(Exception):
    """The sale went out before (raised inside the write to roll it back)."""


def _iso(unix_s: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix_s))


class ExitStation(LaneHooks):
    """The checks of one exit lane; its snapshot carries ``exit`` for the exit page."""

    def __init__(self, lane: LaneSession, services: CheckoutServices,
                 pinned_keys: Callable[[], Mapping[str, Ed25519PublicKey]], *,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.lane = lane
        self.services = services
        self.settings = services.config.checkout
        self._pinned = pinned_keys
        self._now = wall_clock
        self.result: dict[str, Any] = {"state": "idle", **message_data("exit_idle")}
        self._audit: dict[str, Any] | None = None

    async def scan(self, scan: RoutedScan, dispatch: Dispatch,
                   follow: list[LaneEvent]) -> LaneEvent:
        if isinstance(scan, ExitTokenScan):
            return await self._token(scan.token)
        if self._audit is not None and isinstance(scan, BadgeScan):
            return await self._badge(scan.badge_id)
        if self._audit is not None and isinstance(scan, ProductScan | WeighedItemScan):
            return await self._rescan(scan)
        return event("exit_refused", "not_exit_code", ok=False, reason="not_exit_code")

    def view(self) -> dict[str, Any]:
        return {**super().view(), "exit": dict(self.result)}

    # -- tokens ------------------------------------------------------------------------------

    async def keys(self) -> dict[str, Ed25519PublicKey]:
        """Return the keys tokens may be signed with: the CRM's, then the pinned files'."""
        rows = await self.services.store.fetchall("SELECT key_id, public_key FROM exit_keys")
        keys: dict[str, Ed25519PublicKey] = dict(self._pinned())
        for row in rows:
            try:
                keys[str(row["key_id"])] = public_key_from_b64(str(row["public_key"]))
            except ValueError:
                _LOGGER.error("Exit key %s from the CRM is unusable; ignored", row["key_id"])
        return keys

    async def _token(self, token: str) -> LaneEvent:
        self._audit = None
        try:
            claims = verify_token(token, await self.keys(), store_id=self.services.config.store.id,
                                  now=self._now(), skew_s=self.settings.exit_clock_skew_s)
            return await self._admit(claims)
        except ExitTokenRefused as err:
            return await self._refuse(err)

    async def _admit(self, claims: ExitClaims) -> LaneEvent:
        rng, settings = self.services.rng, self.settings
        audited = draws_audit(rng, settings.exit_audit_rate)
        lines = await self.services.store.fetchall(
            "SELECT product_id, name, qty FROM sale_lines WHERE sale_id = ? ORDER BY line_no",
            (claims.sale_id,))
        count = min(settings.exit_audit_items, max(1, claims.item_count))
        items = pick_units(rng, [(r["product_id"], r["name"], r["qty"]) for r in lines],
                           count) if audited else []
        audit = {"count": count, "items": items, "done": [], "listed": bool(lines)} \
            if audited else None

        def write(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM exit_passes WHERE sale_id = ?",
                            (claims.sale_id,)).fetchone():
                raise _Used
            conn.execute(
                "INSERT INTO exit_passes (sale_id, lane, key_id, item_count, amount_fen,"
                " issued_at, used_at, state, audit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (claims.sale_id, self.lane.lane_id, claims.key_id, claims.item_count,
                 claims.amount_fen, _iso(claims.issued_at), utc_now(),
                 "audit" if audit else "passed", json.dumps(audit) if audit else None))
            record_audit(conn, "exit", "exit.audit" if audit else "exit.passed",
                         f"sale:{claims.sale_id}", {"lane": self.lane.lane_id,
                                                    "key_id": claims.key_id})

        try:
            await self.services.store.write(write)
        except _Used:
            return await self._refuse(ExitTokenRefused("already_used", "this sale went out "
                                                       "already", claims))
        sale = {"sale_id": claims.sale_id, "item_count": claims.item_count,
                "amount_fen": claims.amount_fen}
        if audit is None:
            self.result = {"state": "passed", **sale, **message_data("exit_passed")}
            return event("exit_passed", "exit_passed", ok=True, **sale)
        self._audit = {**audit, **sale}
        self.result = {"state": "audit", **sale, **self._audit_view(),
                       **message_data("exit_audit", n=count)}
        _LOGGER.info("Exit %s: sale %s picked for a check", self.lane.lane_id, claims.sale_id)
        return event("exit_audit", "exit_audit", ok=True, n=count, **sale, **self._audit_view())

    async def _refuse(self, err: ExitTokenRefused) -> LaneEvent:
        sale_id = err.claims.sale_id if err.claims else None
        _LOGGER.warning("Exit %s refused a token: %s (%s)", self.lane.lane_id, err.reason,
                        err.message)
        await self.services.store.write(lambda conn: record_audit(
            conn, "exit", "exit.refused", f"lane:{self.lane.lane_id}",
            {"reason": err.reason, "sale_id": sale_id}))
        # What an unverified token claims is not shown as if it were true.
        trusted = err.claims is not None and err.reason not in ("unknown_key", "bad_signature")
        sale = {"sale_id": sale_id, "item_count": err.claims.item_count,
                "amount_fen": err.claims.amount_fen} if trusted and err.claims else {}
        self.result = {"state": "refused", "reason": err.reason, **sale,
                       **message_data(f"exit_{err.reason}")}
        return event("exit_refused", f"exit_{err.reason}", ok=False, reason=err.reason, **sale)

    # -- the check ---------------------------------------------------------------------------

    def _audit_view(self) -> dict[str, Any]:
        audit = self._audit or {}
        return {"audit": {"count": audit.get("count", 0), "items": audit.get("items", []),
                          "done": audit.get("done", []), "listed": audit.get("listed", False)}}

    async def _rescan(self, scan: ProductScan | WeighedItemScan) -> LaneEvent:
        audit = self._audit
        assert audit is not None
        catalog = self.services.catalog
        product = await (catalog.product_by_gtin(scan.gtin) if isinstance(scan, ProductScan)
                         else catalog.product_by_item_code(scan.item_code))
        if not audit["listed"]:
            return event("audit_rescan", "audit_rescan", ok=True, done=0, of=audit["count"])
        if product is None or not match_rescan(audit["items"], audit["done"], product.id):
            return await self._finish("audit_failed", scan.text[:64])
        audit["done"].append(product.id)
        if len(audit["done"]) < len(audit["items"]):
            self.result.update(self._audit_view())
            return event("audit_rescan", "audit_rescan", ok=True, done=len(audit["done"]),
                         of=len(audit["items"]))
        return await self._finish("audit_passed", None)

    async def _badge(self, badge_id: str) -> LaneEvent:
        try:
            user = await self.services.badges.verify(badge_id, self.lane.lane_id)
        except LoginLocked as err:
            return event("attendant_refused", "auth_locked", ok=False, reason="locked",
                         minutes=err.minutes)
        needed = ROLE_RANK[Role(self.settings.attendant_role)]
        if user is None or user.disabled or ROLE_RANK[user.role] < needed:
            return event("attendant_refused", "unknown_badge", ok=False, reason="unknown_badge")
        return await self._finish("audit_passed", None, attendant=user.name)

    async def _finish(self, state: str, mismatch: str | None,
                      attendant: str | None = None) -> LaneEvent:
        audit = self._audit
        assert audit is not None
        self._audit = None
        record = {**audit, "mismatch": mismatch, "attendant": attendant}
        sale = {k: audit[k] for k in ("sale_id", "item_count", "amount_fen")}

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE exit_passes SET state = ?, audit = ? WHERE sale_id = ?",
                         (state, json.dumps(record, ensure_ascii=False), audit["sale_id"]))
            record_audit(conn, attendant or "exit", f"exit.{state}", f"sale:{audit['sale_id']}",
                         {"mismatch": mismatch})

        await self.services.store.write(write)
        if state == "audit_passed":
            self.result = {"state": "passed", **sale, **message_data("exit_audit_done")}
            return event("exit_passed", "exit_audit_done", ok=True, audited=True, **sale)
        self.result = {"state": "refused", "reason": "not_in_sale", **sale,
                       **message_data("exit_not_in_sale")}
        return event("exit_refused", "exit_not_in_sale", ok=False, reason="not_in_sale",
                     scanned=mismatch, **sale)
