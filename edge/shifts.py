"""Shifts of a staffed lane's drawer: opening float, X report (so far), Z report (close).

A shift opens with the float counted into the drawer and closes with its Z report, numbered
per lane without gaps; the next shift can open in the Z's own transaction with the float left
in the drawer. Figures come from what the sale, void and refund transactions wrote for the
shift (``lane_sales``, ``lane_voids``, ``refunds``), so an X report and the Z that follows
agree to the fen. A Z is stored with its figures and printed on the lane's printer when there
is one; a printer that fails never keeps a shift open.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from drivers.receipt import Cut, Feed, Receipt, Text

from .audit import record_audit
from .cart import new_id, utc_now
from .errors import LaneError
from .sales import next_counter
from .store import Store

if TYPE_CHECKING:
    from drivers.printer import ReceiptPrinter

_LOGGER = logging.getLogger(__name__)
ReportKind = Literal["X", "Z"]


@dataclass(frozen=True, slots=True)
class OpenShift:
    id: str
    lane: str
    shift_no: int
    float_fen: int
    opened_at: str
    opened_by: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _open_row(conn: sqlite3.Connection, lane: str, float_fen: int, actor: str) -> OpenShift:
    shift = OpenShift(new_id(), lane, next_counter(conn, f"shift:{lane}"), float_fen, utc_now(),
                      actor)
    conn.execute("INSERT INTO lane_shifts (id, lane, shift_no, float_fen, opened_at, opened_by)"
                 " VALUES (?, ?, ?, ?, ?, ?)",
                 (shift.id, lane, shift.shift_no, float_fen, shift.opened_at, actor))
    record_audit(conn, actor, "shift.opened", f"lane:{lane}",
                 {"shift_no": shift.shift_no, "float_fen": float_fen})
    return shift


def shift_figures(conn: sqlite3.Connection, shift_id: str) -> dict[str, Any]:
    """Read what happened in a shift: sales, tenders, voids, refunds, per cashier."""
    count, amount, discount, members, change = conn.execute(
        "SELECT count(*), coalesce(sum(s.total_fen), 0), coalesce(sum(s.discount_fen), 0),"
        " count(s.member_id), coalesce(sum(s.change_fen), 0) FROM lane_sales ls"
        " JOIN sales s ON s.id = ls.sale_id WHERE ls.shift_id = ?", (shift_id,)).fetchone()
    tenders = [{"kind": k, "count": int(n), "amount_fen": int(fen)} for k, n, fen in conn.execute(
        "SELECT t.kind, count(*), sum(t.amount_fen) FROM tenders t JOIN lane_sales ls"
        " ON ls.sale_id = t.sale_id WHERE ls.shift_id = ? GROUP BY t.kind ORDER BY t.kind",
        (shift_id,))]
    voids = {kind: {"count": 0, "amount_fen": 0} for kind in ("line", "sale")}
    for kind, n, fen in conn.execute(
            "SELECT kind, count(*), sum(amount_fen) FROM lane_voids WHERE shift_id = ?"
            " GROUP BY kind", (shift_id,)):
        voids[kind] = {"count": int(n), "amount_fen": int(fen)}
    refunds, refunded = conn.execute(
        "SELECT count(*), coalesce(sum(amount_fen), 0) FROM refunds WHERE shift_id = ?",
        (shift_id,)).fetchone()
    cashiers = [{"name": name or "-", "sales": int(n), "amount_fen": int(fen)}
                for name, n, fen in conn.execute(
        "SELECT ls.cashier, count(*), sum(s.total_fen) FROM lane_sales ls JOIN sales s"
        " ON s.id = ls.sale_id WHERE ls.shift_id = ? GROUP BY ls.cashier ORDER BY ls.cashier",
        (shift_id,))]
    return {"sales": {"count": int(count), "amount_fen": int(amount),
                      "discount_fen": int(discount), "member_count": int(members),
                      "change_fen": int(change)},
            "tenders": tenders, "voids": voids,
            "refunds": {"count": int(refunds), "amount_fen": int(refunded)},
            "cashiers": cashiers}


def build_report(kind: ReportKind, shift: OpenShift, figures: dict[str, Any], *, at: str,
                 by: str, counted_fen: int | None = None) -> dict[str, Any]:
    """Lay out an X or Z report; the drawer's expected cash is worked out here."""
    cash_in = sum(t["amount_fen"] for t in figures["tenders"] if t["kind"] == "cash")
    change = figures["sales"]["change_fen"]
    refunds = figures["refunds"]["amount_fen"]
    expected = shift.float_fen + cash_in - change - refunds
    drawer: dict[str, Any] = {"float_fen": shift.float_fen, "cash_in_fen": cash_in,
                              "change_fen": change, "refunds_fen": refunds,
                              "expected_fen": expected, "counted_fen": counted_fen,
                              "difference_fen": None if counted_fen is None
                              else counted_fen - expected}
    return {"kind": kind, "lane": shift.lane, "shift_no": shift.shift_no,
            "shift_id": shift.id, "opened_at": shift.opened_at, "opened_by": shift.opened_by,
            "at": at, "by": by, **figures, "drawer": drawer}


