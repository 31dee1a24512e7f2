"""A hostile network and a hostile server between the edge and the CRM.

Through the fault proxy: every sale arrives exactly once and in seq order. From a server that
answers garbage: the client never crashes, never applies half a page, never moves its cursor.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from edge.app import EdgeApp
from sync.credentials import Credentials, save_credentials
from tests.fault_proxy import FAULTS, FaultProxy
from tests.helpers import CHIPS, MILK, WATER, staff_lane
from tests.sync_helpers import (
    DEVICE,
    DEVICE_KEY,
    STORE,
    admin_of,
    crm_rows,
    make_sync_config,
    pair,
    running_crm,
    started,
    wait_for,
)


async def test_every_sale_arrives_once_and_in_order_through_a_faulty_network(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(4)
    calm = False

    def choose(_method: str, _path: str) -> str:
        if calm or rng.random() < 0.35:
            return "pass"
        return rng.choice(FAULTS[1:])

    async with running_crm(tmp_path) as crm, admin_of(crm) as admin:
        port = int(crm.url.rsplit(":", 1)[1])
        async with FaultProxy(port, choose, slow_s=1.2) as proxy:
            config = make_sync_config(tmp_path, proxy.url, timeout_ms=1000, batch=3,
                                      pull_ms=100)
            await pair(config, crm)
            async with started(config) as app:
                await staff_lane(app, "2")   # lane 2 is staffed: a cashier sells there
                sold: list[str] = []
                # Keep selling until every kind of fault has hit a push at least once.
                while len(sold) < 30 or not _pushes_met_every_fault(proxy):
                    assert len(sold) < 400, f"faults never all met a push: {proxy.seen}"
                    i = len(sold)
                    lane = app.lanes["1" if i % 2 else "2"]
                    for code in (MILK, WATER, CHIPS)[: 1 + i % 3]:
                        await lane.handle_scan(_route(app, code))
                    sold.append((await lane.pay_cash(lane.priced.total_fen)).sale_id)
                    if i == 10:
                        await admin.call("PATCH", "/admin/products/P009", {"price_fen": 999})
                    await asyncio.sleep(rng.uniform(0, 0.15))
                calm = True
                await wait_for(lambda: _synced(app, len(sold)), limit_s=60,
                               what="the queue to drain")

                async def price_arrived() -> bool:
                    row = await app.store.fetchone(
                        "SELECT price_fen FROM products WHERE id = 'P009'")
                    return row is not None and row["price_fen"] == 999
                await wait_for(price_arrived, what="the price change through the faults")

    rows = crm_rows(crm.db_path, "SELECT device_key, seq, json_extract(body, '$.payload.sale_id')"
                    " FROM events ORDER BY id")
    assert [r[1] for r in rows] == list(range(1, len(sold) + 1)), "not once each, in order"
    assert {r[0] for r in rows} == {DEVICE_KEY}
    assert [r[2] for r in rows] == sold
    assert crm_rows(crm.db_path, "SELECT count(*) FROM rejections") == [(0,)]
    assert "Traceback" not in caplog.text and "died" not in caplog.text


async def test_a_push_overtaken_by_the_next_one_is_neither_lost_nor_sent_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Pushes in flight together and the CRM stores a later one first: every answer is
    recorded, the cursor never steps back, and no batch is sent twice."""
    online = False
    pushes = 0

    def choose(_method: str, path: str, body: bytes) -> str:
        nonlocal pushes
        if path != "/v1/events":
            return "pass"
        if not online:
            return "reset_before"
        pushes += 1
        # Every other batch (seq 1-3, 7-9, ...) is overtaken. Chosen by what the push carries,
        # not by arrival order: pushes in flight together reach the proxy in any order.
        first = json.loads(gzip.decompress(body).split(b"\n", 1)[0])["seq"]
        return "late" if (first - 1) // 3 % 2 == 0 else "pass"

    async with running_crm(tmp_path) as crm:
        port = int(crm.url.rsplit(":", 1)[1])
        async with FaultProxy(port, choose, slow_s=0.4, with_body=True) as proxy:
            config = make_sync_config(tmp_path, proxy.url, batch=3)
            await pair(config, crm)
            async with started(config) as app:
                for _ in range(10):      # a backlog while the uplink is down
                    await app.lanes["1"].handle_scan(_route(app, WATER))
                    await app.lanes["1"].pay_cash(1000)
                row = await app.store.fetchone("SELECT max(seq) AS last FROM outbox")
                assert row is not None
                last = int(row["last"])
            # The uplink comes back while the daemon is down, so no push is half way between
            # the two: a push that failed offline makes the pusher send the ones after it
            # again (the CRM knows them by id), which is not what this test is about.
            online = True
            async with started(config) as app:
                await wait_for(lambda: _synced(app, last), limit_s=30,
                               what="the backlog to drain")
    assert proxy.seen[("/v1/events", "late")] >= 2
    arrived = dict(crm_rows(crm.db_path, "SELECT seq, received_at FROM events"))
    assert arrived[4] < arrived[1], "the second push did not overtake the first"
    assert pushes == -(-last // 3), "a batch was sent again"
    assert crm_rows(crm.db_path, "SELECT seq FROM events ORDER BY id") == [
        (seq,) for seq in range(1, last + 1)]
    assert "acknowledges only up to" not in caplog.text
    assert "Traceback" not in caplog.text


def _route(app: EdgeApp, code: str) -> Any:
    from edge.scan_router import route  # noqa: PLC0415

    return route(code, app.config.scan)


def _pushes_met_every_fault(proxy: FaultProxy) -> bool:
    return all(proxy.seen[("/v1/events", fault)] for fault in FAULTS)


def _synced(app: EdgeApp, through: int) -> bool:
    status = app.sync.status()
    return bool(status["pending_count"] == 0 and (status["acked_through_seq"] or 0) >= through)


# -- a server that answers garbage ---------------------------------------------------------

def _raw(body: bytes, status: int = 200,
         headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})


