"""Drain an outbox backlog to the reference CRM on loopback: events per second, edge RSS.

    python -m benchmarks.sync_drain [--events N] [--dir DIR] [--in-flight N] [--parse-workers N]

A child process writes N realistic ``sale.completed`` events (1-8 lines, a third of them with
a member and points) into a fresh edge database, as a weekend offline would leave them. The
reference CRM runs in its own process (``storeedge crm-server``), so the two memory figures
are separate. This process then runs the real sync client (``SyncClient.run``: pusher,
pullers, figures) until the CRM has acknowledged every event. Timed: from the client's start
to the last acknowledgement. Peak RSS is this process's high-water mark (the edge side);
the CRM's is read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks._util import emit, load_note, peak_rss_mb
from edge.config import load_config
from edge.store import Store, apply_migrations, bundled_migrations
from sync.client import SyncClient
from sync.pairing import pair_and_save

STORE, DEVICE = "S001", "bench-01"
_NAMES = [("P001", "农夫山泉 550ml", 200), ("P006", "伊利纯牛奶 250ml×12", 6500),
          ("P010", "乐事薯片 原味 70g", 750), ("P014", "五常大米 5kg", 6990),
          ("P018", "鸡蛋 10枚装", 1590), ("P023", "青岛啤酒 500ml", 650),
          ("P027", "速冻水饺 1kg", 2590), ("P030", "雀巢咖啡 1+2 15条", 2990)]


def sale_payload(seq: int, rng: random.Random) -> dict[str, Any]:
    """A sale as ``edge.sales`` writes it: consistent sums, a drawer entry, maybe points."""
    lines, total = [], 0
    for no, (pid, name, price) in enumerate(rng.sample(_NAMES, rng.randint(1, 8)), start=1):
        qty = rng.randint(1, 3)
        lines.append({"line_no": no, "product_id": pid, "name": name, "qty": qty,
                      "weight_g": None, "unit_price_fen": price, "base_fen": price * qty,
                      "discount_fen": 0, "net_fen": price * qty})
        total += price * qty
    sale_id = f"{seq:032x}"
    member = f"M000{rng.randint(1, 4)}" if rng.random() < 1 / 3 else None
    at = "2026-11-21T10:00:00.000+00:00"
    ledger = [{"entry_id": f"{sale_id}:drawer", "account": "drawer:1:cash", "delta": total,
               "reason": "sale"}]
    if member:
        ledger.append({"entry_id": f"{sale_id}:points", "account": f"member:{member}:points",
                       "delta": total // 100, "reason": "earned"})
    return {"sale_id": sale_id, "cart_id": f"{seq:031x}c", "lane": "1", "member_id": member,
            "created_at": at, "subtotal_fen": total, "discount_fen": 0, "total_fen": total,
            "paid_fen": total, "change_fen": 0, "lines": lines, "discounts": [],
            "tenders": [{"tender_id": f"{sale_id}:t1", "kind": "cash", "amount_fen": total,
                         "reference": None}], "ledger": ledger, "receipt_no": seq}


def generate(db: Path, events: int) -> None:
    """Write the backlog (run in a child process, so its memory is not the edge's)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    apply_migrations(conn, bundled_migrations())
    rng = random.Random(1)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO outbox (seq, event_id, type, occurred_at, payload) VALUES (?, ?, ?, ?, ?)",
        ((seq, f"{STORE}:{DEVICE}:{seq}", "sale.completed", "2026-11-21T10:00:00.000+00:00",
          json.dumps(sale_payload(seq, rng), ensure_ascii=False, separators=(",", ":")))
         for seq in range(1, events + 1)))
    conn.execute("INSERT INTO counters VALUES ('outbox_seq', ?)", (events,))
    conn.execute("COMMIT")
    conn.close()


