"""Every event our parts write is one the CRM accepts: produced by the real code, checked by
the CRM's own payload check, so a part that adds an event type cannot forget to register it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from edge.approval import Approval
from edge.cart import utc_now
from edge.refunds import find_sale, plan_refund, write_refund
from edge.sales import OutboxIdentity
from edge.scan_router import route
from edge.seed import seed_demo
from edge.store import Store
from edge.wallet_members import JoinOffer, attach_known, join, new_member_id
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


async def test_the_events_of_loyalty_are_accepted(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await store.open()
    try:
        await store.write(seed_demo)
        await store.write(lambda c: c.execute(
            "INSERT INTO coupon_rules (id, label, body, updated_at) VALUES ('R1', '送券',"
            " '{\"shareable\": true, \"coupon_label\": \"好友券\", \"coupon\": {\"kind\":"
            " \"percent\", \"percent_off\": 10, \"cap_fen\": 500}}', '2026-01-01')"))
        lane = make_lane(store)
        for code in (MILK, "GDG001", "CPWELCOME10", MEMBER_CODE):
            assert (await lane.handle_scan(route(code, config.scan))).ok
        await lane.confirm_phone_last4("8000")
        await lane.use_points(500)
        sale = await lane.pay_cash(lane.snapshot()["tenders_pending"]["rest_fen"])
        await lane.handle_scan(route(MILK, config.scan))
        anonymous = await lane.pay_cash(6500)
        identity = OutboxIdentity("T01", "lane-pc-1")
        await store.write(lambda c: attach_known(
            c, identity, sale_id=anonymous.sale_id, member_id="M0002", provider="wechat",
            points=65, now=utc_now()))
        await lane.handle_scan(route(MILK, config.scan))
        stranger = await lane.pay_cash(6500)
        offer = JoinOffer(stranger.sale_id, stranger.receipt_no, "alipay", "2088000000000001",
                          6500, 65, 0.0)
        await store.write(lambda c: join(c, identity, offer, member_id=new_member_id(),
                                         lane="1", now=utc_now()))
        rows = await store.fetchall("SELECT type, payload FROM outbox ORDER BY seq")
    finally:
        await store.close()
    written = [r["type"] for r in rows]
    assert written == ["sale.completed", "coupon.issued", "sale.completed", "coupon.issued",
                       "sale.member_attached", "sale.completed", "coupon.issued",
                       "member.joined"]
    first = json.loads(rows[0]["payload"])
    assert first["guide_id"] == "G001" and first["coupons"][0]["code"] == "WELCOME10"
    assert sale.sale_id == first["sale_id"]
    for row in rows:
        check_payload(row["type"], json.loads(row["payload"]))   # raises on a refusal
    assert set(written) <= set(EVENT_TYPES)


async def test_the_intervention_cleared_event_is_accepted(tmp_path: Path) -> None:
    from tests.checkout_support import PIN, config_path, running, scan, staff  # noqa: PLC0415
    from tests.helpers import BEER  # noqa: PLC0415

    async with running(config_path(tmp_path)) as app:
        badges = await staff(app)
        await scan(app, BEER)
        await scan(app, f"BADGE:{badges['cashier']}")
        await app.lanes["1"].call_attendant("help")
        await app.lanes["1"].clear_intervention(PIN, "pin")
        rows = await app.store.fetchall("SELECT type, payload FROM outbox WHERE type ="
                                        " 'intervention.cleared' ORDER BY seq")
    assert [json.loads(r["payload"])["method"] for r in rows] == ["badge", "pin"]
    for row in rows:
        check_payload(row["type"], json.loads(row["payload"]))
    assert "intervention.cleared" in EVENT_TYPES
