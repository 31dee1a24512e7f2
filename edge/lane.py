"""A lane session: the one open cart of a lane and what scans and tenders do to it.

Every change is written to the store before it is shown: when the write fails, the shopper
sees an error and the cart stays as it was, on screen and on disk.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from drivers.base import WeightReading

from .cart import Cart, CartLine, utc_now
from .catalog import Catalog, Member
from .errors import LaneError, SaleRefused, StoreError
from .lane_base import Written, save_cart
from .lane_events import LaneEvent as LaneEvent  # noqa: PLC0414 - edge.lane.LaneEvent stays
from .lane_hooks import LaneHooks
from .lane_loyalty import LoyaltyLane
from .lane_parking import ParkingLane
from .lane_paycodes import PaymentCodeLane, mask
from .loyalty_config import LoyaltyConfig, LoyaltySettings
from .payments.messages import both
from .payments.records import PaymentRecord
from .payments.service import PaymentService
from .pricing import PricedCart, price_cart
from .sales import CompletedSale, OutboxIdentity, SalePlan, Tender, append_outbox
from .scan_router import (
    BadgeScan,
    CouponCodeScan,
    ExitTokenScan,
    GuideCodeScan,
    MemberCodeScan,
    PaymentCodeScan,
    ProductScan,
    RejectedScan,
    RoutedScan,
    UnknownScan,
    WeighedItemScan,
)
from .store import Store

_LOGGER = logging.getLogger(__name__)
SCAN_OUTCOMES_KEPT = 64   # scans whose outcome the lane can still tell (storeedge scan)
# Hooks other parts install on a lane (staffed lanes: edge.cashier):
SaleHook = Callable[[sqlite3.Connection, SalePlan, int], None]
"""Run inside every sale's transaction with (conn, plan, receipt number)."""
ScanGate = Callable[[RoutedScan], "LaneEvent | None"]
"""Asked before a scan is applied; an event returned refuses the scan with it."""
Recorder = Callable[[sqlite3.Connection, Cart, PricedCart], None]
"""Run inside a cart change's transaction with the cart and prices before the change."""


