"""Durable sale commits through the engine, against plain sqlite3 writing the same rows.

    python -m benchmarks.sale_commit [--sales N] [--dir DIR]

Engine: a lane session on the real Store (aiosqlite, WAL, synchronous=FULL) with the demo
catalog; each sale is 8 scanned lines, priced with the demo promotions, paid in cash. The timed
part is the commit: planning the rows, the one transaction with sale, lines, discounts, tender,
ledger entries, outbox event and cart removal, and the fsync. Scans (each a durable cart
write too) are timed separately as the full sale.

Raw: the same schema, pragmas and rows, written with the stdlib sqlite3 module in one
transaction per sale, nothing else. Both run in alternating blocks in the same process on the
same disk so that machine noise hits both alike; compare the ratio, not absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._util import emit, load_note, percentile
from edge.catalog import Catalog
from edge.config import load_config
from edge.lane import LaneSession
from edge.sales import OutboxIdentity
from edge.scan_router import route
from edge.seed import demo_barcodes, seed_demo
from edge.store import Store, apply_migrations, bundled_migrations

IDENTITY = OutboxIdentity("S001", "bench-01")
BLOCKS = 4


class Engine:
    def __init__(self, folder: Path) -> None:
        self.store = Store(folder / "engine.db")
        self.rules = load_config(None).scan
        self.codes = sorted(demo_barcodes().values())
        self.rng = random.Random(1)
        self.commit_ms: list[float] = []
        self.sale_ms: list[float] = []

    async def open(self) -> None:
        await self.store.open()
        await self.store.write(seed_demo)
        self.lane = LaneSession("1", self.store, Catalog(self.store), IDENTITY)

    async def sell(self, n: int) -> None:
        lane = self.lane
        for _ in range(n):
            t0 = time.perf_counter()
            for code in self.rng.sample(self.codes, 8):
                await lane.handle_scan(route(code, self.rules))
            t1 = time.perf_counter()
            await lane.pay_cash(lane.priced.total_fen)
            t2 = time.perf_counter()
            self.commit_ms.append((t2 - t1) * 1000)
            self.sale_ms.append((t2 - t0) * 1000)


class Raw:
    """The same rows through plain sqlite3: the floor any engine sits on."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "raw.db"
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        apply_migrations(self.conn, bundled_migrations())
        self.commit_ms: list[float] = []
        self.n = 0

    def sell(self, samples: list[Sample]) -> None:
        conn = self.conn
        for plan in samples:
            self.n += 1
            sale_id = f"raw-{self.n}"
            lines = [(sale_id, *row[1:]) for row in plan.lines]
            t0 = time.perf_counter()
            # What write_sale does, statement for statement, minus nothing.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("SELECT receipt_no, outbox_seq FROM sales WHERE id = ?", (sale_id,))
            receipt = conn.execute(
                "INSERT INTO counters (name, value) VALUES ('receipt:1', 1) ON CONFLICT (name)"
                " DO UPDATE SET value = value + 1 RETURNING value").fetchone()[0]
            seq = conn.execute(
                "INSERT INTO counters (name, value) VALUES ('outbox_seq', 1) ON CONFLICT (name)"
                " DO UPDATE SET value = value + 1 RETURNING value").fetchone()[0]
            conn.execute("INSERT INTO sales (id, cart_id, lane, receipt_no, member_id,"
                         " subtotal_fen, discount_fen, total_fen, paid_fen, change_fen,"
                         " line_count, outbox_seq, created_at) VALUES"
                         " (?, ?, '1', ?, NULL, ?, ?, ?, ?, 0, 8, ?, ?)",
                         (sale_id, sale_id, receipt, plan.subtotal_fen, plan.discount_fen,
                          plan.total_fen, plan.paid_fen, seq, plan.created_at))
            conn.executemany("INSERT INTO sale_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             lines)
            conn.executemany("INSERT INTO sale_discounts VALUES (?, ?, ?, ?, ?)",
                             [(sale_id, *d[1:]) for d in plan.discounts])
            conn.execute("INSERT INTO tenders VALUES (?, ?, 'cash', ?, NULL, ?)",
                         (f"{sale_id}:t1", sale_id, plan.paid_fen, plan.created_at))
            conn.execute("INSERT INTO ledger VALUES (?, 'drawer:1:cash', ?, ?, 'sale', ?)",
                         (f"{sale_id}:drawer", plan.total_fen, sale_id, plan.created_at))
            conn.execute("INSERT INTO outbox VALUES (?, ?, 'sale.completed', ?, ?)",
                         (seq, f"S001:raw:{seq}", plan.created_at, plan.payload))
            conn.execute("DELETE FROM open_carts WHERE lane = '1' AND cart_id = ?", (sale_id,))
            conn.execute("COMMIT")
            self.commit_ms.append((time.perf_counter() - t0) * 1000)


@dataclass(frozen=True)
class Sample:
    """One sale exactly as the engine wrote it, read back from its database."""

    subtotal_fen: int
    discount_fen: int
    total_fen: int
    paid_fen: int
    created_at: str
    lines: list[tuple[object, ...]]
    discounts: list[tuple[object, ...]]
    payload: str


def read_samples(path: Path) -> list[Sample]:
    db = sqlite3.connect(path)
    samples = []
    for sale in db.execute("SELECT id, subtotal_fen, discount_fen, total_fen, paid_fen,"
                           " created_at, outbox_seq FROM sales"):
        lines = db.execute("SELECT * FROM sale_lines WHERE sale_id = ?", (sale[0],)).fetchall()
        discounts = db.execute("SELECT * FROM sale_discounts WHERE sale_id = ?",
                               (sale[0],)).fetchall()
        payload = db.execute("SELECT payload FROM outbox WHERE seq = ?", (sale[6],)).fetchone()
        samples.append(Sample(subtotal_fen=sale[1], discount_fen=sale[2], total_fen=sale[3],
                              paid_fen=sale[4], created_at=sale[5], lines=lines,
                              discounts=discounts, payload=payload[0]))
    db.close()
    return samples


def summary(name: str, ms: list[float]) -> str:
    per_s = len(ms) / (sum(ms) / 1000)
    return (f"{name:<28} p50 {percentile(ms, 50):6.3f} ms   p99 {percentile(ms, 99):6.3f} ms"
            f"   max {max(ms):7.2f} ms   {per_s:8.0f} sales/s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=2000, help="sales per side (default 2000)")
    parser.add_argument("--dir", type=Path, default=Path("var"),
                        help="where to put the databases: the disk the daemon uses (default ./var)")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-sale-commit-", dir=args.dir))
    try:
        engine = Engine(folder)
        await engine.open()
        await engine.sell(50)  # warm-up; its sales are the rows the raw side writes
        engine.commit_ms.clear()
        engine.sale_ms.clear()
        samples = read_samples(folder / "engine.db")
        raw = Raw(folder)
        block = max(1, args.sales // BLOCKS)
        for i in range(BLOCKS):
            await engine.sell(block)
            raw.sell([samples[(i * block + j) % len(samples)] for j in range(block)])
        await engine.store.close()
        raw.conn.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    eng_rate = len(engine.commit_ms) / (sum(engine.commit_ms) / 1000)
    raw_rate = len(raw.commit_ms) / (sum(raw.commit_ms) / 1000)
    print(f"Sale commit, {len(engine.commit_ms)} sales of 8 lines per side, durable "
          f"(WAL, synchronous=FULL) on {args.dir.resolve()}")
    print(f"Machine: {load_note()}")
    print(summary("engine commit", engine.commit_ms))
    print(summary("raw sqlite3, same rows", raw.commit_ms))
    print(summary("engine full sale (8 scans)", engine.sale_ms))
    print(f"engine / raw throughput: {eng_rate / raw_rate:.0%} (budget: >= 40%, p99 <= 2 ms)")
    emit({
        "p50_ms": round(percentile(engine.commit_ms, 50), 3),
        "p99_ms": round(percentile(engine.commit_ms, 99), 3),
        "sales_per_s": round(eng_rate),
        "raw_sales_per_s": round(raw_rate),
        "raw_p99_ms": round(percentile(raw.commit_ms, 99), 3),
        "ratio": round(eng_rate / raw_rate, 3),
        "full_sale_p50_ms": round(percentile(engine.sale_ms, 50), 3),
        "full_sale_p99_ms": round(percentile(engine.sale_ms, 99), 3),
    })


if __name__ == "__main__":
    asyncio.run(main())
