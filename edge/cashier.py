"""Staffed lanes: the cashier signed in at each lane, supervisor approvals, who sold what.

One cashier at a time per staffed lane, signed in with their console user name and password
(``edge.users``: argon2id, the same rate limits). The browser holds a random token in a cookie
of the kiosk site; only its SHA-256 is stored (``lane_signins``), so a restart keeps the lane
signed in and a copy of the database signs nobody in. While nobody is signed in, or no shift
is open, the lane refuses scans: every sale, void and refund names who did it.

Supervisor approvals are one PIN per action (``approve``): the PIN is checked for that request
and nothing is remembered, so the next action asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .approval import Approval, ApprovalRefused
from .audit import record_audit
from .cashier_config import CashierConfig
from .errors import LaneError, StoreError
from .lane import LaneEvent, LaneSession
from .refunds import RefundDone, SaleForRefund, find_sale, plan_refund, write_refund
from .sales import OutboxIdentity, SalePlan
from .scan_router import RejectedScan, RoutedScan
from .shifts import OpenShift, ShiftBook
from .store import Store
from .users import User, Users

if TYPE_CHECKING:
    from drivers.printer import ReceiptPrinter

_LOGGER = logging.getLogger(__name__)
PERSIST_SEEN_S = 30.0


@dataclass(slots=True)
class SignIn:
    lane: str
    user: User
    token_hash: str
    csrf_token: str
    signed_in_at: float
    last_seen_at: float
    checked_at: float
    stored_seen_at: float


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _event(code: str, zh: str, en: str) -> LaneEvent:
    return LaneEvent(code, en, False, data={"zh": zh, "en": en})


class CashierDesk:
    """Sign-in, approvals and shifts of every staffed lane of this appliance."""

    def __init__(
        self,
        config: CashierConfig,
        store: Store,
        users: Users,
        lanes: Mapping[str, LaneSession],
        *,
        staffed: set[str],
        identity: OutboxIdentity,
        printer_for: Callable[[str], ReceiptPrinter | None] = lambda _lane: None,
        recheck_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._identity = identity
        self._store = store
        self._users = users
        self._lanes = {k: v for k, v in lanes.items() if k in staffed}
        self._clock = clock
        self._recheck_s = recheck_s
        self.printer_for = printer_for
        self._signins: dict[str, SignIn] = {}
        self.shifts = ShiftBook(store, printer_for=printer_for,
                                timeout_s=config.device_timeout_s)

    def staffed(self, lane_id: str) -> bool:
        return lane_id in self._lanes

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Load who is signed in and the open shifts; hook into every staffed lane."""
        rows = await self._store.fetchall(
            "SELECT s.lane, s.token_hash, s.csrf_token, s.signed_in_at, s.last_seen_at,"
            " u.id FROM lane_signins s JOIN console_users u ON u.id = s.user_id")
        now = self._clock()
        for row in rows:
            user = await self._users.by_id(int(row["id"]))
            if row["lane"] not in self._lanes or user is None or user.disabled:
                continue
            self._signins[row["lane"]] = SignIn(
                row["lane"], user, row["token_hash"], row["csrf_token"],
                float(row["signed_in_at"]), float(row["last_seen_at"]), now,
                float(row["last_seen_at"]))
        await self.shifts.load(list(self._lanes))
        for lane_id, lane in self._lanes.items():
            lane.scan_gates.append(self._gate_for(lane_id))
            lane.sale_hooks.append(self._sale_hook_for(lane_id))
            lane.views["staff"] = self._view_for(lane_id)
        await self.sweep()

    async def run_sweeper(self) -> None:
        """Sign out idle lanes every ``sweep_interval_s`` (a supervised task of the daemon)."""
        while True:
            await asyncio.sleep(self.config.sweep_interval_s)
            await self.sweep()

    async def sweep(self) -> None:
        now = self._clock()
        for lane_id, signin in list(self._signins.items()):
            if self._expired(signin, now):
                reason = "idle" if now - signin.last_seen_at > self.config.session_idle_s \
                    else "too_long"
                await self.sign_out(lane_id, actor="system", reason=reason)

    def _expired(self, signin: SignIn, now: float) -> bool:
        return (now - signin.last_seen_at > self.config.session_idle_s
                or now - signin.signed_in_at > self.config.session_max_s)

    # -- signing in and out --------------------------------------------------------------

    async def sign_in(self, lane_id: str, name: str, password: str, *,
                      address: str) -> tuple[str, SignIn] | None:
        """Check the password and sign ``name`` in at the lane; None when it is wrong.

        Raises ``LoginLocked`` after too many failures and ``UserConflict`` for a disabled
        account. A cashier already signed in at the lane is signed out by it (audited).
        """
        self._require(lane_id)
        user = await self._users.authenticate(name, password, address=address)
        if user is None:
            return None
        token, now = secrets.token_urlsafe(32), self._clock()
        signin = SignIn(lane_id, user, token_hash(token), secrets.token_urlsafe(32), now, now,
                        now, now)
        before = self._signins.get(lane_id)

        def write(conn: sqlite3.Connection) -> None:
            if before is not None:
                record_audit(conn, before.user.name, "lane.signed_out", f"lane:{lane_id}",
                             {"reason": "replaced", "by": user.name})
            conn.execute(
                "INSERT OR REPLACE INTO lane_signins (lane, token_hash, user_id, csrf_token,"
                " signed_in_at, last_seen_at, address) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (lane_id, signin.token_hash, user.id, signin.csrf_token, now, now, address[:64]))
            conn.execute("UPDATE console_users SET last_login_at = strftime("
                         "'%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?", (user.id,))
            record_audit(conn, user.name, "lane.signed_in", f"lane:{lane_id}",
                         {"address": address, "role": str(user.role)})

        await self._store.write(write)
        self._signins[lane_id] = signin
        _LOGGER.info("Lane %s: %s signed in from %s", lane_id, user.name, address)
        self._lanes[lane_id].refresh()
        return token, signin

    async def signed_in(self, lane_id: str, token: str) -> SignIn | None:
        """Return the lane's sign-in when ``token`` is its cookie, refreshing its idle timer."""
        signin = self._signins.get(lane_id)
        if signin is None or not token or len(token) > 128:
            return None
        if not hmac.compare_digest(signin.token_hash, token_hash(token)):
            return None
        now = self._clock()
        if self._expired(signin, now):
            await self.sweep()
            return None
        if now - signin.checked_at >= self._recheck_s:
            user = await self._users.by_id(signin.user.id)
            if user is None or user.disabled:
                await self.sign_out(lane_id, actor="system", reason="account_disabled")
                return None
            signin.user, signin.checked_at = user, now
        signin.last_seen_at = now
        if now - signin.stored_seen_at >= PERSIST_SEEN_S:
            signin.stored_seen_at = now
            # Only the idle timer across a restart: a database that refuses writes (safe
            # mode, a full disk) must not lock the cashier out of the page.
            with contextlib.suppress(StoreError):
                await self._store.write(lambda c: c.execute(
                    "UPDATE lane_signins SET last_seen_at = ? WHERE lane = ?", (now, lane_id)))
        return signin

    def current(self, lane_id: str) -> SignIn | None:
        """Return who is signed in at the lane (no token check: for display and attribution)."""
        signin = self._signins.get(lane_id)
        return None if signin is None or self._expired(signin, self._clock()) else signin

    async def sign_out(self, lane_id: str, *, actor: str, reason: str) -> bool:
        signin = self._signins.pop(lane_id, None)
        if signin is None:
            return False

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM lane_signins WHERE lane = ?", (lane_id,))
            record_audit(conn, actor, "lane.signed_out", f"lane:{lane_id}",
                         {"cashier": signin.user.name, "reason": reason})

        await self._store.write(write)
        _LOGGER.info("Lane %s: %s signed out (%s)", lane_id, signin.user.name, reason)
        self._lanes[lane_id].refresh()
        return True

    # -- approvals ----------------------------------------------------------------------

    async def approve(self, signin: SignIn, pin: str | None, action: str, *,
                      address: str | None = None) -> Approval:
        """Return the approval of one action by the supervisor whose PIN this is.

        Raises ``ApprovalRefused`` (no PIN, a wrong one, or the cashier's own when
        self-approval is off) and ``LoginLocked`` after too many wrong PINs at the lane.
        """
        if not pin:
            raise ApprovalRefused(f"{action} needs a supervisor's PIN", "approval_required")
        supervisor = await self._users.verify_supervisor_pin(pin, signin.lane, address=address)
        if supervisor is None:
            raise ApprovalRefused("the supervisor PIN is not right")
        if supervisor.id == signin.user.id and not self.config.allow_self_approval:
            raise ApprovalRefused("a second person must approve: ask another supervisor",
                                  "approval_self")
        shift = self.shifts.open_shift(signin.lane)
        return Approval(signin.lane, signin.user.name, supervisor.name,
                        shift.id if shift else None)

    async def close_shift(self, lane_id: str, *, actor: str, counted_fen: int | None,
                          next_float_fen: int | None, store_name: str,
                          timezone: str) -> dict[str, Any]:
        """Z report: close the shift (no sale may be open), open the next, print the Z."""
        lane = self._require(lane_id)
        if not lane.cart.empty or lane.payment is not None:
            raise LaneError("finish, suspend or void the sale in progress first")
        report = await self.shifts.z_report(lane_id, actor=actor, counted_fen=counted_fen,
                                            next_float_fen=next_float_fen,
                                            store_name=store_name, timezone=timezone)
        lane.refresh()
        return report

    async def suspended(self, lane_id: str) -> list[dict[str, Any]]:
        """Return the carts parked at the lane, newest first (id, total, when)."""
        rows = await self._store.fetchall(
            "SELECT id, total_fen, suspended_at FROM suspended_carts WHERE lane = ?"
            " ORDER BY suspended_at DESC LIMIT 50", (lane_id,))
        return [dict(r) for r in rows]

    # -- money out of the drawer ---------------------------------------------------------

    async def find_sale(self, sale_lane: str, receipt_no: int) -> SaleForRefund | None:
        return await find_sale(self._store, sale_lane, receipt_no)

    async def refund(self, approval: Approval, sale_lane: str, receipt_no: int,
                     wanted: Mapping[int, int] | None, *, refund_id: str,
                     reason: str) -> RefundDone:
        """Give back cash for a past sale (whole, or ``wanted`` line_no -> units)."""
        lane = self._require(approval.lane)
        sale = await find_sale(self._store, sale_lane, receipt_no)
        if sale is None:
            raise LaneError(f"no receipt {receipt_no} of lane {sale_lane} on this appliance")
        plan = plan_refund(sale, wanted, refund_id=refund_id, lane=approval.lane,
                           reason=reason, now=dt.datetime.now(dt.UTC),
                           max_age_days=self.config.refund_max_age_days)
        done = await self._store.write(
            lambda conn: write_refund(conn, plan, approval, self._identity))
        _LOGGER.info("Lane %s: refund %d of receipt %s-%d, %d fen, approved by %s",
                     approval.lane, done.refund_no, sale_lane, receipt_no, done.amount_fen,
                     approval.supervisor)
        lane.report(LaneEvent("sale_refunded", f"refund {done.refund_no}: {done.amount_fen} fen",
                              data={"refund_no": done.refund_no, "amount_fen": done.amount_fen,
                                    "receipt_no": receipt_no, "sale_lane": sale_lane,
                                    "points": done.points}))
        return done

    async def kick_drawer(self, lane_id: str, *, kick_id: str, actor: str,
                          reason: str) -> dict[str, Any]:
        """Open the lane's cash drawer once for ``kick_id`` (audited, whatever the outcome)."""
        self._require(lane_id)
        printer = self.printer_for(lane_id)
        if printer is None:
            raise LaneError("this lane has no receipt printer with a cash drawer")
        try:
            async with asyncio.timeout(self.config.device_timeout_s):
                result = await printer.kick_drawer(kick_id)
            outcome, message = result.outcome, result.message
        except TimeoutError:
            outcome, message = "failed", "the printer did not answer in time"
        await self._store.write(lambda c: record_audit(
            c, actor, "drawer.kicked", f"lane:{lane_id}",
            {"kick_id": kick_id, "reason": reason, "outcome": outcome, "message": message}))
        ok = outcome in ("printed", "already_printed")
        if not ok:
            _LOGGER.warning("Lane %s: drawer did not open (%s)", lane_id, message)
        return {"kick_id": kick_id, "ok": ok, "outcome": outcome, "message": message}

    # -- hooks on the lane --------------------------------------------------------------

    def _require(self, lane_id: str) -> LaneSession:
        lane = self._lanes.get(lane_id)
        if lane is None:
            raise LaneError(f"lane {lane_id} is not a staffed lane")
        return lane

    def _gate_for(self, lane_id: str) -> Callable[[RoutedScan], LaneEvent | None]:
        def gate(scan: RoutedScan) -> LaneEvent | None:
            if isinstance(scan, RejectedScan):
                return None
            signin = self.current(lane_id)
            if signin is None:
                return _event("signin_required", "请收银员先登录", "a cashier must sign in first")
            if self.shifts.open_shift(lane_id) is None:
                return _event("shift_closed", "请先开班（输入备用金）",
                              "open a shift (enter the float) first")
            signin.last_seen_at = self._clock()
            return None
        return gate

    def _sale_hook_for(self, lane_id: str) -> Callable[[sqlite3.Connection, SalePlan, int],
                                                         None]:
        def hook(conn: sqlite3.Connection, plan: SalePlan, _receipt_no: int) -> None:
            signin = self.current(lane_id)
            shift = self.shifts.open_shift(lane_id)
            conn.execute("INSERT OR IGNORE INTO lane_sales (sale_id, lane, shift_id, cashier)"
                         " VALUES (?, ?, ?, ?)",
                         (plan.sale_id, lane_id, shift.id if shift else None,
                          signin.user.name if signin else None))
        return hook

    def _view_for(self, lane_id: str) -> Callable[[], dict[str, Any]]:
        def view() -> dict[str, Any]:
            signin = self.current(lane_id)
            shift: OpenShift | None = self.shifts.open_shift(lane_id)
            return {
                "cashier": None if signin is None else {
                    "name": signin.user.name, "role": str(signin.user.role)},
                "shift": None if shift is None else shift.as_dict(),
                "drawer": self.printer_for(lane_id) is not None,
            }
        return view
