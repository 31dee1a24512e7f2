"""Paying a cart with a payment code, through the lane session, against the simulators."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from edge.errors import LaneError
from edge.payments.sim.common import Script
from tests.helpers import CHIPS, WATER
from tests.payments_support import PayEnv, alipay_code, eventually, is_state, pay_env, wechat_code

WALLETS = ["wechat", "alipay"]


def code_for(wallet: str, n: int) -> str:
    return wechat_code(n) if wallet == "wechat" else alipay_code(n)


async def cart_lines(env: PayEnv) -> list[tuple[str, int]]:
    return [(line.name, line.qty) for line in env.lane.cart.lines]


@pytest.mark.parametrize("wallet", WALLETS)
async def test_a_payment_code_pays_the_cart_and_the_sale_commits_with_its_tender(
    tmp_path: Path, wallet: str
) -> None:
    async with pay_env(tmp_path) as env:
        total = await env.fill_cart()
        code = code_for(wallet, 1)
        started = await env.scan(code)
        assert started.code == "payment_started" and started.ok
        assert started.data["amount_fen"] == total and code not in json.dumps(started.data)
        done = await env.finished()
        assert done.code == "payment_succeeded" and done.message == "支付成功 / Paid"
        assert done.data["receipt_no"] == 1
        assert env.lane.cart.empty and env.lane.payment is None

        sim = env.wechat if wallet == "wechat" else env.alipay
        (sim_order,) = sim.book.orders.values()
        assert sim_order.charged_fen == total and sim_order.pay_calls == 1
        tender = await env.store.fetchone("SELECT kind, amount_fen, reference FROM tenders")
        assert tender is not None
        assert tuple(tender) == (wallet, total, sim_order.transaction_id)
        row = await env.store.fetchone("SELECT state, transaction_id, sale_id FROM payments")
        assert row is not None and row["state"] == "paid"
        assert row["transaction_id"] == sim_order.transaction_id
        sale = await env.store.fetchone("SELECT id, total_fen FROM sales")
        assert sale is not None and (sale["id"], sale["total_fen"]) == (row["sale_id"], total)
        payload = json.loads(await env.one("SELECT payload FROM outbox WHERE type = "
                                           "'sale.completed'"))
        assert payload["tenders"][0]["reference"] == sim_order.transaction_id


@pytest.mark.parametrize("wallet", WALLETS)
async def test_userpaying_asks_the_shopper_to_confirm_then_settles(
    tmp_path: Path, wallet: str
) -> None:
    async with pay_env(tmp_path) as env:
        await env.fill_cart()
        code = code_for(wallet, 2)
        (env.wechat if wallet == "wechat" else env.alipay).script(
            code, Script("userpaying", queries=2))
        await env.scan(code)
        waiting = await env.until({"payment_waiting_user"})
        assert waiting.message == "请在手机上确认支付 / Confirm the payment on your phone"
        assert env.lane.snapshot()["payment"]["state"] == "waiting_user"
        assert (await env.finished()).code == "payment_succeeded"
        assert await env.one("SELECT queries FROM payments") == 3


async def test_userpaying_until_the_limit_is_reversed_and_the_cart_stays(
    tmp_path: Path
) -> None:
    async with pay_env(tmp_path, poll_limit=3) as env:
        total = await env.fill_cart()
        lines = await cart_lines(env)
        env.wechat.script(wechat_code(3), Script("userpaying", queries=1000, recalls=1))
        await env.scan(wechat_code(3))
        failed = await env.finished()
        assert failed.code == "payment_failed" and not failed.ok
        assert failed.data["reason"] == "timeout_reversed"
        assert failed.message.startswith("支付超时，订单已撤销")
        assert await cart_lines(env) == lines and env.lane.priced.total_fen == total
        (sim_order,) = env.wechat.book.orders.values()
        assert sim_order.state == "REVERSED" and sim_order.reverse_calls == 2  # recall=Y once
        assert await env.one("SELECT state FROM payments") == "reversed"
        assert await env.one("SELECT count(*) FROM sales") == 0
        # The cart is free again: a new code pays it.
        await env.scan(wechat_code(4))
        assert (await env.finished()).code == "payment_succeeded"
        assert await env.one("SELECT count(*) FROM sales") == 1


@pytest.mark.parametrize("outcome", ["systemerror", "bankerror", "timeout"])
async def test_an_unknown_outcome_is_queried_not_paid_again(tmp_path: Path,
                                                            outcome: str) -> None:
    async with pay_env(tmp_path) as env:
        total = await env.fill_cart()
        env.wechat.script(wechat_code(5), Script(outcome))
        await env.scan(wechat_code(5))
        assert (await env.until({"payment_checking"})).message.startswith("正在确认支付结果")
        assert (await env.finished()).code == "payment_succeeded"
        (sim_order,) = env.wechat.book.orders.values()
        assert sim_order.pay_calls == 1 and sim_order.query_calls >= 1
        assert await env.one("SELECT sum(amount_fen) FROM tenders") == total


@pytest.mark.parametrize("wallet", WALLETS)
@pytest.mark.parametrize(("outcome", "reason", "words"), [
    ("expired", {"code_expired", "code_invalid"}, "刷新付款码"),
    ("invalid", {"code_invalid"}, "付款码无效"),
    ("notenough", {"insufficient_funds"}, "余额不足"),
])
async def test_a_refused_code_gets_a_clear_message_and_the_cart_stays(
    tmp_path: Path, wallet: str, outcome: str, reason: set[str], words: str
) -> None:
    async with pay_env(tmp_path) as env:
        await env.fill_cart()
        lines = await cart_lines(env)
        code = code_for(wallet, 6)
        (env.wechat if wallet == "wechat" else env.alipay).script(code, Script(outcome))
        await env.scan(code)
        failed = await env.finished()
        assert failed.code == "payment_failed" and failed.data["reason"] in reason
        assert words in failed.message and " / " in failed.message  # Chinese, then English
        assert await cart_lines(env) == lines
        assert (await env.scan(CHIPS)).code == "item_added"  # the lane is free again
        assert await env.one("SELECT count(*) FROM sales") == 0


@pytest.mark.parametrize("wallet", WALLETS)
@pytest.mark.parametrize("outcome", ["garbage", "xxe", "badsign"])
async def test_garbage_or_forged_answers_move_no_money(tmp_path: Path, wallet: str,
                                                       outcome: str) -> None:
    async with pay_env(tmp_path) as env:
        await env.fill_cart()
        lines = await cart_lines(env)
        code = code_for(wallet, 7)
        sim = env.wechat if wallet == "wechat" else env.alipay
        sim.script(code, Script(outcome, charge=False))
        await env.scan(code)
        failed = await env.finished()
        assert failed.code == "payment_failed" and "未扣款" in failed.message
        (sim_order,) = sim.book.orders.values()
        assert sim_order.charged_fen == 0 and sim_order.query_calls >= 1
        assert await cart_lines(env) == lines
        assert await env.one("SELECT count(*) FROM tenders") == 0


async def test_a_forged_success_is_settled_only_by_what_the_query_says(tmp_path: Path) -> None:
    async with pay_env(tmp_path) as env:
        await env.fill_cart()
        env.wechat.script(wechat_code(8), Script("badsign", charge=True))
        await env.scan(wechat_code(8))
        assert (await env.finished()).code == "payment_succeeded"
        (sim_order,) = env.wechat.book.orders.values()
        assert sim_order.query_calls >= 1  # the forged "paid" was not believed
        assert await env.one("SELECT reference FROM tenders") == sim_order.transaction_id


async def test_a_payment_code_with_an_empty_cart_is_an_error_not_a_payment(
    tmp_path: Path
) -> None:
    async with pay_env(tmp_path) as env:
        event = await env.scan(wechat_code(9))
        assert event.code == "payment_cart_empty" and not event.ok
        assert await env.one("SELECT count(*) FROM payments") == 0
        assert env.wechat.book.orders == {}


async def test_a_used_code_is_refused_a_new_order_needs_a_new_code(tmp_path: Path) -> None:
    async with pay_env(tmp_path) as env:
        await env.fill_cart()
        await env.scan(wechat_code(10))
        assert (await env.finished()).code == "payment_succeeded"
        await env.fill_cart()
        again = await env.scan(wechat_code(10))
        assert again.code == "payment_code_used" and not again.ok
        assert "a new code is needed for a new order" in again.message
        assert len(env.wechat.book.orders) == 1
        # A code that was declined is spent too: the wallet shows a fresh one.
        env.wechat.script(wechat_code(11), Script("notenough"))
        await env.scan(wechat_code(11))
        await env.finished()
        assert (await env.scan(wechat_code(11))).code == "payment_code_used"
        # Only a salted hash is kept, never the code.
        raw = (tmp_path / "edge.db").read_bytes() + (tmp_path / "edge.db-wal").read_bytes()
        assert wechat_code(10).encode() not in raw and wechat_code(11).encode() not in raw


async def test_offline_refuses_payment_codes_with_a_clear_message(tmp_path: Path) -> None:
    async with pay_env(tmp_path, online=lambda: False) as env:
        await env.fill_cart()
        event = await env.scan(alipay_code(12))
        assert event.code == "payment_offline" and not event.ok
        assert event.message.startswith("网络未连接") and "Offline" in event.message
        assert await env.one("SELECT count(*) FROM payments") == 0
        assert env.alipay.book.orders == {} and not env.lane.cart.empty


async def test_while_paying_the_cart_cannot_change_and_a_cancel_reverses(
    tmp_path: Path
) -> None:
    async with pay_env(tmp_path, poll_interval_ms=50, poll_limit=1000) as env:
        await env.fill_cart()
        lines = await cart_lines(env)
        env.wechat.script(wechat_code(13), Script("userpaying", queries=100_000))
        await env.scan(wechat_code(13))
        await env.until({"payment_waiting_user"})
        for text in (WATER, wechat_code(14), alipay_code(14), "MC10000001"):
            refused = await env.scan(text)
            assert refused.code == "payment_in_progress" and not refused.ok
        line_id = env.lane.cart.lines[0].line_id
        for action in (env.lane.set_quantity(line_id, 5), env.lane.remove_line(line_id),
                       env.lane.void("x"), env.lane.pay_cash(100_000), env.lane.suspend()):
            with pytest.raises(LaneError, match="payment is in progress"):
                await action
        assert await cart_lines(env) == lines and len(env.wechat.book.orders) == 1

        assert (await env.lane.cancel_payment()).code == "payment_cancelling"
        failed = await env.finished()
        assert failed.code == "payment_failed" and failed.data["reason"] == "cancelled"
        assert next(iter(env.wechat.book.orders.values())).state == "REVERSED"
        assert (await env.lane.set_quantity(line_id, 5)).ok
        with pytest.raises(LaneError, match="no payment"):
            await env.lane.cancel_payment()


async def test_a_reversal_that_keeps_failing_is_in_doubt_then_resolved_in_the_background(
    tmp_path: Path
) -> None:
    # reverse_retries is 3: four recall=Y answers outlast the first round.
    async with pay_env(tmp_path, poll_limit=1) as env:
        await env.fill_cart()
        lines = await cart_lines(env)
        env.wechat.script(wechat_code(15), Script("userpaying", queries=1000, recalls=4))
        await env.scan(wechat_code(15))
        doubt = await env.finished()
        assert doubt.code == "payment_in_doubt" and "请勿重复付款" in doubt.message
        assert env.lane.payment is None and await cart_lines(env) == lines
        # Until the provider confirms, the same cart cannot be paid by wallet again ...
        refused = await env.scan(wechat_code(16))
        assert refused.code == "payment_unresolved" and not refused.ok
        # ... and the background keeps reversing it until it is.
        (sim_order,) = env.wechat.book.orders.values()
        await eventually(lambda: is_state(env, "reversed"))
        assert sim_order.state == "REVERSED"
        await env.scan(wechat_code(17))
        assert (await env.finished()).code == "payment_succeeded"


async def test_a_locked_database_mid_payment_makes_it_wait_then_settle_once(
    tmp_path: Path
) -> None:
    async with pay_env(tmp_path, poll_interval_ms=30) as env:
        await env.fill_cart()
        env.wechat.script(wechat_code(18), Script("userpaying", queries=2))
        await env.scan(wechat_code(18))
        await env.until({"payment_waiting_user"})
        other = sqlite3.connect(tmp_path / "edge.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # e.g. a maintenance script holding the file
        try:
            await asyncio.sleep(0.5)
            assert await env.one("SELECT count(*) FROM sales") == 0
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert (await env.finished()).code == "payment_succeeded"
        assert await env.one("SELECT count(*) FROM sales") == 1
        assert next(iter(env.wechat.book.orders.values())).pay_calls == 1

