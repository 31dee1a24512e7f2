"""The diagnostics bundle and the config view: useful to support, useless to a thief."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from edge.audit import recent_audit
from edge.diagnostics import MASK, is_secret_key, mask_secrets
from tests.browser import FAST_HASHING, console_client, running_edge
from tests.helpers import write_config

SECRET = "sk-LIVE-do-not-leak-4242"


@pytest.mark.parametrize("key, secret", [
    ("api_key", True), ("apiKey", True), ("pairingSecret", True), ("tls_key", True),
    ("pin", True), ("admin_password", True), ("token_file", True), ("hmac_secret", True),
    ("passwd", True), ("credentials", True), ("privateKey", True),
    ("keyboard_layout", False), ("shipping_zone", False), ("ping_interval_s", False),
    ("pinyin_names", False), ("port", False), ("device_id", False), ("monkey_count", False),
])
def test_secret_key_names(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_masking_reaches_nested_tables_and_lists() -> None:
    config = {"sync": {"url": "https://crm", "secret": "s3", "empty_token": ""},
              "devices": [{"id": "p1", "options": {"api_key": "k", "port": 9100}}]}
    assert mask_secrets(config) == {
        "sync": {"url": "https://crm", "secret": MASK, "empty_token": ""},
        "devices": [{"id": "p1", "options": {"api_key": MASK, "port": 9100}}]}


async def test_bundle_has_what_support_needs_and_no_secret(tmp_path: Path) -> None:
    extra = f'api_key = "{SECRET}"\n'  # a device option that is a secret
    config = write_config(tmp_path, console=FAST_HASHING)
    config.write_text(config.read_text().replace(
        'socket = "{run_dir}/s1.sock"\n', 'socket = "{run_dir}/s1.sock"\n' + extra))
    log_dir = tmp_path / "state" / "log"
    log_dir.mkdir(parents=True)
    (log_dir / "storeedge.log").write_text("2026-05-01 INFO edge.app: ready\n" * 10)
    (log_dir / "storeedge.log.1").write_bytes(b"old line\n" * 400_000)  # 3.6 MB
    async with running_edge(config) as edge:
        await edge.users.create("admin", "it_admin", "admin password", actor="test")
        assert edge.console_url is not None
        async with console_client(edge.console_url) as admin:
            await admin.login("admin", "admin password")
            shown = await admin.get("/console/api/config")
            options = shown["config"]["devices"][0]["options"]
            assert options["api_key"] == MASK and options["socket"].endswith("s1.sock")
            async with admin.session.get(edge.console_url + "/console/api/diagnostics.zip") \
                    as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "application/zip"
                assert "attachment" in response.headers["Content-Disposition"]
                data = await response.read()
            token = next(c.value for c in admin.session.cookie_jar
                         if c.key == "storeedge_console")
            csrf = admin.csrf
        hashes = await edge.store.fetchall("SELECT password_hash FROM console_users")
        entries = await recent_audit(edge.store, limit=1)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        contents = {name: archive.read(name) for name in names}
    assert names == ["README.txt", "config.json", "database.json", "logs/storeedge.log",
                     "logs/storeedge.log.1", "status.json", "versions.json"]
    everything = b"".join(contents.values())
    for secret in (SECRET, "admin password", token, csrf or "", hashes[0][0], "$argon2"):
        assert secret.encode() not in everything, f"{secret[:12]}... leaked into the bundle"
    assert not any(name.endswith((".db", ".db-wal", ".sqlite")) for name in names)
    assert len(contents["logs/storeedge.log.1"]) <= 2 * 1024 * 1024
    database = json.loads(contents["database.json"])
    assert database["integrity"] == "ok"
    assert database["tables"]["console_users"] == 1 and database["tables"]["products"] > 10
    assert "0007_console.sql" in [m["name"] for m in database["migrations"]]
    assert "storeedge.db" in database["file_bytes"]
    versions = json.loads(contents["versions.json"])
    assert versions["libraries"]["aiohttp"] and versions["libraries"]["argon2-cffi"]
    status = json.loads(contents["status.json"])
    assert [d["device_id"] for d in status["devices"]] == ["sim-1"]
    assert json.loads(contents["config.json"])["devices"][0]["options"]["api_key"] == MASK
    assert entries[0].action == "diagnostics.downloaded" and entries[0].actor == "admin"
