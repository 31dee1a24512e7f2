"""`storeedge user` at the shell: scripted, at a real terminal (no echo), and live on a daemon."""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser import FAST_HASHING, console_client, running_edge
from tests.helpers import ROOT, write_config

# Makes the pty the controlling terminal, as a login shell would, then runs the CLI.
AT_A_TERMINAL = ("import fcntl, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
                 "from edge.cli import main; sys.exit(main(sys.argv[1:]))")


def user_cli(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "user", *args, "--config",
                           str(config)], input=stdin, cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)


async def user_cli_async(config: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge.cli", "user", *args, "--config", str(config), cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    return proc.returncode or 0, out.decode()


def test_scripted_add_list_pin_disable_and_clear_errors(tmp_path: Path) -> None:
    config = write_config(tmp_path, console=FAST_HASHING)
    result = user_cli(config, "add", "li", "--role", "supervisor", "--password-stdin",
                      stdin="li password\n")
    assert result.returncode == 0 and "Created li (supervisor, active)" in result.stdout
    result = user_cli(config, "pin", "li", "--pin-stdin", stdin="2468\n")
    assert result.returncode == 0 and "PIN set" in result.stdout
    result = user_cli(config, "list")
    assert "li" in result.stdout and "supervisor" in result.stdout and "PIN" in result.stdout
    assert "li password" not in result.stdout + result.stderr
    result = user_cli(config, "passwd", "li")  # stdin is not a terminal here
    assert result.returncode == 1 and "--password-stdin" in result.stderr
    result = user_cli(config, "add", "wang", "--role", "cashier", "--password-stdin",
                      stdin="short\n")
    assert result.returncode == 1 and "8 to 128 characters" in result.stderr
    result = user_cli(config, "disable", "nobody")
    assert result.returncode == 1 and "no user named 'nobody'" in result.stderr
    result = user_cli(config, "add", "x", "--role", "owner", "--password-stdin")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    result = user_cli(config, "disable", "li")
    assert result.returncode == 0 and "Disabled li" in result.stdout
    log = tmp_path / "state" / "log"
    assert not log.exists() or "li password" not in "".join(
        p.read_text() for p in log.iterdir())


def _read_until(fd: int, marker: bytes, seen: bytearray, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no {marker!r} in {bytes(seen)!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            return
        if not chunk:
            return
        seen.extend(chunk)


def test_passwords_typed_at_a_terminal_are_never_echoed(tmp_path: Path) -> None:
    config = write_config(tmp_path, console=FAST_HASHING)
    assert user_cli(config, "add", "li", "--role", "supervisor", "--password-stdin",
                    stdin="li password\n").returncode == 0
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", AT_A_TERMINAL, "user", "passwd", "li", "--config", str(config)],
        stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, start_new_session=True)
    os.close(slave)
    seen = bytearray()
    try:
        _read_until(master, b"New password: ", seen)
        os.write(master, b"terminal secret 1\n")
        _read_until(master, b"again: ", seen)
        os.write(master, b"terminal secret 1\n")
        _read_until(master, b"sessions have ended", seen)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"terminal secret" not in seen, bytes(seen)
    assert b"New password set for li" in seen


async def test_a_reset_at_the_shell_applies_to_the_running_daemon(tmp_path: Path) -> None:
    config = write_config(tmp_path, console=FAST_HASHING + "session_recheck_s = 0.2\n")
    async with running_edge(config) as edge:
        assert edge.console_url is not None
        # A fresh appliance: `storeedge user add` closes the first-run setup.
        code, out = await user_cli_async(config, "add", "admin", "--role", "it_admin",
                                         "--password-stdin", stdin="admin password\n")
        assert code == 0, out
        async with console_client(edge.console_url) as admin:
            status, body = await admin.request("GET", "/console/api/session")
            assert body["setup_required"] is False
            await admin.login("admin", "admin password")
            await admin.get("/console/api/users")
            code, out = await user_cli_async(config, "passwd", "admin", "--password-stdin",
                                             stdin="a brand new password\n")
            assert code == 0, out
            await asyncio.sleep(0.5)  # longer than session_recheck_s
            status, body = await admin.request("GET", "/console/api/users")
            assert status == 401, "a password reset at the shell ends the console session"
            status, _ = await admin.request("POST", "/console/api/login", json={
                "name": "admin", "password": "admin password"})
            assert status == 401
            await admin.login("admin", "a brand new password")


@pytest.mark.parametrize("lines, key", [
    ("colour = \"blue\"\n", "console.colour"),
    ("port = 70000\n", "console.port"),
    ("tls_cert = \"missing.pem\"\n", "console.tls_cert"),
    ("session_idle_s = 0\n", "console.session_idle_s"),
    ("trusted_origins = [\"console.lan\"]\n", "console.trusted_origins"),
    ("argon2_memory_kib = true\n", "console.argon2_memory_kib"),
])
def test_console_config_mistakes_name_their_key(tmp_path: Path, lines: str, key: str) -> None:
    config = write_config(tmp_path, console=lines)
    result = subprocess.run([sys.executable, "-m", "edge.cli", "doctor", "--config",
                             str(config)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert f"{config}: {key}:" in result.stderr, result.stderr
