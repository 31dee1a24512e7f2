"""What store IT sends when asking for help: config without secrets, versions, logs, DB stats.

Plain functions; the file work is synchronous and meant for a thread. The bundle never holds
the database itself nor any secret: secret-looking config keys are masked, and the database
is described (row counts, sizes, integrity, migrations), not copied.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import importlib.metadata
import io
import json
import platform
import re
import sqlite3
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import __version__

MASK = "********"
_SECRET_TOKENS = {"key", "secret", "token", "password", "passwd", "pwd", "pin", "passphrase",
                  "credential", "credentials", "apikey", "private"}
_SECRET_PARTS = ("secret", "password", "passwd", "token", "apikey", "passphrase", "credential")
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
LOG_NAME = "storeedge.log"
LOG_BYTES = 2 * 1024 * 1024
EXTRA_DISTRIBUTIONS = ("face_recognition", "face_recognition_models", "dlib-bin", "setuptools")


def is_secret_key(name: str) -> bool:
    """Return whether a config key names a secret (``api_key``, ``pairingSecret``, ``pin``)."""
    words = [w.lower() for w in _WORDS.findall(name)]
    joined = "".join(words)
    return any(w in _SECRET_TOKENS for w in words) or any(p in joined for p in _SECRET_PARTS)


def mask_secrets(value: Any) -> Any:
    """Return ``value`` with every secret-named key's value replaced by a mask."""
    if isinstance(value, Mapping):
        return {str(k): (MASK if is_secret_key(str(k)) and v not in (None, "", [], {})
                         else mask_secrets(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """Turn config dataclasses, paths and enums into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # paths and anything else print as text


def config_view(config: Any) -> dict[str, Any]:
    """Return the loaded config as plain data with secrets masked."""
    result: dict[str, Any] = mask_secrets(plain(config))
    return result


def versions() -> dict[str, Any]:
    """Return the versions of the program, Python, SQLite and every library it uses."""
    libraries: dict[str, str | None] = {}
    try:
        requirements = importlib.metadata.requires("storeedge") or []
    except importlib.metadata.PackageNotFoundError:
        requirements = []
    names = [re.split(r"[ ;<>=!~\[]", r, maxsplit=1)[0] for r in requirements
             if "extra ==" not in r]
    for name in [*names, *EXTRA_DISTRIBUTIONS]:
        try:
            libraries[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            libraries[name] = None
    return {"storeedge": __version__, "python": sys.version.split()[0],
            "sqlite": sqlite3.sqlite_version, "platform": platform.platform(),
            "libraries": libraries}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def db_stats(path: Path) -> dict[str, Any]:
    """Describe the database read-only: tables and row counts, sizes, integrity, migrations."""
    files = {p.name: p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
             if p.exists()}
    stats: dict[str, Any] = {"path": str(path), "file_bytes": files}
    if not path.exists():
        stats["error"] = "the database file does not exist"
        return stats
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as err:
        stats["error"] = str(err)
        return stats
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        stats["tables"] = {
            t: conn.execute(f"SELECT count(*) FROM {_quote(t)}").fetchone()[0]  # noqa: S608 - names from sqlite_master, quoted
            for t in tables}
        stats["integrity"] = "; ".join(
            str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)"))
        stats["journal_mode"] = conn.execute("PRAGMA journal_mode").fetchone()[0]
        stats["page_size"] = conn.execute("PRAGMA page_size").fetchone()[0]
        stats["page_count"] = conn.execute("PRAGMA page_count").fetchone()[0]
        stats["freelist_count"] = conn.execute("PRAGMA freelist_count").fetchone()[0]
        if "schema_migrations" in tables:
            stats["migrations"] = [
                {"version": v, "name": n, "applied_at": a} for v, n, a in conn.execute(
                    "SELECT version, name, applied_at FROM schema_migrations ORDER BY version")]
    except sqlite3.Error as err:
        stats["error"] = str(err)
    finally:
        conn.close()
    return stats


def log_files(log_dir: Path) -> list[Path]:
    """Return the daemon's log file and its rotated copies, newest first."""
    current = log_dir / LOG_NAME
    rotated = sorted(log_dir.glob(f"{LOG_NAME}.[0-9]*"),
                     key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else 99)
    return [p for p in [current, *rotated] if p.is_file()]


def tail_bytes(path: Path, max_bytes: int) -> bytes:
    """Return the last ``max_bytes`` of a file, starting at a line boundary."""
    with path.open("rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - max_bytes))
        data = f.read(max_bytes)
    if size > max_bytes and b"\n" in data:
        data = data[data.index(b"\n") + 1:]
    return data


def tail_lines(path: Path, lines: int, max_bytes: int = 1024 * 1024) -> list[str]:
    """Return the last ``lines`` lines of a text file (bounded read)."""
    if not path.is_file():
        return []
    text = tail_bytes(path, max_bytes).decode("utf-8", "replace")
    return text.splitlines()[-lines:] if lines > 0 else []


def build_bundle(*, config: Any, status: Mapping[str, Any], log_dir: Path,
                 database: Path, now: dt.datetime | None = None) -> bytes:
    """Return a zip of what store IT sends for help; never the database, never secrets."""
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    buffer = io.BytesIO()

    def add_json(name: str, data: Any) -> None:
        archive.writestr(name, json.dumps(data, ensure_ascii=False, indent=2, default=str))

    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", (
            f"StoreEdge diagnostics bundle, made {stamp}.\n"
            "config.json    the loaded configuration; secret-named values are masked\n"
            "versions.json  program, Python, SQLite and library versions\n"
            "status.json    store, lanes, devices and their states, sync when configured\n"
            "database.json  table row counts, file sizes, integrity check, migrations\n"
            "logs/          the end of each daemon log file\n"
            "It never contains the database itself, passwords, PINs, keys or tokens.\n"))
        add_json("config.json", config_view(config))
        add_json("versions.json", versions())
        add_json("status.json", mask_secrets(plain(status)))
        add_json("database.json", db_stats(database))
        for path in log_files(log_dir)[:3]:
            archive.writestr(f"logs/{path.name}", tail_bytes(path, LOG_BYTES))
    return buffer.getvalue()


def read_appended(path: Path, inode: int | None, offset: int,
                  max_bytes: int = 256 * 1024) -> tuple[list[str], int | None, int]:
    """Return complete lines added to a log since (inode, offset), and the new position.

    A different inode or a shorter file means the log was rotated: read the new file from
    its start. A line still being written waits for its newline.
    """
    try:
        stat = path.stat()
    except OSError:
        return [], None, 0
    if stat.st_ino != inode or stat.st_size < offset:
        inode, offset = stat.st_ino, 0
    if stat.st_size == offset:
        return [], inode, offset
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read(max_bytes)
    end = data.rfind(b"\n") + 1
    if end == 0:
        return [], inode, offset if len(data) < max_bytes else offset + len(data)
    return data[:end].decode("utf-8", "replace").splitlines(), inode, offset + end


def file_position(path: Path) -> tuple[int | None, int]:
    try:
        stat = path.stat()
    except OSError:
        return None, 0
    return stat.st_ino, stat.st_size
