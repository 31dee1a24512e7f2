"""After a wallet payment (支付即会员): the payer looked up at the CRM, one-tap joining.

The transactions are in ``edge.wallet_members``; this is the lane's side of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from .cart import utc_now
from .errors import LaneError
from .lane_base import LaneParts, event
from .lane_events import LaneEvent
from .loyalty_tenders import (
    points_earned,
)
from .members import (
    mask_name,
)
from .sales import SalePlan
from .wallet_members import CrmLink, JoinOffer, attach_known, join, new_member_id

_LOGGER = logging.getLogger(__name__)


class WalletLane(LaneParts):
    """The member look-up after a wallet payment, and ``join_member``."""

    def _after_wallet_sale(self, plan: SalePlan, receipt_no: int, provider: str,
                           payer_id: str | None) -> None:
        """Look the payer up at the CRM, in the background; offline, do nothing."""
        link = self.loyalty_link
        if payer_id is None or plan.member_id is not None or link is None or not link.online:
            return
        task = asyncio.create_task(self._wallet_lookup(link, plan, receipt_no, provider,
                                                       payer_id, self._payment_scan_id),
                                   name=f"lane:{self.lane_id}:wallet-lookup")
        self._loyalty_tasks.add(task)
        task.add_done_callback(self._loyalty_tasks.discard)

    async def _wallet_lookup(  # noqa: PLR0917 - one look-up's facts, called from one place
            self, link: CrmLink, plan: SalePlan, receipt_no: int, provider: str,
            payer_id: str, scan_id: str | None) -> None:
        """Ask the CRM who paid; its answer ends the payment code's scan (``scan_id``)."""
        try:
            found = await link.wallet_member(provider, payer_id)
        except Exception as err:  # a look-up that fails leaves the sale as it is
            _LOGGER.info("Lane %s: wallet member look-up failed (%s)", self.lane_id, err)
            return
        config = self.loyalty_settings.loyalty
        if found is None:
            points = points_earned(plan.total_fen, 0, "standard", config)
            self.join_offer = JoinOffer(plan.sale_id, receipt_no, provider, payer_id,
                                        plan.total_fen, points,
                                        time.monotonic() + config.join_offer_s)
            self._publish(dataclasses.replace(event(
                "join_offered", "join_offered", points=points, data=self.join_offer.view()),
                scan_id=scan_id))
            return
        member_id, tier = found
        points = points_earned(plan.total_fen, 0, tier, config)
        attached = await self._store.write(lambda conn: attach_known(
            conn, self._identity, sale_id=plan.sale_id, member_id=member_id,
            provider=provider, points=points, now=utc_now()))
        if attached:
            member = await self._catalog.member(member_id)
            name = mask_name(member.name) if member else member_id
            self._attached(plan.sale_id, member_id, points)
            self._publish(dataclasses.replace(event(
                "member_identified", "attached", name=name, points=points, data={
                    "member_id": member_id, "name_masked": name, "identified_by": "wallet",
                    "sale_id": plan.sale_id, "points_earned": points}), scan_id=scan_id))

    def _attached(self, sale_id: str, member_id: str, points: int) -> None:
        if self.last_sale is not None and self.last_sale.sale_id == sale_id:
            self.last_loyalty.update(member_id=member_id, points_earned=points)

    async def join_member(self, consent_version: str, accepted: bool) -> LaneEvent:
        """One-tap joining after a wallet payment, with the consent text's version."""
        async with self._lock:
            offer = self.join_offer
            if offer is None or time.monotonic() > offer.expires_at:
                self.join_offer = None
                raise LaneError("there is no offer to join open at this lane")
            if not accepted:
                self.join_offer = None
                return self._publish(event("join_declined", "join_declined"))
            if consent_version != offer.view()["consent_version"]:
                raise LaneError("the consent text has changed: show it again")
            member_id = new_member_id()
            joined = await self._store.write(lambda conn: join(
                conn, self._identity, offer, member_id=member_id, lane=self.lane_id,
                now=utc_now()))
            self.join_offer = None
            if not joined:
                raise LaneError("this sale already has a member")
            self._attached(offer.sale_id, member_id, offer.points)
            return self._publish(event("member_joined", "joined", points=offer.points, data={
                "member_id": member_id, "sale_id": offer.sale_id,
                "points_earned": offer.points}))

    async def close_loyalty(self) -> None:
        """Stop the look-ups still running (the daemon is stopping)."""
        tasks = list(self._loyalty_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

