"""The receipt as laid out from a committed sale, and the e-receipt link and its signature."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.receipt import Qr, Text, render
from edge.checkout_config import CheckoutConfig
from edge.config import load_config
from edge.ereceipt import load_key, parse_url, receipt_url, signature, verify_url
from edge.errors import ConfigError
from edge.receipts import build_receipt, clip, load_sale, mask_member, two_columns, width
from edge.scan_router import route
from edge.seed import seed_demo
from edge.store import Store
from tests.helpers import CHIPS, MEMBER_CODE, WATER, make_lane

TEMPLATE = "https://fapiao.example.cn/e?s={store}&id={sale_id}&a={amount_fen}&sig={sig}"
KEY = b"k" * 32


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await store.open()
    await store.write(seed_demo)
    yield store
    await store.close()


def test_the_link_verifies_and_a_tampered_one_does_not() -> None:
    url = receipt_url(TEMPLATE, KEY, store="T01", sale_id="abc123", amount_fen=1075,
                      receipt_no=42, lane="1")
    assert url.startswith("https://fapiao.example.cn/e?s=T01&id=abc123&a=1075&sig=")
    assert verify_url(TEMPLATE, KEY, url) == {
        "store": "T01", "sale_id": "abc123", "amount_fen": "1075",
        "sig": signature(KEY, "T01", "abc123", 1075)}
    assert verify_url(TEMPLATE, KEY, url.replace("a=1075", "a=10750")) is None
    assert verify_url(TEMPLATE, KEY, url.replace("id=abc123", "id=abc124")) is None
    assert verify_url(TEMPLATE, b"x" * 32, url) is None           # another store's key
    assert verify_url(TEMPLATE, KEY, url[:-2]) is None
    assert parse_url(TEMPLATE, "https://elsewhere.example/?s=1") is None


def test_values_are_escaped_into_the_link() -> None:
    template = "https://e.example/{store}/{sale_id}?a={amount_fen}&n={receipt_no}&sig={sig}"
    url = receipt_url(template, KEY, store="T 01", sale_id="a/b", amount_fen=5, receipt_no=7,
                      lane="1")
    assert "/T%2001/a%2Fb?" in url
    assert verify_url(template, KEY, url) is not None


@pytest.mark.parametrize("template", [
    "ftp://x/{store}{sale_id}{amount_fen}{sig}", "https://x/{store}{sale_id}{amount_fen}",
    "https://x/{store}{sale_id}{amount_fen}{sig}{secret}",
    "https://x/{store}{sale_id}{amount_fen}{sig}{sig}"])
def test_a_bad_template_names_the_key(template: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"checkout\.ereceipt_url"):
        CheckoutConfig.from_mapping({"ereceipt_url": template}, state_dir=tmp_path)


def test_the_key_is_made_private_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ereceipt.key"
    first = load_key(path)
    assert len(first) == 32 and os.stat(path).st_mode & 0o777 == 0o600
    assert load_key(path) == first
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        load_key(path)


def test_columns_count_chinese_characters_twice() -> None:
    assert width("合计 Total") == 10
    assert clip("五常大米 5kg", 6) == "五常大"
    line = two_columns("农夫山泉 550ml", "2.00", 32)
    assert width(line) == 32 and line.endswith("2.00")
    assert mask_member("M0001", "张伟") == "张* M**01"


async def test_the_receipt_shows_what_was_sold(store: Store) -> None:
    lane, rules = make_lane(store), load_config(None).scan
    for code in (WATER, WATER, CHIPS, MEMBER_CODE):
        await lane.handle_scan(route(code, rules))
    sale = await lane.pay_cash(2000)
    record = await store.read(lambda conn: load_sale(conn, sale.sale_id))
    assert record is not None and record.points_earned == sale.points_earned
    receipt = build_receipt(record, store_name="测试店", store_id="T01",
                            timezone="Asia/Shanghai", columns=32, footer="谢谢惠顾",
                            qr="https://e.example/r/1")
    texts = [b.text for b in receipt.blocks if isinstance(b, Text)]
    assert texts[0] == "测试店"
    assert f"No. {sale.receipt_no:06d}" in texts[1]
    assert any(t.startswith("农夫山泉 550ml") for t in texts)
    assert two_columns("  2 x 2.00", "4.00", 32) in texts
    assert two_columns("合计 Total", f"{sale.total_fen // 100}.{sale.total_fen % 100:02d}",
                       32) in texts
    assert two_columns("现金 Cash", "20.00", 32) in texts
    assert any("找零 Change" in t for t in texts)
    assert any("张* M**01" in t for t in texts) and not any("张伟" in t for t in texts)
    assert [b.data for b in receipt.blocks if isinstance(b, Qr)] == ["https://e.example/r/1"]
    assert all(width(t) <= 32 for t in texts[1:])
    printed = render(receipt)
    assert "合计 Total".encode("gb18030") in printed
    copy = build_receipt(record, store_name="测试店", store_id="T01", timezone="Asia/Shanghai",
                         columns=32, footer="谢谢惠顾", qr=None, reprint=True)
    assert "REPRINT" in render(copy).decode("gb18030", "replace")
    assert not any(isinstance(b, Qr) for b in copy.blocks)
