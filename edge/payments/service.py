"""What lanes and the daemon call: start a payment, resume unfinished ones, own their tasks."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..cart import Cart
from ..store import Store
from .alipay import AlipayClient
from .base import PROVIDERS, PaymentError, PaymentOrder, PaymentProvider
from .config import PaymentsConfig
from .flow import PaymentHooks, PaymentRun, SettleRefused, Timing
from .keys import KeyFileError, load_private_key, load_public_key, load_secret
from .records import (
    PaymentRecord,
    code_used,
    get_payment,
    insert_payment,
    live_payment_for_sale,
    new_out_trade_no,
    unfinished,
)
from .transport import HttpLimits
from .wechatpay import WeChatPayClient

_LOGGER = logging.getLogger(__name__)


class PaymentRefused(PaymentError):
    """A payment was not started; ``reason`` says why (a ``messages`` key)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PaymentLane(PaymentHooks, Protocol):
    """A lane as recovery sees it."""

    cart: Cart

    def resume_payment(self, record: PaymentRecord) -> None:
        """Lock the cart and let ``record`` run to its end."""


def mask_code(code: str) -> str:
    return code if len(code) <= 6 else f"{code[:2]}{'*' * (len(code) - 6)}{code[-4:]}"


@dataclass(frozen=True, slots=True)
class _Begin:
    record: PaymentRecord | None
    refusal: str | None