def start_crm(folder: Path, parse_workers: int = 1) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "crm-server", "--db",  # noqa: S603
                             str(folder / "crm.db"), "--port", "0", "--seed-demo",
                             "--parse-workers", str(parse_workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    match = re.search(r"serving on (http://\S+);", proc.stdout.readline())
    if not match:
        raise SystemExit("the CRM did not start")
    token = (folder / "crm.db.admin-token").read_text().strip()
    return proc, match.group(1), token


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system, all threads) of this process or of ``pid``."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (the CRM's push parsers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def tree_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and of each of its children, by pid."""
    return {p: cpu_s(p) for p in [pid, *children(pid)]}


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pairing_code(url: str, token: str, device: str = DEVICE) -> str:
    """Ask the CRM's admin API for a pairing code for ``device`` of the bench store."""
    request = urllib.request.Request(  # noqa: S310 - our own CRM on loopback
        url + "/admin/pairing-codes", method="POST",
        data=json.dumps({"store_id": STORE, "device_id": device}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return str(json.load(response)["code"])


async def drain(folder: Path, url: str, token: str, events: int, in_flight: int) -> float:
    (folder / "edge.toml").write_text(f"""
[store]
id = "{STORE}"
device_id = "{DEVICE}"
[paths]
state_dir = "{folder}"
database = "edge.db"
[sync]
crm_url = "{url}"
status_refresh_ms = 2000
push_in_flight = {in_flight}
""", "utf-8")
    config = load_config(folder / "edge.toml")
    code = await asyncio.to_thread(pairing_code, url, token)
    await pair_and_save(config, code, url)
    store = Store(config.paths.database)
    await store.open()
    client = SyncClient(config, store)
    started = time.perf_counter()
    task = asyncio.create_task(client.run())
    try:
        while True:
            await asyncio.sleep(0.05)
            acked = await store.read(
                lambda c: c.execute("SELECT acked_through_seq FROM sync_push").fetchone()[0])
            if acked >= events:
                return time.perf_counter() - started
            if task.done():
                task.result()
                raise SystemExit("the sync client stopped")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: tmp)")
    parser.add_argument("--in-flight", type=int, default=3, choices=range(1, 5),
                        help="pushes in flight (sync.push_in_flight; default 3)")
    parser.add_argument("--parse-workers", type=int, default=1, choices=range(0, 5),
                        help="the CRM's push parser processes (crm-server --parse-workers; "
                        "default 1, 0: a thread)")
    parser.add_argument("--generate", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate, args.events)
        return
    folder = Path(tempfile.mkdtemp(prefix="sync-drain-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "benchmarks.sync_drain", "--events",  # noqa: S603
                        str(args.events), "--generate", str(folder / "edge.db")], check=True)
        size_mb = (folder / "edge.db").stat().st_size / 1e6
        print(f"backlog: {args.events:,} events, {size_mb:.0f} MB, written in "
              f"{time.perf_counter() - t0:.0f} s")
        crm, url, token = start_crm(folder, args.parse_workers)
        try:
            cpu0, crm_cpu0 = cpu_s(), tree_cpu_s(crm.pid)
            elapsed = asyncio.run(drain(folder, url, token, args.events, args.in_flight))
            crm_cpu1 = tree_cpu_s(crm.pid)
            edge_cpu = cpu_s() - cpu0
            crm_cpu = crm_cpu1[crm.pid] - crm_cpu0[crm.pid]
            parser_cpu = sum(t - crm_cpu0.get(p, 0.0) for p, t in crm_cpu1.items()
                             if p != crm.pid)
            crm_rss = vm_hwm_mb(crm.pid)
        finally:
            crm.send_signal(signal.SIGTERM)
            crm.wait(timeout=60)
            assert crm.stdout is not None
            crm.stdout.close()
        stored = sqlite3.connect(folder / "crm.db").execute(
            "SELECT count(*) FROM events").fetchone()[0]
        if stored != args.events:
            raise SystemExit(f"the CRM holds {stored} events, not {args.events}")
        rate = args.events / elapsed
        print(f"drained in {elapsed:.1f} s with {args.in_flight} push(es) in flight, "
              f"{args.parse_workers} CRM parser process(es): "
              f"{rate:,.0f} events/s "
              f"({1e6 / rate:.0f} µs per event end to end)")
        print(f"CPU per event: edge {edge_cpu * 1e6 / args.events:.0f} µs, CRM "
              f"{crm_cpu * 1e6 / args.events:.0f} µs + its push parser(s) "
              f"{parser_cpu * 1e6 / args.events:.0f} µs (on a shared machine the wall clock "
              "also pays for others' work)")
        print(f"peak RSS: edge {peak_rss_mb():.0f} MB, CRM {crm_rss:.0f} MB")
        print(load_note())
        emit({"events_per_s": round(rate), "peak_rss_mb": round(peak_rss_mb(), 1),
              "in_flight": args.in_flight, "parse_workers": args.parse_workers,
              "crm_peak_rss_mb": round(crm_rss, 1), "events": args.events,
              "edge_cpu_us_per_event": round(edge_cpu * 1e6 / args.events, 1),
              "crm_cpu_us_per_event": round(crm_cpu * 1e6 / args.events, 1),
              "crm_parser_cpu_us_per_event": round(parser_cpu * 1e6 / args.events, 1),
              "load": os.getloadavg()[0]})
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
