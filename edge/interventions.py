"""Interventions: a lane locks until an attendant clears it with a badge or a supervisor PIN.

``LaneGuard`` is the checkout rules of one kiosk or staffed lane (``edge.lane_hooks``). It
raises an intervention for an age-restricted item, a bagging-area weight problem, an unknown
item, a quantity over its limit, a random rescan check before payment, or the shopper's
"call attendant" button. While one is active, scans and cart actions are refused with the
reason and no payment can start. Raising and clearing are written with their audit rows (and,
when cleared, the ``intervention.cleared`` event for the CRM) in one transaction; a restart
restores the lock. The bagging-scale logic itself is the pure ``edge.bagging`` machine; the
item rules are ``edge.intervention_rules``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drivers.base import WeightReading

from .audit import record_audit
from .badges import Badges
from .bagging import Bagging, BaggingRules
from .cart import Cart, new_id, utc_now
from .catalog import Catalog
from .config import Config
from .errors import LaneError
from .intervention_rules import (
    WEIGHT_REASONS,
    Approvals,
    Intervention,
    approve,
    draws_audit,
    event,
    item_checks,
    pick_units,
)
from .lane import LaneEvent
from .lane_hooks import Dispatch, LaneHooks
from .learned_weights import record_sample
from .login_limits import LoginLocked
from .receipt_desk import PrintOutcome, ReceiptDesk
from .rescan import RescanMixin
from .sales import CompletedSale, OutboxIdentity, SalePlan, append_outbox
from .scan_router import BadgeScan, ExitTokenScan, PaymentCodeScan, RejectedScan, RoutedScan
from .store import Store
from .users import ROLE_RANK, Role, User, Users
from .weighing import WeighingMixin

if TYPE_CHECKING:
    from .lane import LaneSession

_LOGGER = logging.getLogger(__name__)
INTERVENTION_CLEARED = "intervention.cleared"
_PRINT_STATES_KEPT = 20


@dataclass(slots=True)
class CheckoutServices:
    """What every lane guard shares: one per appliance."""

    config: Config
    store: Store
    catalog: Catalog
    users: Users
    badges: Badges
    identity: OutboxIdentity
    desk: ReceiptDesk
    rng: random.Random
    clock: Callable[[], float] = time.monotonic


@dataclass(slots=True)
class PrintState:
    receipt_qr: str | None
    printed: bool = False
    error: str | None = None


@dataclass(slots=True)
class _Jobs:
    prints: asyncio.Queue[tuple[CompletedSale, bool]] = field(
        default_factory=lambda: asyncio.Queue(64))
    readings: asyncio.Queue[WeightReading | None] = field(
        default_factory=lambda: asyncio.Queue(64))


class LaneGuard(WeighingMixin, RescanMixin, LaneHooks):
    """The checkout rules of one kiosk or staffed lane."""

    def __init__(self, lane: LaneSession, kind: str, services: CheckoutServices, *,
                 has_scale: bool) -> None:
        self.lane = lane
        self.kind = kind
        self.services = services
        self.settings = services.config.checkout
        self.rules = self.settings.rules_for(kind)
        self.active: list[Intervention] = []
        self.approvals = Approvals()
        self._cart_id = lane.cart.cart_id
        self._audit_decided: str | None = None
        self._prints: dict[str, PrintState] = {}
        self._jobs = _Jobs()
        weighing = kind == "kiosk" and has_scale and "weight" in self.rules
        self.bagging = Bagging(BaggingRules(
            bag_timeout_s=self.settings.bag_timeout_ms / 1000,
            grace_s=self.settings.unexplained_grace_ms / 1000,
            noise_g=self.settings.noise_g)) if weighing else None
        self._waiting_since: str | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def restore(self) -> None:
        """Take back the lock a restart interrupted, and what was approved for the cart."""
        rows = await self.services.store.fetchall(
            "SELECT * FROM interventions WHERE lane = ? AND (cleared_at IS NULL OR cart_id = ?)"
            " ORDER BY raised_at, rowid", (self.lane.lane_id, self.lane.cart.cart_id))
        self._cart_id = self.lane.cart.cart_id
        for row in rows:
            found = Intervention(row["id"], row["lane"], row["cart_id"], row["reason"],
                                 row["raised_at"], json.loads(row["detail"]))
            if row["cleared_at"] is None:
                self.active.append(found)
            else:
                self.approvals = approve(self.approvals, found.reason, found.detail,
                                         self.lane.cart)
        if self.active:
            _LOGGER.warning("Lane %s: still locked after the restart (%s)", self.lane.lane_id,
                            ", ".join(i.reason for i in self.active))
        if self.bagging is not None:
            self.bagging.arm(not self.lane.cart.empty)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._print_loop(), name=f"checkout:{self.lane.lane_id}:print")
            if self.bagging is not None:
                group.create_task(self._weight_loop(),
                                  name=f"checkout:{self.lane.lane_id}:weight")

    # -- scans ------------------------------------------------------------------------------

    async def scan(self, scan: RoutedScan, dispatch: Dispatch,
                   follow: list[LaneEvent]) -> LaneEvent:
        self._sync_cart()
        if isinstance(scan, BadgeScan):
            events = await self.clear_intervention(scan.badge_id, "badge")
            follow.extend(events[1:])
            return events[0]
        if isinstance(scan, ExitTokenScan):
            return event("exit_refused", "exit_not_here", ok=False, reason="not_exit")
        refusal = await self._refusal(scan)
        if refusal is not None:
            return refusal
        before = self.lane.cart
        result = await dispatch(scan)
        follow.extend(await self._after_scan(result, before))
        return result

    async def _refusal(self, scan: RoutedScan) -> LaneEvent | None:
        """Return why a scan does not reach the cart now (locked, paying, bag first)."""
        if self.active and not isinstance(scan, RejectedScan):
            return await self.rescan(scan) if self.rescanning() else self._locked_event()
        if isinstance(scan, PaymentCodeScan) and not self.lane.cart.empty:
            refusal = await self.before_payment()
            if refusal is not None:
                return refusal
        return self.bag_first(scan)

    async def _after_scan(self, result: LaneEvent, before: Cart) -> list[LaneEvent]:
        if result.code == "item_not_found" and self.kind == "kiosk" and \
                "unknown_item" in self.rules:
            return [await self.raise_intervention("unknown_item",
                                                  {"code": str(result.data.get("code", ""))})]
        if result.code != "item_added":
            return []
        line = self.lane.cart.line(str(result.data.get("line_id")))
        if line is None:
            return []
        events = [await self.raise_intervention(reason, detail) for reason, detail in
                  item_checks(self.rules, self.settings, self.lane.cart, line, self.approvals)]
        if self.bagging is not None:
            self.bagging.arm(True)
            previous = before.line(line.line_id)
            events += await self.expect(line, line.qty - (previous.qty if previous else 0) or 1)
        return events

    def _locked_event(self) -> LaneEvent:
        current = self.active[0].view()
        return event("lane_locked", "lane_locked", ok=False, intervention=current)

    def check_unlocked(self) -> None:
        if self.active:
            zh, en = self.active[0].view()["zh"], self.active[0].view()["en"]
            raise LaneError(f"{zh} / {en}")

    async def cart_changed(self, old: Cart, new: Cart) -> list[LaneEvent]:
        self._sync_cart()
        if self.bagging is not None:
            # A line taken off the cart must also leave the bag, even when none is left.
            self.bagging.arm(not new.empty or (old.cart_id == new.cart_id and not old.empty))
        if old.cart_id != new.cart_id or self.bagging is None:
            return []
        events: list[LaneEvent] = []
        for line in new.lines:
            before = old.line(line.line_id)
            grown = line.qty - (before.qty if before else 0)
            if grown > 0:
                events += [await self.raise_intervention(reason, detail) for reason, detail in
                           item_checks(self.rules, self.settings, new, line, self.approvals)]
            if grown:
                return events + await self.expect(line, grown)
        for line in old.lines:
            if new.line(line.line_id) is None:
                return events + await self.expect(line, -line.qty)
        return events

    async def before_payment(self) -> LaneEvent | None:
        self._sync_cart()
        if self.active:
            return self._locked_event()
        if self.bagging is not None and self.bagging.expectation is not None:
            return event("place_item_in_bag", "bag_first", ok=False)
        cart = self.lane.cart
        if "rescan_audit" in self.rules and self._audit_decided != cart.cart_id:
            self._audit_decided = cart.cart_id
            if draws_audit(self.services.rng, self.settings.rescan_audit_rate):
                items = pick_units(self.services.rng,
                                   [(ln.product_id, ln.name, ln.qty) for ln in cart.lines],
                                   self.settings.rescan_items)
                return await self.raise_intervention("rescan_audit",
                                                     {"items": items, "done": []})
        return None

    # -- raising and clearing ----------------------------------------------------------------

    async def raise_intervention(self, reason: str, detail: dict[str, Any]) -> LaneEvent:
        """Lock the lane for ``reason``: persisted and audited before it is shown."""
        found = Intervention(new_id()[:16], self.lane.lane_id, self.lane.cart.cart_id, reason,
                             utc_now(), detail)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO interventions (id, lane, cart_id, reason, detail,"
                         " raised_at) VALUES (?, ?, ?, ?, ?, ?)",
                         (found.id, found.lane, found.cart_id, reason, _json(detail),
                          found.raised_at))
            record_audit(conn, "system", "intervention.raised", f"lane:{found.lane}",
                         {"id": found.id, "reason": reason, **detail})

        await self.services.store.write(write)
        self.active.append(found)
        _LOGGER.warning("Lane %s locked: %s %s", found.lane, reason, _json(detail)[:200])
        return event("intervention_raised", reason, ok=False, **found.view())

    async def call_attendant(self, reason_text: str) -> list[LaneEvent]:
        self._sync_cart()
        for current in self.active:
            if current.reason == "attendant_called":
                return [event("intervention_raised", "attendant_called", ok=False,
                              **current.view())]
        return [await self.raise_intervention("attendant_called", {"text": reason_text[:200]})]

    async def clear_intervention(self, badge_or_pin: str, kind: str, *,
                                 address: str | None = None) -> list[LaneEvent]:
        if not self.active:
            return [event("attendant_refused", "nothing_to_clear", ok=True,
                          reason="nothing_to_clear")]
        user_or_refusal = await self._authenticate(badge_or_pin, kind, address)
        if not isinstance(user_or_refusal, User):
            return [user_or_refusal]
        user, current = user_or_refusal, self.active[0]
        if current.reason == "rescan_audit":
            started = await self.start_rescan(current, user, kind)
            if started is not None:
                return [started]
            # The attendant badges again mid-check: they finish it by their own judgement.
            return [await self.clear(current, user.name, kind,
                                     self.rescan_outcome(current, forced=True))]
        return [await self.clear(current, user.name, kind)]

    async def clear(self, current: Intervention, by: str, method: str,
                    outcome: dict[str, Any] | None = None) -> LaneEvent:
        """Clear ``current``: row, audit, CRM event and a learned weight in one transaction."""
        now, lane = utc_now(), self.lane.lane_id
        sample = self._attendant_sample(current)
        payload = {"intervention_id": current.id, "lane": lane, "cart_id": current.cart_id,
                   "reason": current.reason, "raised_at": current.raised_at,
                   "cleared_at": now, "cleared_by": by, "method": method,
                   "detail": dict(current.detail), "outcome": outcome or {}}

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE interventions SET cleared_at = ?, cleared_by = ?, method = ?,"
                         " outcome = ? WHERE id = ?",
                         (now, by, method, _json(outcome or {}), current.id))
            record_audit(conn, by, "intervention.cleared", f"lane:{lane}",
                         {"id": current.id, "reason": current.reason, "method": method,
                          **(outcome or {})})
            append_outbox(conn, self.services.identity, INTERVENTION_CLEARED, payload, now)
            if sample is not None:
                record_sample(conn, sample[0], sample[1], source="attendant", lane=lane,
                              window=self.settings.learn_window)

        await self.services.store.write(write)
        self.active.remove(current)
        self.approvals = approve(self.approvals, current.reason, current.detail,
                                 self.lane.cart)
        if self.bagging is not None:
            if current.reason in WEIGHT_REASONS:
                self.bagging.accept_current()
            if not self.active:
                self.bagging.restart_clock(self.services.clock())
            self.wake()
        _LOGGER.info("Lane %s: %s cleared by %s (%s)", lane, current.reason, by, method)
        return event("intervention_cleared", "intervention_cleared", ok=True, **current.view(),
                     cleared_by=by, method=method)

    async def _authenticate(self, secret: str, kind: str,
                            address: str | None) -> User | LaneEvent:
        lane = self.lane.lane_id
        try:
            if kind == "badge":
                user = await self.services.badges.verify(secret.removeprefix("BADGE:"), lane)
                if user is None:
                    return event("attendant_refused", "unknown_badge", ok=False,
                                 reason="unknown_badge")
            elif kind == "pin":
                user = await self.services.users.verify_supervisor_pin(secret, lane,
                                                                        address=address)
                if user is None:
                    return event("attendant_refused", "wrong_pin", ok=False, reason="wrong_pin")
            else:
                raise LaneError("kind must be 'badge' or 'pin'")
        except LoginLocked as err:
            return event("attendant_refused", "auth_locked", ok=False, reason="locked",
                         minutes=err.minutes)
        if user.disabled or ROLE_RANK[user.role] < ROLE_RANK[Role(self.settings.attendant_role)]:
            return event("attendant_refused", "not_allowed", ok=False, reason="not_allowed")
        return user

    # -- receipts ---------------------------------------------------------------------------

    def sale_committed(self, sale: CompletedSale, plan: SalePlan) -> dict[str, Any]:
        self._sync_cart()
        if self.bagging is not None:
            self.bagging.arm(False)
        qr = self.services.desk.qr_for(sale.sale_id, sale.total_fen, sale.receipt_no,
                                       sale.lane)
        self._prints[sale.sale_id] = PrintState(qr)
        while len(self._prints) > _PRINT_STATES_KEPT:
            self._prints.pop(next(iter(self._prints)))
        kick = self.services.desk.wants_kick(sale.lane, [str(t[2]) for t in plan.tenders])
        with contextlib.suppress(asyncio.QueueFull):  # 64 sales behind: the console reprints
            self._jobs.prints.put_nowait((sale, kick))
        return {"receipt_qr": qr}

    def sale_view(self, sale_id: str) -> dict[str, Any]:
        state = self._prints.get(sale_id) or PrintState(None)
        return {"receipt_qr": state.receipt_qr, "printed": state.printed,
                "print_error": state.error}

    async def reprint(self, sale_id: str, actor: str) -> list[LaneEvent]:
        outcome = await self.services.desk.reprint(sale_id, actor)
        if outcome.outcome == "not_found":
            raise LaneError(outcome.message)
        return self._printed(outcome)

    async def _print_loop(self) -> None:
        while True:
            sale, kick = await self._jobs.prints.get()
            outcome = await self.services.desk.after_sale(sale, kick)
            if outcome.outcome != "off":
                await self.lane.run_hook(functools.partial(self._printed_step, outcome))

    async def _printed_step(self, outcome: PrintOutcome) -> list[LaneEvent]:
        return self._printed(outcome)

    def _printed(self, outcome: PrintOutcome) -> list[LaneEvent]:
        state = self._prints.get(outcome.sale_id)
        if state is not None:
            state.printed, state.error = outcome.printed, \
                None if outcome.printed else outcome.message
        if outcome.printed:
            return [event("receipt_printed", "receipt_printed", ok=True,
                          sale_id=outcome.sale_id)]
        return [event("receipt_print_failed", "receipt_print_failed", ok=False,
                      sale_id=outcome.sale_id, error=outcome.message,
                      outcome=outcome.outcome)]

    # -- views ------------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        expectation = self.bagging.expectation if self.bagging is not None else None
        return {
            "intervention": self.active[0].view() if self.active else None,
            "locked": bool(self.active),
            "expected_weight": None if expectation is None else {
                "grams": None if expectation.learn else expectation.grams,
                "tolerance": None if expectation.learn else expectation.tolerance,
                "waiting_since": self._waiting_since},
        }

    def _sync_cart(self) -> None:
        """Approvals and the rescan draw belong to one cart: forget them for a new one."""
        if self.lane.cart.cart_id != self._cart_id:
            self._cart_id = self.lane.cart.cart_id
            self.approvals = Approvals()

    def _attendant_sample(self, current: Intervention) -> tuple[str, int] | None:
        """The bag's weight change an attendant confirmed, for items the catalog cannot weigh."""
        detail, bagging = current.detail, self.bagging
        if current.reason != "weight_mismatch" or bagging is None or \
                detail.get("source") not in ("learned", "unknown"):
            return None
        units = int(detail.get("units") or 0)
        if bagging.current is None or bagging.baseline is None or units <= 0:
            return None
        delta = bagging.current - bagging.baseline
        return (str(detail["product_id"]), delta // units) if delta > 0 else None

    async def update_detail(self, current: Intervention, detail: dict[str, Any]) -> Intervention:
        changed = Intervention(current.id, current.lane, current.cart_id, current.reason,
                               current.raised_at, detail)
        await self.services.store.write(lambda conn: conn.execute(
            "UPDATE interventions SET detail = ? WHERE id = ?", (_json(detail), current.id)))
        self.active[self.active.index(current)] = changed
        return changed


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


__all__ = ["CheckoutServices", "LaneGuard", "event"]
