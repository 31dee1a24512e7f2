"""Console behaviour through its API: setup, lockout, expiry, users, parts, TLS, a busy port."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import sqlite3
import ssl
import stat
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.audit import recent_audit
from edge.seed import gtin13
from kiosk_ui.console.site import tls_context
from tests.browser import FAST_HASHING, console_client, running_edge, setup_code
from tests.console_parts import FACE_ON, consent, dead_lettered_sales
from tests.helpers import MEMBER_CODE, MILK, write_config

EVIL = "<img src=x onerror=alert(1)><script>alert(2)</script>"


async def test_setup_code_is_needed_once_and_then_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state_dir = tmp_path / "state"
    async with running_edge(write_config(tmp_path, console=FAST_HASHING)) as edge:
        assert edge.console_url is not None
        code_file = state_dir / "console-setup-code"
        assert stat.S_IMODE(code_file.stat().st_mode) == 0o600
        code = setup_code(state_dir)
        assert len(code) == 14 and code.count("-") == 2
        assert any(code in record.getMessage() for record in caplog.records)
        async with console_client(edge.console_url) as first, \
                console_client(edge.console_url) as second:
            status, _ = await first.request("GET", "/console", headers={"Accept": "text/html"})
            assert status == 303 and first.last_headers["Location"] == "/console/setup"
            assert (await first.get("/console/api/session"))["setup_required"] is True
            body = {"code": "AAAA-BBBB-CCCC", "name": "admin", "password": "admin password"}
            status, answer = await first.request("POST", "/console/api/setup", json=body)
            assert status == 403 and answer["code"] == "bad_setup_code"
            body["code"] = code.lower().replace("-", " ")  # read aloud, typed loosely
            status, answer = await first.request("POST", "/console/api/setup", json=body)
            assert status == 200 and answer["user"]["role"] == "it_admin"
            assert not code_file.exists()
            # The same code, from someone else on the LAN: refused, and no second admin.
            body.update(code=code, name="intruder")
            status, answer = await second.request("POST", "/console/api/setup", json=body)
            assert status == 409 and answer["code"] == "already_set_up"
            assert [u.name for u in await edge.users.list_all()] == ["admin"]
            status, _ = await second.request("GET", "/console", headers={"Accept": "text/html"})
            assert second.last_headers["Location"] == "/console/login"
            status, _ = await first.request("GET", "/console", headers={"Accept": "text/html"})
            assert first.last_headers["Location"] == "/console/dashboard"
        assert [e.action for e in await recent_audit(edge.store, target="user:admin")] == [
            "auth.login", "console.setup"]
    async with running_edge(write_config(tmp_path, console=FAST_HASHING)):
        assert not (state_dir / "console-setup-code").exists()  # users exist: no new code


async def test_lockout_after_failures_says_how_long(tmp_path: Path) -> None:
    config = write_config(tmp_path, console=FAST_HASHING + "login_max_failures = 3\n"
                          "login_lockout_s = 600\n")
    async with running_edge(config) as edge:
        await edge.users.create("li", "supervisor", "li password", actor="test")
        await edge.users.create("wang", "it_admin", "wang password", actor="test")
        assert edge.console_url is not None
        async with console_client(edge.console_url) as client:
            for _ in range(2):
                status, body = await client.request(
                    "POST", "/console/api/login", json={"name": "li", "password": "guess"})
                assert status == 401 and body["code"] == "bad_credentials"
            status, body = await client.request(
                "POST", "/console/api/login", json={"name": "li", "password": "guess"})
            assert status == 429 and body["code"] == "locked" and body["minutes"] == 10
            assert "try again in 10 minutes" in body["error"]
            assert client.last_headers["Retry-After"] == "600"
            status, body = await client.request(
                "POST", "/console/api/login", json={"name": "li", "password": "li password"})
            assert status == 429, "the right password must wait for the lockout too"
            await client.login("wang", "wang password")  # one account's lock is not everyone's
            await client.post("/console/api/users/li/password", {"password": "new li password"})
        async with console_client(edge.console_url) as client:
            await client.login("li", "new li password")  # a reset by IT ends the lockout


async def test_sessions_end_when_idle_and_after_their_maximum(tmp_path: Path) -> None:
    config = write_config(tmp_path, console=FAST_HASHING + "session_idle_s = 0.8\n"
                          "session_max_s = 2.5\nsession_recheck_s = 0.1\n")
    async with running_edge(config) as edge:
        await edge.users.create("li", "supervisor", "li password", actor="test")
        assert edge.console_url is not None
        async with console_client(edge.console_url) as client:
            await client.login("li", "li password")
            await client.get("/console/api/dashboard")
            await asyncio.sleep(1.2)
            status, body = await client.request("GET", "/console/api/dashboard")
            assert status == 401 and body["code"] == "signin"
            await client.login("li", "li password")
            answers = []
            for _ in range(20):  # busy all the time, yet the session must end
                status, _ = await client.request("GET", "/console/api/dashboard")
                answers.append(status)
                if status == 401:
                    break
                await asyncio.sleep(0.3)
            assert answers[0] == 200 and answers[-1] == 401, answers


async def test_users_api_creates_changes_and_keeps_an_admin(tmp_path: Path) -> None:
    async with running_edge(write_config(tmp_path, console=FAST_HASHING)) as edge:
        await edge.users.create("admin", "it_admin", "admin password", actor="test")
        assert edge.console_url is not None
        async with console_client(edge.console_url) as admin, \
                console_client(edge.console_url) as li:
            await admin.login("admin", "admin password")
            created = await admin.post("/console/api/users", {
                "name": "li", "role": "supervisor", "password": "li password", "pin": "2468"})
            assert created["user"]["has_pin"] is True
            status, body = await admin.request("POST", "/console/api/users", json={
                "name": "li", "role": "cashier", "password": "other password"})
            assert status == 409
            status, body = await admin.request("POST", "/console/api/users", json={
                "name": "zhang", "role": "cashier", "password": "short"})
            assert status == 400 and "8 to 128" in body["error"]
            assert (await edge.users.verify_supervisor_pin("2468", "2")) is not None
            await li.login("li", "li password")
            await li.get("/console/api/sales")
            await admin.post("/console/api/users/li/disabled", {"disabled": True})
            status, _ = await li.request("GET", "/console/api/sales")
            assert status == 401, "disabling a user ends their session at once"
            status, body = await admin.request("POST", "/console/api/users/admin/role",
                                               json={"role": "supervisor"})
            assert status == 409 and "last active IT admin" in body["error"]
            status, body = await admin.request("POST", "/console/api/users/nobody/pin",
                                               json={"pin": "1234"})
            assert status == 404
        actions = [e.action for e in await recent_audit(edge.store, target="user:li")]
        assert actions == ["user.disabled", "auth.login", "user.created"]


async def test_dead_letters_and_face_consents_through_their_protocols(tmp_path: Path) -> None:
    # Without face recognition the consents page says so; sync is always there.
    for folder in ("off", "on"):
        (tmp_path / folder).mkdir()
    async with running_edge(write_config(tmp_path / "off", console=FAST_HASHING)) as edge:
        await edge.users.create("admin", "it_admin", "admin password", actor="test")
        assert edge.console_url is not None
        async with console_client(edge.console_url) as admin:
            await admin.login("admin", "admin password")
            assert (await admin.get("/console/api/face-consents"))["configured"] is False
            page = await admin.get("/console/api/dead-letters")
            assert page["configured"] is True and page["dead_letters"] == []
            sync = (await admin.get("/console/api/dashboard"))["sync"]
            assert sync["state"] == "offline" and "not paired" in sync["reason"]

    config = write_config(tmp_path / "on", console=FAST_HASHING, extra=FACE_ON)
    async with running_edge(config) as edge:
        await edge.users.create("admin", "it_admin", "admin password", actor="test")
        events = await dead_lettered_sales(edge, 3)
        await consent(edge, "M0001", "store")
        await consent(edge, "M0002", "store", "chain")
        assert edge.console_url is not None
        async with console_client(edge.console_url) as admin:
            await admin.login("admin", "admin password")
            page = await admin.get("/console/api/dead-letters?limit=2")
            assert [d["seq"] for d in page["dead_letters"]] == [3, 2] and page["next"] == 2
            assert "larger than the CRM accepts" in page["dead_letters"][0]["reason"]
            page = await admin.get("/console/api/dead-letters?before=2")
            assert [d["seq"] for d in page["dead_letters"]] == [1]
            await admin.post("/console/api/dead-letters/retry", {"event_id": events[1]})
            # Back in the push queue: no longer a dead letter waiting for store IT.
            status, _ = await admin.request("POST", "/console/api/dead-letters/retry",
                                            json={"event_id": events[1]})
            assert status == 404
            assert (await admin.post("/console/api/dead-letters/retry-all"))["retried"] == 2
            assert (await admin.get("/console/api/dead-letters"))["dead_letters"] == []
            consents = await admin.get("/console/api/face-consents?member=m0002")
            assert sorted(c["scope"] for c in consents["consents"]) == ["chain", "store"]
            await admin.post("/console/api/face-consents/delete", {"member_id": "M0001"})
            status, _ = await admin.request("POST", "/console/api/face-consents/delete",
                                            json={"member_id": "M0001"})
            assert status == 404
            remaining = (await admin.get("/console/api/face-consents"))["consents"]
            assert {c["member_id"] for c in remaining} == {"M0002"}
        retried = await edge.store.fetchall(
            "SELECT count(*) FROM sync_dead_letters WHERE retry_requested = 1")
        assert retried[0][0] == 3
        audit = await recent_audit(edge.store)
        assert [(e.actor, e.action) for e in audit[:3]] == [
            ("admin", "face.data_deleted"), ("admin", "sync.dead_letters_retried"),
            ("admin", "sync.dead_letter_retried")]


async def test_sales_api_pages_searches_and_keeps_text_as_text(tmp_path: Path) -> None:
    async with running_edge(write_config(tmp_path, console=FAST_HASHING)) as edge:
        await edge.users.create("li", "supervisor", "li password", actor="test")
        evil_code = gtin13("690666666666")

        def add_evil(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO products (id, name, category, price_fen, updated_at)"
                         " VALUES ('EVIL', ?, '零食', 100, 'now')", (EVIL,))
            conn.execute("INSERT INTO barcodes VALUES (?, 'gtin', 'EVIL')", ("0" + evil_code,))

        await edge.store.write(add_evil)
        edge.catalog.invalidate()
        lane = edge.lanes["1"]
        for code in (MILK, MEMBER_CODE, evil_code):
            await edge.handle_scan(lane, code, None, None)
        await lane.pay_cash(10000)
        await edge.handle_scan(lane, MILK, None, None)
        await lane.pay_cash(10000)
        assert edge.console_url is not None
        async with console_client(edge.console_url) as li:
            await li.login("li", "li password")
            page = await li.get("/console/api/sales?limit=1")
            assert [s["receipt_no"] for s in page["sales"]] == [2] and page["next"]
            older = await li.get(f"/console/api/sales?limit=1&before={page['next']}")
            assert [s["receipt_no"] for s in older["sales"]] == [1]
            found = await li.get("/console/api/sales?receipt=1&lane=1")
            first = found["sales"][0]
            assert first["member_id"] is not None and found["next"] is None
            detail = await li.get(f"/console/api/sales/{first['id']}")
            assert [line["name"] for line in detail["lines"]] == ["伊利纯牛奶 250ml×12", EVIL]
            assert detail["tenders"][0]["kind"] == "cash"
            assert detail["tenders"][0]["amount_fen"] == 10000
            today = (await li.get("/console/api/dashboard"))["today"]
            assert today["sales"] == 2 and today["member_sales"] == 1
            assert today["digitisation_pct"] == 50.0
            assert today["amount_fen"] == first["total_fen"] + page["sales"][0]["total_fen"]
            assert sum(h["sales"] for h in today["per_hour"]) == 2


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "console.pem", folder / "console.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_tls_console_with_secure_cookies_and_modern_protocols(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    config = write_config(tmp_path, console=FAST_HASHING + f'tls_cert = "{cert}"\n'
                          f'tls_key = "{key}"\n')
    async with running_edge(config) as edge:
        await edge.users.create("admin", "it_admin", "admin password", actor="test")
        url = edge.console_url
        assert url is not None and url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert))
        connector = aiohttp.TCPConnector(ssl=trust)
        async with aiohttp.ClientSession(connector=connector,
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.post(url + "/console/api/login", json={
                    "name": "admin", "password": "admin password"}) as response:
                assert response.status == 200
                cookie = response.headers["Set-Cookie"]
                assert "Secure" in cookie and "HttpOnly" in cookie
                assert "SameSite=Strict" in cookie and "Path=/console" in cookie
                assert response.headers["Strict-Transport-Security"].startswith("max-age=")
            async with session.get(url + "/console/api/dashboard") as response:
                assert response.status == 200
        # Nothing older than TLS 1.2 is offered; 1.2 itself still works for older browsers.
        assert tls_context(edge.config.console).minimum_version == ssl.TLSVersion.TLSv1_2
        host, port = url.removeprefix("https://").rsplit(":", 1)
        capped = ssl.create_default_context(cafile=str(cert))
        capped.maximum_version = ssl.TLSVersion.TLSv1_2
        _, writer = await asyncio.open_connection(host, int(port), ssl=capped)
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.2"
        writer.close()
        await writer.wait_closed()
        async with aiohttp.ClientSession() as plain:
            with pytest.raises(aiohttp.ClientError):
                async with plain.get(f"http://{host}:{port}/console/login") as response:
                    await response.read()


async def test_a_console_that_cannot_listen_leaves_the_store_selling(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path, console=f"port = {port}\n")
        async with running_edge(config) as edge:
            assert edge.console_url is None and edge.http_url is not None
            await edge.handle_scan(edge.lanes["1"], MILK, None, None)
            sale = await edge.lanes["1"].pay_cash(10000)
            assert sale.receipt_no == 1
        log = (tmp_path / "state" / "log" / "storeedge.log")
        assert not log.exists() or "Traceback" not in log.read_text()



async def test_allowed_hosts_and_trusted_origins(tmp_path: Path) -> None:
    config = write_config(tmp_path, console=FAST_HASHING + 'allowed_hosts = ["console.store.lan"]\n'
                          'trusted_origins = ["https://proxy.store.lan"]\n')
    async with running_edge(config) as edge:
        await edge.users.create("admin", "it_admin", "admin password", actor="test")
        assert edge.console_url is not None
        port = edge.console_url.rsplit(":", 1)[1]
        async with console_client(edge.console_url) as client:
            # A name that resolves to the appliance but is not its own: DNS rebinding.
            status, body = await client.request("GET", "/console/api/session")
            assert status == 400 and body["code"] == "host"
            host = {"Host": f"console.store.lan:{port}"}
            status, body = await client.request("POST", "/console/api/login", json={
                "name": "admin", "password": "admin password"}, origin=False,
                headers={**host, "Origin": "https://proxy.store.lan"})
            assert status == 200, body
            client.csrf = body["csrf"]
            status, body = await client.request("POST", "/console/api/logout", json={},
                                                origin=False, headers={
                                                    **host, "Origin": "https://other.lan"})
            assert status == 403 and body["code"] == "origin"
