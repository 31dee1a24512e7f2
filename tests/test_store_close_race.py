"""Closing a store while its background WAL checkpoint runs must not crash the process.

Cancelling the checkpoint task does not stop its thread; closing the SQLite connection under
that thread's running statement killed the process with SIGSEGV (it failed `make test` once).
The race runs in a subprocess so that a crash fails this test instead of the whole run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import ROOT

RACE = textwrap.dedent("""
    import asyncio, random, sys
    from pathlib import Path
    from edge.store import Store

    async def main(folder):
        rng = random.Random(7)
        for i in range(300):
            store = Store(folder / f"x{i % 3}.db", checkpoint_interval_s=0.0005)
            await store.open()
            await store.write(lambda c: c.execute(
                "INSERT OR REPLACE INTO meta VALUES ('k', randomblob(20000))"))
            await asyncio.sleep(rng.uniform(0, 0.003))
            await store.close()
        print("closed 300 stores")

    asyncio.run(main(Path(sys.argv[1])))
""")


def test_closing_during_a_checkpoint_does_not_crash(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", RACE, str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "closed 300 stores" in result.stdout
