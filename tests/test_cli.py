"""The `storeedge` tools store IT types: help, init, doctor, backup, version."""

from __future__ import annotations

import argparse
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import build_parser
from edge.config import load_config
from tests.helpers import ROOT, write_config


def storeedge(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_every_command_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands: dict[str, argparse.ArgumentParser] = sub.choices
    assert {"run", "demo", "init", "doctor", "backup", "scan", "version"} <= set(commands)
    for name in commands:
        result = storeedge(name, "--help")
        assert result.returncode == 0, (name, result.stderr)
        assert "usage: storeedge" in result.stdout


def test_init_writes_a_config_that_loads_like_the_embedded_default(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "storeedge.toml"
    result = storeedge("init", str(path))
    assert result.returncode == 0 and path.exists()
    assert path.read_text().count("#") > 20  # it explains itself
    written, embedded = load_config(path), load_config(None)
    assert written.lanes == embedded.lanes and written.scan == embedded.scan
    assert written.paths.state_dir == tmp_path / "etc" / "var"
    again = storeedge("init", str(path))
    assert again.returncode == 1 and "--force" in again.stderr


@pytest.mark.parametrize(("extra", "key"), [
    ("\n[http]\nport = 99999\n", "http.port"),
    ("\n[[lanes]]\nid = \"1\"\n", "lanes[2].id"),
    ("\n[[devices]]\nid = \"x\"\ndriver = \"laser\"\n", "devices[1].driver"),
    ("\n[[devices]]\nid = \"x\"\ndriver = \"sim_scanner\"\nlane = \"9\"\n", "devices[1].lane"),
    ("\n[[devices]]\nid = \"x\"\ndriver = \"sim_scanner\"\n", "devices[1].options.socket"),
])
def test_config_errors_name_the_key(tmp_path: Path, extra: str, key: str) -> None:
    text = write_config(tmp_path).read_text()
    if extra.startswith("\n[http]"):
        text = text.replace("port = 0", "port = 99999")
        extra = ""
    path = tmp_path / "bad.toml"
    path.write_text(text + extra)
    result = storeedge("run", "--config", str(path))
    assert result.returncode == 2
    assert key in result.stderr and str(path) in result.stderr


def test_not_toml_at_all(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[store\nid = ")
    result = storeedge("doctor", "--config", str(path))
    assert result.returncode == 2 and "not valid TOML" in result.stderr


def test_doctor_reports_each_check(tmp_path: Path) -> None:
    result = storeedge("doctor", "--config", str(write_config(tmp_path)))
    for name in ("libzbar", "face models", "database", "disk", "clock", "device sim-1"):
        assert name in result.stdout
    assert "does not exist yet" in result.stdout  # no database before the first run


def test_doctor_names_a_damaged_database_and_the_fix(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    db = tmp_path / "state" / "storeedge.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database" * 300)
    result = storeedge("doctor", "--config", str(config))
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "restore the last backup" in result.stdout


def test_backup_of_a_database(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    db = tmp_path / "state" / "storeedge.db"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE sales (id TEXT)")
    conn.execute("INSERT INTO sales VALUES ('a'), ('b')")
    conn.commit()  # left open: the daemon is "running"
    result = storeedge("backup", str(tmp_path / "b.db"), "--config", str(config))
    conn.close()
    assert result.returncode == 0, result.stderr
    assert "2 sales, integrity ok" in result.stdout
    assert stat.S_IMODE((tmp_path / "b.db").stat().st_mode) == 0o600  # members' personal data
    copy = sqlite3.connect(tmp_path / "b.db")
    assert copy.execute("SELECT count(*) FROM sales").fetchone() == (2,)
    copy.close()


def test_nightly_backup_into_a_folder_keeps_the_newest(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    db = tmp_path / "state" / "storeedge.db"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE sales (id TEXT)")
    conn.close()
    folder = tmp_path / "backups"
    folder.mkdir()
    unrelated = folder / "notes.txt"
    unrelated.write_text("store IT's own file")
    for day in range(1, 5):  # four older nightly backups
        old = folder / f"storeedge-2026010{day}-033000.db"
        old.write_bytes(b"old")
        os.utime(old, (1_760_000_000 + day, 1_760_000_000 + day))
    for _ in range(2):  # two runs in the same second must not collide
        result = storeedge("backup", f"{folder}/", "--keep", "3", "--config", str(config))
        assert result.returncode == 0, result.stderr
    kept = sorted(p.name for p in folder.iterdir())
    assert len(kept) == 4 and "notes.txt" in kept
    assert "storeedge-20260104-033000.db" in kept  # the newest old one
    assert sum(1 for k in kept if k.startswith("storeedge-2026010")) == 1
    assert "Removed old backup" in result.stdout

    result = storeedge("backup", str(tmp_path / "one.db"), "--keep", "3", "--config", str(config))
    assert result.returncode == 2 and "folder" in result.stderr


def test_version() -> None:
    result = storeedge("version")
    assert result.returncode == 0 and result.stdout.startswith("storeedge ")
