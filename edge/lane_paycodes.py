"""Wallet payment codes at a lane: start, progress, settle and finish a WeChat or Alipay payment.

``edge.payments`` runs each payment as a task and calls back into the lane (``settle_payment``,
``payment_progress``, ``payment_finished``); the lane owns the cart, so the sale and the
payment's paid state commit in one transaction. While a payment runs the cart cannot change
and every scan is refused (``_paying_refusal``). ``edge.lane.LaneSession`` mixes this in.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from .cart import Cart
from .errors import LaneError, SaleRefused
from .lane_base import LaneParts, Written
from .lane_events import LaneEvent
from .payments.flow import SettleRefused
from .payments.messages import shopper_text
from .payments.records import PaymentRecord, advance
from .payments.service import PaymentRefused, PaymentService
from .pricing import PricedCart
from .sales import CompletedSale, SalePlan, Tender
from .scan_router import RejectedScan, RoutedScan

_LOGGER = logging.getLogger("edge.lane")
# Why a payment was not started -> the event code screens know.
_PAYMENT_REFUSALS = {"offline": "payment_offline", "code_used": "payment_code_used",
                     "not_enabled": "payment_unavailable", "in_progress": "payment_in_progress",
                     "unresolved": "payment_unresolved"}


def mask(code: str) -> str:
    """Hide most of a payment or member code for logs and screens."""
    return code if len(code) <= 6 else f"{code[:2]}{'*' * (len(code) - 6)}{code[-4:]}"


def _payment_event(
    code: str, reason: str, *, ok: bool = True, data: dict[str, Any] | None = None
) -> LaneEvent:
    """A payment event for screens: the message in Chinese then English, both in ``data``."""
    zh, en = shopper_text(reason)
    return LaneEvent(code, f"{zh} / {en}", ok,
                     data={**(data or {}), "reason": reason, "zh": zh, "en": en})



class PaymentCodeLane(LaneParts):
    """The wallet-payment part of a lane session."""

    _payments: PaymentService | None

    # -- what the session provides --------------------------------------------------------

    def _plan_sale(self, cart: Cart, priced: PricedCart, tenders: Sequence[Tender]) -> SalePlan:
        raise NotImplementedError

    def _write_sale(self, conn: sqlite3.Connection, plan: SalePlan, cart: Cart,
                    priced: PricedCart) -> Written:
        raise NotImplementedError

    def _sale_committed(self, plan: SalePlan, written: Written) -> CompletedSale:
        raise NotImplementedError

    def _after_wallet_sale(self, plan: SalePlan, receipt_no: int, provider: str,
                           payer_id: str | None) -> None:
        raise NotImplementedError

    # -- payments -------------------------------------------------------------------------

    async def _start_payment(self, provider: str, code: str) -> LaneEvent:
        """Write the payment, lock the cart and run the payment as a task; return at once."""
        if self._payments is None:
            return LaneEvent("payment_unavailable", f"{provider} payment is not enabled "
                             "at this lane", False, data={"provider": provider})
        amount = self.priced.total_fen - self.cart.loyalty.pending_fen
        if amount <= 0:
            return LaneEvent("payment_not_needed", "nothing to pay", False)
        try:
            record, order = await self._payments.begin(
                cart=self.cart, amount_fen=amount, provider=provider, code=code)
        except PaymentRefused as err:
            _LOGGER.info("Lane %s: %s payment refused: %s", self.lane_id, provider, err)
            return _payment_event(_PAYMENT_REFUSALS.get(err.reason, "payment_failed"),
                                  err.reason, ok=False, data={"provider": provider})
        self.payment = record
        self._payments.start(record, order, self)
        return _payment_event("payment_started", "started", data=record.view())

    def resume_payment(self, record: PaymentRecord) -> None:
        """Lock the cart for a payment a restart left unfinished, and let it run."""
        assert self._payments is not None
        self.payment, self._payment_scan_id = record, None
        self._payments.resume(record, self)
        self._publish(_payment_event("payment_checking", "checking", data=record.view()))

    async def cancel_payment(self) -> LaneEvent:
        """Stop waiting for the shopper's phone and reverse the payment now."""
        if self.payment is None or self._payments is None:
            raise LaneError("no payment is in progress")
        if not self._payments.cancel(self.payment.id):
            raise LaneError("the payment is already ending")
        return self._publish(_payment_event("payment_cancelling", "cancelled",
                                            data=self.payment.view()))

    def payment_progress(self, record: PaymentRecord, code: str) -> None:
        self.payment = record
        reason = {"payment_waiting_user": "waiting_user", "payment_saving": "in_doubt"}.get(
            code, "checking")
        self._publish_payment(_payment_event(code, reason, data=record.view()))

    async def settle_payment(self, record: PaymentRecord, transaction_id: str,
                             payer_id: str | None = None) -> PaymentRecord:
        """Commit the sale with all its tenders and the payment's paid state, atomically."""
        async with self._lock:
            if self.cart.sale_id != record.sale_id:
                raise SettleRefused("the lane holds another cart")
            tender = Tender(record.provider, record.amount_fen, transaction_id)
            cart, priced = self.cart, self.priced
            try:
                plan = self._plan_sale(cart, priced, [tender])
            except SaleRefused as err:
                raise SettleRefused(str(err)) from err

            def write(conn: sqlite3.Connection) -> tuple[Written, PaymentRecord]:
                written = self._write_sale(conn, plan, cart, priced)
                return written, advance(conn, record.id, "paid", transaction_id=transaction_id)

            try:
                written, paid = await self._store.write(write)
            except SaleRefused as err:  # a balance spent elsewhere meanwhile: reverse
                raise SettleRefused(str(err)) from err
            self.payment = None
            self._sale_committed(plan, written)
            self._after_wallet_sale(plan, written[0], record.provider, payer_id)
            return paid

    async def payment_finished(self, record: PaymentRecord) -> None:
        async with self._lock:
            if self.payment is not None and self.payment.id == record.id:
                self.payment = None
        view = record.view()
        if record.state == "paid":
            sale = self.last_sale
            event = _payment_event("payment_succeeded", "paid", data={
                **view, "receipt_no": sale.receipt_no if sale else None})
        elif record.state == "in_doubt":
            event = _payment_event("payment_in_doubt", "in_doubt", ok=False, data=view)
        else:
            event = _payment_event("payment_failed", record.reason or "declined", ok=False,
                                   data=view)
        self._publish_payment(event)

    def _publish_payment(self, event: LaneEvent) -> LaneEvent:
        return self._publish(dataclasses.replace(event, scan_id=self._payment_scan_id))

    def _paying_refusal(self, scan: RoutedScan) -> LaneEvent | None:
        """While a wallet payment runs, every scan but line noise is refused, cart intact."""
        if self.payment is None or isinstance(scan, RejectedScan):
            return None
        return _payment_event("payment_in_progress", "in_progress", ok=False)
