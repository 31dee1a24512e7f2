"""Staffed lanes in the running daemon: sign-in, approvals, shifts with X/Z, refunds, drawer.

The daemon (EdgeApp) runs in the test's loop on real SQLite; the receipt printer with its cash
drawer is the fake network printer speaking ESC/POS status bytes on 127.0.0.1.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edge.app import EdgeApp
from edge.approval import ApprovalRefused
from edge.cashier import SignIn
from edge.errors import LaneError
from edge.lane import LaneSession
from edge.lane_actions import change_quantity, override_price, void_line, void_sale
from edge.login_limits import LoginLocked
from edge.scan_router import route
from sync.events import check_payload
from tests.browser import FAST_HASHING, running_edge
from tests.fake_printer import FakePrinter
from tests.helpers import BEER, CHIPS, MEMBER_CODE, MILK, WATER, write_config

PRINTER = """
[[devices]]
id = "printer-2"
driver = "printer"
lane = "2"
[devices.options]
host = "127.0.0.1"
port = {port}
journal = "{{state_dir}}/printer-2.jobs.sqlite"
status_interval_ms = 0
timeout_ms = 2000
"""


@pytest.fixture
async def printer() -> AsyncIterator[FakePrinter]:
    device = await FakePrinter().start()
    yield device
    await device.stop()


@pytest.fixture
async def edge(tmp_path: Path, printer: FakePrinter) -> AsyncIterator[EdgeApp]:
    config = write_config(tmp_path, console=FAST_HASHING,
                          extra=PRINTER.format(port=printer.port))
    async with running_edge(config) as app:
        await app.users.create("li", "cashier", "cashier password", actor="test")
        await app.users.create("wang", "supervisor", "supervisor password", actor="test",
                               pin="2468")
        await app.users.create("zhao", "supervisor", "another supervisor", actor="test",
                               pin="1357")
        yield app


async def signed_in(app: EdgeApp, name: str = "li", password: str = "cashier password",
                    float_fen: int = 50000) -> SignIn:
    result = await app.cashier.sign_in("2", name, password, address="127.0.0.1")
    assert result is not None
    if app.cashier.shifts.open_shift("2") is None:
        await app.cashier.shifts.open("2", float_fen, actor=name)
    return result[1]


async def scan(app: EdgeApp, code: str, lane: str = "2") -> Any:
    return await app.lanes[lane].handle_scan(route(code, app.config.scan))


def db(app: EdgeApp) -> sqlite3.Connection:
    conn = sqlite3.connect(app.config.paths.database)
    conn.row_factory = sqlite3.Row
    return conn


def audit(app: EdgeApp, action: str) -> list[dict[str, Any]]:
    with db(app) as conn:
        rows = conn.execute("SELECT actor, target, detail FROM audit_log WHERE action = ?"
                            " ORDER BY id", (action,)).fetchall()
    conn.close()
    return [{"actor": r["actor"], "target": r["target"], **json.loads(r["detail"])}
            for r in rows]


async def test_a_staffed_lane_sells_only_with_a_cashier_and_an_open_shift(edge: EdgeApp) -> None:
    lane = edge.lanes["2"]
    refused = await scan(edge, WATER)
    assert (refused.code, refused.ok) == ("signin_required", False)
    assert lane.cart.empty
    assert await edge.cashier.sign_in("2", "li", "wrong password", address="x") is None
    assert await edge.cashier.sign_in("2", "li", "cashier password", address="x") is not None
    assert (await scan(edge, WATER)).code == "shift_closed"
    await edge.cashier.shifts.open("2", 20000, actor="li")
    assert (await scan(edge, WATER)).code == "item_added"
    assert (await scan(edge, WATER, lane="1")).code == "item_added"   # kiosks need nobody
    sale = await lane.pay_cash(500)
    assert lane.snapshot()["staff"]["cashier"] == {"name": "li", "role": "cashier"}
    with db(edge) as conn:
        row = conn.execute("SELECT cashier, shift_id FROM lane_sales WHERE sale_id = ?",
                           (sale.sale_id,)).fetchone()
    conn.close()
    assert row["cashier"] == "li"
    assert row["shift_id"] == edge.cashier.shifts.open_shift("2").id  # type: ignore[union-attr]
    assert [a["actor"] for a in audit(edge, "lane.signed_in")] == ["li"]

    await edge.cashier.sign_out("2", actor="li", reason="signed_out")
    assert (await scan(edge, WATER)).code == "signin_required"


async def test_approvals_need_a_second_persons_right_pin(edge: EdgeApp) -> None:
    cashier = await signed_in(edge)
    with pytest.raises(ApprovalRefused) as missing:
        await edge.cashier.approve(cashier, None, "voiding a line")
    assert missing.value.code == "approval_required"
    with pytest.raises(ApprovalRefused) as wrong:
        await edge.cashier.approve(cashier, "0000", "voiding a line")
    assert wrong.value.code == "approval_refused"
    approval = await edge.cashier.approve(cashier, "2468", "voiding a line")
    assert (approval.cashier, approval.supervisor) == ("li", "wang")

    # A supervisor working the till cannot approve their own void ...
    boss = await signed_in(edge, "wang", "supervisor password")
    with pytest.raises(ApprovalRefused) as own:
        await edge.cashier.approve(boss, "2468", "voiding a line")
    assert own.value.code == "approval_self"
    assert (await edge.cashier.approve(boss, "1357", "x")).supervisor == "zhao"
    # ... and wrong PINs lock the lane's approvals for a while.
    for _ in range(4):
        with pytest.raises(ApprovalRefused):
            await edge.cashier.approve(boss, "9999", "x")
    with pytest.raises(LoginLocked):
        await edge.cashier.approve(boss, "9999", "x")
    with pytest.raises(LoginLocked):
        await edge.cashier.approve(boss, "1357", "x")


async def test_approved_changes_are_audited_with_both_names_and_counted(edge: EdgeApp) -> None:
    cashier = await signed_in(edge)
    lane: LaneSession = edge.lanes["2"]
    for code in (MILK, WATER, CHIPS):
        await scan(edge, code)
    milk, water, chips = lane.cart.lines
    approval = await edge.cashier.approve(cashier, "2468", "x")

    await change_quantity(lane, approval, milk.line_id, 3)
    assert lane.cart.lines[0].qty == 3
    await override_price(lane, approval, water.line_id, 150, "dented")
    water_net = next(p.net_fen for p in lane.priced.lines if p.line_id == water.line_id)
    assert water_net == 150
    chips_net = next(p.net_fen for p in lane.priced.lines if p.line_id == chips.line_id)
    await void_line(lane, approval, chips.line_id, "changed mind")
    assert [line.product_id for line in lane.cart.lines] == ["P006", "P001"]
    with pytest.raises(LaneError):
        await change_quantity(lane, approval, "no-such-line", 2)
    total = lane.priced.total_fen
    await void_sale(lane, approval, "shopper left")
    assert lane.cart.empty

    assert audit(edge, "lane.quantity_changed")[0] | {} == {
        "actor": "li", "target": "lane:2", "supervisor": "wang", "line_id": milk.line_id,
        "product_id": "P006", "name": milk.name, "from": 1, "to": 3}
    assert audit(edge, "lane.price_overridden")[0]["to_fen"] == 150
    voided = audit(edge, "lane.line_voided")[0]
    assert (voided["actor"], voided["supervisor"], voided["amount_fen"]) == ("li", "wang",
                                                                            chips_net)
    assert audit(edge, "lane.sale_voided")[0]["amount_fen"] == total

    report = await edge.cashier.shifts.x_report("2", actor="li")
    assert report["voids"] == {"line": {"count": 1, "amount_fen": chips_net},
                               "sale": {"count": 1, "amount_fen": total}}
    assert report["sales"]["count"] == 0


async def test_x_and_z_agree_and_the_z_opens_the_next_shift(edge: EdgeApp,
                                                          printer: FakePrinter) -> None:
    await signed_in(edge, float_fen=50000)
    lane = edge.lanes["2"]
    await scan(edge, MILK)
    first = await lane.pay_cash(10000)              # 65.00, change 35.00
    await scan(edge, WATER)
    await scan(edge, MEMBER_CODE)
    second = await lane.pay_cash(200)               # exact
    x = await edge.cashier.shifts.x_report("2", actor="li")
    assert x["sales"] == {"count": 2, "amount_fen": first.total_fen + second.total_fen,
                          "discount_fen": 0, "member_count": 1, "change_fen": 3500}
    assert x["tenders"] == [{"kind": "cash", "count": 2, "amount_fen": 10200}]
    assert x["drawer"]["expected_fen"] == 50000 + 10200 - 3500

    await scan(edge, WATER)
    with pytest.raises(LaneError):   # a sale is open: no Z
        await edge.cashier.close_shift("2", actor="li", counted_fen=None, next_float_fen=None,
                                       store_name="测试店", timezone="Asia/Shanghai")
    await lane.void("test")
    z = await edge.cashier.close_shift("2", actor="li", counted_fen=56600, next_float_fen=30000,
                                       store_name="测试店", timezone="Asia/Shanghai")
    assert z["kind"] == "Z" and z["shift_no"] == 1
    assert {k: z[k] for k in ("sales", "tenders")} == {k: x[k] for k in ("sales", "tenders")}
    assert z["drawer"]["difference_fen"] == 56600 - 56700
    assert z["printed"]["outcome"] == "printed"
    printed = b"".join(printer.documents).decode("gb18030", "replace")
    assert "Z 报表" in printed and "¥567.00" in printed
    assert z["next_shift"]["shift_no"] == 2
    assert edge.cashier.shifts.open_shift("2").float_fen == 30000  # type: ignore[union-attr]
    assert (await edge.cashier.shifts.last_z("2"))["drawer"]["counted_fen"] == 56600  # type: ignore[index]

    await scan(edge, WATER)
    await lane.pay_cash(200)
    fresh = await edge.cashier.shifts.x_report("2", actor="li")
    assert (fresh["shift_no"], fresh["sales"]["count"]) == (2, 1)
    assert fresh["drawer"]["expected_fen"] == 30200


async def test_the_drawer_opens_once_per_kick_and_every_kick_is_audited(
        edge: EdgeApp, printer: FakePrinter) -> None:
    await signed_in(edge)
    first = await edge.cashier.kick_drawer("2", kick_id="kick-1", actor="li", reason="no sale")
    again = await edge.cashier.kick_drawer("2", kick_id="kick-1", actor="li", reason="no sale")
    assert (first["ok"], first["outcome"]) == (True, "printed")
    assert again["outcome"] == "already_printed"
    assert sum(b"\x1bp" in doc for doc in printer.documents) == 1   # ESC p: one pulse
    assert [a["outcome"] for a in audit(edge, "drawer.kicked")] == ["printed",
                                                                    "already_printed"]
    with pytest.raises(LaneError):
        await edge.cashier.kick_drawer("1", kick_id="k", actor="li", reason="kiosk")


async def test_a_refund_gives_each_line_back_exactly_and_takes_points_back(
        edge: EdgeApp) -> None:
    cashier = await signed_in(edge)
    lane = edge.lanes["2"]
    for code in (MEMBER_CODE, MILK, MILK, MILK, CHIPS):
        await scan(edge, code)
    sale = await lane.pay_cash(50000)
    nets = {row["line_no"]: row["net_fen"] for row in _sale_lines(edge, sale.sale_id)}
    approval = await edge.cashier.approve(cashier, "2468", "a refund")

    one = await edge.cashier.refund(approval, "2", sale.receipt_no, {1: 1},
                                    refund_id="a" * 32, reason="leaking")
    assert one.amount_fen == nets[1] // 3
    again = await edge.cashier.refund(approval, "2", sale.receipt_no, {1: 1},
                                      refund_id="a" * 32, reason="leaking")
    assert again == one   # the same id is the same refund, paid once
    with pytest.raises(LaneError):
        await edge.cashier.refund(approval, "2", sale.receipt_no, {1: 3},
                                  refund_id="b" * 32, reason="too many")
    rest = await edge.cashier.refund(approval, "2", sale.receipt_no, None,
                                     refund_id="c" * 32, reason="all of it")
    assert one.amount_fen + rest.amount_fen == sale.total_fen
    assert one.points + rest.points == sale.points_earned
    with pytest.raises(LaneError):
        await edge.cashier.refund(approval, "2", sale.receipt_no, None, refund_id="d" * 32,
                                  reason="nothing left")
    with pytest.raises(LaneError):
        await edge.cashier.refund(approval, "2", 999, None, refund_id="e" * 32, reason="x")

    with db(edge) as conn:
        ledger = conn.execute("SELECT account, sum(delta) FROM ledger WHERE sale_id = ?"
                              " GROUP BY account", (sale.sale_id,)).fetchall()
        events = conn.execute("SELECT type, payload FROM outbox WHERE type = 'sale.refunded'"
                              " ORDER BY seq").fetchall()
    conn.close()
    assert dict(ledger) == {"drawer:2:cash": 0, "member:M0001:points": 0}
    assert len(events) == 2
    for event in events:
        check_payload(event["type"], json.loads(event["payload"]))
    report = await edge.cashier.shifts.x_report("2", actor="li")
    assert report["refunds"] == {"count": 2, "amount_fen": sale.total_fen}
    assert report["drawer"]["expected_fen"] == 50000 + sale.total_fen - sale.total_fen
    assert [a["supervisor"] for a in audit(edge, "lane.refunded")] == ["wang", "wang"]


async def test_an_age_restricted_line_and_a_weighed_line_follow_their_rules(
        edge: EdgeApp) -> None:
    cashier = await signed_in(edge)
    lane = edge.lanes["2"]
    await scan(edge, BEER)
    assert lane.snapshot()["intervention"]["reason"] == "age_restricted"
    await lane.clear_intervention("2468", "pin")   # the supervisor checked the shopper's age
    await scan(edge, "2210001012805")   # apples, price-embedded label ¥12.80
    approval = await edge.cashier.approve(cashier, "2468", "x")
    apples = lane.cart.lines[1]
    with pytest.raises(LaneError, match="weight"):
        await change_quantity(lane, approval, apples.line_id, 2)
    assert lane.snapshot()["lines"][0]["age_restricted"] is True


def _sale_lines(app: EdgeApp, sale_id: str) -> list[Any]:
    with db(app) as conn:
        rows = conn.execute("SELECT line_no, net_fen FROM sale_lines WHERE sale_id = ?"
                            " ORDER BY line_no", (sale_id,)).fetchall()
    conn.close()
    return rows


async def test_a_sign_in_and_its_shift_survive_a_restart(tmp_path: Path) -> None:
    config = write_config(tmp_path, console=FAST_HASHING + "session_recheck_s = 0.001\n")
    async with running_edge(config) as app:
        await app.users.create("li", "cashier", "cashier password", actor="test")
        result = await app.cashier.sign_in("2", "li", "cashier password", address="x")
        assert result is not None
        await app.cashier.shifts.open("2", 100, actor="li")
    async with running_edge(config) as app:
        signin = await app.cashier.signed_in("2", result[0])
        assert signin is not None and signin.user.name == "li"
        assert app.cashier.shifts.open_shift("2").shift_no == 1  # type: ignore[union-attr]
        assert await app.cashier.signed_in("2", "not the token") is None
        assert (await scan(app, WATER)).code == "item_added"
        await app.users.set_disabled("li", True, actor="test")   # store IT disables li
        assert await app.cashier.signed_in("2", result[0]) is None
        assert (await scan(app, WATER)).code == "signin_required"


async def test_an_idle_lane_signs_its_cashier_out(tmp_path: Path) -> None:
    config = write_config(tmp_path, console=FAST_HASHING,
                          extra="\n[cashier]\nsession_idle_s = 0.3\nsweep_interval_s = 0.05\n")
    async with running_edge(config) as app:
        await app.users.create("li", "cashier", "cashier password", actor="test")
        updates = app.lanes["2"].subscribe()
        assert await app.cashier.sign_in("2", "li", "cashier password", address="x")
        snapshot = await updates.get()
        assert snapshot["staff"]["cashier"]["name"] == "li"
        while snapshot["staff"]["cashier"] is not None:   # the sweeper's sign-out is pushed
            snapshot = await updates.get()
        app.lanes["2"].unsubscribe(updates)
        assert (await scan(app, WATER)).code == "signin_required"
    assert [a["reason"] for a in audit_of(config, "lane.signed_out")] == ["idle"]


def audit_of(config_path: Path, action: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(config_path.parent / "state" / "storeedge.db")
    rows = conn.execute("SELECT detail FROM audit_log WHERE action = ?", (action,)).fetchall()
    conn.close()
    return [json.loads(r[0]) for r in rows]
