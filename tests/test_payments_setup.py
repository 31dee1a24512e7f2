"""Setting payments up: config errors name the key, key files are guarded, the demo and the
``storeedge payments`` tool work."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge.app import EdgeApp
from edge.cart import Cart
from edge.cli import _payment_banner
from edge.config import load_config
from edge.errors import ConfigError
from edge.lane import LaneEvent
from edge.payments.service import PaymentRefused, PaymentService
from edge.payments.sim.demo import demo_codes
from edge.store import Store
from tests.helpers import MILK, ROOT, make_config, write_config
from tests.payments_support import (
    FINAL_EVENTS,
    HANG_S,
    SimProcess,
    daemon_payments_toml,
    payments_config,
    simulators,
)


@pytest.mark.parametrize(("toml", "key"), [
    ("[payments]\npoll_limit = 0\n", "payments.poll_limit"),
    ("[payments]\npoll_interval = 5\n", "payments.poll_interval"),
    ("[payments.wechat]\nenabled = true\nmch_id = \"1\"\n", "payments.wechat.appid"),
    ("[payments.wechat]\nbase_url = \"http://pay.example.com\"\n", "payments.wechat.base_url"),
    ("[payments.wechat]\nsign_type = \"SHA1\"\n", "payments.wechat.sign_type"),
    ("[payments.wechat]\ncert_file = \"c.pem\"\n", "payments.wechat.cert_file"),
    ("[payments.wechat]\nterminal_ip = \"lane-pc\"\n", "payments.wechat.terminal_ip"),
    ("[payments.alipay]\nenabled = true\n", "payments.alipay.app_id"),
    ("[payments.alipay]\nprivate_key_file = 3\n", "payments.alipay.private_key_file"),
    ("[payments]\nwechat = 1\n", "payments.wechat"),
])
def test_config_errors_name_the_file_and_the_key(tmp_path: Path, toml: str, key: str) -> None:
    path = write_config(tmp_path, extra="\n" + toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key and str(path) in str(caught.value)


def test_the_default_config_documents_and_disables_both_wallets() -> None:
    config = load_config(None)
    assert config.payments.enabled == ()
    assert config.payments.poll_interval_ms == 5000  # the docs' 5 s
    assert config.payments.wechat.key_file == config.paths.state_dir / "keys/wechat_api_key"


async def test_a_key_file_others_can_read_turns_that_wallet_off_with_the_fix(
    tmp_path: Path
) -> None:
    store = Store(tmp_path / "edge.db")
    await store.open()
    service = PaymentService(store)
    try:
        async with simulators() as (wechat, alipay):
            config = payments_config(tmp_path / "keys", wechat.url, alipay.url)
            os.chmod(config.wechat.key_file, 0o644)
            await service.open(config, device_id="d", description="s")
            assert sorted(service.providers) == ["alipay"]
            assert "chmod 600" in service.unavailable["wechat"]
            with pytest.raises(PaymentRefused) as refused:
                await service.begin(cart=Cart.open("1"), amount_fen=100, provider="wechat",
                                    code="134567890123456789")
            assert refused.value.reason == "not_enabled"
    finally:
        await service.aclose()
        await store.close()


async def test_the_demo_runs_both_simulators_with_private_keys_and_takes_payments(
    tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    app = EdgeApp(config, simulate_payments=True)
    await app.start()
    try:
        assert sorted(app.payment_simulators) == ["alipay", "wechat"]
        assert (await app.status())["payments"]["providers"] == ["alipay", "wechat"]
        folder = config.paths.state_dir / "payments-demo"
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
        assert modes and set(modes.values()) == {0o600}
        banner = _payment_banner(app)
        assert "storeedge scan 13" in banner and "storeedge scan 28" in banner

        lane = app.lanes["1"]
        events: asyncio.Queue[LaneEvent] = asyncio.Queue()
        lane.observe(lambda _lane, event: events.put_nowait(event))
        for code in demo_codes():
            await app.handle_scan(lane, MILK, None, None)
            started = await app.handle_scan(lane, code, None, "scan-1")
            assert started.code == "payment_started", started
            async with asyncio.timeout(HANG_S):
                while (event := await events.get()).code not in FINAL_EVENTS:
                    pass
            assert event.code == "payment_succeeded" and event.scan_id == "scan-1"
        assert lane.last_sale is not None and lane.last_sale.receipt_no == 2
    finally:
        await app.stop()
    key = (folder / "wechat_api_key").read_bytes()
    again = EdgeApp(config, simulate_payments=True)
    await again.start()
    await again.stop()
    assert (folder / "wechat_api_key").read_bytes() == key  # made once, then kept


def storeedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_payments_check_and_list_for_store_it(tmp_path: Path) -> None:
    (tmp_path / "sim").mkdir()
    with SimProcess(tmp_path) as sim:
        state = tmp_path / "state"
        config = write_config(tmp_path, extra=daemon_payments_toml(sim.url, state))
        result = storeedge("payments", "check", "-c", str(config))
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("wechat   ok: signed answer verified")

        (state / "keys" / "wechat_api_key").write_bytes(b"A" * 32)  # a wrong key
        result = storeedge("payments", "check", "-c", str(config))
        assert result.returncode == 1 and "FAILED" in result.stdout

    result = storeedge("payments", "list", "-c", str(config))
    assert result.returncode == 1 and "No database" in result.stdout


def test_payments_list_shows_masked_codes(tmp_path: Path) -> None:
    from tests.test_payments_daemon import kill_while_the_shopper_confirms  # noqa: PLC0415

    (tmp_path / "sim").mkdir()
    with SimProcess(tmp_path) as sim:
        sim.script("134567890123450019", outcome="userpaying", queries=10)
        kill_while_the_shopper_confirms(tmp_path, sim, "134567890123450019",
                                        **{"poll_interval_ms": 200, "poll_limit": 100})
    result = storeedge("payments", "list", "-c", str(tmp_path / "storeedge.toml"))
    assert result.returncode == 0, result.stderr
    assert "13************0019" in result.stdout and "waiting_user" in result.stdout
    assert "134567890123450019" not in result.stdout

