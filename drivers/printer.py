"""ESC/POS receipt printers (network, serial, USB) with jobs that never print twice.

Connections are python-escpos printer classes: ``Network`` (port 9100), ``Serial``, and for USB
the kernel's ``usblp`` device (``/dev/usb/lp0``) through python-escpos' ``File`` with a read
side added for status; the kernel driver already speaks the USB printer class, so the daemon
needs no libusb or device claiming. All of it blocks, so it runs in a thread, one operation at
a time, each on a fresh connection (network printers often accept only one client).

Status comes from the printer's real-time status bytes (``DLE EOT 1/2/4``): offline, cover
open, paper near end and paper out. It is read before and after every job and every
``status_interval_ms`` when idle; paper out and cover open put the printer in error with that
reason (a status event), and it returns to idle by itself once they are fixed.

Every job has an id and goes through ``drivers.print_journal``: see there for the rule that a
retried id never prints twice and what "in doubt" means.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from escpos.printer import File, Network, Serial

from . import options as opt
from .base import DeviceConfig, DeviceConfigError, DeviceState, Driver, TestResult
from .print_journal import FAILED, PRINTED, SENDING, PrintJournal
from .receipt import ENCODINGS, Receipt, ReceiptError, drawer_kick, render

_LOGGER = logging.getLogger(__name__)
DLE_EOT = b"\x10\x04"

_T = TypeVar("_T")
Outcome = Literal["printed", "already_printed", "in_doubt", "refused", "failed"]


class PrinterUnavailable(Exception):
    """The printer cannot be reached or answers nothing usable."""


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    online: bool
    cover_open: bool
    paper: Literal["ok", "low", "out"]

    @property
    def problem(self) -> str | None:
        if self.paper == "out":
            return "paper out"
        if self.cover_open:
            return "cover open"
        if not self.online:
            return "offline"
        return None


def parse_status(printer: int, offline_cause: int, paper: int) -> PrinterStatus:
    """Read the answers to DLE EOT 1, 2 and 4 (each byte has bits 1 and 4 set, 0 and 7 clear)."""
    for name, byte in (("printer", printer), ("offline cause", offline_cause), ("paper", paper)):
        if byte & 0x93 != 0x12:
            raise PrinterUnavailable(f"not a status byte ({name}): 0x{byte:02x}")
    paper_state: Literal["ok", "low", "out"] = "ok"
    if paper & 0x60 or offline_cause & 0x20:
        paper_state = "out"
    elif paper & 0x0C:
        paper_state = "low"
    return PrinterStatus(online=not printer & 0x08, cover_open=bool(offline_cause & 0x04),
                         paper=paper_state)


@dataclass(frozen=True, slots=True)
class PrintResult:
    job_id: str
    outcome: Outcome
    message: str

    @property
    def ok(self) -> bool:
        return self.outcome in ("printed", "already_printed")


@dataclass(frozen=True, slots=True)
class PrinterOptions:
    connection: str
    host: str
    port: int
    device: str
    baudrate: int
    journal: Path
    timeout: float
    status_interval: float
    drawer_pin: int
    encoding: str
    profile: str


class _Network(Network):  # type: ignore[misc]
    """python-escpos' Network, closing its socket when the connection fails."""

    def open(self, raise_not_found: bool = True) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.device = sock


class _UsbLp(File):  # type: ignore[misc]
    """The kernel's usblp device, written and read (python-escpos' File only writes)."""

    def __init__(self, devfile: str, timeout: float) -> None:
        super().__init__(devfile, auto_flush=True)
        self.timeout = timeout

    def open(self, raise_not_found: bool = True) -> None:
        self.device = open(self.devfile, "r+b", buffering=0)  # noqa: SIM115 - closed by close()

    def _read(self) -> bytes:
        fd = self.device.fileno()
        ready, _, _ = select.select([fd], [], [], self.timeout)
        return os.read(fd, 16) if ready else b""


