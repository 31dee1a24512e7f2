"""Each client against its simulator over real HTTP: what every answer means to the caller."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator

import pytest

from edge.payments.alipay import AlipayClient
from edge.payments.base import (
    Closed,
    Declined,
    NotDelivered,
    NotFound,
    Paid,
    PaymentOrder,
    PaymentProvider,
    ProviderBusy,
    ProviderGarbage,
    ProviderUnreachable,
    Reversed,
    ReverseRefused,
    SignatureMismatch,
    UserPaying,
)
from edge.payments.sim.alipay import AlipaySimulator
from edge.payments.sim.common import Script
from edge.payments.sim.wechat import WeChatPaySimulator
from edge.payments.transport import HttpLimits
from edge.payments.wechatpay import WeChatPayClient
from tests.payments_support import (
    ALIPAY_APP_ID,
    APPID,
    MCH_ID,
    WECHAT_KEY,
    alipay_code,
    keys,
    simulators,
    wechat_code,
)

# A provider that holds its answer (the "timeout" script) is given up after this; generous
# enough that a busy machine's ordinary answers never look like one.
LIMITS = HttpLimits(timeout_s=3.0, connect_timeout_s=3.0, max_bytes=64 * 1024)
Sims = tuple[WeChatPaySimulator, AlipaySimulator]


@pytest.fixture
async def sims() -> AsyncIterator[Sims]:
    async with simulators() as pair:
        yield pair


def wechat_client(url: str, *, key: str = WECHAT_KEY, sign_type: str = "HMAC-SHA256",
                  limits: HttpLimits = LIMITS) -> WeChatPayClient:
    return WeChatPayClient(base_url=url, appid=APPID, mch_id=MCH_ID, key=key,
                           sign_type=sign_type, terminal_ip="127.0.0.1", device_info="lane-1",
                           limits=limits)


def alipay_client(url: str) -> AlipayClient:
    return AlipayClient(gateway=url + "/gateway.do", app_id=ALIPAY_APP_ID,
                        private_key=keys().app, alipay_public_key=keys().gateway.public_key(),
                        limits=LIMITS)


def order(code: str, amount: int = 6700, n: int = 1) -> PaymentOrder:
    return PaymentOrder(f"20261122test{n:020d}", amount, code, "测试店")


Pair = tuple[PaymentProvider, WeChatPaySimulator | AlipaySimulator, str]


@pytest.fixture(params=["wechat", "alipay"])
async def pair(request: pytest.FixtureRequest, sims: Sims) -> AsyncIterator[Pair]:
    """(client, its simulator, a fresh payment code) for each wallet in turn."""
    wechat, alipay = sims
    client: PaymentProvider
    sim: WeChatPaySimulator | AlipaySimulator
    if request.param == "wechat":
        client, sim, code = wechat_client(wechat.url), wechat, wechat_code(1)
    else:
        client, sim, code = alipay_client(alipay.url), alipay, alipay_code(1)
    yield client, sim, code
    await client.close()


async def test_a_paid_order_is_paid_once_and_a_repeat_is_recognised(pair: Pair) -> None:
    client, sim, code = pair
    answer = await client.pay(order(code))
    assert isinstance(answer, Paid) and answer.amount_fen == 6700
    sim_order = sim.book.orders[order(code).out_trade_no]
    assert sim_order.state == "PAID" and sim_order.transaction_id == answer.transaction_id
    # The same order sent again (a retry after a crash) is not charged again ...
    with pytest.raises(ProviderBusy):
        await client.pay(order(code))
    assert sim_order.pay_calls == 2 and sim_order.charged_fen == 6700
    # ... and a query tells what happened.
    assert await client.query(order(code).out_trade_no, 6700) == answer


async def test_who_paid_comes_back_the_same_for_the_same_payer(pair: Pair) -> None:
    client, sim, code = pair
    other = code[:-2] + "89"
    sim.script(code, Script(payer="alice"))
    sim.script(other, Script(payer="alice"))
    first = await client.pay(order(code, n=1))
    second = await client.pay(order(other, n=2))
    assert isinstance(first, Paid) and isinstance(second, Paid)
    assert first.payer_id is not None and first.payer_id == second.payer_id
    pattern = r"o[A-Za-z0-9_-]{27}" if client.name == "wechat" else r"2088[0-9]{12}"
    assert re.fullmatch(pattern, first.payer_id)
    stranger = code[:-2] + "79"
    third = await client.pay(order(stranger, n=3))
    assert isinstance(third, Paid) and third.payer_id not in (None, first.payer_id)
    # the query after an unknown outcome says who paid as well
    assert await client.query(order(code, n=1).out_trade_no, 6700) == first


async def test_a_used_code_on_a_new_order_is_declined(pair: Pair) -> None:
    client, _sim, code = pair
    assert isinstance(await client.pay(order(code, n=1)), Paid)
    answer = await client.pay(order(code, n=2))
    assert isinstance(answer, Declined) and answer.reason == "code_invalid"


@pytest.mark.parametrize(("outcome", "reason"), [
    ("expired", {"code_expired", "code_invalid"}), ("invalid", {"code_invalid"}),
    ("notenough", {"insufficient_funds"})])
async def test_final_refusals_are_declines_with_a_reason(pair: Pair, outcome: str,
                                                         reason: set[str]) -> None:
    client, sim, code = pair
    sim.script(code, Script(outcome))
    answer = await client.pay(order(code))
    assert isinstance(answer, Declined) and answer.reason in reason
    assert sim.book.orders[order(code).out_trade_no].charged_fen == 0


async def test_userpaying_then_success_through_queries(pair: Pair) -> None:
    client, sim, code = pair
    sim.script(code, Script("userpaying", queries=2))
    assert isinstance(await client.pay(order(code)), UserPaying)
    no = order(code).out_trade_no
    assert isinstance(await client.query(no, 6700), UserPaying)
    assert isinstance(await client.query(no, 6700), UserPaying)
    assert isinstance(await client.query(no, 6700), Paid)


async def test_userpaying_then_closed(pair: Pair) -> None:
    client, sim, code = pair
    sim.script(code, Script("userpaying", queries=0, then="closed"))
    assert isinstance(await client.pay(order(code)), UserPaying)
    assert isinstance(await client.query(order(code).out_trade_no, 6700), Closed)


@pytest.mark.parametrize(("outcome", "error"), [
    ("systemerror", ProviderBusy), ("garbage", ProviderGarbage),
    ("badsign", SignatureMismatch), ("timeout", ProviderUnreachable)])
async def test_unknown_outcomes_raise_and_the_query_tells_the_truth(
    pair: Pair, outcome: str, error: type[Exception]
) -> None:
    client, sim, code = pair
    sim.script(code, Script(outcome))
    with pytest.raises(error):
        await client.pay(order(code))
    charged = sim.book.orders[order(code).out_trade_no].charged_fen
    answer = await client.query(order(code).out_trade_no, 6700)
    assert isinstance(answer, Paid) if charged else isinstance(answer, Closed)


async def test_query_of_an_unknown_order_and_the_check_action(pair: Pair) -> None:
    client, _sim, _code = pair
    assert isinstance(await client.query("20261122nosuchorder", 100), NotFound)
    assert "signed answer verified" in await client.check()


async def test_reverse_refunds_a_paid_order_once_and_is_idempotent(pair: Pair) -> None:
    client, sim, code = pair
    sim.script(code, Script(recalls=2))
    assert isinstance(await client.pay(order(code)), Paid)
    no = order(code).out_trade_no
    for _ in range(2):  # recall=Y / retry_flag=Y: the docs say call reverse again
        with pytest.raises(ProviderBusy):
            await client.reverse(no)
    assert isinstance(await client.reverse(no), Reversed)
    assert isinstance(await client.reverse(no), Reversed)
    sim_order = sim.book.orders[no]
    assert sim_order.state == "REVERSED" and sim_order.refunded_fen == 6700 == \
        sim_order.charged_fen
    assert isinstance(await client.query(no, 6700), Closed)


async def test_reverse_refused_and_reverse_of_nothing(pair: Pair) -> None:
    client, sim, code = pair
    sim.script(code, Script(reverse="refuse"))
    await client.pay(order(code))
    with pytest.raises(ReverseRefused):
        await client.reverse(order(code).out_trade_no)
    assert "nothing" in (await client.reverse("20261122nosuchorder")).detail


async def test_a_closed_port_means_not_delivered(pair: Pair) -> None:
    _client, _sim, code = pair
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = wechat_client(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(NotDelivered):
            await client.pay(order(code))
    finally:
        await client.close()


async def test_wechat_wrong_key_is_refused_by_the_provider_and_unknown_to_us(
    sims: Sims
) -> None:
    wechat, _ = sims
    client = wechat_client(wechat.url, key="X" * 32)
    try:
        with pytest.raises(ProviderBusy, match="签名错误"):
            await client.pay(order(wechat_code(5)))
        with pytest.raises(ProviderBusy):
            await client.check()
    finally:
        await client.close()
    assert wechat.book.orders == {}


async def test_wechat_md5_signatures_work_too(sims: Sims) -> None:
    wechat, _ = sims
    client = wechat_client(wechat.url, sign_type="MD5")
    try:
        assert isinstance(await client.pay(order(wechat_code(6))), Paid)
    finally:
        await client.close()


async def test_wechat_xxe_answer_is_refused(sims: Sims) -> None:
    wechat, _ = sims
    wechat.script(wechat_code(7), Script("xxe"))
    client = wechat_client(wechat.url)
    try:
        with pytest.raises(ProviderGarbage):
            await client.pay(order(wechat_code(7)))
    finally:
        await client.close()


async def test_alipay_wrong_app_key_is_refused(sims: Sims) -> None:
    _, alipay = sims
    client = AlipayClient(gateway=alipay.url + "/gateway.do", app_id=ALIPAY_APP_ID,
                          private_key=keys().gateway,  # not the key the gateway knows
                          alipay_public_key=keys().gateway.public_key(), limits=LIMITS)
    try:
        with pytest.raises(ProviderBusy, match=r"isv\.invalid-signature"):
            await client.pay(order(alipay_code(5)))
    finally:
        await client.close()
    assert alipay.book.orders == {}
