"""`python -m benchmarks.face_verify` reads a pairs CSV strictly and reports both pipelines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks.face_verify", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def test_pairs_are_counted_as_accepts_and_rejects(tmp_path: Path, corpus: Path) -> None:
    faces = corpus / "faces"
    (tmp_path / "photos").symlink_to(faces)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("file_x,file_y,Decision\n"
                     "photos/obama/obama_1.jpg,photos/obama/obama_small.jpg,Yes\n"
                     "photos/obama/obama_1.jpg,photos/biden/biden_1.jpg,No\n"
                     "\n"
                     "photos/rose_leslie/rose_leslie_1.jpg,photos/rose_leslie/rose_leslie_2.jpg,yes\n")
    result = verify(str(pairs))
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {"pairs": 3, "accuracy": 1.0, "true_accepts": 2, "false_accepts": 0,
                "true_rejects": 1, "false_rejects": 0}
    assert {k: last[k] for k in expected} == expected
    assert last["plain"]["pairs"] == 3
    assert "plain face_recognition defaults" in result.stdout


def test_a_malformed_pairs_file_is_refused_with_its_line(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("file_x,file_y,Decision\na.jpg,b.jpg,Maybe\n")
    result = verify(str(pairs))
    assert result.returncode == 2
    assert f"{pairs}:2: Decision must be Yes or No" in result.stderr
    pairs.write_text("left,right\n")
    assert "header must be file_x,file_y,Decision" in verify(str(pairs)).stderr