async def _huge(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    for _ in range(64):               # 4 MiB and more, no Content-Length
        await response.write(b"[" * 65536)
    return response


@functools.cache
def _bomb() -> bytes:
    """64 MiB of spaces in 64 KiB of gzip."""
    return gzip.compress(b" " * (64 * 1024 * 1024), 9)


_ROW: dict[str, Any] = {
    "code": "EVIL", "label": "x", "body": {}, "valid_from": None, "valid_to": None,
    "member_id": None, "redeemed_at": None, "updated_at": "2026-01-01T00:00:00+00:00"}


def _page(changes: list[Any], stream: str = "coupons") -> bytes:
    import json  # noqa: PLC0415

    return json.dumps({"stream": stream, "changes": changes, "cursor": "99",
                       "has_more": False, "device_seq": 0}).encode()


HOSTILE: dict[str, Callable[[], web.StreamResponse]] = {
    "not json": lambda: _raw(b"{\"acked_through_seq\": 1,"),
    "html": lambda: _raw(b"<html><body>502 Bad Gateway</body></html>",
                         headers={"Content-Type": "text/html"}),
    "wrong types": lambda: _raw(b'{"acked_through_seq": "all", "rejected": {}, "conflicts": 1}'),
    "acks too much": lambda: _raw(b'{"acked_through_seq": 999, "rejected": [], "conflicts": []}'),
    "deep": lambda: _raw(b"[" * 200_000 + b"]" * 200_000),
    "gzip bomb": lambda: _raw(_bomb(), headers={"Content-Encoding": "gzip"}),
    "declared huge": lambda: _raw(b"{}", headers={"Content-Length": str(10**10)}),
    "unknown encoding": lambda: _raw(b"{}", headers={"Content-Encoding": "zstd"}),
    "half a good page": lambda: _raw(_page([
        {"op": "upsert", "key": "EVIL", "version": 1, "data": _ROW},
        {"op": "upsert", "key": "EVIL2", "version": 2, "data": dict(_ROW, code="EVIL2",
                                                                    label=None)}])),
    "page for another stream": lambda: _raw(_page(
        [{"op": "upsert", "key": "EVIL", "version": 1, "data": _ROW}], "members")),
    "refuses": lambda: _raw(b'{"error": {"code": "nope", "message": "go away"}}', status=400),
}


@pytest.fixture
async def hostile() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A server on 127.0.0.1 whose answers the test chooses (``mode["now"]``)."""
    mode = {"now": "not json"}

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        if mode["now"] == "huge":
            return await _huge(request)
        return HOSTILE[mode["now"]]()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", mode
    finally:
        await runner.cleanup()


async def test_a_hostile_server_never_crashes_the_client_nor_half_applies(
        tmp_path: Path, hostile: tuple[str, dict[str, str]],
        caplog: pytest.LogCaptureFixture) -> None:
    url, mode = hostile
    config = make_sync_config(tmp_path, url, extra="max_response_bytes = 1048576\n")
    save_credentials(config.sync.credentials_path(config.paths.state_dir), Credentials(
        crm_url=url, device_key=DEVICE_KEY, store_id=STORE, device_id=DEVICE, paired_at="",
        secret=b"s" * 32))
    async with started(config) as app:
        lane = app.lanes["1"]
        await lane.handle_scan(_route(app, MILK))
        await lane.pay_cash(10_000)
        sync_task = app._tasks["sync"]
        for name in [*HOSTILE, "huge"]:
            mode["now"] = name
            before = app.sync.status()["last_error_at"]
            await wait_for(lambda before=before: app.sync.status()["last_error_at"] != before,
                           what=f"the client to meet {name!r}")
            await asyncio.sleep(0.3)   # several more rounds of it
            assert not sync_task.done(), f"the sync task ended on {name!r}"
            assert app.sync.state.state != "online"
            status = app.sync.status()
            assert status["acked_through_seq"] == 0 and status["pending_count"] == 1, name
            assert await app.store.fetchone(
                "SELECT 1 FROM coupons WHERE code LIKE 'EVIL%'") is None, name
            assert await app.store.fetchall("SELECT * FROM sync_cursors") == [], name
        assert app.sync.status()["last_error"]
    assert "Traceback" not in caplog.text and "died" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_page_refused_mid_way_leaves_the_stream_as_it_was(
        tmp_path: Path, hostile: tuple[str, dict[str, str]]) -> None:
    url, mode = hostile
    mode["now"] = "half a good page"
    config = make_sync_config(tmp_path, url)
    save_credentials(config.sync.credentials_path(config.paths.state_dir), Credentials(
        crm_url=url, device_key=DEVICE_KEY, store_id=STORE, device_id=DEVICE, paired_at="",
        secret=b"s" * 32))
    async with started(config) as app:
        await wait_for(lambda: "coupons" in app.sync.status()["stream_errors"],
                       what="the refused page in the status")
        assert app.sync.state.state in ("degraded", "offline")
        assert "changes[1].data: label" in app.sync.status()["stream_errors"]["coupons"]
        assert await app.store.fetchone("SELECT 1 FROM coupons WHERE code = 'EVIL'") is None


async def test_crm_restored_from_backup_gets_the_lost_events_again(tmp_path: Path) -> None:
    """A CRM that forgot events (restored from a backup) says so; the edge sends them again."""
    async with running_crm(tmp_path) as crm:
        config = make_sync_config(tmp_path, crm.url)
        await pair(config, crm)
        async with started(config) as app:
            for _ in range(3):
                await app.lanes["1"].handle_scan(_route(app, WATER))
                await app.lanes["1"].pay_cash(1000)
            await wait_for(lambda: app.sync.status()["acked_through_seq"] == 3, what="acked")
            assert crm.crm is not None
            await crm.crm.store.write(lambda c: (
                c.execute("DELETE FROM events WHERE seq > 1"),
                c.execute("UPDATE devices SET acked_through_seq = 1")))
            await app.lanes["1"].handle_scan(_route(app, MILK))
            await app.lanes["1"].pay_cash(10_000)
            await wait_for(lambda: crm_rows(crm.db_path, "SELECT count(*) FROM events")
                           == [(4,)], what="the lost events to be sent again")
    assert crm_rows(crm.db_path, "SELECT seq FROM events ORDER BY seq") == \
        [(1,), (2,), (3,), (4,)]
