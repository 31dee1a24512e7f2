"""Identifying the shopper at a lane: member codes, phone number and its last 4 digits.

The rules of who may spend after which identification are in ``edge.members``.
"""

from __future__ import annotations

import time

from .cart import utc_now
from .catalog import Member
from .errors import LaneError
from .lane_base import LaneParts, event
from .lane_events import LaneEvent
from .members import (
    PHONE,
    CodeReused,
    PhonePending,
    mask_name,
    mask_phone,
    members_by_phone,
    resolve_member_code,
    spend_need,
    take_step,
)


class MemberLane(LaneParts):
    """``identify_by_phone``, ``confirm_phone_last4`` and the member-code scan."""

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

