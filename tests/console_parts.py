"""Real dead letters and face consents for the console tests, made the way those parts make them.

Dead letters: real sales in the outbox, dead-lettered with the function the pusher uses for an
event the CRM cannot take. Face consents: recorded through the real face service (the daemon
runs with ``[face] enabled = true``; its worker loads the models once).
"""

from __future__ import annotations

import sqlite3

from edge.app import EdgeApp
from edge.scan_router import route
from sync.outbox import dead_letter_locally
from tests.helpers import MILK

FACE_ON = "\n[face]\nenabled = true\n"


async def dead_lettered_sales(edge: EdgeApp, count: int) -> list[str]:
    """Sell ``count`` sales on lane 1 and dead-letter their events; return the event ids."""
    lane = edge.lanes["1"]
    for _ in range(count):
        await lane.handle_scan(route(MILK, edge.config.scan))
        await lane.pay_cash(10000)

    def write(conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute("SELECT seq, event_id, type FROM outbox"
                            " WHERE type = 'sale.completed' ORDER BY seq").fetchall()
        for row in rows:
            dead_letter_locally(conn, row, "too_large", "larger than the CRM accepts")
        return [str(r[1]) for r in rows]

    return await edge.store.write(write)


async def consent(edge: EdgeApp, member_id: str, *scopes: str) -> None:
    """Record a member's face consents at kiosk lane 1, as the kiosk's consent screen does."""
    assert edge.face is not None, "the daemon runs without face recognition"
    for scope in scopes:
        await edge.face.record_consent(member_id, edge.face.texts.current, scope, lane="1",
                                       actor="kiosk:1")
