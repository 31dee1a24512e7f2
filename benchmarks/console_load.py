"""Requests per second on the console's dashboard API, the daemon pinned to one core.

    python -m benchmarks.console_load [--connections 32] [--seconds 10] [--cpu 0]
                                      [--sales-per-s 5]

A real `storeedge run` (demo catalog, one kiosk lane with the simulated scanner) is started
pinned to one CPU with `taskset` (or sched_setaffinity); this process, pinned to the other
cores, signs in as an IT admin like the page does and keeps N connections busy with
`GET /console/api/dashboard`, each answer checked (status 200, JSON with today's figures).

Two phases, same length: an idle store (the dashboard is recomputed at least every
push_interval_s, 5 s), then a store selling at --sales-per-s (every sale invalidates the
dashboard, so requests also pay for recomputing it: today's figures per hour from SQLite,
the devices and lanes). The last line is one JSON object; "rps"/"errors" are the idle phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._util import emit, load_note, percentile
from drivers.sim_scanner import send_scan
from edge.seed import demo_barcodes

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "benchmark password"  # noqa: S105 - a throwaway store in a temp folder
CONFIG = """
[store]
id = "B01"
name = "压测店"
[paths]
state_dir = "{state}"
[http]
port = 0
[console]
port = 0
[demo]
seed = true
[[lanes]]
id = "1"
kind = "kiosk"
[[devices]]
id = "sim-1"
driver = "sim_scanner"
lane = "1"
[devices.options]
socket = "{{run_dir}}/s1.sock"
"""


def start_daemon(config: Path, state: Path, cpu: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "edge.cli", "run", "--config", str(config)]
    with (state.parent / "daemon.log").open("wb") as log:  # the child keeps its own copy
        if shutil.which("taskset"):
            return subprocess.Popen(["taskset", "-c", str(cpu), *command],  # noqa: S603, S607
                                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        return subprocess.Popen(command, cwd=ROOT, stdout=log,  # noqa: S603
                                stderr=subprocess.STDOUT,
                                preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))  # noqa: PLW1509


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode}; see its log")
        if path.exists():
            return path.read_text().strip()
        time.sleep(0.05)
    raise SystemExit(f"the daemon did not write {path}")


def cpus_of(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return "?"


async def hammer(session: aiohttp.ClientSession, url: str, seconds: float,
                 connections: int) -> tuple[int, int, list[float]]:
    """Keep ``connections`` requests in flight for ``seconds``; return (ok, errors, ms)."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                async with session.get(url) as response:
                    body = await response.json()
                    good = response.status == 200 and "sales" in (body.get("today") or {})
            except (aiohttp.ClientError, ValueError, TimeoutError):
                good = False
            latencies.append((time.perf_counter() - started) * 1000)
            counts["ok" if good else "errors"] += 1

    await asyncio.gather(*(worker() for _ in range(connections)))
    return counts["ok"], counts["errors"], latencies


async def sell(session: aiohttp.ClientSession, kiosk: str, socket_path: Path,
               per_s: float, stop: asyncio.Event) -> int:
    """Scan one item and pay cash ``per_s`` times a second until ``stop``; return sales."""
    code = demo_barcodes()["P001"]
    sales = 0
    while not stop.is_set():
        started = time.perf_counter()
        answer = await asyncio.wait_for(send_scan(socket_path, code), 10)
        scan_id = answer.split()[1]
        for _ in range(200):
            async with session.get(f"{kiosk}/api/lanes/1") as response:
                lane = await response.json()
            if (lane.get("last_event") or {}).get("scan_id") == scan_id:
                break
            await asyncio.sleep(0.01)
        async with session.post(f"{kiosk}/api/lanes/1/cash",
                                json={"tendered_fen": 10000}) as response:
            sales += response.status == 200
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(),
                                   max(0.0, 1 / per_s - (time.perf_counter() - started)))
    return sales


async def run(args: argparse.Namespace, console: str, kiosk: str,
              socket_path: Path) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=args.connections + 4)
    async with aiohttp.ClientSession(connector=connector,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.post(f"{console}/console/api/login",
                                json={"name": "admin", "password": PASSWORD}) as response:
            if response.status != 200:
                raise SystemExit(f"sign-in failed: {response.status} {await response.text()}")
        url = f"{console}/console/api/dashboard"
        await hammer(session, url, 1.0, args.connections)  # warm up
        ok, errors, latencies = await hammer(session, url, args.seconds, args.connections)
        stop = asyncio.Event()
        seller = asyncio.create_task(sell(session, kiosk, socket_path, args.sales_per_s, stop))
        ok2, errors2, latencies2 = await hammer(session, url, args.seconds, args.connections)
        stop.set()
        sales = await seller
    return {
        "rps": round(ok / args.seconds), "errors": errors,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "rps_with_sales": round(ok2 / args.seconds), "errors_with_sales": errors2,
        "p99_ms_with_sales": round(percentile(latencies2, 99), 2),
        "sales_during": sales, "connections": args.connections, "seconds": args.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cpu", type=int, default=0, help="the core the daemon is pinned to")
    parser.add_argument("--sales-per-s", type=float, default=5.0)
    args = parser.parse_args()
    others = set(os.sched_getaffinity(0)) - {args.cpu}
    if others:
        os.sched_setaffinity(0, others)  # the client never competes with the daemon's core
    before = load_note()
    with tempfile.TemporaryDirectory(prefix="console-load-") as tmp:
        state = Path(tmp) / "state"
        config = Path(tmp) / "storeedge.toml"
        config.write_text(CONFIG.format(state=state), "utf-8")
        subprocess.run([sys.executable, "-m", "edge.cli", "user", "add", "admin", "--role",  # noqa: S603
                        "it_admin", "--password-stdin", "--config", str(config)],
                       input=f"{PASSWORD}\n", text=True, cwd=ROOT, check=True,
                       capture_output=True)
        proc = start_daemon(config, state, args.cpu)
        try:
            console = wait_for(state / "run" / "console-url", proc)
            kiosk = wait_for(state / "run" / "http-url", proc)
            pinned = cpus_of(proc.pid)
            figures = asyncio.run(run(args, console, kiosk, state / "run" / "s1.sock"))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    figures.update(daemon_cpus=pinned, client_cpus=",".join(map(str, sorted(others))) or "-")
    print(f"dashboard API, daemon pinned to CPU {pinned}, {args.connections} connections, "
          f"{args.seconds:g} s per phase")
    print(f"  idle store:      {figures['rps']} req/s, p50 {figures['p50_ms']} ms, "
          f"p99 {figures['p99_ms']} ms, {figures['errors']} errors")
    print(f"  selling {args.sales_per_s:g}/s:    {figures['rps_with_sales']} req/s, "
          f"p99 {figures['p99_ms_with_sales']} ms, {figures['errors_with_sales']} errors, "
          f"{figures['sales_during']} sales made meanwhile")
    print(f"  before: {before}\n  after:  {load_note()}")
    emit(figures)


if __name__ == "__main__":
    main()