def _yuan(fen: int | None) -> str:
    if fen is None:
        return "-"
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


def report_receipt(report: dict[str, Any], *, store_name: str, timezone: str) -> Receipt:
    """Return the printed form of a report (Chinese first; amounts in yuan)."""
    zone = ZoneInfo(timezone)

    def local(iso: str) -> str:
        return dt.datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    def row(label: str, value: str) -> Text:
        return Text(f"{label}{value.rjust(max(1, 32 - _width(label)))}")

    sales, drawer, voids = report["sales"], report["drawer"], report["voids"]
    blocks: list[Any] = [
        Text(store_name[:32], bold=True, align="center"),
        Text(f"{report['kind']} 报表 / {report['kind']} report", bold=True, size="double",
             align="center"),
        Text(f"通道 Lane {report['lane']}  班次 Shift #{report['shift_no']}", align="center"),
        Text(f"开班 {local(report['opened_at'])} {report['opened_by']}"[:64]),
        Text(f"打印 {local(report['at'])} {report['by']}"[:64]),
        Feed(),
        row("销售笔数 Sales", str(sales["count"])),
        row("销售金额 Amount", _yuan(sales["amount_fen"])),
        row("优惠 Discounts", _yuan(sales["discount_fen"])),
        *(row(f"收款 {t['kind']} ×{t['count']}", _yuan(t["amount_fen"]))
          for t in report["tenders"]),
        row(f"单品作废 Voided lines ×{voids['line']['count']}",
            _yuan(voids["line"]["amount_fen"])),
        row(f"整单作废 Voided sales ×{voids['sale']['count']}",
            _yuan(voids["sale"]["amount_fen"])),
        row(f"退款 Refunds ×{report['refunds']['count']}",
            _yuan(report["refunds"]["amount_fen"])),
        Feed(),
        row("备用金 Float", _yuan(drawer["float_fen"])),
        row("现金收入 Cash in", _yuan(drawer["cash_in_fen"])),
        row("找零 Change", _yuan(-drawer["change_fen"])),
        row("现金退款 Cash refunds", _yuan(-drawer["refunds_fen"])),
        row("应有现金 Expected", _yuan(drawer["expected_fen"])),
    ]
    if drawer["counted_fen"] is not None:
        blocks += [row("实点现金 Counted", _yuan(drawer["counted_fen"])),
                   row("差额 Over/short", _yuan(drawer["difference_fen"]))]
    blocks += [Feed(2), Cut()]
    return Receipt(tuple(blocks))


def _width(text: str) -> int:
    """Columns a text takes on a receipt (CJK characters are two wide)."""
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)


