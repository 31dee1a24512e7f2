"""The lanes' view of the CRM: who a wallet payer is, and whether stored value may be spent.

``SyncCrmLink`` wraps ``EdgeApp.sync``: the wallet look-up is one signed request on the sync
link (``POST /v1/members/wallet-lookup``), bounded by ``[members] wallet_lookup_timeout_ms``;
stored value is checked inside the sale's write transaction. Online, against the member's
balance as of the CRM less what this device spent and has not sent; offline, within the CRM's
allowance and the ``[sync]`` caps (``sync.offline``).
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from sync.client import SyncClient
from sync.offline import Decision, read_facts

from .loyalty_messages import yuan

_PAYER = re.compile(r"[A-Za-z0-9_-]{1,128}")
_MEMBER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class SyncCrmLink:
    """``edge.wallet_members.CrmLink`` over the sync client."""

    def __init__(self, sync: SyncClient, timeout_s: float) -> None:
        self._sync = sync
        self._timeout_s = timeout_s

    @property
    def online(self) -> bool:
        return self._sync.credentials is not None and self._sync.online

    async def wallet_member(self, provider: str, payer_id: str) -> tuple[str, str] | None:
        answer = await self._sync.crm_json("POST", "/v1/members/wallet-lookup",
                                           {"provider": provider, "payer_id": payer_id},
                                           self._timeout_s)
        return parse_lookup(answer)

    def stored_value_check(self, conn: sqlite3.Connection, amount_fen: int,
                           member_id: str) -> Decision:
        if not self.online:
            return self._sync.check_offline_stored_value_in(conn, amount_fen, member_id)
        facts = read_facts(conn, member_id)
        if not facts.member_known:
            return Decision(False, "unknown member", "unknown_member")
        if amount_fen > facts.member_available_fen:
            return Decision(False, f"the balance is {yuan(max(0, facts.member_available_fen))}",
                            "insufficient_balance")
        return Decision(True, "within the balance")


def parse_lookup(answer: Any) -> tuple[str, str] | None:
    """Read the CRM's answer strictly: a member id and tier, or no member."""
    if not isinstance(answer, dict) or set(answer) - {"member_id", "tier"}:
        raise ValueError("the wallet look-up answer is not {member_id, tier}")
    member_id, tier = answer.get("member_id"), answer.get("tier", "standard")
    if member_id is None:
        return None
    if not isinstance(member_id, str) or not _MEMBER.fullmatch(member_id) or \
            not isinstance(tier, str) or not 0 < len(tier) <= 32:
        raise ValueError("the wallet look-up answer names no usable member")
    return member_id, tier


def payer_id_ok(value: str) -> bool:
    return bool(_PAYER.fullmatch(value))
