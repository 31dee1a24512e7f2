"""A payment interrupted by a stop or a restart is settled or reversed, never charged twice.

These restart the payment service in-process (the daemon's own order: restore the lanes, then
recover). The SIGKILL of a real daemon is in test_payments_daemon.py.
"""

from __future__ import annotations

from pathlib import Path

from edge.catalog import Catalog
from edge.lane import LaneSession
from edge.payments.service import PaymentService
from edge.payments.sim.common import Script
from edge.sales import OutboxIdentity
from tests.payments_support import (
    PayEnv,
    eventually,
    is_state,
    pay_env,
    payments_config,
    wechat_code,
)


async def restart(env: PayEnv, tmp_path: Path, *, with_lane: bool = True) -> PayEnv:
    """Stop the payment service mid-payment, then start the pair again as a boot would."""
    await env.service.aclose()
    service = PaymentService(env.store)
    await service.open(payments_config(tmp_path / "keys2", env.wechat.url, env.alipay.url),
                       device_id="lane-pc-1", description="测试店")
    lane = LaneSession("1", env.store, Catalog(env.store), OutboxIdentity("T01", "lane-pc-1"),
                       payments=service)
    await lane.restore()
    again = PayEnv(env.store, lane, service, env.wechat, env.alipay)
    lane.observe(lambda _lane, event: again.events.put_nowait(event))
    assert await service.recover({"1": lane} if with_lane else {}) == 1
    return again


async def test_stopped_while_the_shopper_confirms_then_settled_once_after_restart(
    tmp_path: Path
) -> None:
    async with pay_env(tmp_path) as env:
        total = await env.fill_cart()
        env.wechat.script(wechat_code(1), Script("userpaying", queries=3))
        await env.scan(wechat_code(1))
        await env.until({"payment_waiting_user"})
        again = await restart(env, tmp_path)
        try:
            assert again.lane.payment is not None  # the restored cart is locked at once
            assert (await again.scan(wechat_code(2))).code == "payment_in_progress"
            assert (await again.finished()).code == "payment_succeeded"
            (sim_order,) = env.wechat.book.orders.values()
            assert sim_order.pay_calls == 1 and sim_order.charged_fen == total
            assert await env.one("SELECT count(*) FROM sales") == 1
            assert await env.one("SELECT reference FROM tenders") == sim_order.transaction_id
        finally:
            await again.service.aclose()


async def test_a_payment_whose_cart_is_gone_is_reversed_never_settled(tmp_path: Path) -> None:
    async with pay_env(tmp_path) as env:
        await env.fill_cart()
        env.wechat.script(wechat_code(3), Script("userpaying", queries=1, then="success"))
        await env.scan(wechat_code(3))
        await env.until({"payment_waiting_user"})
        again = await restart(env, tmp_path, with_lane=False)
        try:
            await eventually(lambda: is_state(env, "reversed"))
            (sim_order,) = env.wechat.book.orders.values()
            assert sim_order.state == "REVERSED" and sim_order.charged_fen > 0
            assert sim_order.refunded_fen == sim_order.charged_fen
            assert await env.one("SELECT count(*) FROM sales") == 0
        finally:
            await again.service.aclose()


async def test_a_payment_saved_but_never_sent_fails_without_touching_the_provider(
    tmp_path: Path
) -> None:
    async with pay_env(tmp_path) as env:
        total = await env.fill_cart()
        # The row is written, then the daemon stops before the request leaves.
        await env.service.begin(cart=env.lane.cart, amount_fen=total, provider="wechat",
                                code=wechat_code(4))
        again = await restart(env, tmp_path)
        try:
            failed = await again.finished()
            assert failed.code == "payment_failed" and failed.data["reason"] == "cancelled"
            assert env.wechat.book.orders == {}
            assert not again.lane.cart.empty and again.lane.payment is None
            await again.scan(wechat_code(5))
            assert (await again.finished()).code == "payment_succeeded"
        finally:
            await again.service.aclose()



async def test_an_in_doubt_payment_found_at_boot_is_reversed_without_locking_the_lane(
    tmp_path: Path
) -> None:
    async with pay_env(tmp_path, poll_limit=1) as env:
        await env.fill_cart()
        # Five "call again" answers: three in the first round, then the daemon stops.
        env.wechat.script(wechat_code(6), Script("userpaying", queries=1000, recalls=5))
        await env.scan(wechat_code(6))
        assert (await env.finished()).code == "payment_in_doubt"
        again = await restart(env, tmp_path)
        try:
            assert again.lane.payment is None  # the cart is usable while it resolves
            await eventually(lambda: is_state(env, "reversed"))
            (sim_order,) = env.wechat.book.orders.values()
            assert sim_order.state == "REVERSED" and sim_order.charged_fen == 0
            await again.scan(wechat_code(7))
            assert (await again.finished()).code == "payment_succeeded"
        finally:
            await again.service.aclose()
