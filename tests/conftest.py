"""Suite-wide fixtures: hardware options, and failure on leaked tasks or loop errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ("tests.browser",)  # the Chromium and console fixtures

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus"

HW_OPTIONS = {
    "--hw-scanner": "evdev node or /dev/input/by-id path of a real USB scan gun",
    "--hw-serial": "serial URL of a real serial scanner (e.g. /dev/ttyACM0)",
    "--hw-scale": "serial URL of a real scale",
    "--hw-camera": "camera source: device index, /dev/v4l/by-id path or URL",
    "--hw-printer": "ESC/POS printer URL",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("storeedge hardware", "run the hardware tests against real devices")
    for option, help_text in HW_OPTIONS.items():
        group.addoption(option, default=None, help=help_text)
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=None,
        help="examples per fuzz test without its own count (default: a bounded 200)",
    )
    parser.addoption(
        "--crash-loops",
        type=int,
        default=None,
        help="iterations for the SIGKILL crash tests (default: a small bounded number)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Fuzz tests bounded in the default run; `--fuzz-examples=20000` for the full one. Tests
    # that set max_examples themselves keep it.
    settings.register_profile("storeedge", max_examples=config.getoption("--fuzz-examples")
                              or 200, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("storeedge")


def hw_option(config: pytest.Config, option: str) -> str:
    """Return the hardware option's value, or skip the test naming the option."""
    value: Any = config.getoption(option)
    if not value:
        pytest.skip(f"no real device: run with {option}=... to test against hardware")
    return str(value)


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"test corpus not found at {CORPUS} (it lives in ../shared beside the clone)")
    return CORPUS


@pytest.fixture(autouse=True)
async def _loop_hygiene() -> AsyncIterator[None]:
    """Fail a test that leaves tasks running or lets an exception escape to the loop."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
    for task in leaked:
        task.cancel()
    if leaked:
        await asyncio.gather(*leaked, return_exceptions=True)
    loop.set_exception_handler(None)
    assert not leaked, f"tasks left running: {[t.get_name() for t in leaked]}"
    assert not errors, f"unhandled loop errors: {[e.get('message') for e in errors]}"
