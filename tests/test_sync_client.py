"""The daemon's sync against the real reference CRM on 127.0.0.1, end to end."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

import aiohttp

from edge.app import EdgeApp
from edge.cart import utc_now
from edge.sales import OutboxIdentity, Tender, plan_sale, write_sale
from edge.scan_router import route
from tests.helpers import BARCODES, CHIPS, MEMBER_CODE, MILK, ROOT, WATER
from tests.sync_helpers import (
    DEVICE_KEY,
    admin_of,
    crm_rows,
    make_sync_config,
    pair,
    running_crm,
    sell,
    started,
    wait_for,
)


def synced(app: EdgeApp, through: int) -> bool:
    """Whether the CRM has acknowledged every event up to ``through`` and nothing waits."""
    status = app.sync.status()
    return bool(status["pending_count"] == 0 and (status["acked_through_seq"] or 0) >= through)


async def test_sales_reach_the_crm_once_and_points_come_back_as_balances(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm:
        config = make_sync_config(tmp_path, crm.url)
        await pair(config, crm)
        async with started(config) as app:
            first = await sell(app, [WATER, MILK])
            second = await sell(app, [MILK], member_code=MEMBER_CODE)
            third = await sell(app, [CHIPS], lane_id="2")
            await wait_for(lambda: synced(app, 3),
                           what="three sales acknowledged")
            rows = crm_rows(crm.db_path, "SELECT seq, event_id, json_extract(body,"
                            " '$.payload.sale_id') FROM events ORDER BY id")
            assert rows == [(1, f"{DEVICE_KEY}:1", first.sale_id),
                            (2, f"{DEVICE_KEY}:2", second.sale_id),
                            (3, f"{DEVICE_KEY}:3", third.sale_id)]
            # Points earned are a delta on the member's balance at the CRM ...
            assert second.points_earned == 59
            ledger = crm_rows(crm.db_path, "SELECT delta, event_id FROM member_ledger"
                              " WHERE member_id = 'M0001' AND balance = 'points'"
                              " AND event_id IS NOT NULL")
            assert ledger == [(59, f"{DEVICE_KEY}:2")]
            assert crm_rows(crm.db_path, "SELECT points_balance FROM members"
                            " WHERE id = 'M0001'") == [(1280 + 59,)]

            # ... and the balance as of the CRM comes back down the members stream, marked
            # with how far this device's own events are included in it.
            async def member_updated() -> bool:
                row = await app.store.fetchone(
                    "SELECT points_balance, crm_seq, code_seed FROM members WHERE id = 'M0001'")
                return row is not None and row["points_balance"] == 1339
            await wait_for(member_updated, what="the member's new balance at the edge")
            row = await app.store.fetchone("SELECT crm_seq, code_seed FROM members"
                                           " WHERE id = 'M0001'")
            assert row is not None and row["crm_seq"] >= 2 and len(row["code_seed"]) >= 16
            status = app.sync.status()
            assert status["state"] == "online", status
            assert status["pending_fen"] == 0 and status["dead_letters"] == 0


async def test_unpaired_daemon_keeps_selling_then_pairs_and_catches_up(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm:
        config = make_sync_config(tmp_path, crm.url)
        async with started(config) as app:
            await wait_for(lambda: "not paired" in app.sync.state.reason, what="not paired")
            assert app.sync.state.state == "offline" and not app.sync.online
            assert app.lanes["1"].snapshot()["sync"]["state"] == "offline"
            a = await sell(app, [MILK])
            b = await sell(app, [WATER, WATER])
            await wait_for(lambda: app.sync.status()["pending_count"] == 2, what="two pending")
            status = app.sync.status()
            assert status["pending_fen"] == a.total_fen + b.total_fen
            assert status["oldest_pending_age_s"] is not None
            assert status["paired"] is False
            assert crm_rows(crm.db_path, "SELECT count(*) FROM events") == [(0,)]

            await pair(config, crm)   # while the daemon runs, as store IT would
            await wait_for(lambda: synced(app, 2), what="the backlog to drain after pairing")
            after = app.sync.status()   # a fresh read: the state changed under the assertions above
            assert after["online"] and after["state"] == "online"
            assert app.lanes["1"].snapshot()["sync"] == {"state": "online",
                                                         "reason": "in sync with the CRM"}
            assert crm_rows(crm.db_path, "SELECT seq FROM events ORDER BY seq") == [(1,), (2,)]


async def test_refused_event_is_dead_lettered_queue_moves_on_and_retry_after_fix(
        tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm, admin_of(crm) as admin:
        config = make_sync_config(tmp_path, crm.url)
        await pair(config, crm)
        async with started(config) as app:
            # A member this lane knows but the CRM does not (yet): its points are refused.
            await app.store.write(lambda c: c.execute(
                "INSERT INTO members (id, name, member_code, updated_at)"
                " VALUES ('M0099', '赵六', '10000099', ?)", (utc_now(),)))
            await sell(app, [MILK], member_code="MC10000099")
            await sell(app, [WATER])
            await sell(app, [CHIPS])
            await wait_for(lambda: app.sync.status()["acked_through_seq"] == 3,
                           what="the queue to move past the refused event")
            assert crm_rows(crm.db_path, "SELECT seq FROM events ORDER BY seq") == [(2,), (3,)]
            letters = await app.sync.dead_letters()
            assert [(d["seq"], d["code"], d["origin"]) for d in letters] == \
                [(1, "unknown_member", "crm")]
            assert "M0099" in letters[0]["message"]
            status = app.sync.status()
            assert status["state"] == "degraded" and "refused" in status["reason"]
            assert status["dead_letters"] == 1 and status["pending_fen"] == 5900  # member price
            assert app.sync.online  # degraded still reaches the CRM: payment codes work

            # Store IT fixes the cause at the CRM, then asks for a retry with the CLI.
            await admin.call("PUT", "/admin/members/M0099",
                             {"name": "赵六", "member_code": "10000099", "tier": "standard"})
            cli = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edge.cli", "sync", "retry", "--all", "--config",
                str(tmp_path / "storeedge.toml"), cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await cli.communicate()
            assert cli.returncode == 0 and b"1 dead letter(s)" in out, out
            await wait_for(lambda: app.sync.status()["dead_letters"] == 0,
                           what="the retried event to be accepted")
            assert crm_rows(crm.db_path, "SELECT seq FROM events ORDER BY seq") == \
                [(1,), (2,), (3,)]
            assert crm_rows(crm.db_path, "SELECT delta FROM member_ledger"
                            " WHERE member_id = 'M0099'") == [(59,)]
            await wait_for(lambda: app.sync.state.state == "online", what="online again")


async def test_changes_at_the_crm_reach_the_lane_pricing(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm, admin_of(crm) as admin:
        config = make_sync_config(tmp_path, crm.url)
        await pair(config, crm)
        async with started(config) as app:
            lane = app.lanes["1"]
            await admin.call("PATCH", "/admin/products/P001", {"price_fen": 250})
            await admin.call("PATCH", "/admin/promotions/PROMO-SNACK-90",
                             {"body": {"percent_off": 20, "categories": ["零食"]},
                              "label": "零食8折"})
            await admin.call("DELETE", "/admin/products/P002")

            async def water_costs_250() -> bool:
                product = await app.catalog.product_by_gtin("0" + WATER)
                return product is not None and product.price_fen == 250
            await wait_for(water_costs_250, what="the new price at the edge")
            event = await lane.handle_scan(route(WATER, config.scan))
            assert event.ok and lane.priced.total_fen == 250

            async def chips_20_off() -> bool:
                await lane.void("test")
                await lane.handle_scan(route(CHIPS, config.scan))
                return lane.priced.discount_fen == 150   # 20% of 7.50, was 10%
            await wait_for(chips_20_off, what="the changed promotion in the lane's pricing")
            assert lane.priced.discounts[0].label == "零食8折"

            async def cola_gone() -> bool:
                return await app.catalog.product_by_gtin("0" + BARCODES["P002"]) is None
            await wait_for(cola_gone, what="the deleted product to leave the edge")
            event = await lane.handle_scan(route(BARCODES["P002"], config.scan))
            assert not event.ok and event.code == "item_not_found"


async def test_coupon_redeemed_at_two_devices_second_is_flagged(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm:
        apps = []
        for device in ("lane-pc-1", "lane-pc-2"):
            folder = tmp_path / device
            folder.mkdir()
            config = make_sync_config(folder, crm.url)
            config = dataclasses.replace(config, store=dataclasses.replace(
                config.store, device_id=device))
            await pair(config, crm)
            apps.append(EdgeApp(config))
        first, second = apps
        for app in apps:
            await app.start()
        try:
            # The coupon work fills `coupons` in the sale payload; here the same code is
            # redeemed offline at both lanes.
            sale_a = await _sale_with_coupon(first, "WELCOME10")
            await wait_for(lambda: synced(first, 1), what="device 1's sale at the CRM")
            sale_b = await _sale_with_coupon(second, "WELCOME10")
            await wait_for(lambda: second.sync.status()["conflicts"] == 1,
                           what="device 2 to record the conflict")
            conflicts = await second.sync.conflicts()
            assert conflicts[0]["kind"] == "coupon_already_redeemed"
            assert conflicts[0]["subject"] == "WELCOME10"
            assert conflicts[0]["detail"]["first_device"] == "T01:lane-pc-1"
            assert first.sync.status()["conflicts"] == 0
            # Both sales are stored (the money was taken); the first redemption won.
            assert {r[0] for r in crm_rows(
                crm.db_path, "SELECT json_extract(body, '$.payload.sale_id') FROM events"
                " WHERE type = 'sale.completed'")} == {sale_a, sale_b}
            assert crm_rows(crm.db_path, "SELECT redeemed_event_id FROM coupons"
                            " WHERE code = 'WELCOME10'") == [("T01:lane-pc-1:1",)]

            async def redeemed_at_edge() -> bool:
                row = await first.store.fetchone(
                    "SELECT redeemed_at FROM coupons WHERE code = 'WELCOME10'")
                return row is not None and row["redeemed_at"] is not None
            await wait_for(redeemed_at_edge, what="the redemption to reach the edge")
        finally:
            for app in apps:
                await app.stop()


async def _sale_with_coupon(app: EdgeApp, code: str) -> str:
    lane = app.lanes["1"]
    await lane.handle_scan(route(MILK, app.config.scan))
    plan = plan_sale(lane.cart, lane.priced, [Tender("cash", lane.priced.total_fen)],
                     fen_per_point=100)
    plan = dataclasses.replace(plan, payload={**plan.payload,
                                              "coupons": [{"code": code, "amount_fen": 1000}]})
    identity = OutboxIdentity(app.config.store.id, app.config.store.device_id)
    await app.store.write(lambda conn: write_sale(conn, plan, identity))
    await lane.void("test: the sale was written directly")
    app.sync.nudge()
    return plan.sale_id


async def test_status_in_api_lane_screens_and_metrics(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm:
        config = make_sync_config(tmp_path, crm.url)
        await pair(config, crm)
        async with started(config) as app, aiohttp.ClientSession() as http:
            await sell(app, [MILK])
            await wait_for(lambda: synced(app, 1) and app.sync.state.state == "online",
                           what="online")
            async with http.get(f"{app.http_url}/api/status") as resp:
                status = await resp.json()
            sync = status["sync"]
            assert sync["state"] == "online" and sync["device_key"] == DEVICE_KEY
            assert sync["acked_through_seq"] == 1 and sync["crm_url"] == crm.url
            async with http.get(f"{app.http_url}/api/lanes/1") as resp:
                assert (await resp.json())["sync"]["state"] == "online"
            async with http.get(f"{app.http_url}/metrics") as resp:
                text = await resp.text()
            assert 'storeedge_sync_state{state="online"} 1.0' in text
            assert "storeedge_sync_queue_depth 0.0" in text
            assert "storeedge_sync_push_seconds_count" in text

            # A screen watching the lane hears when the state changes.
            updates = app.lanes["1"].subscribe()
            try:
                await crm.__aexit__(None, None, None)      # the CRM goes away
                await sell(app, [WATER])

                async def screen_says_not_online() -> bool:
                    while not updates.empty():
                        if updates.get_nowait()["sync"]["state"] != "online":
                            return True
                    return False
                await wait_for(screen_says_not_online, what="the lane screen to hear it")
            finally:
                app.lanes["1"].unsubscribe(updates)
            await wait_for(lambda: app.sync.status()["pending_count"] == 1,
                           what="the unsent sale in the figures")


async def test_sync_switched_off_keeps_selling_and_says_so(tmp_path: Path) -> None:
    config = make_sync_config(tmp_path, "http://127.0.0.1:9", extra="")
    config = dataclasses.replace(config, sync=dataclasses.replace(config.sync, enabled=False))
    async with started(config) as app:
        await sell(app, [MILK])
        await wait_for(lambda: app.sync.status()["pending_count"] == 1, what="figures")
        assert app.sync.state.state == "offline" and "switched off" in app.sync.state.reason


async def test_wallet_payment_codes_are_refused_while_the_uplink_is_down(
        tmp_path: Path) -> None:
    crm_context = running_crm(tmp_path)
    crm = await crm_context.__aenter__()
    config = make_sync_config(tmp_path, crm.url)
    async with started(config) as app:
        lane = app.lanes["1"]
        await lane.handle_scan(route(MILK, config.scan))
        # Not paired is configuration, not a dead uplink: codes are not refused for it.
        await wait_for(lambda: "not paired" in app.sync.state.reason, what="not paired")
        event = await lane.handle_scan(route("134567890123456789", config.scan))
        assert event.code != "payment_offline"
        await pair(config, crm)
        await wait_for(lambda: app.sync.online, what="online")
        await crm_context.__aexit__(None, None, None)      # the uplink goes down
        await wait_for(lambda: not app.sync.online, what="offline")
        event = await lane.handle_scan(route("134567890123456789", config.scan))
        assert (event.code, event.ok) == ("payment_offline", False)
        assert "需要网络" in event.message or "网络未连接" in event.message
        assert "wallet payment codes need the network" in event.message
        assert event.data["provider"] == "wechat"
        assert len(lane.cart.lines) == 1   # the cart is kept either way
