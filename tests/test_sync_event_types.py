"""Every event our parts write is one the CRM accepts: produced by the real code, checked by
the CRM's own payload check, so a part that adds an event type cannot forget to register it."""

from __future__ import annotations

import json
from pathlib import Path

from edge.scan_router import route
from edge.seed import seed_demo
from edge.store import Store
from sync.events import EVENT_TYPES, check_payload
from tests.face_clips import face_service
from tests.helpers import MEMBER_CODE, MILK, make_config, make_lane


async def test_the_events_of_sales_voids_and_face_consents_are_accepted(tmp_path: Path) -> None:
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

        rows = await store.fetchall("SELECT type, payload FROM outbox ORDER BY seq")
    finally:
        await store.close()
    written = [r["type"] for r in rows]
    assert written == ["sale.completed", "cart.voided", "face.consent_recorded",
                       "face.consent_recorded", "face.consent_withdrawn"]
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