class PaymentService:
    """The payment part of the daemon: providers, running payments and their recovery.

    ``online`` says whether the network is up; payment codes are online-only. The sync part
    provides the real state; until it is wired the default says always online.
    """

    def __init__(self, store: Store, *, online: Callable[[], bool] = lambda: True) -> None:
        self._store = store
        self.online = online
        self.providers: dict[str, PaymentProvider] = {}
        self.unavailable: dict[str, str] = {}
        self.timing = Timing.from_config(PaymentsConfig())
        self.description = "StoreEdge"
        self._runs: dict[str, PaymentRun] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self, config: PaymentsConfig, *, device_id: str, description: str) -> None:
        """Build a client for each enabled provider; a broken one is reported, not fatal."""
        self.timing = Timing.from_config(config)
        self.description = config.description or description
        limits = HttpLimits(config.request_timeout_ms / 1000, config.connect_timeout_ms / 1000,
                            config.max_response_bytes)
        for name in config.enabled:
            try:
                self.providers[name] = _build(name, config, limits, device_id)
            except (KeyFileError, ssl.SSLError, OSError) as err:
                self.unavailable[name] = str(err)
                _LOGGER.error("%s payments are OFF: %s", name, err)
        if self.providers:
            _LOGGER.info("Payment codes accepted: %s", ", ".join(sorted(self.providers)))

    async def aclose(self) -> None:
        """Stop every payment task (their rows say where to resume) and close the clients."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._runs.clear()
        for provider in self.providers.values():
            await provider.close()
        self.providers.clear()

    # -- starting and resuming ------------------------------------------------------------

    async def begin(self, *, cart: Cart, amount_fen: int, provider: str,
                    code: str) -> tuple[PaymentRecord, PaymentOrder]:
        """Write the payment row (state ``created``); raise ``PaymentRefused`` if it may not."""
        if not self.online():
            raise PaymentRefused("offline", "offline: payment codes need the network")
        if provider not in self.providers:
            why = self.unavailable.get(provider, "not enabled in [payments]")
            raise PaymentRefused("not_enabled", f"{provider} payments are off: {why}")
        payment_id = new_out_trade_no()

        def write(conn: sqlite3.Connection) -> _Begin:
            if code_used(conn, code):
                return _Begin(None, "code_used")
            live = live_payment_for_sale(conn, cart.sale_id)
            if live is not None:
                return _Begin(None, "unresolved" if live.state == "in_doubt" else "in_progress")
            return _Begin(insert_payment(
                conn, payment_id=payment_id, sale_id=cart.sale_id, cart_id=cart.cart_id,
                lane=cart.lane, provider=provider, amount_fen=amount_fen, code=code,
                code_masked=mask_code(code)), None)

        begun = await self._store.write(write)
        if begun.record is None:
            reason = begun.refusal or "declined"
            raise PaymentRefused(reason, f"payment refused: {reason}")
        order = PaymentOrder(payment_id, amount_fen, code, self.description)
        return begun.record, order

    def start(self, record: PaymentRecord, order: PaymentOrder, hooks: PaymentHooks) -> None:
        """Run a new payment as an owned task."""
        self._spawn(record, hooks, order)

    def resume(self, record: PaymentRecord, hooks: PaymentHooks) -> None:
        """Run a payment left unfinished by a restart."""
        self._spawn(record, hooks, None)

    async def recover(self, lanes: Mapping[str, PaymentLane]) -> int:
        """Pick up every unfinished payment: query and settle it, or reverse it."""
        records = await self._store.read(unfinished)
        for record in records:
            lane = lanes.get(record.lane)
            if record.state == "in_doubt":
                self._spawn_resolver(record)
            elif record.provider not in self.providers:
                _LOGGER.error("Payment %s (%s) cannot be resumed: %s payments are off; it "
                              "stays %s until they are back", record.id, record.provider,
                              record.provider, record.state)
            elif lane is not None and lane.cart.sale_id == record.sale_id:
                lane.resume_payment(record)
            else:
                _LOGGER.warning("Payment %s: its cart is gone from lane %s; it will be "
                                "reversed, never settled", record.id, record.lane)
                self._spawn(record, _NoSale(), None)
        if records:
            _LOGGER.info("Resuming %d unfinished payment(s)", len(records))
        return len(records)

    def cancel(self, payment_id: str) -> bool:
        """Ask a running payment to stop waiting and reverse now (or retry an in-doubt one)."""
        run = self._runs.get(payment_id)
        if run is None:
            return False
        run.cancel_requested.set()
        return True

    def status(self) -> dict[str, Any]:
        return {"providers": sorted(self.providers), "unavailable": dict(self.unavailable),
                "running": sorted(self._runs), "online": self.online()}

    async def check(self) -> dict[str, str]:
        """Run each provider's harmless check; return a line per provider."""
        results = {name: f"OFF: {why}" for name, why in self.unavailable.items()}
        for name, provider in self.providers.items():
            try:
                results[name] = "ok: " + await provider.check()
            except PaymentError as err:
                results[name] = f"FAILED: {err}"
        return results

    # -- tasks ----------------------------------------------------------------------------

    def _spawn(self, record: PaymentRecord, hooks: PaymentHooks,
               order: PaymentOrder | None) -> None:
        provider = self.providers[record.provider]
        run = PaymentRun(record, provider=provider, store=self._store, hooks=hooks,
                         timing=self.timing, order=order)
        self._own(f"payment:{record.id}", record.id, run, lambda: self._drive(run, hooks))

    def _spawn_resolver(self, record: PaymentRecord) -> None:
        provider = self.providers.get(record.provider)
        if provider is None:
            _LOGGER.error("Payment %s is in doubt and %s payments are off: reverse it by hand",
                          record.id, record.provider)
            return
        run = PaymentRun(record, provider=provider, store=self._store, hooks=_NoSale(),
                         timing=self.timing)
        self._own(f"payment-resolve:{record.id}", record.id, run, run.resolve)

    def _own(self, name: str, payment_id: str, run: PaymentRun,
             body: Callable[[], Awaitable[object]]) -> None:
        self._runs[payment_id] = run

        async def supervised() -> None:
            delay = 0.5
            try:
                while True:
                    try:
                        await body()
                        return
                    except Exception:  # a bug must not strand a payment: resume from the row
                        _LOGGER.exception("Task %s died; resuming from its row in %.1fs",
                                          name, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    found: PaymentRecord | None = await self._store.read(
                        lambda conn: get_payment(conn, payment_id))
                    run.record = found or run.record
            finally:
                if self._runs.get(payment_id) is run:
                    del self._runs[payment_id]
                if self._tasks.get(name) is asyncio.current_task():
                    del self._tasks[name]

        self._tasks[name] = asyncio.create_task(supervised(), name=name)

    async def _drive(self, run: PaymentRun, hooks: PaymentHooks) -> None:
        started = time.monotonic()
        record = await run.run()
        _LOGGER.info("Payment %s ended %s (%s) after %.1fs", record.id, record.state,
                     record.reason or "-", time.monotonic() - started)
        await hooks.payment_finished(record)
        if record.state == "in_doubt":
            self._spawn_resolver(record)


class _NoSale:
    """Hooks for a payment whose cart is gone: it can only be reversed."""

    def payment_progress(self, record: PaymentRecord, code: str) -> None:
        _LOGGER.info("Payment %s: %s", record.id, code)

    async def settle_payment(self, record: PaymentRecord, transaction_id: str,
                             payer_id: str | None = None) -> PaymentRecord:
        raise SettleRefused("no open cart for this payment")

    async def payment_finished(self, record: PaymentRecord) -> None:
        _LOGGER.info("Payment %s without a cart ended %s", record.id, record.state)


def _build(name: str, config: PaymentsConfig, limits: HttpLimits,
           device_id: str) -> PaymentProvider:
    if name == "wechat":
        wx = config.wechat
        reverse_ssl = None
        if wx.cert_file is not None and wx.cert_key_file is not None:
            reverse_ssl = ssl.create_default_context()
            reverse_ssl.load_cert_chain(wx.cert_file, wx.cert_key_file)
        return WeChatPayClient(
            base_url=wx.base_url, appid=wx.appid, mch_id=wx.mch_id,
            key=load_secret(wx.key_file), sign_type=wx.sign_type,
            terminal_ip=wx.terminal_ip, device_info=wx.device_info or device_id,
            limits=limits, reverse_ssl=reverse_ssl)
    assert name in PROVIDERS
    ali = config.alipay
    return AlipayClient(
        gateway=ali.base_url, app_id=ali.app_id,
        private_key=load_private_key(ali.private_key_file),
        alipay_public_key=load_public_key(ali.alipay_public_key_file),
        limits=limits, store_id=ali.store_id, terminal_id=ali.terminal_id)
