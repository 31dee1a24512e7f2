"""Drive one payment to an end: submit once, poll while unknown, reverse when still unknown.

Every step is written to the ``payments`` row *before* its network call, so a restart can
tell what may have happened: ``created`` was never sent; ``submitted``/``waiting_user``/
``querying`` may have been paid and are queried; ``reversing``/``in_doubt`` are only ever
reversed, never settled. Paying is never retried: an unknown outcome is queried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Protocol

from ..errors import StoreError, StoreUnavailable
from ..store import Store
from .base import (
    Closed,
    Declined,
    NotDelivered,
    NotFound,
    OutcomeUnknown,
    Paid,
    PaymentError,
    PaymentOrder,
    PaymentProvider,
    ReverseRefused,
    UserPaying,
)
from .config import PaymentsConfig
from .records import PaymentRecord, advance

_LOGGER = logging.getLogger(__name__)


class SettleRefused(PaymentError):
    """The paid amount cannot become this sale (the total changed, the cart is gone)."""

    reason = "settle_refused"


@dataclass(frozen=True, slots=True)
class Timing:
    poll_interval_s: float
    poll_limit: int
    reverse_retries: int
    reverse_interval_s: float
    in_doubt_retry_max_s: float

    @classmethod
    def from_config(cls, config: PaymentsConfig) -> Timing:
        return cls(config.poll_interval_ms / 1000, config.poll_limit, config.reverse_retries,
                   config.reverse_interval_ms / 1000, config.in_doubt_retry_max_ms / 1000)


class PaymentHooks(Protocol):
    """What a payment needs from the lane it pays for."""

    def payment_progress(self, record: PaymentRecord, code: str) -> None:
        """Show a step (``payment_waiting_user``, ``payment_checking``) on the lane's screens."""

    async def settle_payment(self, record: PaymentRecord, transaction_id: str,
                             payer_id: str | None = None) -> PaymentRecord:
        """Commit the sale and mark the payment paid in ONE transaction; return the row.

        ``payer_id`` is the provider's id of who paid, for the member look-up after the sale.

        Raise ``SettleRefused`` when the sale cannot take this payment, ``StoreError`` when
        the database cannot write right now.
        """

    async def payment_finished(self, record: PaymentRecord) -> None:
        """The payment ended (paid, failed, reversed) or is in doubt: release the lane."""


