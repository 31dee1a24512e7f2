"""Every benchmark still runs: a small size of each, as ``python -m benchmarks.NAME``.

Benchmarks are not run by CI at full size, and one broke unnoticed when self-checkout made
the beer lock a kiosk lane (sync_lag). Here each runs end to end on a tiny workload and must
exit 0 with its figures as one JSON object on the last stdout line. No figure is judged: speed
belongs to the benchmarks themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

CORPUS = ROOT.parent / "shared" / "corpus"

# name -> (arguments, figures the last line must carry, needs the shared corpus)
SMALL: dict[str, tuple[list[str], set[str], bool]] = {
    "sale_commit": (["--sales", "30", "--dir", "{tmp}"], {"p99_ms"}, False),
    "checkout_flow": (["--sales", "5", "--dir", "{tmp}"], {"p50_ms", "p99_ms"}, False),
    "self_checkout": (["--exits", "20", "--items", "10", "--dir", "{tmp}"], set(), False),
    "hid_decode": (["--scans", "50"], {"p99_ms"}, False),
    "camera_decode": (["--repeat", "1"], set(), True),
    "console_load": (["--seconds", "1", "--connections", "4"], {"rps", "errors"}, False),
    "scan_to_screen": (["--page", "kiosk", "--scans", "8", "--warmup", "2", "--gap-ms", "20"],
                       {"p50_ms", "p99_ms", "back_to_back_p99_ms", "raw_commit_p99_ms"}, False),
    "sync_drain": (["--events", "3000", "--dir", "{tmp}"], {"events_per_s", "peak_rss_mb"},
                   False),
    "sync_lag": (["--rate", "10", "--seconds", "2", "--dir", "{tmp}"], {"p50_s", "p99_s"},
                 False),
    "face_pipeline": (["--frames", "2", "--gallery", "1000", "--big", "2000", "--rounds", "2"],
                      {"frame_median_ms", "reference_median_ms", "match_100k_ms",
                       "match_1m_ms", "peak_rss_mb"}, True),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_benchmark_runs_and_ends_with_its_figures(name: str, tmp_path: Path) -> None:
    args, keys, corpus = SMALL[name]
    if corpus and not CORPUS.is_dir():
        pytest.skip(f"the benchmark reads the corpus at {CORPUS} (in ../shared beside the clone)")
    command = [sys.executable, "-m", f"benchmarks.{name}",
               *(a.replace("{tmp}", str(tmp_path)) for a in args)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    last = done.stdout.strip().splitlines()[-1]
    figures = json.loads(last)
    assert isinstance(figures, dict), last
    assert keys <= set(figures), f"{name} lacks {keys - set(figures)}: {last}"
