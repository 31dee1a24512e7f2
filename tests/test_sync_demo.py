"""The demo's CRM beside the daemon, the sync CLI, and the [sync] config section."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

import pytest

from edge.config import load_config
from edge.errors import ConfigError
from sync.credentials import load_credentials
from sync.demo import demo_crm
from tests.helpers import MILK, ROOT, write_config
from tests.sync_helpers import sell, started, wait_for


async def test_demo_starts_the_crm_pairs_once_and_sells_through_it(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load_config(path)
    async with demo_crm(config) as serving:
        assert serving.sync.crm_url.startswith("http://127.0.0.1:")
        creds = load_credentials(serving.sync.credentials_path(serving.paths.state_dir),
                                 "T01", "lane-pc-1")
        async with started(serving) as app:
            sale = await sell(app, [MILK])
            await wait_for(lambda: app.sync.status()["acked_through_seq"] == 1, what="acked")
            assert app.sync.state.state == "online"
            cli = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edge.cli", "sync", "status", "--config", str(path),
                cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out = (await cli.communicate())[0].decode()
            assert cli.returncode == 0 and out.startswith("online: in sync"), out
            assert "pending_count: 0" in out
        assert sale.sale_id
    # A second start finds the pairing still good and keeps it.
    async with demo_crm(config):
        again = load_credentials(config.sync.credentials_path(config.paths.state_dir),
                                 "T01", "lane-pc-1")
        assert again.secret == creds.secret
    # A fresh CRM database does not know the old secret: the demo pairs again.
    for name in ("crm.db", "crm.db-wal", "crm.db-shm"):
        (config.paths.state_dir / name).unlink(missing_ok=True)
    async with demo_crm(config):
        fresh = load_credentials(config.sync.credentials_path(config.paths.state_dir),
                                 "T01", "lane-pc-1")
        assert fresh.secret != creds.secret


@pytest.mark.parametrize(("text", "key", "words"), [
    ('crm_url = "http://crm.example.cn"', "sync.crm_url", "plain http to crm.example.cn"),
    ('crm_url = "ftp://x"', "sync.crm_url", "not an http(s) URL"),
    ("push_batch_events = 0", "sync.push_batch_events", "must be 1-10000"),
    ("push_linger_ms = 5000", "sync.push_linger_ms", "shorter than push_interval_ms"),
    ("enabled = 1", "sync.enabled", "true or false"),
    ("offline_total_fen = -1", "sync.offline_total_fen", "must be 0-100000000"),
    ("colour = 3", "sync.colour", "unknown key"),
])
def test_sync_config_errors_name_the_key(tmp_path: Path, text: str, key: str,
                                         words: str) -> None:
    path = write_config(tmp_path, extra=f"\n[sync]\n{text}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key and words in caught.value.message
    assert str(path) in str(caught.value)


def test_sync_config_defaults_and_https(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, extra='\n[sync]\ncrm_url = '
                                      '"https://crm.example.cn/storeedge/"\nca_file = "ca.pem"\n'))
    assert config.sync.crm_url == "https://crm.example.cn/storeedge/"
    assert config.sync.ca_file == str(tmp_path / "ca.pem")
    assert dataclasses.replace(config.sync).push_batch_events == 1000
    assert load_config(None).sync.enabled
