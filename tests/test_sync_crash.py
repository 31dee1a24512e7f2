"""SIGKILL the daemon while it pushes and while it applies pages, many times, against a CRM
running in its own process: afterwards the CRM holds every sale exactly once and nothing
else, and the edge never holds half a page.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.store import apply_migrations
from sync.crm.admin import save_entity
from sync.crm.db import crm_migrations, seed_crm_demo
from tests.crashing import rows, run_and_kill
from tests.helpers import ROOT, Daemon, write_config
from tests.sync_helpers import DEVICE_KEY, CrmProcess, pair_process, sync_config_text

DEFAULT_LOOPS = 8


@pytest.fixture
def crm_process(tmp_path: Path) -> Iterator[CrmProcess]:
    crm = CrmProcess(tmp_path / "crm.db")
    yield crm
    crm.stop()


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in rows(db, sql)]


def _mid_drain(edge_db: Path, fraction: float) -> Callable[[], bool]:
    """True once the CRM acknowledged ``fraction`` of the backlog there was at the start."""
    acked0, last0 = (_rows(edge_db, "SELECT acked_through_seq FROM sync_push")[0][0],
                     _rows(edge_db, "SELECT coalesce(max(seq), 0) FROM outbox")[0][0])
    goal = acked0 + max(1, int((last0 - acked0) * fraction))

    def reached() -> bool:
        return bool(_rows(edge_db, "SELECT acked_through_seq FROM sync_push")[0][0] >= goal)
    return reached


@pytest.mark.slow
def test_sigkill_while_pushing_every_sale_reaches_the_crm_exactly_once(
        tmp_path: Path, crm_process: CrmProcess, pytestconfig: pytest.Config) -> None:
    loops = pytestconfig.getoption("--crash-loops") or DEFAULT_LOOPS
    config = write_config(tmp_path, busy_timeout_ms=5000,
                          extra=sync_config_text(crm_process.url, batch=4, pull_ms=60000))
    # Every other run sells with sync off (the uplink is down), leaving a backlog that the
    # next run drains in small batches while it sells: most kills land mid-drain.
    offline = tmp_path / "offline.toml"
    offline.write_text(config.read_text() + "enabled = false\n")   # the last table: [sync]
    pair_process(crm_process, config)
    edge_db, crm_db = tmp_path / "state" / "storeedge.db", crm_process.db
    rng = random.Random(20261122)
    reported: set[str] = set()
    backlog_at_kill = crm_ahead = 0
    for i in range(loops):
        if i % 2 == 0:   # the uplink is down: sell, building a backlog
            reported |= run_and_kill("tests.crash_worker", offline, i,
                                     after_s=rng.uniform(0.3, 1.0), log=tmp_path / "worker.log")
            continue
        reported |= run_and_kill("tests.crash_worker", config, i, after_s=5.0,
                                 log=tmp_path / "worker.log",
                                 kill_when=_mid_drain(edge_db, rng.uniform(0.1, 0.9)))
        acked = _rows(edge_db, "SELECT acked_through_seq FROM sync_push")[0][0]
        last = _rows(edge_db, "SELECT coalesce(max(seq), 0) FROM outbox")[0][0]
        backlog_at_kill += last > acked
        # Killed after the CRM stored a batch and before the edge recorded the answer.
        crm_ahead += _rows(crm_db, "SELECT acked_through_seq FROM devices")[0][0] > acked

    # One clean run drains what is left.
    daemon = Daemon(config, tmp_path / "state").start()
    try:
        last = _rows(edge_db, "SELECT max(seq) FROM outbox")[0][0]
        deadline = time.monotonic() + 60
        while _rows(crm_db, "SELECT acked_through_seq FROM devices")[0][0] < last:
            assert time.monotonic() < deadline, "the backlog did not drain"
            time.sleep(0.1)
    finally:
        assert daemon.signal(signal.SIGTERM) == 0

    assert len(reported) >= loops, "the worker hardly sold anything; the test proves nothing"
    assert backlog_at_kill, "no kill found events in flight; the test proves nothing"
    print(f"kills with a backlog: {backlog_at_kill}, after the CRM stored unrecorded: "
          f"{crm_ahead}")
    edge = _rows(edge_db, "SELECT seq, event_id, type, payload FROM outbox ORDER BY seq")
    crm = _rows(crm_db, "SELECT seq, event_id, type, json_extract(body, '$.payload'),"
                " device_key FROM events"
                " ORDER BY seq")
    # Exactly the outbox, each event once, the same content, and nothing else.
    assert [r[0] for r in crm] == [r[0] for r in edge] == list(range(1, len(edge) + 1))
    assert {r[4] for r in crm} == {DEVICE_KEY}
    for mine, theirs in zip(edge, crm, strict=True):
        assert mine[1:3] == theirs[1:3]
        assert json.loads(mine[3]) == json.loads(theirs[3])
    crm_sales = [json.loads(r[3])["sale_id"] for r in crm if r[2] == "sale.completed"]
    assert len(crm_sales) == len(set(crm_sales))
    assert set(crm_sales) == {r[0] for r in _rows(edge_db, "SELECT id FROM sales")}
    assert reported <= set(crm_sales), "a sale the lane reported as done never reached the CRM"
    assert _rows(crm_db, "SELECT count(*) FROM rejections") == [(0,)]
    assert _rows(edge_db, "SELECT count(*) FROM sync_dead_letters") == [(0,)]


def _crm_with_many_products(db: Path, count: int) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        apply_migrations(conn, crm_migrations())
        conn.execute("BEGIN")
        seed_crm_demo(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()
    _reprice(db, count, 0)


def _reprice(db: Path, count: int, round_no: int) -> dict[str, tuple[int, int]]:
    """Change every test product at the CRM (beside the running server); return versions."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for i in range(count):
            save_entity(conn, "catalog", f"X{i:05d}", {
                "name": f"商品 {i}", "name_en": None, "category": "测试",
                "price_fen": round_no * 10_000 + i, "member_price_fen": None,
                "sold_by_weight": False, "age_restricted": False, "expected_weight_g": None,
                "weight_tolerance_g": None, "active": True,
                "barcodes": [{"code": f"{77000 + i}", "kind": "item"}]}, partial=False)
        conn.execute("COMMIT")
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT id, version, price_fen FROM products WHERE id LIKE 'X%'")}
    finally:
        conn.close()