class PaymentRun:
    """One payment's way from its persisted state to paid, failed, reversed or in doubt."""

    def __init__(self, record: PaymentRecord, *, provider: PaymentProvider, store: Store,
                 hooks: PaymentHooks, timing: Timing, order: PaymentOrder | None = None) -> None:
        self.record = record
        self._provider, self._store, self._hooks = provider, store, hooks
        self._timing, self._order = timing, order
        self.cancel_requested = asyncio.Event()

    async def run(self) -> PaymentRecord:
        """Return the row once it is final or in doubt; restart-safe from any state."""
        state = self.record.state
        if state == "created":
            if self._order is None:  # written, then the daemon stopped before sending it
                return await self._advance("failed", reason="cancelled",
                                           error="stopped before the order was sent")
            return await self._submit(self._order)
        if state in ("submitted", "waiting_user", "querying"):
            return await self._poll()
        return await self._reverse(self.record.reason or "timeout_reversed")

    async def resolve(self) -> PaymentRecord:
        """Keep reversing an in-doubt payment, backing off, until the provider confirms."""
        delay = self._timing.reverse_interval_s
        while self.record.state == "in_doubt":
            await self._wait(delay)
            self.cancel_requested.clear()
            await self._reverse(self.record.reason or "timeout_reversed")
            delay = min(delay * 2, self._timing.in_doubt_retry_max_s)
        return self.record

    # -- steps ------------------------------------------------------------------------------

    async def _submit(self, order: PaymentOrder) -> PaymentRecord:
        await self._advance("submitted")
        try:
            answer = await self._provider.pay(order)
        except NotDelivered as err:
            return await self._advance("failed", reason=err.reason, error=str(err))
        except OutcomeUnknown as err:
            _LOGGER.warning("Payment %s: outcome unknown after submit (%s); querying",
                            self.record.id, err)
            await self._advance("querying", error=str(err))
            self._hooks.payment_progress(self.record, "payment_checking")
            return await self._poll()
        match answer:
            case Paid():
                return await self._settle(answer)
            case UserPaying():
                await self._advance("waiting_user")
                self._hooks.payment_progress(self.record, "payment_waiting_user")
                return await self._poll()
            case Declined(reason=reason, detail=detail):
                return await self._advance("failed", reason=reason, error=detail)

    async def _poll(self) -> PaymentRecord:
        for _ in range(self._timing.poll_limit):
            if await self._wait(self._timing.poll_interval_s):
                return await self._reverse("cancelled")
            keep = self.record.state if self.record.state != "submitted" else "querying"
            await self._advance(keep, query=True)
            try:
                answer = await self._provider.query(self.record.id, self.record.amount_fen)
            except (OutcomeUnknown, NotDelivered) as err:
                _LOGGER.warning("Payment %s: query failed (%s)", self.record.id, err)
                await self._advance(keep, error=str(err))
                continue
            match answer:
                case Paid():
                    return await self._settle(answer)
                case UserPaying() if self.record.state != "waiting_user":
                    await self._advance("waiting_user")
                    self._hooks.payment_progress(self.record, "payment_waiting_user")
                case Closed(reason=reason, detail=detail, needs_reverse=True):
                    _LOGGER.info("Payment %s: %s; reversing as asked", self.record.id, detail)
                    return await self._reverse(reason)
                case Closed(reason=reason, detail=detail):
                    return await self._advance("failed", reason=reason, error=detail)
                case UserPaying() | NotFound():
                    pass
        return await self._reverse("timeout_reversed")

    async def _settle(self, paid: Paid) -> PaymentRecord:
        delay = self._timing.reverse_interval_s
        while True:
            try:
                self.record = await self._hooks.settle_payment(self.record, paid.transaction_id,
                                                               paid.payer_id)
                return self.record
            except SettleRefused as err:
                _LOGGER.error("Payment %s paid as %s but the sale was refused (%s); "
                              "reversing so the shopper gets the money back",
                              self.record.id, paid.transaction_id, err)
                return await self._reverse("settle_refused",
                                           f"paid as {paid.transaction_id}: {err}")
            except StoreError as err:
                # Paid, but the sale cannot be written yet: never reverse a good payment for
                # a full disk; keep trying (a restart queries, sees it paid, and settles).
                _LOGGER.error("Payment %s paid; cannot save the sale yet (%s); retrying in "
                              "%.1fs", self.record.id, err, delay)
                self._hooks.payment_progress(self.record, "payment_saving")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._timing.in_doubt_retry_max_s)

    async def _reverse(self, reason: str, why: str | None = None) -> PaymentRecord:
        error = why or "no attempt"
        for attempt in range(self._timing.reverse_retries):
            if attempt:
                await asyncio.sleep(self._timing.reverse_interval_s)
            await self._advance("reversing", reason=reason, error=why, reversal=True)
            why = None
            try:
                answer = await self._provider.reverse(self.record.id)
            except ReverseRefused as err:
                error = str(err)
                break
            except (OutcomeUnknown, NotDelivered) as err:
                error = str(err)
                _LOGGER.warning("Payment %s: reverse attempt %d failed (%s)", self.record.id,
                                attempt + 1, err)
                continue
            _LOGGER.info("Payment %s reversed (%s): %s", self.record.id, reason, answer.detail)
            return await self._advance("reversed")
        _LOGGER.error("Payment %s is IN DOUBT: could not reverse it (%s); will keep trying",
                      self.record.id, error)
        return await self._advance("in_doubt", error=error)

    # -- helpers ----------------------------------------------------------------------------

    async def _advance(self, state: str, *, reason: str | None = None,
                       error: str | None = None, query: bool = False,
                       reversal: bool = False) -> PaymentRecord:
        """Persist the next state durably; it is written before the call it announces.

        A locked database or a full disk makes the payment wait here rather than act on a
        step it could not record.
        """
        payment_id, delay = self.record.id, self._timing.reverse_interval_s
        while True:
            try:
                self.record = await self._store.write(lambda conn: advance(
                    conn, payment_id, state, reason=reason, error=error, query=query,
                    reversal=reversal))
                return self.record
            except StoreUnavailable as err:
                _LOGGER.error("Payment %s: cannot save step %s (%s); waiting %.1fs",
                              payment_id, state, err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._timing.in_doubt_retry_max_s)

    async def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; return True early if someone asked to cancel."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.cancel_requested.wait(), seconds)
        return self.cancel_requested.is_set()
