"""SIGKILL the daemon during sale commits, many times: every sale is whole or absent."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.helpers import ROOT, write_config

DEFAULT_LOOPS = 25


def _run_and_kill(config: Path, seed: int, rng: random.Random, log: Path) -> set[str]:
    """Start the worker, let it sell for a random moment, SIGKILL it; return what it reported."""
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tests.crash_worker", str(config),
                                 str(seed)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 60
            while "STARTED" not in log.read_text() and time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise AssertionError(f"worker died: {log.read_text()}")
                time.sleep(0.01)
            time.sleep(rng.uniform(0.02, 0.4))
        finally:  # also when the test is interrupted: a stray worker would sell forever
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    return {line.split()[1] for line in log.read_text().splitlines()
            if line.startswith("COMMITTED ")}


@pytest.mark.slow
def test_sigkill_during_sales_loses_or_duplicates_nothing(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    loops = pytestconfig.getoption("--crash-loops") or DEFAULT_LOOPS
    config = write_config(tmp_path, busy_timeout_ms=5000)
    rng = random.Random(20261122)
    reported: set[str] = set()
    for i in range(loops):
        reported |= _run_and_kill(config, i, rng, tmp_path / "worker.log")

    db = sqlite3.connect(tmp_path / "state" / "storeedge.db")
    db.row_factory = sqlite3.Row
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    sales = {r["id"]: r for r in db.execute("SELECT * FROM sales")}
    assert len(sales) >= loops, "the worker hardly sold anything; the test proves nothing"

    # Every sale the daemon reported as committed is there.
    assert reported <= sales.keys(), f"lost: {sorted(reported - sales.keys())[:5]}"

    # Every sale is whole: its lines, its tender, its ledger entry, its one outbox event.
    lines = defaultdict(list)
    for r in db.execute("SELECT * FROM sale_lines"):
        lines[r["sale_id"]].append(r)
    tenders: defaultdict[str, int] = defaultdict(int)
    for r in db.execute("SELECT sale_id, amount_fen FROM tenders"):
        tenders[r["sale_id"]] += r["amount_fen"]
    drawer = {r["sale_id"]: r["delta"] for r in db.execute(
        "SELECT sale_id, delta FROM ledger WHERE account LIKE 'drawer:%'")}
    events = defaultdict(list)
    for r in db.execute("SELECT seq, payload FROM outbox WHERE type = 'sale.completed'"):
        events[json.loads(r["payload"])["sale_id"]].append((r["seq"], json.loads(r["payload"])))
    for sale_id, sale in sales.items():
        assert len(lines[sale_id]) == sale["line_count"] >= 1
        assert sum(ln["net_fen"] for ln in lines[sale_id]) == sale["total_fen"]
        assert tenders[sale_id] == sale["paid_fen"]
        assert drawer[sale_id] == sale["total_fen"]
        assert len(events[sale_id]) == 1
        seq, payload = events[sale_id][0]
        assert seq == sale["outbox_seq"] and payload["total_fen"] == sale["total_fen"]
    # ... and the outbox holds exactly the sales: nothing orphaned, nothing extra.
    assert events.keys() == sales.keys()
    assert db.execute("SELECT count(*) FROM sale_lines WHERE sale_id NOT IN "
                      "(SELECT id FROM sales)").fetchone()[0] == 0

    # Numbers stay gap-free across every crash.
    seqs = [r[0] for r in db.execute("SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    for lane in ("1", "2"):
        receipts = [r[0] for r in db.execute(
            "SELECT receipt_no FROM sales WHERE lane = ? ORDER BY receipt_no", (lane,))]
        assert receipts == list(range(1, len(receipts) + 1))
    db.close()
