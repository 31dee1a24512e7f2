"""Parking a cart at a lane: suspend it for later and resume it at any lane of the store.

A suspended cart is a row of ``suspended_carts`` written in the same transaction that gives
the lane a fresh cart, so a crash in between leaves one or the other, never both or neither.
``edge.lane.LaneSession`` mixes this in.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence

from .cart import Cart, new_id, utc_now
from .errors import LaneError
from .lane_base import LaneParts, save_cart
from .lane_events import LaneEvent
from .lane_hooks import LaneHooks


class ParkingLane(LaneParts):
    """The suspend/resume part of a lane session."""

    hooks: LaneHooks

    # -- what the session provides --------------------------------------------------------

    async def _reprice(self) -> None:
        raise NotImplementedError

    def _publish_all(self, events: Sequence[LaneEvent]) -> LaneEvent:
        raise NotImplementedError

    # -- parking --------------------------------------------------------------------------

    async def suspend(self) -> str:
        """Park the cart for later; return the id to resume it with."""
        async with self._lock:
            self._refuse_changes()
            old, fresh = self.cart, Cart.open(self.lane_id)
            if old.empty:
                raise LaneError("nothing to suspend")
            total, suspended_id = self.priced.total_fen, new_id()[:8]

            def write(conn: sqlite3.Connection) -> None:
                conn.execute("INSERT INTO suspended_carts VALUES (?, ?, ?, ?, ?)",
                             (suspended_id, self.lane_id, old.to_json(), total, utc_now()))
                save_cart(conn, fresh)

            await self._store.write(write)
            self.cart = fresh
            await self._reprice()
            self._publish(LaneEvent("cart_suspended", f"cart suspended as {suspended_id}",
                                    data={"suspended_id": suspended_id}))
            self._publish_all(await self.hooks.cart_changed(old, fresh))
            return suspended_id

    async def resume(self, suspended_id: str) -> LaneEvent:
        async with self._lock:
            self._refuse_while_paying()
            if not self.cart.empty:
                raise LaneError("finish or suspend the current cart first")
            row = await self._store.fetchone(
                "SELECT state FROM suspended_carts WHERE id = ?", (suspended_id,))
            if row is None:
                raise LaneError(f"no suspended cart {suspended_id}")
            old = Cart.from_json(row["state"])
            cart = dataclasses.replace(old, lane=self.lane_id)

            def write(conn: sqlite3.Connection) -> None:
                conn.execute("DELETE FROM suspended_carts WHERE id = ?", (suspended_id,))
                save_cart(conn, cart)

            previous = self.cart
            await self._store.write(write)
            self.cart = cart
            await self._reprice()
            event = self._publish(LaneEvent("cart_resumed", f"cart {suspended_id} resumed"))
            self._publish_all(await self.hooks.cart_changed(previous, cart))
            return event
