"""The loyalty half of a lane session: members, coupons, points and stored value, guides.

``LoyaltyLane`` is a base class of ``edge.lane.LaneSession``: the methods the kiosk and lane
pages call (``identify_by_phone``, ``apply_coupon_code``, ``use_points``, ``join_member``, ...)
and the hooks the session calls while it scans, prices and commits. Every cart change goes
through the session's lock and ``_commit`` (written before it is shown); a refusal publishes
an event with ``data.zh``/``data.en`` and leaves the cart as it was.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from .cart import Cart, utc_now
from .catalog import Catalog, Member
from .coupon_issue import IssuedCoupon, issue_after_sale
from .coupons import Coupon, CouponError, CouponPricedCart, apply_coupons, coupon_from_row
from .errors import LaneError
from .lane_events import LaneEvent
from .loyalty_config import LoyaltySettings
from .loyalty_messages import words, yuan
from .loyalty_tenders import (
    check_in_sale,
    earned_in,
    extend_plan,
    fit_tenders,
    loyalty_tenders,
    points_earned,
    record_in_sale,
)
from .members import (
    PHONE,
    CodeReused,
    LookupLimiter,
    PhonePending,
    balances,
    can_spend,
    mask_name,
    mask_phone,
    members_by_phone,
    resolve_member_code,
    spend_need,
    take_step,
)
from .pricing import LineInput, PricedCart
from .sales import OutboxIdentity, SalePlan, Tender, plan_sale, write_sale
from .store import Store
from .wallet_members import CrmLink, JoinOffer, attach_known, join, new_member_id

_LOGGER = logging.getLogger(__name__)
# Coupon verdicts that no change to the cart can turn around: the scanned code is not kept.
_FINAL = frozenset({"redeemed", "not_yet", "expired", "other_member", "own_share", "unusable",
                    "unknown"})
Written = tuple[int, int, list[IssuedCoupon]]


def event(code: str, reason: str, *, ok: bool = True, data: dict[str, Any] | None = None,
          **facts: Any) -> LaneEvent:
    """A loyalty event: its message in Chinese then English, both also in ``data``."""
    zh, en = words(reason, **facts)
    return LaneEvent(code, f"{zh} / {en}", ok,
                     data={**(data or {}), "reason": reason, "zh": zh, "en": en})


class LoyaltyLane:
    """Loyalty for one lane; ``LaneSession`` provides the attributes declared here."""

    lane_id: str
    cart: Cart
    priced: PricedCart
    payment: Any
    last_sale: Any
    _payment_scan_id: str | None
    _lock: asyncio.Lock
    _store: Store
    _catalog: Catalog
    _identity: OutboxIdentity

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

    # -- what the session provides --------------------------------------------------------

    async def _commit(self, cart: Cart, also: Callable[[sqlite3.Connection], None] | None = None,
                      ) -> None:
        raise NotImplementedError

    def _publish(self, event: LaneEvent) -> LaneEvent:
        raise NotImplementedError

    def _refuse_while_paying(self) -> None:
        raise NotImplementedError

    # -- identification -------------------------------------------------------------------

    async def _member_code_scan(self, payload: str) -> LaneEvent:
        """A scanned member code (rotating, or static where allowed)."""
        config, cart = self.loyalty_settings.members, self.cart
        found = await self._store.read(lambda conn: resolve_member_code(
            conn, payload, config, lane=self.lane_id, cart_id=cart.cart_id, now_s=time.time()))
        if found.result == "member_not_found" or found.member is None:
            reason = "static_refused" if "." not in payload and not config.accept_static_codes \
                else "not_found"
            return event("member_not_found", reason, ok=False)
        if found.result != "member_identified":
            reason = "code_expired" if found.result == "member_code_expired" else "code_reused"
            return event(found.result, reason, ok=False, data={"member_id": found.member.id})
        member, step = found.member, found.step
        self._phone_pending = None
        new = cart.with_member(member, "code")
        new = new.with_loyalty(new.loyalty.for_member(member.id).replace(
            verified=step is not None, static_code=step is None, code_step=step))
        also = None if step is None else (lambda conn: take_step(
            conn, member.id, step, lane=self.lane_id, cart_id=cart.cart_id, at=utc_now()))
        try:
            await self._commit(new, also)
        except CodeReused:
            return event("member_code_reused", "code_reused", ok=False,
                         data={"member_id": member.id})
        return self._identified(member, "code")

    def _identified(self, member: Member, how: str) -> LaneEvent:
        return event("member_identified", "identified", name=mask_name(member.name), data={
            "member_id": member.id, "name": member.name, "name_masked": mask_name(member.name),
            "tier": member.tier, "identified_by": how})

    async def identify_by_phone(self, phone: str) -> LaneEvent:
        """Find a member by phone number; the last 4 digits confirm it (``confirm_phone_last4``)."""
        async with self._lock:
            self._refuse_while_paying()
            if not PHONE.fullmatch(phone):
                return self._publish(event("member_not_found", "bad_phone", ok=False))
            wait = self._phone_limiter.wait_s()
            if wait:
                retry = int(wait) + 1
                return self._publish(event("phone_lookup_limited", "phone_limited", ok=False,
                                           wait=retry, data={"retry_after_s": retry}))
            found = await self._store.read(lambda conn: members_by_phone(conn, phone))
            if len(found) != 1:
                return self._publish(event("member_not_found", "phone_ambiguous" if found
                                           else "not_found", ok=False))
            member = found[0]
            config = self.loyalty_settings.members
            self._phone_pending = PhonePending(
                member, time.monotonic() + config.phone_confirm_timeout_s,
                config.phone_confirm_attempts)
            name = mask_name(member.name)
            return self._publish(event("phone_confirm_needed", "confirm_identify", name=name,
                                       data={"purpose": "identify", "name_masked": name,
                                             "phone_masked": mask_phone(member.phone)}))

    async def confirm_phone_last4(self, digits: str) -> LaneEvent:
        """Confirm a phone identification, or authorise spending after a face or static code."""
        async with self._lock:
            self._refuse_while_paying()
            if self._phone_pending is not None:
                return self._publish(await self._confirm_identity(digits))
            if self.cart.member is None or spend_need(self.cart.member,
                                                      self.cart.loyalty) != "phone_last4":
                raise LaneError("nothing is waiting for the last 4 digits of a phone number")
            return self._publish(await self._confirm_spending(digits))

    async def _confirm_identity(self, digits: str) -> LaneEvent:
        pending = self._phone_pending
        assert pending is not None
        if time.monotonic() > pending.expires_at:
            self._phone_pending = None
            return event("member_not_found", "confirm_timeout", ok=False)
        if digits != pending.member.phone_last4:
            left = pending.attempts_left - 1
            self._phone_pending = None if left <= 0 else PhonePending(
                pending.member, pending.expires_at, left)
            if left <= 0:
                return event("member_not_found", "too_many_wrong", ok=False)
            return event("phone_confirm_needed", "wrong_last4", ok=False, left=left,
                         data={"purpose": "identify", "attempts_left": left})
        self._phone_pending, member = None, pending.member
        await self._commit(self.cart.with_member(member, "phone"))
        self._publish(event("phone_confirmed", "confirmed", data={"purpose": "identify"}))
        return self._identified(member, "phone")

    async def _confirm_spending(self, digits: str) -> LaneEvent:
        assert self.cart.member is not None
        if self._last4_left <= 0:
            return event("tender_refused", "too_many_wrong", ok=False,
                         data={"needs": "member_code"})
        member = await self._catalog.member(self.cart.member.id)
        if member is None or digits != member.phone_last4:
            self._last4_left -= 1
            if self._last4_left <= 0:
                return event("tender_refused", "too_many_wrong", ok=False,
                             data={"needs": "member_code"})
            return event("phone_confirm_needed", "wrong_last4", ok=False, left=self._last4_left,
                         data={"purpose": "spend", "attempts_left": self._last4_left})
        await self._commit(self.cart.with_loyalty(self.cart.loyalty.replace(verified=True)))
        return event("phone_confirmed", "confirmed", data={"purpose": "spend"})

    # -- coupons --------------------------------------------------------------------------

    async def apply_coupon_code(self, code: str) -> LaneEvent:
        """Add a coupon by its code (a scanned ``CP...`` arrives here too)."""
        async with self._lock:
            self._refuse_while_paying()
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
        verdict = next(v for v in _verdicts(priced) if v.code == code)
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
            self._refuse_while_paying()
            loyalty = self.cart.loyalty
            if code in loyalty.coupon_codes:
                loyalty = loyalty.replace(coupon_codes=tuple(
                    c for c in loyalty.coupon_codes if c != code))
            elif any(v.code == code for v in _verdicts(self.priced)):
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

    async def _price(self, cart: Cart) -> PricedCart:
        raise NotImplementedError

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
        async with self._lock:
            self._refuse_while_paying()
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
        async with self._lock:
            self._refuse_while_paying()
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
            self._refuse_while_paying()
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

    # -- after a wallet payment -----------------------------------------------------------

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
                        for v in _verdicts(self.priced)],
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


def _verdicts(priced: PricedCart) -> tuple[Any, ...]:
    return priced.coupons if isinstance(priced, CouponPricedCart) else ()


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))
