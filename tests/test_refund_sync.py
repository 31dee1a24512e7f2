"""A refund at a staffed lane reaches the reference CRM once and takes the points back."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import MEMBER_CODE, MILK
from tests.sync_helpers import (
    crm_rows,
    make_sync_config,
    pair,
    running_crm,
    sell,
    started,
    wait_for,
)


async def test_a_refund_reaches_the_crm_and_the_members_points_go_back(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm:
        config = make_sync_config(tmp_path, crm.url)
        await pair(config, crm)
        points = "SELECT points_balance FROM members WHERE id = 'M0001'"
        before = crm_rows(crm.db_path, points)[0][0]
        async with started(config) as app:
            sale = await sell(app, [MILK, MILK], lane_id="2", member_code=MEMBER_CODE)
            await wait_for(lambda: crm_rows(crm.db_path, points)[0][0] == before
                           + sale.points_earned, what="the sale's points at the CRM")
            await app.users.create("wang", "supervisor", "supervisor password", actor="test",
                                   pin="2468")
            signin = app.cashier.current("2")
            assert signin is not None
            approval = await app.cashier.approve(signin, "2468", "a refund")
            first = await app.cashier.refund(approval, "2", sale.receipt_no, {1: 1},
                                             refund_id="1" * 32, reason="broken")
            rest = await app.cashier.refund(approval, "2", sale.receipt_no, None,
                                            refund_id="2" * 32, reason="the other one")
            assert first.points + rest.points == sale.points_earned
            await wait_for(lambda: crm_rows(crm.db_path, points)[0][0] == before,
                           what="the points taken back at the CRM")
            assert crm_rows(crm.db_path, "SELECT count(*) FROM events WHERE type ="
                            " 'sale.refunded'") == [(2,)]
            assert crm_rows(crm.db_path, "SELECT count(*) FROM rejections") == [(0,)]
