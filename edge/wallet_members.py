"""Payment is membership (支付即会员): the wallet's payer id turns a paid sale into a member's.

After a wallet payment succeeds, the provider's user id (WeChat ``openid``, Alipay
``buyer_user_id``) is looked up at the CRM. A known member is attached to the sale that was
just paid; a stranger is offered one-tap joining on the kiosk, with the consent text's
version, the time and the lane recorded. Either way, in one transaction: ``sales.member_id``
is set (so the digitisation rate counts the sale), the points of the sale go into the ledger,
and a follow-up event carries them to the CRM (``sale.member_attached`` or ``member.joined``;
the ``sale.completed`` event already sent stays as it was). Offline there is no look-up and
nothing else changes.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

from sync.offline import Decision

from .audit import record_audit
from .sales import OutboxIdentity, append_outbox

SALE_MEMBER_ATTACHED = "sale.member_attached"
MEMBER_JOINED = "member.joined"

# The text the kiosk shows with the join button; its version is recorded with the consent.
JOIN_CONSENT = {
    "version": "member-join-2025-01",
    "zh": "加入会员：同意本店使用您的支付账户标识识别您的会员身份，累计积分、享受会员价和优惠券。"
          "您可随时在服务台或会员中心注销。",
    "en": "Join as a member: you agree that the store recognises you by your payment account's "
          "identifier to add points, member prices and coupons. You can leave at any time at "
          "the service desk or in the member centre.",
}


class CrmLink(Protocol):
    """What the lanes ask of the CRM link (``edge.crm_link.SyncCrmLink``)."""

    @property
    def online(self) -> bool:
        """Whether the CRM answers now."""

    async def wallet_member(self, provider: str, payer_id: str) -> tuple[str, str] | None:
        """Return (member id, tier) of the member the payer id is linked to, or None."""

    def stored_value_check(self, conn: sqlite3.Connection, amount_fen: int,
                           member_id: str) -> Decision:
        """Decide on spending stored value, inside the caller's transaction."""


@dataclass(frozen=True, slots=True)
class JoinOffer:
    sale_id: str
    receipt_no: int
    provider: str
    payer_id: str
    total_fen: int
    points: int
    expires_at: float
    """Loop time after which the offer is gone."""

    def view(self) -> dict[str, Any]:
        return {"sale_id": self.sale_id, "receipt_no": self.receipt_no,
                "provider": self.provider, "points": self.points,
                "consent_version": JOIN_CONSENT["version"], "consent_zh": JOIN_CONSENT["zh"],
                "consent_en": JOIN_CONSENT["en"]}


def new_member_id() -> str:
    """An id for a member who joins here, made before anything is written (40 bits)."""
    return "M" + secrets.token_hex(5).upper()


def _attach(conn: sqlite3.Connection, *, sale_id: str, member_id: str, how: str,
            points: int, seq: int, now: str) -> None:
    conn.execute("UPDATE sales SET member_id = ? WHERE id = ?", (member_id, sale_id))
    if points:
        conn.execute("INSERT INTO ledger (id, account, delta, sale_id, reason, created_at)"
                     " VALUES (?, ?, ?, ?, 'earned', ?)",
                     (f"{sale_id}:points", f"member:{member_id}:points", points, sale_id, now))
    conn.execute("INSERT INTO sale_members_attached (sale_id, member_id, how, outbox_seq,"
                 " attached_at) VALUES (?, ?, ?, ?, ?)", (sale_id, member_id, how, seq, now))


def _ledger(sale_id: str, member_id: str, points: int) -> list[dict[str, Any]]:
    return [{"entry_id": f"{sale_id}:points", "account": f"member:{member_id}:points",
             "delta": points, "reason": "earned"}] if points else []


def unattached(conn: sqlite3.Connection, sale_id: str) -> bool:
    row = conn.execute("SELECT member_id FROM sales WHERE id = ?", (sale_id,)).fetchone()
    return row is not None and row[0] is None


def attach_known(conn: sqlite3.Connection, identity: OutboxIdentity, *, sale_id: str,
                 member_id: str, provider: str, points: int, now: str) -> bool:
    """Attach a member the CRM knows by the payer id; False when the sale has one already."""
    if not unattached(conn, sale_id):
        return False
    seq = append_outbox(conn, identity, SALE_MEMBER_ATTACHED, {
        "sale_id": sale_id, "member_id": member_id, "how": "wallet", "provider": provider,
        "attached_at": now, "ledger": _ledger(sale_id, member_id, points)}, now)
    _attach(conn, sale_id=sale_id, member_id=member_id, how="wallet", points=points, seq=seq,
            now=now)
    return True


def join(conn: sqlite3.Connection, identity: OutboxIdentity, offer: JoinOffer, *,
         member_id: str, lane: str, now: str) -> bool:
    """Record the consent, create the member at the CRM (by event) and attach the sale."""
    if not unattached(conn, offer.sale_id):
        return False
    join_id = f"{identity.device_id}:{offer.sale_id}"
    conn.execute("INSERT INTO member_joins (id, member_id, sale_id, lane, provider,"
                 " consent_version, consented_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (join_id, member_id, offer.sale_id, lane, offer.provider,
                  JOIN_CONSENT["version"], now))
    record_audit(conn, f"kiosk:{lane}", "member.joined", f"member:{member_id}",
                 {"sale_id": offer.sale_id, "consent_version": JOIN_CONSENT["version"],
                  "provider": offer.provider})
    seq = append_outbox(conn, identity, MEMBER_JOINED, {
        "join_id": join_id, "member_id": member_id, "name": f"新会员{member_id[-4:]}",
        "provider": offer.provider, "payer_id": offer.payer_id,
        "consent_version": JOIN_CONSENT["version"], "consented_at": now,
        "device_id": identity.device_id, "lane": lane, "sale_id": offer.sale_id,
        "ledger": _ledger(offer.sale_id, member_id, offer.points)}, now)
    _attach(conn, sale_id=offer.sale_id, member_id=member_id, how="joined",
            points=offer.points, seq=seq, now=now)
    return True
