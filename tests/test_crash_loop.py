"""SIGKILL the daemon during sale commits, many times: every sale is whole or absent."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crashing import assert_sales_whole, integrity, rows, run_and_kill
from tests.helpers import write_config

DEFAULT_LOOPS = 25


@pytest.mark.slow
def test_sigkill_during_sales_loses_or_duplicates_nothing(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    loops = pytestconfig.getoption("--crash-loops") or DEFAULT_LOOPS
    config = write_config(tmp_path, busy_timeout_ms=5000)
    rng = random.Random(20261122)
    reported: set[str] = set()
    for i in range(loops):
        reported |= run_and_kill("tests.crash_worker", config, i,
                                 after_s=rng.uniform(0.02, 0.4), log=tmp_path / "worker.log")

    db = tmp_path / "state" / "storeedge.db"
    assert integrity(db) == "ok"
    sales = assert_sales_whole(db)
    assert len(sales) >= loops, "the worker hardly sold anything; the test proves nothing"
    # Every sale the daemon reported as committed is there.
    assert reported <= sales.keys(), f"lost: {sorted(reported - sales.keys())[:5]}"
    # Cash only here: the drawer took exactly each sale's total.
    for sale_id, sale in sales.items():
        drawer = rows(db, "SELECT delta FROM ledger WHERE account LIKE 'drawer:%'"
                      " AND sale_id = ?", (sale_id,))
        assert [d[0] for d in drawer] == [sale["total_fen"]]