class ReceiptPrinter(Driver):
    """An ESC/POS receipt printer with a cash drawer on its kick connector."""

    name = "printer"

    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(config)
        self.options = self.parse_options(config.options)
        self.journal = PrintJournal(self.options.journal)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.last_status: PrinterStatus | None = None

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> PrinterOptions:
        opt.only(options, {"connection", "host", "port", "device", "baudrate", "journal",
                           "timeout_ms", "status_interval_ms", "drawer_pin", "encoding",
                           "profile"})
        connection = opt.choice(options, "connection", "network", ("network", "serial", "usb"))
        if connection == "network":
            host, device = opt.text(options, "host"), ""
        else:
            host, device = "", opt.text(options, "device")
            if connection == "usb" and not device.startswith("/dev/"):
                raise DeviceConfigError("device", "the usblp device, e.g. /dev/usb/lp0")
        return PrinterOptions(
            connection=connection, host=host, port=opt.integer(options, "port", 9100, 1, 65535),
            device=device, baudrate=opt.integer(options, "baudrate", 19200, 1200, 115200),
            journal=opt.path(options, "journal"),
            timeout=opt.seconds(options, "timeout_ms", 5000, 10, 120_000),
            status_interval=opt.seconds(options, "status_interval_ms", 5000, 0, 3_600_000),
            drawer_pin=opt.choice(options, "drawer_pin", 2, (2, 5)),
            encoding=opt.choice(options, "encoding", "gb18030", ENCODINGS),
            profile=opt.text(options, "profile", "default", max_length=64),
        )

    # -- lifecycle ----------------------------------------------------------------------

    async def _open(self) -> None:
        await self.refresh_status()
        doubtful = await asyncio.to_thread(self.journal.in_doubt)
        if doubtful:
            self._detail["in_doubt"] = [job.job_id for job in doubtful]
            _LOGGER.warning("Printer %s: %d job(s) in doubt (sent, not confirmed): %s",
                            self.device_id, len(doubtful), ", ".join(j.job_id for j in doubtful))
        if self.options.status_interval:
            self._task = asyncio.create_task(self._poll(), name=f"printer:{self.device_id}")

    async def _close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.options.status_interval)
            await self.refresh_status()

    async def refresh_status(self) -> PrinterStatus | None:
        """Ask the printer how it is; the answer becomes the device state."""
        async with self._lock:
            try:
                status = await asyncio.to_thread(self._with_printer, self._status)
            except PrinterUnavailable as err:
                self._set_state(DeviceState.ERROR, f"unreachable: {err}")
                return None
        self._apply(status)
        return status

    def _apply(self, status: PrinterStatus) -> None:
        self.last_status = status
        self._detail.update(paper=status.paper, cover="open" if status.cover_open else "closed",
                            online=status.online)
        problem = status.problem
        if problem:
            self._set_state(DeviceState.ERROR, problem)
        else:
            self._set_state(DeviceState.IDLE, "paper low" if status.paper == "low" else None)

    # -- jobs ---------------------------------------------------------------------------

    async def print_job(self, job_id: str, document: Receipt) -> PrintResult:
        """Print ``document`` once for ``job_id``, however often this is called."""
        try:
            data = render(document, encoding=self.options.encoding, profile=self.options.profile)
        except ReceiptError as err:
            return PrintResult(job_id, "refused", f"receipt refused: {err}")
        return await self._job(job_id, "receipt", data)

    async def kick_drawer(self, kick_id: str) -> PrintResult:
        """Open the cash drawer once for ``kick_id``."""
        return await self._job(kick_id, "drawer", drawer_kick(self.options.drawer_pin))

    async def resolve(self, job_id: str, *, printed: bool) -> None:
        """Settle an in-doubt job after a person checked the paper (False lets it print)."""
        await asyncio.to_thread(self.journal.finish, job_id, PRINTED if printed else FAILED,
                                "resolved by hand")
        doubtful = [j for j in self._detail.get("in_doubt", []) if j != job_id]
        self._detail["in_doubt"] = doubtful

    async def _job(self, job_id: str, kind: str, data: bytes) -> PrintResult:
        if not job_id or len(job_id) > 128:
            return PrintResult(job_id, "refused", "a job id of 1-128 characters is required")
        async with self._lock:
            record = await asyncio.to_thread(self.journal.get, job_id)
            if record is not None and record.state == PRINTED:
                return PrintResult(job_id, "already_printed", "printed before; not again")
            if record is not None and record.state == SENDING:
                return PrintResult(job_id, "in_doubt", "sent before but not confirmed: check "
                                   "the printer, then resolve it as printed or not")
            self._set_state(DeviceState.BUSY)
            try:
                result, status = await asyncio.to_thread(self._with_printer, self._send_job,
                                                         job_id, kind, data)
            except PrinterUnavailable as err:
                result, status = PrintResult(job_id, "failed", f"printer unreachable: {err}"), None
                await asyncio.to_thread(self.journal.failed_before_sending, job_id, kind,
                                        str(err))
                self._set_state(DeviceState.ERROR, f"unreachable: {err}")
        if status is not None:
            self._apply(status)
        if result.outcome == "in_doubt" and job_id not in self._detail.get("in_doubt", []):
            # A new list, not an append: status events already sent hold the old one.
            self._detail["in_doubt"] = [*self._detail.get("in_doubt", []), job_id]
        _LOGGER.info("Printer %s: job %s %s", self.device_id, job_id, result.outcome)
        return result

    # -- in the worker thread -----------------------------------------------------------

    def _connect(self) -> Any:
        options = self.options
        if options.connection == "network":
            printer: Any = _Network(options.host, options.port, timeout=options.timeout)
        elif options.connection == "serial":
            printer = Serial(options.device, baudrate=options.baudrate, timeout=options.timeout)
        else:
            printer = _UsbLp(options.device, options.timeout)
        printer.open()
        return printer

    def _with_printer(self, action: Callable[..., _T], *args: Any) -> _T:
        try:
            printer = self._connect()
        except Exception as err:  # python-escpos raises its own errors and OSError subclasses
            raise PrinterUnavailable(str(err).splitlines()[-1] or type(err).__name__) from err
        try:
            return action(printer, *args)
        finally:
            with contextlib.suppress(Exception):
                printer.close()

    def _status(self, printer: Any) -> PrinterStatus:
        answers = []
        for n in (1, 2, 4):
            try:
                answer = printer.query_status(DLE_EOT + bytes([n]))
            except (OSError, TimeoutError) as err:
                raise PrinterUnavailable(f"no status answer: {err}") from err
            if not answer:
                raise PrinterUnavailable("no status answer")
            answers.append(answer[-1])
        return parse_status(*answers)

    def _send_job(self, printer: Any, job_id: str, kind: str,
                  data: bytes) -> tuple[PrintResult, PrinterStatus | None]:
        before = self._status(printer)
        if before.problem:
            self.journal.failed_before_sending(job_id, kind, before.problem)
            return PrintResult(job_id, "failed", f"not printed: {before.problem}"), before
        self.journal.sending(job_id, kind, len(data))
        started = time.monotonic()
        try:
            printer._raw(data)
            after = self._status(printer)
        except (OSError, PrinterUnavailable) as err:
            return PrintResult(job_id, "in_doubt", f"connection lost while printing ({err}); "
                               "check the printer, then resolve the job"), None
        if after.problem == "paper out" or after.cover_open:
            self.journal.finish(job_id, SENDING, after.problem or "")
            return PrintResult(job_id, "in_doubt", f"{after.problem} during the job: check the "
                               "receipt, then resolve the job"), after
        self.journal.finish(job_id, PRINTED, f"{(time.monotonic() - started) * 1000:.0f} ms")
        return PrintResult(job_id, "printed", "printed"), after

    async def test(self) -> TestResult:
        status = await self.refresh_status()
        if status is None:
            return TestResult(False, self.status.reason or "unreachable", dict(self._detail))
        problem = status.problem
        return TestResult(problem is None, problem or f"ready (paper {status.paper})",
                          dict(self._detail))