class ShiftBook:
    """The open shift of each staffed lane, and the X and Z reports."""

    def __init__(self, store: Store, *,
                 printer_for: Callable[[str], ReceiptPrinter | None],
                 timeout_s: float) -> None:
        self._store = store
        self._printer_for = printer_for
        self._timeout_s = timeout_s
        self._open: dict[str, OpenShift] = {}

    async def load(self, lanes: list[str]) -> None:
        rows = await self._store.fetchall(
            "SELECT id, lane, shift_no, float_fen, opened_at, opened_by FROM lane_shifts"
            " WHERE closed_at IS NULL")
        self._open = {r["lane"]: OpenShift(r["id"], r["lane"], int(r["shift_no"]),
                                           int(r["float_fen"]), r["opened_at"], r["opened_by"])
                      for r in rows if r["lane"] in lanes}

    def open_shift(self, lane: str) -> OpenShift | None:
        return self._open.get(lane)

    async def open(self, lane: str, float_fen: int, *, actor: str) -> OpenShift:
        """Open a shift with ``float_fen`` in the drawer; LaneError when one is open."""
        if lane in self._open:
            raise LaneError(f"shift #{self._open[lane].shift_no} is already open")

        def write(conn: sqlite3.Connection) -> OpenShift:
            if conn.execute("SELECT 1 FROM lane_shifts WHERE lane = ? AND closed_at IS NULL",
                            (lane,)).fetchone():
                raise LaneError("a shift is already open at this lane")
            return _open_row(conn, lane, float_fen, actor)

        shift = await self._store.write(write)
        self._open[lane] = shift
        _LOGGER.info("Lane %s: shift #%d opened by %s, float %d fen", lane, shift.shift_no,
                     actor, float_fen)
        return shift

    async def x_report(self, lane: str, *, actor: str) -> dict[str, Any]:
        """Return the figures of the open shift so far (audited; nothing closes)."""
        shift = self._require(lane)

        def write(conn: sqlite3.Connection) -> dict[str, Any]:
            report = build_report("X", shift, shift_figures(conn, shift.id), at=utc_now(),
                                  by=actor)
            record_audit(conn, actor, "shift.x_report", f"lane:{lane}",
                         {"shift_no": shift.shift_no,
                          "expected_fen": report["drawer"]["expected_fen"]})
            return report

        return await self._store.write(write)

    async def z_report(self, lane: str, *, actor: str, counted_fen: int | None,
                       next_float_fen: int | None, store_name: str,
                       timezone: str) -> dict[str, Any]:
        """Close the open shift with its Z report, open the next one, print the Z."""
        shift = self._require(lane)

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], OpenShift | None]:
            report = build_report("Z", shift, shift_figures(conn, shift.id), at=utc_now(),
                                  by=actor, counted_fen=counted_fen)
            closed = conn.execute(
                "UPDATE lane_shifts SET closed_at = ?, closed_by = ?, counted_fen = ?,"
                " report = ? WHERE id = ? AND closed_at IS NULL",
                (report["at"], actor, counted_fen, json.dumps(report, ensure_ascii=False),
                 shift.id)).rowcount
            if not closed:
                raise LaneError("this shift was closed already")
            record_audit(conn, actor, "shift.z_report", f"lane:{lane}",
                         {"shift_no": shift.shift_no, **report["drawer"]})
            following = None if next_float_fen is None else _open_row(conn, lane,
                                                                      next_float_fen, actor)
            return report, following

        report, following = await self._store.write(write)
        if following is None:
            self._open.pop(lane, None)
        else:
            self._open[lane] = following
        _LOGGER.info("Lane %s: shift #%d closed by %s (Z), expected cash %d fen", lane,
                     shift.shift_no, actor, report["drawer"]["expected_fen"])
        report["printed"] = await self._print(lane, shift, report, store_name, timezone)
        report["next_shift"] = None if following is None else following.as_dict()
        return report

    async def _print(self, lane: str, shift: OpenShift, report: dict[str, Any],
                     store_name: str, timezone: str) -> dict[str, Any] | None:
        printer = self._printer_for(lane)
        if printer is None:
            return None
        receipt = report_receipt(report, store_name=store_name, timezone=timezone)
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await printer.print_job(f"z:{shift.id}", receipt)
            outcome = {"outcome": result.outcome, "message": result.message}
        except TimeoutError:
            outcome = {"outcome": "failed", "message": "the printer did not answer in time"}
        await self._store.write(lambda c: c.execute(
            "UPDATE lane_shifts SET printed = ? WHERE id = ?",
            (json.dumps(outcome), shift.id)))
        if outcome["outcome"] not in ("printed", "already_printed"):
            _LOGGER.warning("Lane %s: Z report #%d not printed: %s", lane, shift.shift_no,
                            outcome["message"])
        return outcome

    def _require(self, lane: str) -> OpenShift:
        shift = self._open.get(lane)
        if shift is None:
            raise LaneError("no shift is open at this lane")
        return shift

    async def last_z(self, lane: str) -> dict[str, Any] | None:
        """Return the latest stored Z report of the lane, as it was printed."""
        row = await self._store.fetchone(
            "SELECT report FROM lane_shifts WHERE lane = ? AND report IS NOT NULL"
            " ORDER BY shift_no DESC LIMIT 1", (lane,))
        return None if row is None else dict(json.loads(row["report"]))