class LaneSession(LoyaltyLane, PaymentCodeLane, ParkingLane):
    """Owns one lane's open cart; all changes go through its lock, one at a time."""

    def __init__(
        self,
        lane_id: str,
        store: Store,
        catalog: Catalog,
        identity: OutboxIdentity,
        *,
        fen_per_point: int = 100,
        payments: PaymentService | None = None,
        loyalty: LoyaltySettings | None = None,
        coupon_prefix: str = "CP",
    ) -> None:
        self.lane_id = lane_id
        self._store = store
        self._catalog = catalog
        self._identity = identity
        self._lock = asyncio.Lock()
        self.cart = Cart.open(lane_id)
        self.priced = PricedCart((), (), 0, 0, 0)
        self.last_event: LaneEvent | None = None
        self._scan_outcomes: collections.OrderedDict[str, LaneEvent] = collections.OrderedDict()
        """The latest event of each recent scan: what ``storeedge scan`` reports, even after
        events of no scan (a receipt printed, a coupon issued) have followed it."""
        self.last_sale: CompletedSale | None = None
        self.last_weight: WeightReading | None = None
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self._observers: list[Callable[[str, LaneEvent], None]] = []
        self._payments = payments
        self.payment: PaymentRecord | None = None
        """The wallet payment running for this cart; the cart cannot change meanwhile."""
        self._payment_scan_id: str | None = None
        self.scan_gates: list[ScanGate] = []
        self.sale_hooks: list[SaleHook] = []
        self.views: dict[str, Callable[[], Any]] = {}
        """Extra keys of the snapshot (e.g. "staff": who is signed in at a staffed lane)."""
        # The sync state shown on the lane's screen; EdgeApp points it at its sync client.
        self.sync_view: Callable[[], dict[str, str]] = lambda: {
            "state": "offline", "reason": "sync is not running"}
        self._init_loyalty(loyalty or LoyaltySettings(LoyaltyConfig(fen_per_point)),
                           coupon_prefix)
        # Self-checkout security (interventions, bagging scale, receipts, exit): see lane_hooks.
        self.hooks = LaneHooks()

    # -- lifecycle ----------------------------------------------------------------------

    async def restore(self) -> None:
        """Load the lane's open cart as it was before a restart."""
        row = await self._store.fetchone("SELECT state FROM open_carts WHERE lane = ?",
                                         (self.lane_id,))
        if row is None:
            return
        try:
            self.cart = Cart.from_json(row["state"])
        except (ValueError, TypeError, KeyError) as err:
            _LOGGER.error("Lane %s: saved cart unreadable (%s); starting empty", self.lane_id, err)
            return
        if await self._store.fetchone("SELECT 1 FROM sales WHERE id = ?", (self.cart.sale_id,)):
            # The sale committed; its cart row is removed in the same transaction, so this
            # only happens with a cart file from before that rule. Start afresh.
            self.cart = Cart.open(self.lane_id)
            return
        await self._reprice()
        if not self.cart.empty:
            _LOGGER.info("Lane %s: restored open cart with %d lines, total %d fen",
                         self.lane_id, len(self.cart.lines), self.priced.total_fen)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """Return a queue that receives a snapshot after every change."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=16)
        self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._listeners.discard(queue)

    def observe(self, observer: Callable[[str, LaneEvent], None]) -> None:
        """Call ``observer(lane_id, event)`` for every event (metrics, audit)."""
        self._observers.append(observer)

    def weight(self, reading: WeightReading) -> None:
        """Keep the latest reading of the lane's scale and hand it to the bagging checks."""
        self.last_weight = reading
        self.hooks.weight(reading)

    # -- scans --------------------------------------------------------------------------

    async def handle_scan(self, scan: RoutedScan, scan_id: str | None = None) -> LaneEvent:
        """Apply one routed scan to the cart and return what happened."""
        async with self._lock:
            follow: list[LaneEvent] = []
            try:
                event = (self._gate(scan) or self._paying_refusal(scan)
                         or await self.hooks.scan(scan, self._dispatch, follow))
            except StoreError as err:
                event = LaneEvent("store_error", str(err), ok=False)
            except LaneError as err:
                event = LaneEvent("refused", str(err), ok=False)
            event = LaneEvent(event.code, event.message, event.ok, scan_id, event.data, event.at)
            if event.code == "payment_started":
                self._payment_scan_id = scan_id  # its later events answer the same scan
            self._publish(event)
            for extra in follow:
                self._publish(dataclasses.replace(extra, scan_id=scan_id))
            return event

    async def _dispatch(self, scan: RoutedScan) -> LaneEvent:  # noqa: PLR0911, PLR0912
        match scan:
            case ProductScan(gtin=gtin, weight_g=weight, price_fen=price):
                product = await self._catalog.product_by_gtin(gtin)
                if product is None:
                    return LaneEvent("item_not_found", f"no product with code {gtin}", False,
                                     data={"code": scan.text})
                if product.sold_by_weight and weight is None and price is None:
                    return LaneEvent("needs_weight", f"{product.name} is sold by weight: "
                                     "use the scale label", False, data={"code": scan.text})
                return await self._add(product, scan.text, weight, price)
            case WeighedItemScan(item_code=item, weight_g=weight, price_fen=price):
                product = await self._catalog.product_by_item_code(item)
                if product is None:
                    return LaneEvent("item_not_found", f"no weighed item {item}", False,
                                     data={"code": scan.text})
                return await self._add(product, scan.text, weight, price)
            case MemberCodeScan(code=code):
                return await self._member_code_scan(code)
            case PaymentCodeScan(provider=provider, code=code):
                if self.cart.empty:
                    return LaneEvent("payment_cart_empty", "scan items before paying", False,
                                     data={"provider": provider})
                _LOGGER.info("Lane %s: %s payment code %s", self.lane_id, provider, mask(code))
                return await self._start_payment(provider, code)
            case CouponCodeScan(code=code):
                return await self._coupon_scan(code)
            case GuideCodeScan(guide_id=guide_id):
                return await self._guide_scan(guide_id)
            case BadgeScan() | ExitTokenScan():
                kind = type(scan).__name__.removesuffix("Scan").lower()
                return LaneEvent("not_supported", f"{kind} codes are not handled at this lane",
                                 False, data={"kind": kind})
            case UnknownScan(text=text):
                return LaneEvent("item_not_found", "code not recognised", False,
                                 data={"code": text})
            case RejectedScan(reason=reason):
                return LaneEvent("scan_rejected", reason, False)
        raise AssertionError(f"unhandled scan {scan!r}")

    async def _add(
        self, product: Any, code: str, weight_g: int | None, price_fen: int | None
    ) -> LaneEvent:
        cart, line = self.cart.with_product(product, code, weight_g=weight_g,
                                            label_amount_fen=price_fen)
        await self._commit(cart)
        return LaneEvent("item_added", f"added {product.name}", data={
            "line_id": line.line_id, "name": product.name, "qty": line.qty,
            "age_restricted": product.age_restricted,
        })

    # -- cart actions -------------------------------------------------------------------

    async def set_member(
        self, member: Member | None, *, identified_by: str = "code"
    ) -> LaneEvent:
        """Attach a member (prices re-evaluated at once) or detach with None.

        ``identified_by`` is "code" or "face"; a face alone never authorises spending stored
        value or points, so the cart keeps how the member was identified.
        """
        async with self._lock:
            self._refuse_while_paying()
            return self._publish(await self._set_member(member, identified_by))

    async def _set_member(self, member: Member | None, identified_by: str = "code") -> LaneEvent:
        await self._commit(self.cart.with_member(member, identified_by))
        if member is None:
            return LaneEvent("member_cleared", "member removed")
        return LaneEvent("member_identified", f"member {member.id}",
                         data={"member_id": member.id, "name": member.name, "tier": member.tier,
                               "identified_by": identified_by})

    async def set_quantity(self, line_id: str, qty: int, *,
                           record: Recorder | None = None) -> LaneEvent:
        return await self.change(lambda cart: cart.with_quantity(line_id, qty),
                                 LaneEvent("quantity_changed", f"line {line_id} now {qty}"),
                                 record=record)

    async def remove_line(self, line_id: str, *, record: Recorder | None = None) -> LaneEvent:
        return await self.change(lambda cart: cart.without_line(line_id),
                                 LaneEvent("line_removed", f"line {line_id} removed"),
                                 record=record)

    async def change(self, edit: Callable[[Cart], Cart], event: LaneEvent, *,
                     record: Recorder | None = None) -> LaneEvent:
        """Apply ``edit`` (a pure cart change; KeyError: no such line) and announce ``event``."""
        async with self._lock:
            self._refuse_changes()
            try:
                cart = edit(self.cart)
            except KeyError as err:
                raise LaneError(f"no line {err.args[0] if err.args else ''} in the cart"
                                ) from None
            old = self.cart
            await self._commit(cart, record=record)
            published = self._publish(event)
            self._publish_all(await self.hooks.cart_changed(old, cart))
            return published

    async def void(self, reason: str = "voided", *, record: Recorder | None = None) -> LaneEvent:
        """Throw the whole cart away, leaving an audit event for the CRM."""
        async with self._lock:
            self._refuse_changes()
            old, fresh = self.cart, Cart.open(self.lane_id)
            if old.empty:
                raise LaneError("the cart is already empty")
            payload = {"cart_id": old.cart_id, "lane": self.lane_id, "reason": reason,
                       "lines": len(old.lines), "total_fen": self.priced.total_fen}

            def write(conn: sqlite3.Connection) -> None:
                append_outbox(conn, self._identity, "cart.voided", payload, utc_now())
                save_cart(conn, fresh)
                if record is not None:
                    record(conn, old, self.priced)

            await self._store.write(write)
            self.cart = fresh
            await self._reprice()
            event = self._publish(LaneEvent("cart_voided", f"cart voided: {reason}"))
            self._publish_all(await self.hooks.cart_changed(old, fresh))
            return event

    # -- payment ------------------------------------------------------------------------

    async def complete(self, tenders: Sequence[Tender]) -> CompletedSale:
        """Commit the sale in one transaction; on any failure the cart is left intact."""
        async with self._lock:
            self._refuse_while_paying()
            refusal = await self.hooks.before_payment()
            if refusal is not None:
                self._publish(refusal)
                raise LaneError(refusal.message)
            cart, priced = self.cart, self.priced
            try:
                plan = self._plan_sale(cart, priced, tenders)
                written = await self._store.write(
                    lambda conn: self._write_sale(conn, plan, cart, priced))
            except (SaleRefused, StoreError) as err:
                self._publish(LaneEvent("sale_refused", str(err), ok=False))
                raise SaleRefused(str(err)) from err
            return self._sale_committed(plan, written)

    def _write_sale(self, conn: sqlite3.Connection, plan: SalePlan, cart: Cart,
                    priced: PricedCart) -> Written:
        """Write the sale with what loyalty adds, and what the lane's hooks record with it."""
        written = super()._write_sale(conn, plan, cart, priced)
        for hook in self.sale_hooks:
            hook(conn, plan, written[0])
        return written

    def _sale_committed(self, plan: SalePlan, written: Written) -> CompletedSale:
        """Adopt a fresh cart after a committed sale and announce it."""
        receipt_no, seq, _ = written
        loyalty = self._sale_loyalty(plan, written)
        sale = CompletedSale(
            plan.sale_id, self.lane_id, receipt_no, plan.total_fen, plan.paid_fen,
            plan.change_fen, plan.member_id, loyalty["points_earned"], seq, plan.created_at)
        self.cart, self.last_sale = Cart.open(self.lane_id), sale
        self.priced = PricedCart((), (), 0, 0, 0)
        _LOGGER.info("Lane %s: sale %s receipt %d total %d fen", self.lane_id,
                     sale.sale_id, receipt_no, sale.total_fen)
        extra = self.hooks.sale_committed(sale, plan)
        self._publish(LaneEvent("sale_completed", f"receipt {receipt_no}", data={
            "sale_id": sale.sale_id, "receipt_no": receipt_no, "total_fen": sale.total_fen,
            "change_fen": sale.change_fen, **loyalty, **extra}))
        return sale

    async def pay_cash(self, tendered_fen: int) -> CompletedSale:
        return await self.complete([Tender("cash", tendered_fen)])

    def _gate(self, scan: RoutedScan) -> LaneEvent | None:
        for gate in self.scan_gates:
            refusal = gate(scan)
            if refusal is not None:
                return refusal
        return None

    def _refuse_while_paying(self) -> None:
        if self.payment is not None:
            raise LaneError(both("in_progress"))

    def _refuse_changes(self) -> None:
        """Refuse a cart change while a payment runs or an attendant must come first."""
        self._refuse_while_paying()
        self.hooks.check_unlocked()

    # -- internals ----------------------------------------------------------------------

    async def _commit(self, cart: Cart,
                      also: Callable[[sqlite3.Connection], None] | None = None, *,
                      record: Recorder | None = None) -> None:
        """Persist then adopt ``cart``; on failure nothing changes.

        ``also`` writes in the same transaction (e.g. the member-code step taken); ``record``
        is handed the cart as it was, to audit an approved change with it.
        """
        cart = self._loyalty_member(cart)
        priced = await self._price(cart)
        cart = self._loyalty_fit(cart, priced)
        before, before_priced = self.cart, self.priced

        def write(conn: sqlite3.Connection) -> None:
            if also is not None:
                also(conn)
            save_cart(conn, cart)
            if record is not None:
                record(conn, before, before_priced)

        await self._store.write(write)
        self.cart, self.priced = cart, priced
        await self._loyalty_committed()

    async def _reprice(self) -> None:
        self.priced = await self._price(self.cart)
        await self._loyalty_committed()

    async def _price(self, cart: Cart) -> PricedCart:
        promotions = await self._catalog.promotions()
        lines = [line.pricing_input() for line in cart.lines]
        priced = price_cart(lines, promotions, is_member=cart.member is not None,
                            now=dt.datetime.now(dt.UTC))
        return await self._coupon_step(cart, lines, priced)

    # -- attendant and receipts (edge.interventions does the work) ------------------------

    async def call_attendant(self, reason_text: str = "") -> LaneEvent:
        """The shopper asks for help: the lane locks until an attendant comes."""
        async with self._lock:
            return self._publish_all(await self.hooks.call_attendant(reason_text))

    async def clear_intervention(self, badge_or_pin: str, kind: str, *,
                                 address: str | None = None) -> LaneEvent:
        """Clear the current intervention with a badge (``kind="badge"``) or a PIN."""
        async with self._lock:
            return self._publish_all(await self.hooks.clear_intervention(
                badge_or_pin, kind, address=address))

    async def reprint(self, sale_id: str, actor: str = "lane") -> LaneEvent:
        """Print a sale's receipt again (audited); the lane keeps selling meanwhile."""
        return self._publish_all(await self.hooks.reprint(sale_id, actor))

    async def run_hook(self, step: Callable[[], Awaitable[list[LaneEvent]]]) -> None:
        """Run a checkout step (a timer, a weight, a print result) under the lane's lock."""
        async with self._lock:
            self._publish_all(await step())

    def _publish_all(self, events: Sequence[LaneEvent]) -> LaneEvent:
        for event in events:
            self._publish(event)
        return events[-1] if events else LaneEvent("nothing", "nothing happened")

    def report(self, event: LaneEvent) -> LaneEvent:
        """Show an event that happened outside the cart (e.g. the store refused the scan)."""
        return self._publish(event)

    def _publish(self, event: LaneEvent) -> LaneEvent:
        self.last_event = event
        if event.scan_id is not None:
            self._scan_outcomes[event.scan_id] = event
            self._scan_outcomes.move_to_end(event.scan_id)
            while len(self._scan_outcomes) > SCAN_OUTCOMES_KEPT:
                self._scan_outcomes.popitem(last=False)
        for observer in self._observers:
            observer(self.lane_id, event)
        if not event.ok:
            _LOGGER.info("Lane %s: %s (%s)", self.lane_id, event.message, event.code)
        self.refresh()
        return event

    def scan_outcome(self, scan_id: str) -> dict[str, Any] | None:
        """Return the latest event of a recent scan as the snapshot shows events, or None."""
        event = self._scan_outcomes.get(scan_id)
        return None if event is None else _event_view(event)

    def refresh(self) -> None:
        """Send the lane's current state to every screen watching it."""
        if not self._listeners:
            return
        snapshot = self.snapshot()
        for queue in list(self._listeners):
            if queue.full():
                queue.get_nowait()  # a slow screen skips to the newest state
            queue.put_nowait(snapshot)

    def snapshot(self) -> dict[str, Any]:
        """Return the lane as a screen shows it."""
        priced_lines = {pl.line_id: pl for pl in self.priced.lines}
        return {
            "lane": self.lane_id,
            "cart_id": self.cart.cart_id,
            **self.loyalty_snapshot(),  # member, coupons, guide, tenders_pending, join_offer
            "lines": [_line_view(line, priced_lines.get(line.line_id))
                      for line in self.cart.lines],
            "discounts": [{"promotion_id": d.promotion_id, "label": d.label,
                           "amount_fen": d.amount_fen} for d in self.priced.discounts],
            "subtotal_fen": self.priced.subtotal_fen,
            "discount_fen": self.priced.discount_fen,
            "total_fen": self.priced.total_fen,
            "last_event": None if self.last_event is None else _event_view(self.last_event),
            "payment": None if self.payment is None else self.payment.view(),
            "last_sale": None if self.last_sale is None else {
                "sale_id": self.last_sale.sale_id, "receipt_no": self.last_sale.receipt_no,
                "total_fen": self.last_sale.total_fen, "change_fen": self.last_sale.change_fen,
                **self.last_loyalty, **self.hooks.sale_view(self.last_sale.sale_id)},
            "sync": self.sync_view(),
            **{key: view() for key, view in self.views.items()},
            **self.hooks.view(),
        }


def _event_view(event: LaneEvent) -> dict[str, Any]:
    return {"code": event.code, "message": event.message, "ok": event.ok,
            "scan_id": event.scan_id, "data": event.data, "at": event.at}


def _line_view(line: CartLine, priced: Any) -> dict[str, Any]:
    return {
        "line_id": line.line_id, "product_id": line.product_id, "name": line.name,
        "qty": line.qty, "weight_g": line.weight_g, "unit_price_fen": line.unit_price_fen,
        "base_fen": priced.base_fen if priced else 0,
        "discount_fen": priced.discount_fen if priced else 0,
        "net_fen": priced.net_fen if priced else 0,
        "age_restricted": line.age_restricted,
    }
