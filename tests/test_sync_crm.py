"""The reference CRM as a chain's CRM would be tested: raw signed requests on the wire."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import signal
import sqlite3
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edge.cart import utc_now
from edge.store import apply_migrations
from sync.credentials import load_credentials
from sync.crm.admin import create_pairing_code
from sync.crm.db import crm_migrations
from sync.crm.server import CrmServer
from sync.errors import SyncError
from sync.pairing import pair as pair_device
from sync.protocol import dumps, gzip_body, signed_headers
from tests.helpers import ROOT, write_config
from tests.sync_helpers import (
    ADMIN_TOKEN,
    DEVICE,
    DEVICE_KEY,
    STORE,
    admin_of,
    crm_rows,
    running_crm,
)


class Device:
    """A paired device speaking the protocol by hand, so every field can be got wrong."""

    def __init__(self, server: CrmServer, http: aiohttp.ClientSession, secret: bytes,
                 key: str = DEVICE_KEY) -> None:
        self.server, self.http, self.secret, self.key = server, http, secret, key

    def headers(self, method: str, path: str, body: bytes, **kw: Any) -> dict[str, str]:
        stamp = kw.pop("timestamp_ms", int(time.time() * 1000))
        return signed_headers(self.secret, self.key, method, path, body, timestamp_ms=stamp,
                              **kw)

    async def send(self, method: str, path: str, body: bytes = b"",
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        extra = {"Content-Type": "application/json", "Content-Encoding": "gzip"} if body else {}
        data = io.BytesIO(body) if body else None
        async with self.http.request(method, self.server.url + path, data=data,
                                     headers={**extra, **(headers or {})}) as resp:
            return resp.status, await resp.json()

    async def push(self, events: list[dict[str, Any]], **kw: Any) -> tuple[int, Any]:
        body = gzip_body(b"\n".join(dumps(e) for e in events))
        return await self.send("POST", "/v1/events", body,
                               self.headers("POST", "/v1/events", body, **kw))


def event(seq: int, payload: dict[str, Any] | None = None, kind: str = "cart.voided",
          key: str = DEVICE_KEY) -> dict[str, Any]:
    return {"event_id": f"{key}:{seq}", "seq": seq, "type": kind, "occurred_at": utc_now(),
            "payload": payload if payload is not None else {
                "cart_id": f"c{seq}", "lane": "1", "reason": "test", "lines": 1,
                "total_fen": 100}}


def sale(seq: int, member: str | None = None, points: int = 0,
         coupons: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    ledger = [{"entry_id": f"s{seq}:drawer", "account": "drawer:1:cash", "delta": 500,
               "reason": "sale"}]
    if member:
        ledger.append({"entry_id": f"s{seq}:points", "account": f"member:{member}:points",
                       "delta": points, "reason": "earned"})
    payload: dict[str, Any] = {
        "sale_id": f"s{seq}", "cart_id": f"c{seq}", "lane": "1", "member_id": member,
        "created_at": utc_now(), "receipt_no": seq, "subtotal_fen": 500, "discount_fen": 0,
        "total_fen": 500, "paid_fen": 500, "change_fen": 0,
        "lines": [{"line_no": 1, "product_id": "P001", "name": "农夫山泉 550ml", "qty": 1,
                   "weight_g": None, "unit_price_fen": 500, "base_fen": 500,
                   "discount_fen": 0, "net_fen": 500}],
        "discounts": [], "tenders": [{"tender_id": f"s{seq}:t1", "kind": "cash",
                                      "amount_fen": 500, "reference": None}],
        "ledger": ledger}
    if coupons is not None:
        payload["coupons"] = coupons
    return event(seq, payload, "sale.completed")


# Every push test runs against both ways the CRM parses: in a thread of the server, and in a
# parser process that sends events back as plain values (sync/crm/parsing.py).
@pytest.fixture(params=[0, 1], ids=["parse-thread", "parse-process"])
async def device(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Device]:
    async with (running_crm(tmp_path, parse_workers=request.param) as server,
                aiohttp.ClientSession() as http):
        async with admin_of(server) as admin:
            code = await admin.pairing_code()
        creds = await pair_device(server.url, code, STORE, DEVICE)
        yield Device(server, http, creds.secret)


# -- pairing ---------------------------------------------------------------------------------

async def test_pairing_code_is_one_time_and_bound_to_its_device(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as server, admin_of(server) as admin:
        code = await admin.pairing_code(STORE, DEVICE)
        with pytest.raises(SyncError, match="this code is for store T01 device lane-pc-1"):
            await pair_device(server.url, code, STORE, "lane-pc-9")
        creds = await pair_device(server.url, code.lower(), STORE, DEVICE)
        assert creds.device_key == DEVICE_KEY and len(creds.secret) == 32
        with pytest.raises(SyncError, match="unknown or already used"):
            await pair_device(server.url, code, STORE, DEVICE)
        assert server.crm is not None
        old = await server.crm.store.write(
            lambda c: create_pairing_code(c, STORE, DEVICE, ttl_s=-1))
        with pytest.raises(SyncError, match="expired"):
            await pair_device(server.url, old["code"], STORE, DEVICE)
        # Every paired device gets the default offline allowance.
        assert crm_rows(server.db_path, "SELECT device_key, kind, limit_fen FROM allowances") \
            == [(DEVICE_KEY, "stored_value", 50_000)]


async def test_pair_command_writes_a_private_file_and_never_prints_the_secret(
        tmp_path: Path) -> None:
    async with running_crm(tmp_path) as server, admin_of(server) as admin:
        code = await admin.pairing_code()
        config = write_config(tmp_path)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge.cli", "pair", code, "--crm", server.url, "--config",
            str(config), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out = (await proc.communicate())[0].decode()
        assert proc.returncode == 0, out
        assert f"Paired as {DEVICE_KEY}" in out
        path = tmp_path / "state" / "sync-credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        creds = load_credentials(path, STORE, DEVICE)
        secret_text = base64.urlsafe_b64encode(creds.secret).decode().rstrip("=")
        assert secret_text not in out and secret_text not in repr(creds)

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge.cli", "pair", code, "--crm", "http://192.0.2.1:9",
            "--config", str(config), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out = (await proc.communicate())[0].decode()
        assert proc.returncode == 2 and "plain http to 192.0.2.1" in out


async def test_credentials_readable_by_others_are_refused(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as server, admin_of(server) as admin:
        code = await admin.pairing_code()
        creds = await pair_device(server.url, code, STORE, DEVICE)
    from sync.credentials import save_credentials  # noqa: PLC0415

    path = tmp_path / "creds.json"
    save_credentials(path, creds)
    path.chmod(0o644)
    with pytest.raises(SyncError, match="readable by other users"):
        load_credentials(path, STORE, DEVICE)
    path.chmod(0o600)
    with pytest.raises(SyncError, match="pair again"):
        load_credentials(path, STORE, "another-device")


# -- authentication --------------------------------------------------------------------------

async def test_signed_push_is_accepted_and_tampering_is_refused(device: Device) -> None:
    body = gzip_body(dumps(event(1)))
    good = device.headers("POST", "/v1/events", body)

    status, answer = await device.send("POST", "/v1/events", body + b"\0",
                                       dict(good))
    assert (status, answer["error"]["code"]) == (401, "bad_signature")
    tampered = dict(good, **{"X-StoreEdge-Signature": "v1=" + "0" * 64})
    status, answer = await device.send("POST", "/v1/events", body, tampered)
    assert (status, answer["error"]["code"]) == (401, "bad_signature")
    other_secret = Device(device.server, device.http, b"x" * 32)
    status, answer = await device.send("POST", "/v1/events", body,
                                       other_secret.headers("POST", "/v1/events", body))
    assert (status, answer["error"]["code"]) == (401, "bad_signature")
    status, answer = await device.send("POST", "/v1/events?x=1", body, good)
    assert (status, answer["error"]["code"]) == (401, "bad_signature")
    stranger = Device(device.server, device.http, device.secret, key="T01:nobody")
    status, answer = await device.send("POST", "/v1/events", body,
                                       stranger.headers("POST", "/v1/events", body))
    assert (status, answer["error"]["code"]) == (401, "unknown_device")
    status, answer = await device.send("POST", "/v1/events", body, {})
    assert (status, answer["error"]["code"]) == (401, "bad_device")
    assert crm_rows(device.server.db_path, "SELECT count(*) FROM events") == [(0,)]

    status, answer = await device.send("POST", "/v1/events", body, good)
    assert status == 200 and answer["acked_through_seq"] == 1


async def test_expired_timestamp_and_replayed_request_are_refused(device: Device) -> None:
    body = gzip_body(dumps(event(1)))
    old = int(time.time() * 1000) - 301_000
    status, answer = await device.send("POST", "/v1/events", body,
                                       device.headers("POST", "/v1/events", body,
                                                      timestamp_ms=old))
    assert (status, answer["error"]["code"]) == (401, "expired")
    future = int(time.time() * 1000) + 301_000
    status, answer = await device.send("POST", "/v1/events", body,
                                       device.headers("POST", "/v1/events", body,
                                                      timestamp_ms=future))
    assert (status, answer["error"]["code"]) == (401, "expired")

    headers = device.headers("POST", "/v1/events", body)
    assert (await device.send("POST", "/v1/events", body, headers))[0] == 200
    status, answer = await device.send("POST", "/v1/events", body, headers)
    assert (status, answer["error"]["code"]) == (409, "replayed")
    path = "/v1/changes?stream=catalog&after=&limit=5"
    headers = device.headers("GET", path, b"")
    assert (await device.send("GET", path, b"", headers))[0] == 200
    assert (await device.send("GET", path, b"", headers))[0] == 409


async def test_admin_api_needs_its_token(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as server, aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            async with http.get(server.url + "/admin/products/P001", headers=headers) as r:
                assert r.status == 401 and (await r.json())["error"]["code"] == "bad_token"
        async with http.get(server.url + "/admin/products/P001",
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
            assert r.status == 200 and (await r.json())["price_fen"] == 200


# -- ingest ----------------------------------------------------------------------------------

async def test_events_are_stored_once_and_the_same_id_with_other_content_is_refused(
        device: Device) -> None:
    first = [sale(1, "M0001", 5), sale(2)]
    for _ in range(2):   # the second push is a retry: nothing is stored or applied twice
        status, answer = await device.push(first)
        assert status == 200 and answer == {"acked_through_seq": 2, "rejected": [],
                                            "conflicts": []}
    db = device.server.db_path
    assert crm_rows(db, "SELECT seq FROM events ORDER BY seq") == [(1,), (2,)]
    assert crm_rows(db, "SELECT typeof(body), body FROM events WHERE seq = 1") == [
        ("text", dumps(first[0]).decode())]      # verbatim, and text (JSON functions read it)
    assert crm_rows(db, "SELECT points_balance FROM members WHERE id = 'M0001'") == [(1285,)]

    changed = sale(2)
    changed["payload"]["lines"][0]["name"] = "something else"
    status, answer = await device.push([changed, sale(3)])
    assert status == 200 and answer["acked_through_seq"] == 3
    assert [(r["seq"], r["code"]) for r in answer["rejected"]] == [(2, "conflicting_duplicate")]
    assert crm_rows(db, "SELECT json_extract(body, '$.payload.lines[0].name') FROM events"
                    " WHERE seq = 2") == [("农夫山泉 550ml",)]


async def test_bad_events_are_refused_one_by_one_and_the_rest_stored(device: Device) -> None:
    unbalanced = sale(2)
    unbalanced["payload"]["total_fen"] = 400
    wrong_device = sale(4)
    wrong_device["event_id"] = "T01:other:4"
    batch = [sale(1), unbalanced, event(3, kind="member.teleported"), wrong_device,
             sale(5, "M0404", 5), sale(6)]
    status, answer = await device.push(batch)
    assert status == 200 and answer["acked_through_seq"] == 6
    assert [(r["seq"], r["code"]) for r in answer["rejected"]] == [
        (2, "bad_payload"), (3, "unknown_type"), (4, "wrong_device"), (5, "unknown_member")]
    assert "total_fen" in answer["rejected"][0]["message"]
    db = device.server.db_path
    assert crm_rows(db, "SELECT seq FROM events ORDER BY seq") == [(1,), (6,)]
    assert crm_rows(db, "SELECT seq, code FROM rejections ORDER BY seq") == [
        (2, "bad_payload"), (3, "unknown_type"), (4, "wrong_device"), (5, "unknown_member")]


async def test_a_ledger_entry_is_applied_once_across_pushes_and_within_one(
        device: Device) -> None:
    status, answer = await device.push([sale(1, "M0001", 5)])
    assert status == 200 and answer["rejected"] == []
    again = sale(2, "M0001", 7)     # another sale carrying sale 1's points entry
    again["payload"]["ledger"][1]["entry_id"] = "s1:points"
    twin = sale(4, "M0001", 3)      # the same entry as seq 3 in the same push
    twin["payload"]["ledger"][1]["entry_id"] = "s3:points"
    status, answer = await device.push([again, sale(3, "M0001", 3), twin])
    assert status == 200 and answer["acked_through_seq"] == 4
    assert [(r["seq"], r["code"]) for r in answer["rejected"]] == [
        (2, "duplicate_entry"), (4, "duplicate_entry")]
    db = device.server.db_path
    assert crm_rows(db, "SELECT points_balance FROM members WHERE id = 'M0001'") == [(1288,)]
    assert crm_rows(db, "SELECT entry_id FROM member_ledger WHERE event_id IS NOT NULL"
                    " ORDER BY entry_id") == [("s1:points",), ("s3:points",)]


async def test_an_event_refused_then_fixed_is_stored_and_no_longer_a_rejection(
        device: Device) -> None:
    status, answer = await device.push([sale(1), sale(2, "M0404", 5), sale(3)])
    assert [(r["seq"], r["code"]) for r in answer["rejected"]] == [(2, "unknown_member")]
    status, answer = await device.push([sale(2, "M0001", 5)])   # retried after a fix
    assert status == 200 and answer == {"acked_through_seq": 3, "rejected": [],
                                        "conflicts": []}
    db = device.server.db_path
    assert crm_rows(db, "SELECT seq FROM rejections") == []
    assert crm_rows(db, "SELECT seq FROM events ORDER BY seq") == [(1,), (2,), (3,)]


async def test_whole_batch_problems_are_refused_with_a_clear_status(device: Device) -> None:
    path = "/v1/events"
    for body, status_code in (
            (gzip_body(b"{not json"), 400),
            (gzip_body(dumps({"seq": "one"})), 400),
            (gzip_body(dumps(event(1)) + b"\n" + dumps(event(1))), 400),   # seq twice
            (gzip_body(b"\n\n"), 400),
            (b"\x1f\x8b\x08\x00garbage", 400),
            # 100 MB of zeros inflates past the limit: refused without holding it all
            (gzip_body(b"0" * (100 * 1024 * 1024), level=9), 400),
            (gzip_body(b"x" * 9 * 1024 * 1024, level=0), 413)):
        status, answer = await device.send("POST", path, body,
                                           device.headers("POST", path, body))
        assert status == status_code, answer
        assert set(answer) == {"error"}


async def test_coupon_first_redemption_wins_and_later_ones_are_flagged(device: Device) -> None:
    use = [{"code": "WELCOME10", "amount_fen": 1000}]
    status, answer = await device.push([sale(1, coupons=use)])
    assert status == 200 and answer["conflicts"] == []
    status, answer = await device.push([sale(2, coupons=use),
                                        sale(3, coupons=[{"code": "NOPE", "amount_fen": 5}])])
    assert [(c["seq"], c["kind"], c["subject"]) for c in answer["conflicts"]] == [
        (2, "coupon_already_redeemed", "WELCOME10"), (3, "coupon_unknown", "NOPE")]
    assert answer["conflicts"][0]["detail"]["first_event_id"] == f"{DEVICE_KEY}:1"
    # A retry of the same push is told about the same conflicts again.
    status, again = await device.push([sale(2, coupons=use)])
    assert status == 200 and again["conflicts"][0]["kind"] == "coupon_already_redeemed"


async def test_change_stream_pages_and_cursor(device: Device) -> None:
    async def page(after: str, limit: int) -> Any:
        path = f"/v1/changes?stream=catalog&after={after}&limit={limit}"
        status, body = await device.send("GET", path, b"", device.headers("GET", path, b""))
        assert status == 200, body
        return body

    seen: list[str] = []
    cursor = ""
    while True:
        body = await page(cursor, 15)
        seen += [c["key"] for c in body["changes"]]
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    assert len(seen) == len(set(seen)) == 38
    async with admin_of(device.server) as admin:
        await admin.call("PATCH", "/admin/products/P005", {"price_fen": 450})
        await admin.call("DELETE", "/admin/products/P006")
    body = await page(cursor, 15)
    assert [(c["op"], c["key"]) for c in body["changes"]] == [("upsert", "P005"),
                                                              ("delete", "P006")]
    assert body["changes"][0]["data"]["price_fen"] == 450
    assert body["changes"][1]["data"] is None
    path = "/v1/changes?stream=catalog&after=abc&limit=5"
    status, err = await device.send("GET", path, b"", device.headers("GET", path, b""))
    assert status == 400 and "cursor" in err["error"]["message"]


async def test_crm_log_never_holds_the_secret(caplog: pytest.LogCaptureFixture,
                                              tmp_path: Path) -> None:
    with caplog.at_level(logging.DEBUG):
        async with running_crm(tmp_path) as server, admin_of(server) as admin:
            code = await admin.pairing_code()
            creds = await pair_device(server.url, code, STORE, DEVICE)
    text = base64.urlsafe_b64encode(creds.secret).decode().rstrip("=")
    assert text not in caplog.text and json.dumps(text) not in caplog.text
    assert "paired device T01:lane-pc-1" in caplog.text


async def test_lines_that_only_parse_together_are_refused(device: Device) -> None:
    """Two lines that are one event only when joined must not be stored as two."""
    first, second = dumps(event(1)).decode(), dumps(event(2)).decode()
    cut = first.index('"reason":"') + len('"reason":"')
    # Line 1 ends inside a string; the joining comma and line 2's start complete it, and
    # line 2 goes on with a whole second event: two lines, two events, neither line JSON.
    line1, line2 = first[:cut], '"}},' + second
    body = gzip_body((line1 + "\n" + line2).encode())
    status, answer = await device.send("POST", "/v1/events", body,
                                       device.headers("POST", "/v1/events", body))
    assert status == 400, answer
    assert crm_rows(device.server.db_path, "SELECT count(*) FROM events") == [(0,)]


async def test_a_killed_parser_process_costs_one_retry_and_nothing_else(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with (running_crm(tmp_path, parse_workers=1) as server,
                aiohttp.ClientSession() as http):
        async with admin_of(server) as admin:
            code = await admin.pairing_code()
        creds = await pair_device(server.url, code, STORE, DEVICE)
        device = Device(server, http, creds.secret)
        status, _answer = await device.push([sale(1, "M0001", 5)])
        assert status == 200
        assert server.crm is not None
        [worker] = server.crm.parser.pids
        os.kill(worker, signal.SIGKILL)

        batch = [sale(2, "M0001", 7), sale(3)]
        status, answer = await device.push(batch)
        assert (status, answer["error"]["code"]) == (503, "parser_restarted")
        assert "push parser process died" in caplog.text

        status, answer = await device.push(batch)      # what the edge's retry does
        assert status == 200 and answer == {"acked_through_seq": 3, "rejected": [],
                                            "conflicts": []}
        assert server.crm.parser.pids and worker not in server.crm.parser.pids
        db = server.db_path
        assert crm_rows(db, "SELECT seq FROM events ORDER BY seq") == [(1,), (2,), (3,)]
        assert crm_rows(db, "SELECT points_balance FROM members WHERE id = 'M0001'") == [
            (1292,)]


def test_upgrading_the_events_table_keeps_every_stored_event(tmp_path: Path) -> None:
    """0010 rebuilds the events table (its body is checked at ingest now): nothing is lost,
    and the primary key still stores a device's seq once."""
    conn = sqlite3.connect(tmp_path / "crm.db", isolation_level=None)
    try:
        apply_migrations(conn, [m for m in crm_migrations() if m.version < 10])
        row = (1 << 40 | 7, DEVICE_KEY, 7, f"{DEVICE_KEY}:7", "cart.voided", utc_now(),
               dumps(event(7)).decode(), "d" * 64, utc_now())
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        assert "0010_events_body_checked_at_ingest.sql" in apply_migrations(
            conn, crm_migrations())
        assert conn.execute("SELECT * FROM events").fetchall() == [row]
        assert conn.execute("SELECT json_extract(body, '$.payload.cart_id') FROM events"
                            ).fetchall() == [("c7",)]
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    finally:
        conn.close()