def _wait_for_cursor(edge_db: Path, version: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the edge's catalog cursor reaches ``version`` (at most 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            rows = _rows(edge_db, "SELECT cursor FROM sync_cursors WHERE stream = 'catalog'")
        except sqlite3.Error:
            rows = []   # not created or not migrated yet
        if rows and rows[0][0] and int(rows[0][0]) >= version:
            return
        time.sleep(0.01)
    raise AssertionError("the daemon never started applying this round's changes")


@pytest.mark.slow
def test_sigkill_while_applying_pages_never_leaves_half_a_page(
        tmp_path: Path, pytestconfig: pytest.Config) -> None:
    loops = pytestconfig.getoption("--crash-loops") or DEFAULT_LOOPS
    count, crm_db = 2000, tmp_path / "crm.db"
    _crm_with_many_products(crm_db, count)
    crm = CrmProcess(crm_db)
    try:
        config = write_config(tmp_path, extra=sync_config_text(crm.url, pull_ms=60000) +
                              "pull_page_size = 10\n")
        pair_process(crm, config)
        edge_db = tmp_path / "state" / "storeedge.db"
        rng = random.Random(7)
        partial_kills = 0
        for round_no in range(1, loops + 1):
            current = _reprice(crm_db, count, round_no)
            first = min(version for version, _price in current.values())
            with (tmp_path / "daemon.log").open("a") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
                # Once this round's changes start arriving, kill at a random moment.
                _wait_for_cursor(edge_db, first, proc)
                time.sleep(rng.uniform(0, 0.4))
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
            if not edge_db.exists() or not _rows(
                    edge_db, "SELECT 1 FROM sqlite_master WHERE name = 'sync_cursors'"):
                continue   # killed before the first start finished migrating
            cursor = _rows(edge_db, "SELECT cursor FROM sync_cursors WHERE stream = 'catalog'")
            applied_through = int(cursor[0][0] or 0) if cursor else 0
            have = dict(_rows(edge_db, "SELECT id, price_fen FROM products WHERE id LIKE 'X%'"))
            # A change is at the edge exactly when the cursor has passed it: a page and its
            # cursor commit together. Older states may linger for rows the cursor has not
            # reached (the stream serves each row's newest state only).
            for pid, (version, price) in current.items():
                if version <= applied_through:
                    assert have.get(pid) == price, f"{pid}: cursor {applied_through} passed it"
                else:
                    assert have.get(pid) != price, f"{pid}: applied beyond cursor {applied_through}"
                    assert pid not in have or have[pid] // 10_000 < round_no
            versions = [version for version, _price in current.values()]
            partial_kills += min(versions) <= applied_through < max(versions)
        assert partial_kills, "no kill landed mid-stream; the test proves nothing"
    finally:
        crm.stop()
