"""Loyalty end to end: lanes, the WeChat Pay simulator and the reference CRM on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from edge.app import EdgeApp
from edge.config import Config, load_config
from edge.lane import LaneEvent, LaneSession
from edge.reports import today_summary
from sync import member_code
from sync.crm.server import CrmServer
from tests.fault_proxy import FaultProxy
from tests.helpers import MEMBER_CODE, MILK, RICE, WATER, staff_lane, write_config
from tests.payments_support import daemon_payments_toml, script, simulators, wechat_code
from tests.sync_helpers import admin_of, crm_rows, pair, running_crm, started, wait_for

SYNC = """
[sync]
crm_url = "{url}"
push_interval_ms = 100
push_linger_ms = 5
pull_interval_ms = 200
backoff_base_ms = 20
backoff_max_ms = 200
breaker_failures = 50
breaker_reset_ms = 200
status_refresh_ms = 100
credentials_poll_ms = 100
request_timeout_ms = 2000
connect_timeout_ms = 1000
offline_after_ms = {offline_ms}
offline_per_transaction_fen = {per_tx}
offline_total_fen = {total}
offline_max_age_s = {max_age}
"""
PAYMENT_TIMING = {"poll_interval_ms": 20, "poll_limit": 5, "reverse_interval_ms": 20,
                  "request_timeout_ms": 2000, "connect_timeout_ms": 500}


def device(tmp_path: Path, name: str, crm_url: str, *, sim_url: str | None = None,
           offline_ms: int = 5000, per_tx: int = 20_000, total: int = 100_000,
           max_age: int = 86_400) -> Config:
    """A config for one appliance of store T01, named ``name``."""
    folder = tmp_path / name
    folder.mkdir()
    extra = SYNC.format(url=crm_url, offline_ms=offline_ms, per_tx=per_tx, total=total,
                        max_age=max_age)
    if sim_url:
        extra += daemon_payments_toml(sim_url, folder / "state", **PAYMENT_TIMING)
    path = write_config(folder, extra=extra)
    path.write_text(path.read_text("utf-8").replace('device_id = "lane-pc-1"',
                                                    f'device_id = "{name}"'), "utf-8")
    return load_config(path)


class Seen:
    """The events of one lane, in order, for waiting on."""

    def __init__(self, lane: LaneSession) -> None:
        self.queue: asyncio.Queue[LaneEvent] = asyncio.Queue()
        lane.observe(lambda _lane, event: self.queue.put_nowait(event))

    async def until(self, *codes: str) -> LaneEvent:
        async with asyncio.timeout(30):
            while True:
                event = await self.queue.get()
                if event.code in codes:
                    return event


async def scan(app: EdgeApp, text: str, lane: str = "1") -> LaneEvent:
    return await app.handle_scan(app.lanes[lane], text, None, None)


async def member_code_now(app: EdgeApp, crm: CrmServer, member_id: str,
                          ahead_s: float = 0) -> str:
    """The member's code once the CRM's seed has reached the appliance.

    ``ahead_s=60``: the next minute's code, which the phone shows after the first was used
    (a phone clock a step ahead is within the drift the edge allows).
    """
    want = crm_rows(crm.db_path, "SELECT code_seed FROM members WHERE id = ?", (member_id,))

    async def arrived() -> bool:
        row = await app.store.fetchone("SELECT code_seed FROM members WHERE id = ?",
                                       (member_id,))
        return row is not None and [(row[0],)] == want

    await wait_for(arrived, what="the member's seed from the CRM")
    return member_code.code_for(member_id, want[0][0], time.time() + ahead_s)


async def online(app: EdgeApp) -> None:
    await wait_for(lambda: app.sync.online and app.sync.credentials is not None, what="online")


# -- 支付即会员 --------------------------------------------------------------------------------

async def test_a_shopper_joins_after_paying_and_is_recognised_by_the_wallet_next_time(
        tmp_path: Path) -> None:
    async with simulators() as (wechat, _alipay), running_crm(tmp_path) as crm:
        config = device(tmp_path, "kiosk-a", crm.url, sim_url=wechat.url)
        await pair(config, crm)
        async with started(config) as app:
            await online(app)
            lane, seen = app.lanes["1"], Seen(app.lanes["1"])
            await scan(app, MILK)
            first = wechat_code(1)
            wechat.script(first, script(payer="alice"))
            assert (await scan(app, first)).code == "payment_started"
            offer = await seen.until("join_offered")
            assert (offer.data["points"], offer.data["consent_version"]) == (
                65, "member-join-2025-01")
            assert "支付账户" in offer.data["consent_zh"] and "65" in offer.data["zh"]
            assert lane.snapshot()["join_offer"]["consent_en"].startswith("Join as a member")
            joined = await lane.join_member(offer.data["consent_version"], True)
            member_id = joined.data["member_id"]
            assert (joined.code, joined.data["points_earned"]) == ("member_joined", 65)
            assert lane.snapshot()["last_sale"]["member_id"] == member_id
            today = await today_summary(app.store, app.config.store.timezone)
            assert (today["sales"], today["member_sales"]) == (1, 1)   # digitisation: 100 %

            await wait_for(lambda: crm_rows(crm.db_path, "SELECT points_balance FROM members"
                                            " WHERE id = ?", (member_id,)) == [(65,)],
                           what="the new member at the CRM with the first sale's points")
            assert crm_rows(crm.db_path, "SELECT provider, member_id FROM wallet_links") == [
                ("wechat", member_id)]
            consent = crm_rows(crm.db_path, "SELECT consent_version, lane FROM member_joins")
            assert consent == [("member-join-2025-01", "1")]
            local = await app.store.fetchone("SELECT consent_version, lane FROM member_joins")
            assert local is not None and tuple(local) == ("member-join-2025-01", "1")

            await scan(app, MILK)
            await scan(app, WATER)
            second = wechat_code(2)
            wechat.script(second, script(payer="alice"))
            await scan(app, second)
            known = await seen.until("member_identified", "join_offered")
            assert (known.code, known.data["identified_by"]) == ("member_identified", "wallet")
            assert (known.data["member_id"], known.data["points_earned"]) == (member_id, 67)
            sale_id = known.data["sale_id"]
            row = await app.store.fetchone("SELECT member_id FROM sales WHERE id = ?",
                                           (sale_id,))
            assert row is not None and row[0] == member_id
            await wait_for(lambda: crm_rows(crm.db_path, "SELECT points_balance FROM members"
                                            " WHERE id = ?", (member_id,)) == [(132,)],
                           what="the second sale's points at the CRM")
            # the members stream brings the new member, with a rotating-code seed
            async def streamed() -> bool:
                row = await app.store.fetchone("SELECT code_seed FROM members WHERE id = ?",
                                               (member_id,))
                return row is not None and row[0] is not None

            await wait_for(streamed, what="the new member at the edge")


async def test_a_declined_offer_and_an_offline_payment_stay_anonymous(tmp_path: Path) -> None:
    async with simulators() as (wechat, _alipay), running_crm(tmp_path) as crm:
        paired = device(tmp_path, "kiosk-a", crm.url, sim_url=wechat.url)
        await pair(paired, crm)
        async with started(paired) as app:
            await online(app)
            seen = Seen(app.lanes["1"])
            await scan(app, WATER)
            await scan(app, wechat_code(3))
            offer = await seen.until("join_offered")
            declined = await app.lanes["1"].join_member(offer.data["consent_version"], False)
            assert declined.code == "join_declined"
            assert app.lanes["1"].snapshot()["join_offer"] is None
        # not paired: offline, no look-up at all; the sale goes through anonymous
        alone = device(tmp_path, "kiosk-b", crm.url, sim_url=wechat.url)
        async with started(alone) as app:
            seen = Seen(app.lanes["1"])
            await scan(app, WATER)
            await scan(app, wechat_code(4))
            assert (await seen.until("payment_succeeded", "payment_failed")).ok
            assert not [t for t in asyncio.all_tasks() if "wallet-lookup" in t.get_name()]
            assert app.lanes["1"].snapshot()["join_offer"] is None
            today = await today_summary(app.store, app.config.store.timezone)
            assert (today["sales"], today["member_sales"]) == (1, 0)
    assert crm_rows(crm.db_path, "SELECT count(*) FROM member_joins") == [(0,)]


# -- coupons across appliances -----------------------------------------------------------------

async def sell_with_coupon(app: EdgeApp, lane: str = "1") -> LaneEvent:
    await scan(app, MILK, lane)
    event = await scan(app, "CPWELCOME10", lane)
    if event.code == "coupon_applied":
        await app.lanes[lane].pay_cash(app.lanes[lane].priced.total_fen)
    return event


async def test_a_coupon_redeemed_offline_at_two_appliances_is_flagged_by_the_crm(
        tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm:
        first = device(tmp_path, "kiosk-a", crm.url)
        second = device(tmp_path, "kiosk-b", crm.url)
        async with started(first) as a, started(second) as b:
            assert (await sell_with_coupon(a)).code == "coupon_applied"
            await staff_lane(a, "2")
            refused = await sell_with_coupon(a, "2")        # the same appliance, offline
            assert (refused.code, refused.data["reason"]) == ("coupon_rejected", "redeemed")
            assert (await sell_with_coupon(b)).code == "coupon_applied"   # b cannot know
            await pair(first, crm)
            await wait_for(lambda: crm_rows(crm.db_path, "SELECT redeemed_event_id FROM coupons"
                                            " WHERE code = 'WELCOME10'") == [("T01:kiosk-a:1",)],
                           what="the first redemption at the CRM")
            await pair(second, crm)

            async def flagged() -> bool:
                return bool(await b.sync.conflicts())

            await wait_for(flagged, what="the second redemption flagged")
            conflict = (await b.sync.conflicts())[0]
            assert (conflict["kind"], conflict["subject"]) == ("coupon_already_redeemed",
                                                               "WELCOME10")
            assert not await a.sync.conflicts()


async def test_a_shareable_coupon_from_a_crm_rule_is_claimed_at_another_appliance(
        tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm:
        async with admin_of(crm) as admin:
            await admin.call("PUT", "/admin/coupon-rules/R-SHARE", {
                "label": "满80送好友券", "active": True, "starts_at": None, "ends_at": None,
                "priority": 0, "body": {"min_total_fen": 8000, "shareable": True,
                                        "coupon_label": "好友专享减5", "valid_days": 7,
                                        "coupon": {"kind": "cash_off", "off_fen": 500}}})
        first = device(tmp_path, "kiosk-a", crm.url)
        second = device(tmp_path, "kiosk-b", crm.url)
        await pair(first, crm)
        await pair(second, crm)
        async with started(first) as a, started(second) as b:

            async def has_rule() -> bool:
                return await a.store.fetchone("SELECT 1 FROM coupon_rules") is not None

            await wait_for(has_rule, what="the rule from the CRM")
            for text in ("GDG001", MILK, RICE, MEMBER_CODE):
                assert (await scan(a, text)).ok
            await a.lanes["1"].pay_cash(a.lanes["1"].priced.total_fen)
            (shared,) = a.lanes["1"].snapshot()["last_sale"]["issued_coupons"]
            assert (shared["shareable"], shared["member_id"]) == (True, None)

            async def reached_b() -> bool:
                return await b.store.fetchone("SELECT 1 FROM coupons WHERE code = ?",
                                              (shared["code"],)) is not None

            await wait_for(reached_b, what="the coupon at the other appliance")
            await scan(b, MILK)
            claimed = await scan(b, shared["qr_payload"])
            assert (claimed.code, claimed.data["amount_fen"]) == ("coupon_applied", 500)
            await b.lanes["1"].pay_cash(b.lanes["1"].priced.total_fen)
            await wait_for(lambda: crm_rows(crm.db_path, "SELECT redeemed_event_id FROM coupons"
                                            " WHERE code = ?", (shared["code"],))
                           == [("T01:kiosk-b:1",)], what="redeemed at the CRM")
            assert crm_rows(crm.db_path, "SELECT guide_id, member_id FROM sale_guides") == [
                ("G001", "M0001")]


# -- points and stored value -------------------------------------------------------------------

async def test_points_stored_value_and_a_wallet_pay_one_sale_as_ledger_deltas(
        tmp_path: Path) -> None:
    async with simulators() as (wechat, _alipay), running_crm(tmp_path) as crm:
        config = device(tmp_path, "kiosk-a", crm.url, sim_url=wechat.url)
        await pair(config, crm)
        async with started(config) as app:
            await online(app)
            lane, seen = app.lanes["1"], Seen(app.lanes["1"])
            await scan(app, MILK)
            await scan(app, RICE)
            await scan(app, await member_code_now(app, crm, "M0001"))
            assert lane.priced.total_fen == 5900 + 5990 - 2000
            assert (await lane.use_points(1000)).code == "points_applied"
            assert (await lane.use_stored_value(3000)).code == "stored_value_applied"
            assert lane.snapshot()["tenders_pending"]["rest_fen"] == 5890
            code = wechat_code(5)
            wechat.script(code, script(payer="bob"))
            await scan(app, code)
            paid = await seen.until("payment_succeeded", "payment_failed")
            assert paid.code == "payment_succeeded"
            assert [o.amount_fen for o in wechat.book.orders.values()] == [5890]
            sale_id = lane.snapshot()["last_sale"]["sale_id"]
            tenders = await app.store.fetchall("SELECT kind, amount_fen FROM tenders"
                                               " WHERE sale_id = ? ORDER BY id", (sale_id,))
            assert [tuple(t) for t in tenders] == [("points", 1000), ("stored_value", 3000),
                                                   ("wechat", 5890)]

            def ledger() -> list[tuple[Any, ...]]:
                return crm_rows(crm.db_path, "SELECT entry_id, balance, delta FROM member_ledger"
                                " WHERE member_id = 'M0001' AND event_id IS NOT NULL"
                                " ORDER BY entry_id")

            await wait_for(lambda: len(ledger()) == 3, what="the ledger deltas at the CRM")
            assert ledger() == [(f"{sale_id}:points", "points", 58),
                                (f"{sale_id}:points_used", "points", -1000),
                                (f"{sale_id}:stored_value", "stored_value", -3000)]
            assert crm_rows(crm.db_path, "SELECT points_balance, stored_value_fen FROM members"
                            " WHERE id = 'M0001'") == [(1280 - 1000 + 58, 20000 - 3000)]


async def test_stored_value_is_bounded_while_the_crm_is_out_of_reach(tmp_path: Path) -> None:
    cut = {"fault": "pass"}
    async with running_crm(tmp_path) as crm:
        port = int(crm.url.rsplit(":", 1)[1])
        async with FaultProxy(port, lambda _method, _path: cut["fault"]) as proxy:
            config = device(tmp_path, "kiosk-a", proxy.url, offline_ms=300, per_tx=3000,
                            total=5000, max_age=5)
            await pair(config, crm)
            async with started(config) as app:
                await online(app)
                lane = app.lanes["1"]
                await scan(app, MILK)
                await scan(app, await member_code_now(app, crm, "M0001"))
                assert (await lane.use_stored_value(4000)).code == "stored_value_applied"
                await lane.clear_loyalty_tenders()
                cut["fault"] = "reset_before"                  # the uplink goes down
                await wait_for(lambda: not app.sync.online, what="offline")
                over = await lane.use_stored_value(4000)
                assert (over.code, over.data["code"]) == ("tender_refused",
                                                          "over_transaction_cap")
                assert "¥30.00" in over.data["en"] and lane.cart.loyalty.pending_fen == 0
                assert (await lane.use_stored_value(3000)).code == "stored_value_applied"
                await lane.pay_cash(lane.snapshot()["tenders_pending"]["rest_fen"])
                await scan(app, MILK)
                again = await scan(app, await member_code_now(app, crm, "M0001"))
                if again.code == "member_code_reused":   # same minute: the next code
                    again = await scan(app, await member_code_now(app, crm, "M0001", 60))
                assert again.code == "member_identified"
                used_up = await lane.use_stored_value(2500)    # 3000 + 2500 > 5000 offline
                assert (used_up.code, used_up.data["code"]) == ("tender_refused",
                                                                "allowance_exhausted")
                assert (await lane.use_stored_value(2000)).code == "stored_value_applied"
                await lane.clear_loyalty_tenders()

                async def too_old() -> bool:
                    event = await lane.use_stored_value(100)
                    if event.ok:
                        await lane.clear_loyalty_tenders()
                    return event.data.get("code") == "too_old"

                await wait_for(too_old, what="no word from the CRM for too long")
                assert lane.cart.loyalty.pending_fen == 0 and len(lane.cart.lines) == 1
                cut["fault"] = "pass"                          # back: the spend settles
                await wait_for(lambda: app.sync.online and
                               app.sync.status()["pending_count"] == 0, what="drained")
            assert crm_rows(crm.db_path, "SELECT stored_value_fen FROM members WHERE id ="
                            " 'M0001'") == [(20000 - 3000,)]


# -- the CRM's own check of the member code ----------------------------------------------------

async def test_the_crm_verifies_a_member_code_once_with_the_same_algorithm(
        tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm:
        config = device(tmp_path, "kiosk-a", crm.url)
        await pair(config, crm)
        async with started(config) as app:
            await online(app)
            code = await member_code_now(app, crm, "M0002")

            async def verify(text: str) -> dict[str, Any]:
                answer: dict[str, Any] = await app.sync.crm_json(
                    "POST", "/v1/member-codes/verify", {"code": text}, 5)
                return answer

            assert await verify(code) == {"valid": True, "reason": "ok", "member_id": "M0002",
                                          "tier": "standard"}
            assert (await verify(code))["reason"] == "reused"
            seed = crm_rows(crm.db_path, "SELECT code_seed FROM members WHERE id = 'M0002'")[0][0]
            old = member_code.code_for("M0002", seed, time.time() - 600)
            assert (await verify(old))["reason"] == "expired"
            assert (await verify("MCM0002.00000000"))["reason"] == "unknown"
            # the edge checks the same code offline: it is a good code there (a screen
            # shows it once, at a lane or through the CRM, not both)
            assert (await scan(app, code)).code == "member_identified"

