"""EdgeApp: owns every service and task; starts them in order and stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiohttp import web

from drivers.base import (
    DeviceStatus,
    Driver,
    ScanData,
    StatusChanged,
    TestResult,
    WeightReading,
)
from drivers.registry import DRIVERS
from sync.client import SyncClient
from sync.dead_letters import DeadLetterQueue as SyncDeadLetters
from sync.health import SyncState

from .cashier import CashierDesk
from .catalog import Catalog
from .checkout import Checkout
from .config import Config
from .crm_link import SyncCrmLink
from .errors import EdgeError, SafeModeError
from .guide_calls import GuideCalls
from .lane import LaneEvent, LaneSession
from .loyalty_config import LoyaltySettings
from .metrics import EdgeMetrics
from .payments.service import PaymentService
from .ports import DeadLetterQueue, FaceConsentRegistry
from .sales import OutboxIdentity
from .scan_router import RejectedScan, route
from .screen_content import ScreenContent
from .seed import seed_demo
from .store import Store
from .systemd import Notifier
from .users import Users

if TYPE_CHECKING:
    from drivers.printer import ReceiptPrinter

    from .face.service import FaceService

_LOGGER = logging.getLogger(__name__)


class EdgeApp:
    """The daemon: one object holding the store, the lanes, the devices and the web server."""

    def __init__(
        self, config: Config, *, notifier: Notifier | None = None,
        simulate_payments: bool = False,
    ) -> None:
        self.config = config
        self.notifier = notifier or Notifier()
        self.store = Store(config.paths.database,
                           busy_timeout_ms=config.database.busy_timeout_ms,
                           checkpoint_interval_s=config.database.checkpoint_interval_ms / 1000)
        self.catalog = Catalog(self.store)
        identity = OutboxIdentity(config.store.id, config.store.device_id)
        # Payment codes are online-only: the sync part provides the real state as `online`.
        self.payments = PaymentService(self.store, online=self._uplink_online)
        self.simulate_payments = simulate_payments
        self.payment_simulators: dict[str, str] = {}
        self.lanes = {
            lane.id: LaneSession(lane.id, self.store, self.catalog, identity,
                                 payments=self.payments,
                                 loyalty=LoyaltySettings(config.loyalty, config.members),
                                 coupon_prefix=config.scan.coupon_prefixes[0])
            for lane in config.lanes
        }
        self.devices: dict[str, Driver] = {}
        self.device_errors: dict[str, str] = {}
        self.last_weight: dict[str, WeightReading] = {}
        self.loop_lag_s = 0.0
        self.face: FaceService | None = None  # set while face recognition runs
        self.metrics = EdgeMetrics()
        self.sync = SyncClient(config, self.store, self.catalog, on_change=self._sync_changed,
                               observe_push=self.metrics.sync_push_seconds.observe)
        self.metrics.bind(self)
        for lane in self.lanes.values():
            lane.observe(self.metrics.count_lane_event)
        crm = SyncCrmLink(self.sync, config.members.wallet_lookup_timeout_ms / 1000)
        for lane in self.lanes.values():
            lane.sync_view = self.sync.state.as_dict
            lane.observe(self._nudge_sync)
            lane.loyalty_link = crm
        self.http_url: str | None = None
        self.users = Users(self.store, hash_params=config.console.hashing,
                           policy=config.console.login)
        self.checkout = Checkout(self)  # interventions, receipts and the exit on every lane
        self.console_url: str | None = None
        self.cashier = CashierDesk(
            config.cashier, self.store, self.users, self.lanes,
            staffed={lane.id for lane in config.lanes if lane.kind == "staffed"},
            identity=identity, printer_for=self.printer_for,
            recheck_s=config.console.sessions.recheck_s)  # a user disabled elsewhere: out
        self.guide_calls = GuideCalls(self.store, cooldown_s=config.signage.guide_call_cooldown_s,
                                      shown=config.signage.guide_calls_shown)
        self.screens = ScreenContent(self.store, config.signage, store_id=config.store.id,
                                     timezone=config.store.timezone,
                                     cache_dir=config.paths.state_dir / "screens")
        # Connected by the sync and face parts; the console says "not configured" until then.
        self.dead_letters: DeadLetterQueue | None = SyncDeadLetters(self.store, self.sync)
        self.face_consents: FaceConsentRegistry | None = None
        self.started_at: float | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stack = AsyncExitStack()
        self._stopped = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start everything in order; on failure, stop what started and re-raise."""
        try:
            await self._stack.enter_async_context(self._store_ctx())
            await self._stack.enter_async_context(self._lanes_ctx())
            await self._stack.enter_async_context(self._cashier_ctx())
            await self._stack.enter_async_context(self._checkout_ctx())
            await self._stack.enter_async_context(self._payments_ctx())
            await self._stack.enter_async_context(self._sync_ctx())
            await self._stack.enter_async_context(self._devices_ctx())
            await self._stack.enter_async_context(self._face_ctx())
            await self._stack.enter_async_context(self._web_ctx())
            await self._stack.enter_async_context(self._console_ctx())
            await self._stack.enter_async_context(self._watchdog_ctx())
            await self._stack.enter_async_context(self._loop_monitor_ctx())
        except BaseException:
            await self._stack.aclose()
            raise
        self.started_at = time.time()
        status = "SAFE MODE: " + (self.store.safe_mode_reason or "") if self.store.safe_mode \
            else f"serving on {self.http_url}"
        self.notifier.ready(status)
        _LOGGER.info("StoreEdge %s ready: %s", self.config.store.id, status)

    async def stop(self) -> None:
        self.notifier.stopping()
        await self._stack.aclose()
        self._stopped.set()

    async def run_until_signalled(self, on_ready: Callable[[], None] | None = None) -> None:
        """Run until SIGTERM or SIGINT, then stop gracefully; ``on_ready`` once started."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            if on_ready is not None:
                on_ready()
            await stop.wait()
            _LOGGER.info("Stopping on signal")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop()

    # -- the parts, each a context that undoes exactly what it did -----------------------

    @asynccontextmanager
    async def _store_ctx(self) -> AsyncIterator[None]:
        await self.store.open()
        try:
            seed = self.config.demo.seed and not self.store.safe_mode
            if seed and await self.store.write(seed_demo):
                _LOGGER.info("Seeded the demo store into %s", self.config.paths.database)
            yield
        finally:
            await self.store.close()

    @asynccontextmanager
    async def _lanes_ctx(self) -> AsyncIterator[None]:
        if not self.store.safe_mode:
            for lane in self.lanes.values():
                await lane.restore()
        try:
            yield
        finally:
            for lane in self.lanes.values():
                await lane.close_loyalty()

    @asynccontextmanager
    async def _cashier_ctx(self) -> AsyncIterator[None]:
        """Sign-in and shifts of the staffed lanes (before anything can sell on them)."""
        if not self.store.safe_mode:
            await self.cashier.start()
            self._spawn("cashier-sweeper", self.cashier.run_sweeper)
        try:
            yield
        finally:
            await self._cancel_tasks("cashier-")

    def printer_for(self, lane_id: str) -> ReceiptPrinter | None:
        """Return the running receipt printer (and drawer) of a lane, if it has one."""
        for driver in self.devices.values():
            if driver.config.driver == "printer" and driver.config.lane == lane_id:
                return driver  # type: ignore[return-value]
        return None

    @asynccontextmanager
    async def _checkout_ctx(self) -> AsyncIterator[None]:
        async with self.checkout.running(self._spawn):
            try:
                yield
            finally:
                await self._cancel_tasks("checkout:")

    @asynccontextmanager
    async def _payments_ctx(self) -> AsyncIterator[None]:
        """Open the wallet clients, then resume what a restart interrupted (before any scan)."""
        async with AsyncExitStack() as stack:
            settings = self.config.payments
            if self.simulate_payments:
                from .payments.sim.demo import run_simulators  # noqa: PLC0415 - demo only

                demo = await stack.enter_async_context(
                    run_simulators(settings, self.config.paths.state_dir / "payments-demo"))
                settings, self.payment_simulators = demo.settings, demo.urls
            stack.push_async_callback(self.payments.aclose)
            await self.payments.open(settings, device_id=self.config.store.device_id,
                                     description=self.config.store.name)
            if not self.store.safe_mode:
                await self.payments.recover(self.lanes)
            yield
    @asynccontextmanager
    async def _sync_ctx(self) -> AsyncIterator[None]:
        if not self.store.safe_mode:  # a damaged file is not read for sending
            self._spawn("sync", self.sync.run)
        try:
            yield
        finally:
            await self._cancel_tasks("sync")

    def _uplink_online(self) -> bool:
        """Whether wallet payment codes may be tried: no sign that the uplink is down.

        Sync's state is the evidence once the appliance is paired; without sync (disabled or
        not yet paired) nothing says the network is down, and a payment that cannot reach its
        provider fails on its own as "not sent".
        """
        if not self.config.sync.enabled or self.sync.credentials is None:
            return True
        return self.sync.online

    def _sync_changed(self, state: SyncState) -> None:
        for lane in self.lanes.values():
            lane.sync_view = state.as_dict
            lane.refresh()

    def _nudge_sync(self, _lane_id: str, event: LaneEvent) -> None:
        if event.code in ("sale_completed", "cart_voided", "sale_refunded", "member_identified",
                          "member_joined"):
            self.sync.nudge()

    @asynccontextmanager
    async def _devices_ctx(self) -> AsyncIterator[None]:
        try:
            for device_config in self.config.devices:
                driver = DRIVERS[device_config.driver](device_config)
                try:
                    await driver.start()
                except Exception as err:  # one broken device never stops the others
                    self.device_errors[device_config.id] = str(err) or type(err).__name__
                    _LOGGER.error("Device %s did not start: %s", device_config.id, err)
                    continue
                self.devices[device_config.id] = driver
                self._spawn(f"device:{device_config.id}", functools.partial(self._pump, driver))
            yield
        finally:
            await self._cancel_tasks("device:")
            for driver in reversed(list(self.devices.values())):
                try:
                    await driver.stop()
                except Exception:
                    _LOGGER.exception("Device %s did not stop cleanly", driver.device_id)
            self.devices.clear()

    @asynccontextmanager
    async def _face_ctx(self) -> AsyncIterator[None]:
        """Start the face workers, the service and one task per kiosk camera, when enabled."""
        if not self.config.face.enabled:
            yield
            return
        from .face.runtime import FaceRuntime  # noqa: PLC0415 - only when face is enabled

        runtime = FaceRuntime(self)
        if await runtime.start():
            from .face.registry import ConsentRegistry  # noqa: PLC0415

            self.face = runtime.service
            self.face_consents = ConsentRegistry(runtime.service)
            for name, factory in runtime.tasks():
                self._spawn(f"face:{name}", factory)
        try:
            yield
        finally:
            await self._cancel_tasks("face:")
            self.face, self.face_consents = None, None
            await runtime.stop()

    @asynccontextmanager
    async def _web_ctx(self) -> AsyncIterator[None]:
        from kiosk_ui.web import create_web_app  # noqa: PLC0415 - the UI is optional to import

        runner = web.AppRunner(create_web_app(self), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.http.host, self.config.http.port)
            await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            port = sockets[0].getsockname()[1] if sockets else self.config.http.port
            host = self.config.http.host
            host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
            self.http_url = f"http://{host}:{port}"
            # Tools (`storeedge scan`, tests) find a daemon that bound port 0 through this file.
            # Written whole or not at all: a reader never sees it half-written.
            url_file = self.config.paths.run_dir / "http-url"
            url_file.parent.mkdir(parents=True, exist_ok=True)
            partial = url_file.with_name("http-url.partial")
            partial.write_text(self.http_url + "\n", "utf-8")
            os.replace(partial, url_file)
            yield
        finally:
            (self.config.paths.run_dir / "http-url").unlink(missing_ok=True)
            await runner.cleanup()

    @asynccontextmanager
    async def _console_ctx(self) -> AsyncIterator[None]:
        from kiosk_ui.console.site import console_site  # noqa: PLC0415 - the UI is optional

        async with console_site(self) as url:
            self.console_url = url
            try:
                yield
            finally:
                self.console_url = None

    @asynccontextmanager
    async def _watchdog_ctx(self) -> AsyncIterator[None]:
        interval = self.notifier.watchdog_interval
        if interval:
            self._spawn("watchdog", lambda: self._watchdog(interval))
        try:
            yield
        finally:
            await self._cancel_tasks("watchdog")

    @asynccontextmanager
    async def _loop_monitor_ctx(self) -> AsyncIterator[None]:
        self._spawn("loop-monitor", self._measure_loop_lag)
        try:
            yield
        finally:
            await self._cancel_tasks("loop-monitor")

    async def _measure_loop_lag(self) -> None:
        """Keep ``loop_lag_s``: how late a 0.25 s sleep wakes up (a blocked loop is late)."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.25)
            self.loop_lag_s = max(0.0, loop.time() - before - 0.25)

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Check the store takes a durable write and the loop is not stalled."""
        checks: dict[str, Any] = {"loop_lag_s": round(self.loop_lag_s, 3)}
        ok = self.loop_lag_s < 1.0
        try:
            await asyncio.wait_for(self.store.write(
                lambda c: c.execute("INSERT OR REPLACE INTO meta VALUES ('healthz', ?)",
                                    (str(time.time()),))), timeout=5)
            checks["store"] = "writable"
        except (EdgeError, TimeoutError) as err:
            checks["store"] = str(err) or "timed out"
            ok = False
        return ok, checks

    # -- tasks --------------------------------------------------------------------------

    def _spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run ``factory()`` as an owned task, restarted with backoff if it dies."""
        self._tasks[name] = asyncio.create_task(self._supervise(name, factory), name=name)

    async def _supervise(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        delay = 0.5
        while True:
            started = time.monotonic()
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("Task %s died; restarting in %.1fs", name, delay)
            if time.monotonic() - started > 60:
                delay = 0.5
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _cancel_tasks(self, prefix: str) -> None:
        tasks = [t for name, t in self._tasks.items() if name.startswith(prefix)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for name in [n for n in self._tasks if n.startswith(prefix)]:
            del self._tasks[name]

    async def _pump(self, driver: Driver) -> None:
        """Route every event of one device to its lane."""
        lane = self.lanes.get(driver.config.lane or "")
        async for event in driver.events():
            if isinstance(event, StatusChanged):
                continue
            if isinstance(event, WeightReading):
                self.last_weight[driver.device_id] = event
                if lane is not None:
                    lane.weight(event)
                continue
            if lane is None:
                _LOGGER.warning("Device %s has no lane; scan ignored", driver.device_id)
                continue
            if isinstance(event, ScanData):
                result = await self.handle_scan(lane, event.text, event.symbology,
                                                event.event_id)
                self.metrics.scan_seconds.labels(lane.lane_id).observe(
                    max(0.0, time.time() - event.received_at))
            else:
                result = await lane.handle_scan(RejectedScan("", event.reason), event.event_id)
            self.metrics.scans.labels(driver.device_id, result.code).inc()

    async def handle_scan(
        self, lane: LaneSession, text: str, symbology: str | None, scan_id: str | None
    ) -> LaneEvent:
        """Route one scanned string and apply it to ``lane``."""
        if self.store.safe_mode:
            return lane.report(LaneEvent(
                "safe_mode", f"safe mode: {self.store.safe_mode_reason}", ok=False,
                scan_id=scan_id))
        return await lane.handle_scan(route(text, self.config.scan, symbology), scan_id)

    async def _watchdog(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    # -- views for the console and the CLI ---------------------------------------------

    def device_statuses(self) -> list[DeviceStatus]:
        return [driver.status for driver in self.devices.values()]

    async def test_device(self, device_id: str, timeout_s: float = 30.0) -> TestResult:
        """Run a device's Test action (the console's Test button); never raises."""
        driver = self.devices.get(device_id)
        if driver is None:
            reason = self.device_errors.get(device_id)
            return TestResult(False, f"did not start: {reason}" if reason else "no such device")
        try:
            async with asyncio.timeout(timeout_s):
                return await driver.test()
        except TimeoutError:
            return TestResult(False, f"the test did not finish within {timeout_s:g} s")
        except Exception as err:  # a driver bug must show as a failed test, not a 500
            _LOGGER.exception("Device %s: test failed", device_id)
            return TestResult(False, f"test failed: {err}")

    async def status(self) -> dict[str, Any]:
        counts: dict[str, Any] = {}
        if not self.store.safe_mode:
            with contextlib.suppress(Exception):
                counts = await self.catalog.counts()
        return {
            "store": {"id": self.config.store.id, "name": self.config.store.name,
                      "device_id": self.config.store.device_id},
            "safe_mode": self.store.safe_mode,
            "safe_mode_reason": self.store.safe_mode_reason,
            "database": str(self.config.paths.database),
            "catalog": counts,
            "lanes": [{"id": lc.id, "kind": lc.kind, "name": lc.name,
                       "items": len(self.lanes[lc.id].cart.lines),
                       "total_fen": self.lanes[lc.id].priced.total_fen}
                      for lc in self.config.lanes],
            "devices": [s.as_dict() for s in self.device_statuses()]
            + [{"device_id": d, "state": "error", "reason": r}
               for d, r in self.device_errors.items() if d not in self.devices],
            "weights": {device_id: {"grams": r.grams, "state": str(r.state),
                                    "at": r.received_at}
                        for device_id, r in self.last_weight.items()},
            "started_at": self.started_at,
            "loop_lag_s": round(self.loop_lag_s, 3),
            "payments": self.payments.status(),
            "sync": self.sync.status(),
        }

    def require_writable(self) -> None:
        if self.store.safe_mode:
            raise SafeModeError(f"safe mode: {self.store.safe_mode_reason}")
