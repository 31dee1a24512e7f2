"""Every event our parts write is one the CRM accepts: produced by the real code, checked by
the CRM's own payload check, so a part that adds an event type cannot forget to register it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from edge.approval import Approval
from edge.refunds import find_sale, plan_refund, write_refund
from edge.sales import OutboxIdentity
from edge.scan_router import route
from edge.seed import seed_demo
from edge.store import Store
from sync.events import EVENT_TYPES, check_payload
from tests.face_clips import face_service
from tests.helpers import MEMBER_CODE, MILK, make_config, make_lane


async def test_the_events_of_sales_voids_face_consents_and_refunds_are_accepted(
        tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await store.open()
    try:
        await store.write(seed_demo)
        lane = make_lane(store)
        for code in (MILK, MEMBER_CODE):
            await lane.handle_scan(route(code, config.scan))
        await lane.pay_cash(10000)
        await lane.handle_scan(route(MILK, config.scan))
        await lane.void("changed my mind")

        face = face_service(store, tmp_path)
        await face.start()
        await face.record_consent("M0001", face.texts.current, "store", lane="1",
                                  actor="kiosk:1")
        await face.record_consent("M0001", face.texts.current, "chain", lane="1",
                                  actor="kiosk:1")
        await face.withdraw("M0001", "kiosk:1")

        sale = await find_sale(store, "1", 1)
        assert sale is not None
        plan = plan_refund(sale, {1: 1}, refund_id="r" * 32, lane="1", reason="broken",
                           now=dt.datetime.now(dt.UTC), max_age_days=30)
        await store.write(lambda conn: write_refund(conn, plan, Approval("1", "li", "wang", None),
                                                    OutboxIdentity("T01", "lane-pc-1")))

        rows = await store.fetchall("SELECT type, payload FROM outbox ORDER BY seq")
    finally:
        await store.close()
    written = [r["type"] for r in rows]
    assert written == ["sale.completed", "cart.voided", "face.consent_recorded",
                       "face.consent_recorded", "face.consent_withdrawn", "sale.refunded"]
    for row in rows:
        check_payload(row["type"], json.loads(row["payload"]))   # raises on a refusal
    assert set(written) <= set(EVENT_TYPES)
