"""The loyalty half of a lane session: members, coupons, points and stored value, guides.

``LoyaltyLane`` is a base class of ``edge.lane.LaneSession``: the methods the kiosk and lane
pages call (``identify_by_phone``, ``apply_coupon_code``, ``use_points``, ``join_member``, ...)
and the hooks the session calls while it scans, prices and commits. Every cart change goes
through the session's lock and ``_commit`` (written before it is shown); a refusal publishes
an event with ``data.zh``/``data.en`` and leaves the cart as it was.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from .cart import Cart
from .coupon_issue import issue_after_sale
from .coupons import Coupon, CouponError, apply_coupons, coupon_from_row
from .errors import LaneError
from .lane_base import Written, event, verdicts
from .lane_events import LaneEvent
from .lane_members import MemberLane
from .lane_wallet import WalletLane
from .loyalty_config import LoyaltySettings
from .loyalty_messages import yuan
from .loyalty_tenders import (
    check_in_sale,
    earned_in,
    extend_plan,
    fit_tenders,
    loyalty_tenders,
    record_in_sale,
)
from .members import (
    LookupLimiter,
    PhonePending,
    balances,
    can_spend,
    mask_name,
    mask_phone,
    spend_need,
)
from .pricing import LineInput, PricedCart
from .sales import SalePlan, Tender, plan_sale, write_sale
from .wallet_members import CrmLink, JoinOffer

_LOGGER = logging.getLogger(__name__)
# Coupon verdicts that no change to the cart can turn around: the scanned code is not kept.
_FINAL = frozenset({"redeemed", "not_yet", "expired", "other_member", "own_share", "unusable",
                    "unknown"})


class LoyaltyLane(MemberLane, WalletLane):
    """Loyalty for one lane: coupons, points and stored value, guides, and the hooks."""

    def _init_loyalty(self, settings: LoyaltySettings, coupon_prefix: str) -> None:
        self.loyalty_settings = settings
        self.coupon_prefix = coupon_prefix
        self.loyalty_link: CrmLink | None = None
        """The CRM, for wallet look-ups and stored value; EdgeApp sets it."""
        members = settings.members
        self._phone_limiter = LookupLimiter(members.phone_lookups, members.phone_lookup_window_s)
        self._phone_pending: PhonePending | None = None
        self._last4_left = members.phone_confirm_attempts
        self._balances: tuple[str, int, int] | None = None
        self.join_offer: JoinOffer | None = None
        self.last_loyalty: dict[str, Any] = {}
        self._loyalty_tasks: set[asyncio.Task[None]] = set()
    # -- coupons --------------------------------------------------------------------------

    async def apply_coupon_code(self, code: str) -> LaneEvent:
        """Add a coupon by its code (a scanned ``CP...`` arrives here too)."""
        async with self._lock:
            self._refuse_changes()
            return self._publish(await self._coupon_scan(code))

    async def _coupon_scan(self, code: str) -> LaneEvent:
        found = await self._coupon_row(code)
        if found is None and code.startswith(self.coupon_prefix):
            code = code.removeprefix(self.coupon_prefix)
            found = await self._coupon_row(code)
        if found is None:
            return event("coupon_rejected", "unknown", ok=False, data={"code": code[:64]})
        loyalty = self.cart.loyalty
        if code not in loyalty.coupon_codes:
            loyalty = loyalty.replace(coupon_codes=(*loyalty.coupon_codes, code),
                                      removed_codes=tuple(c for c in loyalty.removed_codes
                                                          if c != code))
        cart = self.cart.with_loyalty(loyalty)
        priced = await self._price(cart)
        verdict = next(v for v in verdicts(priced) if v.code == code)
        if verdict.applied:
            await self._commit(cart)
            return LaneEvent("coupon_applied", f"{verdict.zh} / {verdict.en}",
                             data=verdict.view())
        if verdict.reason not in _FINAL:
            await self._commit(cart)  # kept: it may apply once the cart grows
        return LaneEvent("coupon_rejected", f"{verdict.zh} / {verdict.en}", False,
                         data={**verdict.view(), "kept": verdict.reason not in _FINAL})

    async def remove_coupon(self, code: str) -> LaneEvent:
        """Take a coupon off: a scanned one leaves the cart, a member's one is set aside."""
        async with self._lock:
            self._refuse_changes()
            loyalty = self.cart.loyalty
            if code in loyalty.coupon_codes:
                loyalty = loyalty.replace(coupon_codes=tuple(
                    c for c in loyalty.coupon_codes if c != code))
            elif any(v.code == code for v in verdicts(self.priced)):
                loyalty = loyalty.replace(removed_codes=(*loyalty.removed_codes, code))
            else:
                raise LaneError(f"coupon {code} is not on this cart")
            await self._commit(self.cart.with_loyalty(loyalty))
            return self._publish(LaneEvent("coupon_removed", f"coupon {code} taken off",
                                           data={"code": code}))

    async def _coupon_row(self, code: str) -> dict[str, Any] | None:
        row = await self._store.fetchone(
            "SELECT *, (redeemed_at IS NOT NULL OR redeemed_sale_id IS NOT NULL) AS redeemed"
            " FROM coupons WHERE code = ?", (code[:64],))
        return dict(row) if row else None

    async def _coupons_for(self, cart: Cart) -> list[Coupon]:
        """The member's own coupons and the scanned ones, as the optimiser takes them."""
        member_id = cart.member.id if cart.member else None
        if member_id is None and not cart.loyalty.coupon_codes:
            return []   # an anonymous cart without scanned coupons: no read on every scan
        rows = await self._store.fetchall(
            "SELECT *, (redeemed_at IS NOT NULL OR redeemed_sale_id IS NOT NULL) AS redeemed"
            " FROM coupons WHERE (member_id = ? AND redeemed_at IS NULL"
            " AND redeemed_sale_id IS NULL) OR code IN (SELECT value FROM json_each(?))"
            " ORDER BY code", (member_id, _json_list(cart.loyalty.coupon_codes)))
        coupons = []
        for row in rows:
            if row["code"] in cart.loyalty.removed_codes:
                continue
            try:
                coupons.append(coupon_from_row(dict(row)))
            except CouponError as err:
                _LOGGER.warning("Lane %s: %s", self.lane_id, err)
        return coupons

    async def _coupon_step(self, cart: Cart, lines: Sequence[LineInput],
                           priced: PricedCart) -> PricedCart:
        """Step 5 of pricing: the best legal combination of the cart's coupons."""
        coupons = await self._coupons_for(cart)
        if not coupons:
            return priced
        return apply_coupons(lines, priced, coupons,
                             member_id=cart.member.id if cart.member else None,
                             now=dt.datetime.now(dt.UTC),
                             max_per_sale=self.loyalty_settings.loyalty.max_coupons_per_sale)

    # -- points and stored value ----------------------------------------------------------

    def _spend_refusal(self) -> LaneEvent | None:
        member = self.cart.member
        if member is None:
            return event("tender_refused", "no_member", ok=False)
        need = spend_need(member, self.cart.loyalty)
        if need is not None:
            return event("tender_refused", f"needs_{need}", ok=False, data={"needs": need})
        return None

    async def use_points(self, points: int) -> LaneEvent:
        """Pay part of the cart with the member's points (0 takes them off again)."""
        if type(points) is not int or points < 0:
            raise LaneError("points must be a whole number, 0 or more")
        async with self._lock:
            self._refuse_changes()
            refusal = self._spend_refusal()
            if refusal is not None:
                return self._publish(refusal)
            member = self.cart.member
            assert member is not None
            value = self.loyalty_settings.loyalty.point_value_fen
            have, _ = await self._store.read(lambda c: balances(c, member.id))
            if points > have:
                return self._publish(event("tender_refused", "insufficient_points", ok=False,
                                           have=have, data={"balance": have}))
            left = self.priced.total_fen - self.cart.loyalty.stored_value_fen
            used = min(points, left // value)
            if points and not used:
                return self._publish(event("tender_refused", "nothing_to_pay", ok=False))
            await self._commit(self.cart.with_loyalty(self.cart.loyalty.replace(
                points=used, points_fen=used * value)))
            return self._publish(event("points_applied", "points_applied", points=used,
                                       amount=yuan(used * value), data={
                                           "points": used, "requested": points,
                                           "amount_fen": used * value, "balance": have}))

    async def use_stored_value(self, amount_fen: int) -> LaneEvent:
        """Pay part of the cart from the member's stored value (0 takes it off again)."""
        if type(amount_fen) is not int or amount_fen < 0:
            raise LaneError("the amount must be a whole number of fen, 0 or more")
        async with self._lock:
            self._refuse_changes()
            refusal = self._spend_refusal()
            if refusal is not None:
                return self._publish(refusal)
            member = self.cart.member
            assert member is not None
            used = min(amount_fen, self.priced.total_fen - self.cart.loyalty.points_fen)
            if amount_fen and used <= 0:
                return self._publish(event("tender_refused", "nothing_to_pay", ok=False))
            if used:
                link = self.loyalty_link
                if link is None:
                    return self._publish(event("tender_refused", "stored_value_unavailable",
                                               ok=False))
                decision = await self._store.read(
                    lambda c: link.stored_value_check(c, used, member.id))
                if not decision.ok:
                    reason = "insufficient_balance" if decision.code == \
                        "insufficient_balance" else "offline_refused"
                    _, have = await self._store.read(lambda c: balances(c, member.id))
                    return self._publish(event(
                        "tender_refused", reason, ok=False, have=yuan(max(0, have)),
                        why=decision.reason, data={"code": decision.code}))
            await self._commit(self.cart.with_loyalty(self.cart.loyalty.replace(
                stored_value_fen=used)))
            return self._publish(event("stored_value_applied", "stored_value_applied",
                                       amount=yuan(used), data={"amount_fen": used,
                                                                "requested": amount_fen}))

    async def clear_loyalty_tenders(self) -> LaneEvent:
        async with self._lock:
            self._refuse_changes()
            await self._commit(self.cart.with_loyalty(self.cart.loyalty.replace(
                points=0, points_fen=0, stored_value_fen=0)))
            return self._publish(event("loyalty_tenders_cleared", "tenders_cleared"))

    # -- guides ---------------------------------------------------------------------------

    async def _guide_scan(self, guide_id: str) -> LaneEvent:
        row = await self._store.fetchone("SELECT id, name FROM guides WHERE id = ? AND"
                                         " active = 1", (guide_id,))
        if row is None:
            return event("guide_not_found", "guide_not_found", ok=False,
                         data={"guide_id": guide_id})
        await self._commit(self.cart.with_loyalty(self.cart.loyalty.replace(
            guide_id=row["id"], guide_name=row["name"])))
        return event("guide_attributed", "guide_attributed", name=row["name"],
                     data={"guide_id": row["id"], "name": row["name"]})

    # -- hooks the session calls ----------------------------------------------------------

    def _loyalty_member(self, cart: Cart) -> Cart:
        """A new member on the cart starts their part afresh (scanned coupons stay)."""
        member_id = cart.member.id if cart.member else None
        if member_id != cart.loyalty.member_id:
            self._last4_left = self.loyalty_settings.members.phone_confirm_attempts
            return cart.with_loyalty(cart.loyalty.for_member(member_id))
        return cart

    def _loyalty_fit(self, cart: Cart, priced: PricedCart) -> Cart:
        fitted = fit_tenders(cart.loyalty, priced.total_fen,
                             self.loyalty_settings.loyalty.point_value_fen)
        return cart if fitted is cart.loyalty else cart.with_loyalty(fitted)

    async def _loyalty_committed(self) -> None:
        """Keep the member's balances for the screen; the next cart closes a join offer."""
        member = self.cart.member
        if member is None:
            self._balances = None
        elif self._balances is None or self._balances[0] != member.id:
            points, stored = await self._store.read(lambda c: balances(c, member.id))
            self._balances = (member.id, points, stored)
        if self.join_offer is not None and not self.cart.empty:
            self.join_offer = None

    def _plan_sale(self, cart: Cart, priced: PricedCart, tenders: Sequence[Tender]) -> SalePlan:
        plan = plan_sale(cart, priced, [*loyalty_tenders(cart), *tenders],
                         fen_per_point=self.loyalty_settings.loyalty.fen_per_point)
        return extend_plan(plan, cart, priced, self.loyalty_settings.loyalty)

    def _write_sale(self, conn: sqlite3.Connection, plan: SalePlan, cart: Cart,
                    priced: PricedCart) -> Written:
        """Write the sale and what loyalty adds, in the caller's transaction."""
        retry = conn.execute("SELECT 1 FROM sales WHERE id = ?", (plan.sale_id,)).fetchone()
        if retry is None:
            link = self.loyalty_link
            check_in_sale(conn, cart, priced, link.stored_value_check if link else None)
        receipt_no, seq = write_sale(conn, plan, self._identity)
        if retry is not None:
            return receipt_no, seq, []
        record_in_sale(conn, plan, cart, priced)
        issued = issue_after_sale(conn, self._identity, sale_id=plan.sale_id,
                                  total_fen=plan.total_fen, member_id=plan.member_id,
                                  now=plan.created_at, scan_prefix=self.coupon_prefix)
        return receipt_no, seq, issued

    def _sale_loyalty(self, plan: SalePlan, written: Written) -> dict[str, Any]:
        """What the sale_completed event and ``last_sale`` carry for loyalty."""
        self._balances, self._phone_pending = None, None
        issued = [c.view() for c in written[2]]
        self.last_loyalty = {
            "member_id": plan.member_id, "points_earned": earned_in(plan),
            "guide_id": plan.payload.get("guide_id"),
            "coupons_redeemed": plan.payload.get("coupons", []), "issued_coupons": issued}
        if issued:  # announced before sale_completed, which stays the lane's last word
            labels = "、".join(c["label"] for c in issued)
            self._publish(event("coupon_issued", "coupon_issued", label=labels,
                                data={"sale_id": plan.sale_id, "coupons": issued}))
        return self.last_loyalty
    # -- the screen -----------------------------------------------------------------------

    def loyalty_snapshot(self) -> dict[str, Any]:
        """The lane snapshot's loyalty fields (see docs/loyalty.md, "Screens")."""
        cart, loyalty = self.cart, self.cart.loyalty
        member = cart.member
        balance = self._balances if member and self._balances and \
            self._balances[0] == member.id else None
        need = spend_need(member, loyalty)
        offer = self.join_offer
        return {
            "member": None if member is None else {
                "id": member.id, "name": member.name, "name_masked": mask_name(member.name),
                "tier": member.tier, "identified_by": member.identified_by,
                "points_balance": balance[1] if balance else None,
                "stored_value_fen": balance[2] if balance else None,
                "can_spend": can_spend(member, loyalty), "needs": need},
            "coupons": [{"code": v.code, "label": v.label, "amount_fen": v.amount_fen,
                         "applied": v.applied, "reason": v.reason, "zh": v.zh, "en": v.en}
                        for v in verdicts(self.priced)],
            "guide": None if loyalty.guide_id is None else {"id": loyalty.guide_id,
                                                            "name": loyalty.guide_name},
            "tenders_pending": {"points": loyalty.points, "points_fen": loyalty.points_fen,
                                "stored_value_fen": loyalty.stored_value_fen,
                                "total_fen": loyalty.pending_fen,
                                "rest_fen": self.priced.total_fen - loyalty.pending_fen},
            "phone_pending": None if self._phone_pending is None else {
                "name_masked": mask_name(self._phone_pending.member.name),
                "phone_masked": mask_phone(self._phone_pending.member.phone)},
            "join_offer": offer.view() if offer and time.monotonic() <= offer.expires_at
            else None,
        }



def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))
