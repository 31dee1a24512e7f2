"""Offline stored value: the rules, the figures they read, and the CRM's grant end to end."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.config import load_config
from edge.sales import OutboxIdentity, Tender, plan_sale, write_sale
from edge.scan_router import route
from edge.seed import seed_demo
from edge.store import Store
from sync import outbox
from sync.apply import apply_page
from sync.messages import Change, ChangesPage, PushResult
from sync.offline import Allowance, OfflineFacts, OfflineLimits, decide, read_facts
from tests.helpers import MEMBER_CODE, MILK, make_lane
from tests.sync_helpers import admin_of, make_sync_config, pair, running_crm, started, wait_for

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
RULES = load_config(None).scan
LIMITS = OfflineLimits(per_transaction_fen=20_000, total_fen=100_000, max_age_s=3600)
GRANT = Allowance(limit_fen=50_000, per_transaction_fen=30_000,
                  granted_at="2026-11-20T00:00:00+00:00", expires_at=None,
                  checked_at="2026-11-22T11:30:00+00:00")


def facts(**kw: object) -> OfflineFacts:
    base = OfflineFacts(allowance=GRANT, pending_total_fen=0, member_known=True,
                        member_available_fen=80_000)
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("case", "amount", "code"), [
    (facts(), 15_000, "ok"),
    (facts(), 0, "invalid_amount"),
    (facts(member_known=False), 100, "unknown_member"),
    (facts(allowance=None), 100, "no_allowance"),
    (facts(allowance=dataclasses.replace(GRANT, expires_at="2026-11-22T11:59:59+00:00")), 100,
     "allowance_expired"),
    (facts(allowance=dataclasses.replace(GRANT, checked_at="2026-11-22T10:59:59+00:00")), 100,
     "too_old"),
    (facts(allowance=dataclasses.replace(GRANT, checked_at=None)), 100, "too_old"),
    # The config's per-purchase cap (200 yuan) is below the CRM's (300 yuan): it wins.
    (facts(), 20_001, "over_transaction_cap"),
    (facts(allowance=dataclasses.replace(GRANT, per_transaction_fen=5_000)), 5_001,
     "over_transaction_cap"),
    # The CRM's total (500 yuan) is below the config's (1000 yuan): it wins.
    (facts(pending_total_fen=40_000), 10_000, "ok"),
    (facts(pending_total_fen=40_000), 10_001, "allowance_exhausted"),
    (facts(pending_total_fen=50_000), 1, "allowance_exhausted"),
    (facts(member_available_fen=9_999), 10_000, "insufficient_balance"),
])
def test_offline_stored_value_rules(case: OfflineFacts, amount: int, code: str) -> None:
    decision = decide(case, LIMITS, amount, NOW)
    assert decision.code == code, decision
    assert decision.ok is (code == "ok")
    assert decision.reason


def test_exhausted_says_how_much_is_left() -> None:
    decision = decide(facts(pending_total_fen=45_000), LIMITS, 8_000, NOW)
    assert decision.reason == ("the offline stored-value allowance is used up "
                               "(¥50.00 left of ¥500.00)")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "edge.db")
    await store.open()
    await store.write(seed_demo)
    yield store
    await store.close()


async def _spend(store: Store, amount_fen: int) -> int:
    """Sell milk to 张伟 paid partly with stored value, as the tender work will write it."""
    lane = make_lane(store)
    await lane.handle_scan(route(MILK, RULES))
    await lane.handle_scan(route(MEMBER_CODE, RULES))
    total = lane.priced.total_fen
    plan = plan_sale(lane.cart, lane.priced,
                     [Tender("stored_value", amount_fen), Tender("cash", total - amount_fen)],
                     fen_per_point=100)
    entry = (f"{plan.sale_id}:sv", "member:M0001:stored_value", -amount_fen, plan.sale_id,
             "spent", plan.created_at)
    plan = dataclasses.replace(plan, ledger=(*plan.ledger, entry))
    _receipt, seq = await store.write(
        lambda conn: write_sale(conn, plan, OutboxIdentity("T01", "lane-pc-1")))
    await lane.void("done")
    return seq


def _page(stream: str, changes: list[Change], device_seq: int) -> ChangesPage:
    return ChangesPage(stream, tuple(changes), str(changes[-1].version), False, device_seq)


async def test_pending_spend_and_balance_follow_the_crm(store: Store) -> None:
    grant = {"kind": "stored_value", "limit_fen": 50_000, "per_transaction_fen": 20_000,
             "granted_at": "2026-11-22T00:00:00+00:00", "expires_at": None}
    await store.write(lambda c: apply_page(
        c, _page("allowances", [Change("upsert", "stored_value", 1, grant)], 0), ""))
    first = await _spend(store, 3_000)
    await _spend(store, 2_000)

    found = await store.read(lambda c: read_facts(c, "M0001"))
    assert found.pending_total_fen == 5_000
    assert found.member_available_fen == 20_000 - 5_000
    assert found.allowance is not None and found.allowance.checked_at is not None
    assert decide(found, LIMITS, 15_000, dt.datetime.now(dt.UTC)).ok
    assert decide(found, LIMITS, 15_001, dt.datetime.now(dt.UTC)).code == "insufficient_balance"

    # The CRM acknowledges the first sale: it no longer counts against the allowance, but the
    # balance still deducts it until a members page says the CRM's balance includes it.
    def ack(conn: sqlite3.Connection) -> int:
        batch = outbox.read_batch(conn, 1, 10**6)
        return outbox.record_push(conn, batch, PushResult(first, (), ()))
    await store.write(ack)
    found = await store.read(lambda c: read_facts(c, "M0001"))
    assert found.pending_total_fen == 2_000
    assert found.member_available_fen == 15_000
    member = {"id": "M0001", "name": "张伟", "phone": "13800138000", "member_code": "10000001",
              "tier": "gold", "points_balance": 1339, "stored_value_fen": 17_000,
              "code_seed": "JBSWY3DPEHPK3PXP", "updated_at": "2026-11-22T00:00:01+00:00"}
    await store.write(lambda c: apply_page(
        c, _page("members", [Change("upsert", "M0001", 9, member)], first), ""))
    found = await store.read(lambda c: read_facts(c, "M0001"))
    assert found.member_available_fen == 17_000 - 2_000


async def test_allowance_granted_at_the_crm_bounds_the_lane(tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm, admin_of(crm) as admin:
        config = make_sync_config(tmp_path, crm.url)
        await pair(config, crm)
        async with started(config) as app:
            async def granted() -> bool:
                return (await app.sync.check_offline_stored_value(100, "M0001")).ok
            await wait_for(granted, what="the allowance from the CRM")
            decision = await app.sync.check_offline_stored_value(20_001, "M0001")
            assert decision.code == "over_transaction_cap"
            assert (await app.sync.check_offline_stored_value(100, "M0404")).code == \
                "unknown_member"
            await admin.call("PUT", "/admin/allowances/T01:lane-pc-1/stored_value",
                             {"limit_fen": 500, "per_transaction_fen": 500})

            async def shrunk() -> bool:
                decision = await app.sync.check_offline_stored_value(600, "M0001")
                return decision.code == "over_transaction_cap" and "¥5.00" in decision.reason
            await wait_for(shrunk, what="the smaller allowance at the lane")
            # The same check inside a sale's own transaction, where the tender code calls it.
            inside = await app.store.write(
                lambda conn: app.sync.check_offline_stored_value_in(conn, 400, "M0001"))
            assert inside.ok


async def test_a_retry_asked_for_an_event_not_yet_settled_never_stalls_the_queue(
        store: Store) -> None:
    """`sync retry --all` may mark an edge-side dead letter the CRM has not heard of yet."""
    first = await _spend(store, 1_000)
    await _spend(store, 1_000)

    def skip_first_then_retry_all(conn: sqlite3.Connection) -> None:
        row = outbox.outbox_rows(conn, [first])[0]
        outbox.dead_letter_locally(conn, row, "too_large", "test")
        outbox.request_retry(conn, None)
    await store.write(skip_first_then_retry_all)
    assert not await store.read(outbox.has_retries)
    batch = await store.read(lambda c: outbox.read_batch(c, 10, 10**6))
    assert [s.seq for s in batch.skipped] == [first]
    assert batch.rows[0][0] == first + 1 and first not in batch.seqs
