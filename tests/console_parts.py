"""Stand-ins for the parts the console reads through Protocols (``edge/ports.py``).

The sync and face parts implement ``DeadLetterQueue`` and ``FaceConsentRegistry`` on their own
tables; until they are merged these keep the same contract in memory and write the same kind
of audit row, so the console's pages and API can be tested against the interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge.audit import record_audit
from edge.store import Store


@dataclass(frozen=True)
class Letter:
    event_id: str
    seq: int
    type: str
    reason: str
    failed_at: str
    attempts: int


class DeadLetters:
    """What the sync part will hand over: its dead-letter table, here in memory + audit."""

    def __init__(self, store: Store, letters: list[Letter]) -> None:
        self.store = store
        self.letters = {letter.event_id: letter for letter in letters}

    async def list_dead_letters(self, *, limit: int = 100,
                                before_seq: int | None = None) -> Sequence[Letter]:
        rows = sorted(self.letters.values(), key=lambda d: -d.seq)
        return [d for d in rows if before_seq is None or d.seq < before_seq][:limit]

    async def retry_dead_letter(self, event_id: str, *, actor: str) -> bool:
        if self.letters.pop(event_id, None) is None:
            return False
        await self.store.write(lambda c: record_audit(c, actor, "sync.dead_letter_retried",
                                                      f"event:{event_id}"))
        return True

    async def retry_all_dead_letters(self, *, actor: str) -> int:
        count = len(self.letters)
        for event_id in list(self.letters):
            await self.retry_dead_letter(event_id, actor=actor)
        return count


@dataclass(frozen=True)
class Consent:
    member_id: str
    version: str
    scope: str
    recorded_at: str
    device: str | None
    templates: int


class FaceConsents:
    """What the face part will hand over, here in memory + audit."""

    def __init__(self, store: Store, consents: list[Consent]) -> None:
        self.store = store
        self.consents = {c.member_id: c for c in consents}

    async def list_consents(self) -> Sequence[Consent]:
        return list(self.consents.values())

    async def delete_member_face_data(self, member_id: str, actor: str) -> bool:
        if self.consents.pop(member_id, None) is None:
            return False
        await self.store.write(lambda c: record_audit(c, actor, "face.data_deleted",
                                                      f"member:{member_id}"))
        return True


def letters() -> list[Letter]:
    return [Letter(f"T01:lane-pc-1:{seq}", seq, "sale.completed", "unknown product P999",
                   "2026-05-01T10:00:00.000+00:00", 3) for seq in (7, 8, 9)]
