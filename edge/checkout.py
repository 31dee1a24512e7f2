"""Self-checkout security for the whole appliance: one guard per lane, shared services.

``Checkout`` gives every lane its rules (``LaneGuard`` for kiosk and staffed lanes,
``ExitStation`` for exit lanes), restores interventions a restart interrupted, runs each
lane's background work (bagging timers, printing) as a supervised task of ``EdgeApp``, and
answers the attendant's view and the console.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from drivers.printer import ReceiptPrinter

from .badges import Badges
from .exit_station import ExitStation
from .exit_tokens import key_id
from .interventions import CheckoutServices, LaneGuard
from .lane_hooks import LaneHooks
from .learned_weights import all_learned
from .receipt_desk import ReceiptDesk
from .sales import OutboxIdentity

if TYPE_CHECKING:
    from .app import EdgeApp

_LOGGER = logging.getLogger(__name__)
SCALE_DRIVERS = frozenset({"scale", "sim_scale"})


class Checkout:
    """The checkout rules of every lane of one appliance."""

    def __init__(self, app: EdgeApp) -> None:
        self._app = app
        config = app.config
        self.badges = Badges(app.store, app.users)
        self.desk = ReceiptDesk(app.store, config, self.printer_for)
        self.services = CheckoutServices(
            config, app.store, app.catalog, app.users, self.badges,
            OutboxIdentity(config.store.id, config.store.device_id), self.desk,
            random.Random(config.checkout.audit_seed))  # noqa: S311 - picks checks, not keys
        self.pinned_keys: dict[str, Ed25519PublicKey] = {}
        scale_lanes = {d.lane for d in config.devices if d.driver in SCALE_DRIVERS}
        self.guards: dict[str, LaneHooks] = {}
        for lane_config in config.lanes:
            lane = app.lanes[lane_config.id]
            guard: LaneHooks = ExitStation(lane, self.services, lambda: self.pinned_keys) \
                if lane_config.kind == "exit" else LaneGuard(
                    lane, lane_config.kind, self.services,
                    has_scale=lane_config.id in scale_lanes)
            lane.hooks = self.guards[lane_config.id] = guard

    def printer_for(self, lane_id: str) -> ReceiptPrinter | None:
        """Return the receipt printer bound to a lane (a printer that did not start: None)."""
        for device in self._app.devices.values():
            if isinstance(device, ReceiptPrinter) and device.config.lane == lane_id:
                return device
        return None

    @asynccontextmanager
    async def running(self, spawn: Callable[[str, Callable[[], Awaitable[None]]], None]
                      ) -> AsyncIterator[None]:
        """Restore the locks, load the keys and start each lane's background work."""
        if self._app.store.safe_mode:
            yield
            return
        self.desk.open()
        self.pinned_keys = self._load_pinned()
        for lane_id, guard in self.guards.items():
            if isinstance(guard, LaneGuard):
                await guard.restore()
            spawn(f"checkout:{lane_id}", guard.run)
        yield

    def _load_pinned(self) -> dict[str, Ed25519PublicKey]:
        keys: dict[str, Ed25519PublicKey] = {}
        for path in self._app.config.checkout.exit_public_keys:
            try:
                key = load_pem_public_key(path.read_bytes())
            except (OSError, ValueError) as err:
                _LOGGER.error("Exit key file %s is unusable: %s", path, err)
                continue
            if not isinstance(key, Ed25519PublicKey):
                _LOGGER.error("Exit key file %s is not an Ed25519 public key", path)
                continue
            keys[key_id(key)] = key
        return keys

    def attendant_view(self) -> dict[str, Any]:
        """Return every lane that needs an attendant, and why, oldest first."""
        waiting: list[dict[str, Any]] = []
        for lane_config in self._app.config.lanes:
            guard = self.guards.get(lane_config.id)
            if isinstance(guard, LaneGuard) and guard.active:
                lane = self._app.lanes[lane_config.id]
                waiting.append({"lane": lane_config.id, "name": lane_config.name,
                                "kind": lane_config.kind,
                                "interventions": [i.view() for i in guard.active],
                                "items": len(lane.cart.lines),
                                "total_fen": lane.priced.total_fen})
        waiting.sort(key=lambda w: w["interventions"][0]["raised_at"])
        return {"lanes": waiting}

    async def recent_interventions(self, limit: int = 50) -> list[dict[str, Any]]:
        """Return interventions newest first, with who cleared them and how (the console)."""
        rows = await self._app.store.fetchall(
            "SELECT id, lane, reason, detail, raised_at, cleared_at, cleared_by, method, outcome"
            " FROM interventions ORDER BY raised_at DESC, rowid DESC LIMIT ?",
            (max(1, min(limit, 500)),))
        return [{**dict(r), "detail": json.loads(r["detail"]),
                 "outcome": json.loads(r["outcome"]) if r["outcome"] else None} for r in rows]

    async def unprinted_receipts(self, limit: int = 50) -> list[dict[str, Any]]:
        """Return receipts that are not on paper (failed, in doubt, no printer), newest first."""
        rows = await self._app.store.fetchall(
            "SELECT r.sale_id, r.lane, s.receipt_no, s.total_fen, r.state, r.message,"
            " r.reprints, r.updated_at FROM receipts r JOIN sales s ON s.id = r.sale_id"
            " WHERE r.state <> 'printed' ORDER BY r.updated_at DESC LIMIT ?",
            (max(1, min(limit, 500)),))
        return [dict(r) for r in rows]

    async def learned_weights(self) -> list[dict[str, Any]]:
        return await all_learned(self._app.store, self._app.config.checkout)

    async def reprint(self, sale_id: str, actor: str) -> dict[str, Any]:
        """Print a sale's receipt again from the console (audited)."""
        row = await self._app.store.fetchone("SELECT lane FROM sales WHERE id = ?", (sale_id,))
        lane = self._app.lanes.get(str(row["lane"])) if row else None
        if lane is None:
            outcome = await self.desk.reprint(sale_id, actor)
            return {"sale_id": sale_id, "printed": outcome.printed,
                    "outcome": outcome.outcome, "message": outcome.message}
        event = await lane.reprint(sale_id, actor)
        return {"sale_id": sale_id, "printed": event.code == "receipt_printed",
                "outcome": event.data.get("outcome", "printed"),
                "message": event.message}
