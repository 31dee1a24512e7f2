"""Receipts after a sale commits: the e-receipt QR, the printed receipt, the cash drawer.

Nothing here can undo a sale: printing starts after the commit, and a printer that is out of
paper, unreachable or in doubt only leaves the receipt "not printed" with the reason, on the
lane's screen and the console, where it can be printed again (audited).

A sale's receipt is print job ``receipt:<sale id>`` in the printer's journal, so printing it
again after a crash never gives a second copy: a job cut short is "in doubt" until a person
looks at the printer. A deliberate reprint is a job of its own (``...:reprint:<n>``) marked
REPRINT on paper. The cash drawer opens once per sale (``drawer:<sale id>``).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .audit import record_audit
from .cart import utc_now
from .ereceipt import load_key, receipt_url
from .receipts import SaleRecord, build_receipt, load_sale
from .store import Store

if TYPE_CHECKING:
    from drivers.printer import ReceiptPrinter

    from .config import Config
    from .sales import CompletedSale

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PrintOutcome:
    sale_id: str
    printed: bool
    outcome: str        # the printer's outcome, or "no_printer", "not_found", "off"
    message: str

RESTARTED = "the appliance restarted while printing: check the printer"


class ReceiptDesk:
    """Prints the receipts of every lane; one per appliance."""

    def __init__(self, store: Store, config: Config,
                 printer_for: Callable[[str], ReceiptPrinter | None]) -> None:
        self._store = store
        self._config = config
        self._settings = config.checkout
        self._printer_for = printer_for
        self._key: bytes | None = None
        self._lane_kinds = {lane.id: lane.kind for lane in config.lanes}

    def open(self) -> None:
        """Load the e-receipt key; without a usable key the QR is off, and the log says why."""
        if not self._settings.ereceipt_url:
            return
        try:
            self._key = load_key(self._settings.ereceipt_key_file)
        except (OSError, ValueError) as err:
            _LOGGER.error("E-receipt QR codes are off: %s", err)

    async def recover(self) -> int:
        """At start: receipts a crash caught while printing are in doubt; return how many.

        Nothing prints before the daemon has started, so a receipt still "pending" was cut
        short: it may be on paper or not, and only a person at the printer can tell.
        """
        def write(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE receipts SET state = 'in_doubt', message = ?, updated_at = ?"
                " WHERE state = 'pending'", (RESTARTED, utc_now())).rowcount

        count = await self._store.write(write)
        if count:
            _LOGGER.warning("%d receipt(s) were printing when the daemon stopped: check the "
                            "printer and settle them on the console's self-checkout page",
                            count)
        return count

    def qr_for(self, sale_id: str, amount_fen: int, receipt_no: int, lane: str) -> str | None:
        """Return the e-receipt link of a sale (None when the QR is off)."""
        if self._key is None:
            return None
        return receipt_url(self._settings.ereceipt_url, self._key, store=self._config.store.id,
                           sale_id=sale_id, amount_fen=amount_fen, receipt_no=receipt_no,
                           lane=lane)

    def wants_kick(self, lane: str, tender_kinds: list[str]) -> bool:
        # The cashier page kicks with the same job id (``drawer:<sale id>``): one opening.
        return (self._lane_kinds.get(lane) == "staffed" and "cash" in tender_kinds
                and self._config.cashier.kick_drawer_on_cash)

    async def after_sale(self, sale: CompletedSale, kick: bool) -> PrintOutcome:
        """Open the drawer if asked, then print the sale's receipt (once)."""
        printer = self._printer_for(sale.lane)
        if kick and printer is not None:
            kicked = await printer.kick_drawer(f"drawer:{sale.sale_id}")
            if not kicked.ok:
                _LOGGER.warning("Lane %s: the cash drawer did not open: %s", sale.lane,
                                kicked.message)
        if not self._settings.print_receipts:
            return PrintOutcome(sale.sale_id, False, "off", "receipts are not printed")
        return await self._print(sale.sale_id, sale.lane, printer, reprint=False, actor=None)

    async def reprint(self, sale_id: str, actor: str) -> PrintOutcome:
        """Print a sale's receipt again: its first print if that never happened, else a copy."""
        row = await self._store.fetchone(
            "SELECT state, reprints FROM receipts WHERE sale_id = ?", (sale_id,))
        sale_lane = await self._store.fetchone("SELECT lane FROM sales WHERE id = ?", (sale_id,))
        if sale_lane is None:
            return PrintOutcome(sale_id, False, "not_found", f"no sale {sale_id}")
        lane = str(sale_lane["lane"])
        if row is not None and row["state"] == "in_doubt":
            # A copy now could put two receipts in a shopper's hand: a person decides first.
            return PrintOutcome(sale_id, False, "in_doubt", "the receipt may be on paper "
                                "already: check the printer, then resolve it on the console "
                                "(it printed, or print it now)")
        # Once the first print reached the printer (or a copy was made), more are copies.
        copy = row is not None and (row["state"] in ("printed", "in_doubt") or row["reprints"])
        return await self._print(sale_id, lane, self._printer_for(lane), reprint=copy,
                                 actor=actor)

    async def resolve(self, sale_id: str, *, printed: bool, actor: str) -> PrintOutcome:
        """Settle a receipt in doubt after a person looked at the paper (audited).

        A crash between sending a receipt and the printer's confirmation leaves it in doubt:
        printing it again by itself could put two receipts in the shopper's hand. Printed:
        it is marked so. Not printed: the printer's journal lets the job go again, and the
        receipt is printed now as the sale's first.
        """
        row = await self._store.fetchone(
            "SELECT lane, state, job_id FROM receipts WHERE sale_id = ?", (sale_id,))
        if row is None or row["state"] != "in_doubt":  # "pending" is printing right now
            return PrintOutcome(sale_id, False, "not_in_doubt",
                                f"the receipt of sale {sale_id} is not in doubt")
        lane, job_id = str(row["lane"]), str(row["job_id"])
        printer = self._printer_for(lane)
        if printer is None:
            return PrintOutcome(sale_id, False, "no_printer", "this lane has no printer now")
        await printer.resolve(job_id, printed=printed)

        def write(conn: sqlite3.Connection) -> None:  # the state and its audit row together
            conn.execute("UPDATE receipts SET state = ?, message = 'resolved by hand',"
                         " updated_at = ? WHERE sale_id = ?",
                         ("printed" if printed else "failed", utc_now(), sale_id))
            record_audit(conn, actor, "receipt.resolved", f"sale:{sale_id}",
                         {"job_id": job_id, "printed": printed})

        await self._store.write(write)
        if printed:
            return PrintOutcome(sale_id, True, "printed", "marked as printed")
        return await self._print(sale_id, lane, printer, reprint=False, actor=actor)

    async def state(self, sale_id: str) -> dict[str, object] | None:
        row = await self._store.fetchone("SELECT * FROM receipts WHERE sale_id = ?", (sale_id,))
        return dict(row) if row else None

    async def _print(self, sale_id: str, lane: str, printer: ReceiptPrinter | None, *,
                     reprint: bool, actor: str | None) -> PrintOutcome:
        record = await self._store.read(lambda conn: load_sale(conn, sale_id))
        if record is None:
            return PrintOutcome(sale_id, False, "not_found", f"no sale {sale_id}")
        reprints = await self._store.fetchone(
            "SELECT reprints FROM receipts WHERE sale_id = ?", (sale_id,))
        number = (int(reprints["reprints"]) if reprints else 0) + 1
        job_id = f"receipt:{sale_id}:reprint:{number}" if reprint else f"receipt:{sale_id}"
        if printer is None:
            outcome = PrintOutcome(sale_id, False, "no_printer", "this lane has no printer")
            await self._record(sale_id, lane, job_id, "no_printer", outcome.message,
                               reprint=reprint, actor=actor)
            return outcome
        document = build_receipt(
            record, store_name=self._config.store.name, store_id=self._config.store.id,
            timezone=self._config.store.timezone, columns=self._settings.receipt_columns,
            footer=self._settings.receipt_footer, qr=self._qr(record), reprint=reprint)
        await self._record(sale_id, lane, job_id, "pending", "", reprint=False, actor=None)
        try:
            result = await printer.print_job(job_id, document)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a driver bug must not lose the sale's receipt state
            _LOGGER.exception("Lane %s: printing receipt %s failed", lane, sale_id)
            outcome = PrintOutcome(sale_id, False, "failed", f"printer error: {err}")
        else:
            outcome = PrintOutcome(sale_id, result.ok, result.outcome, result.message)
        state = {"printed": "printed", "already_printed": "printed",
                 "in_doubt": "in_doubt"}.get(outcome.outcome, "failed")
        await self._record(sale_id, lane, job_id, state, outcome.message, reprint=reprint,
                           actor=actor)
        if not outcome.printed:
            _LOGGER.warning("Lane %s: receipt of sale %s not printed: %s", lane, sale_id,
                            outcome.message)
        return outcome

    def _qr(self, record: SaleRecord) -> str | None:
        return self.qr_for(record.sale_id, record.total_fen, record.receipt_no, record.lane)

    async def _record(self, sale_id: str, lane: str, job_id: str, state: str, message: str, *,
                      reprint: bool, actor: str | None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO receipts (sale_id, lane, state, job_id, message, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sale_id) DO UPDATE SET"
                " state = excluded.state, job_id = excluded.job_id,"
                " message = excluded.message, updated_at = excluded.updated_at",
                (sale_id, lane, state, job_id, message[:500], utc_now()))
            if reprint:
                conn.execute("UPDATE receipts SET reprints = reprints + 1 WHERE sale_id = ?",
                             (sale_id,))
            if actor is not None:
                record_audit(conn, actor, "receipt.reprinted", f"sale:{sale_id}",
                             {"job_id": job_id, "state": state, "message": message[:200]})

        await self._store.write(write)
