"""What the SIGKILL tests share: run a worker and kill it, and check that every sale is whole."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import ROOT


def run_and_kill(worker: str, config: Path, seed: int, *, after_s: float, log: Path,
                 kill_when: Callable[[], bool] | None = None) -> set[str]:
    """Run ``python -m <worker> CONFIG SEED``, SIGKILL it ``after_s`` after it started (or as
    soon as ``kill_when()`` holds), and return the sale ids it printed as COMMITTED."""
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", worker, str(config), str(seed)],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 60
            while "STARTED" not in log.read_text():
                assert proc.poll() is None, f"worker died: {log.read_text()}"
                assert time.monotonic() < deadline, f"worker did not start: {log.read_text()}"
                time.sleep(0.01)
            stop_at = time.monotonic() + after_s
            while time.monotonic() < stop_at and not (kill_when and kill_when()):
                time.sleep(0.005)
        finally:  # also when the test is interrupted: a stray worker would sell forever
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    return {line.split()[1] for line in log.read_text().splitlines()
            if line.startswith("COMMITTED ")}


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def integrity(db: Path) -> str:
    return str(rows(db, "PRAGMA integrity_check")[0][0])


def assert_sales_whole(db: Path, lanes: tuple[str, ...] = ("1", "2")) -> dict[str, sqlite3.Row]:
    """Every sale has its lines, tenders, drawer entry and exactly one outbox event; outbox
    seqs and each lane's receipt numbers have no gaps. Return the sales by id."""
    sales = {r["id"]: r for r in rows(db, "SELECT * FROM sales")}
    lines: defaultdict[str, list[sqlite3.Row]] = defaultdict(list)
    for r in rows(db, "SELECT * FROM sale_lines"):
        lines[r["sale_id"]].append(r)
    paid: defaultdict[str, int] = defaultdict(int)
    cash: defaultdict[str, int] = defaultdict(int)
    for r in rows(db, "SELECT sale_id, kind, amount_fen FROM tenders"):
        paid[r["sale_id"]] += r["amount_fen"]
        cash[r["sale_id"]] += r["amount_fen"] if r["kind"] == "cash" else 0
    drawer = {r["sale_id"]: r["delta"] for r in rows(
        db, "SELECT sale_id, delta FROM ledger WHERE account LIKE 'drawer:%'")}
    events: defaultdict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for r in rows(db, "SELECT seq, payload FROM outbox WHERE type = 'sale.completed'"):
        payload = json.loads(r["payload"])
        events[payload["sale_id"]].append((r["seq"], payload))
    for sale_id, sale in sales.items():
        assert len(lines[sale_id]) == sale["line_count"] >= 1, sale_id
        assert sum(ln["net_fen"] for ln in lines[sale_id]) == sale["total_fen"], sale_id
        assert paid[sale_id] == sale["paid_fen"], sale_id
        if cash[sale_id]:
            assert drawer[sale_id] == cash[sale_id] - sale["change_fen"], sale_id
        assert len(events[sale_id]) == 1, sale_id
        seq, payload = events[sale_id][0]
        assert seq == sale["outbox_seq"] and payload["total_fen"] == sale["total_fen"]
    assert events.keys() == sales.keys(), "an outbox sale event without its sale, or reverse"
    assert not rows(db, "SELECT 1 FROM sale_lines WHERE sale_id NOT IN (SELECT id FROM sales)")
    seqs = [r[0] for r in rows(db, "SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1)), "the outbox has a gap"
    for lane in lanes:
        receipts = [r[0] for r in rows(
            db, "SELECT receipt_no FROM sales WHERE lane = ? ORDER BY receipt_no", (lane,))]
        assert receipts == list(range(1, len(receipts) + 1)), f"lane {lane} skipped a receipt"
    return sales
