"""Interfaces the console reads other parts through: sync's dead letters, face consents.

The console is built against these Protocols; the sync and face services implement them and
``EdgeApp`` hands them over (``EdgeApp.dead_letters``, ``EdgeApp.face_consents``). Until then the
console says the part is not configured. Implementations write the audit row of a change in the
same transaction as the change, with ``actor`` as given (the console user's name).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


class DeadLetterView(Protocol):
    """One outbox event the CRM refused (a 4xx), kept aside so the queue moves on."""

    @property
    def event_id(self) -> str: ...          # store:device:seq
    @property
    def seq(self) -> int: ...
    @property
    def type(self) -> str: ...              # e.g. sale.completed
    @property
    def reason(self) -> str: ...            # the CRM's rejection, as it said it
    @property
    def failed_at(self) -> str: ...         # ISO-8601 UTC of the last refusal
    @property
    def attempts(self) -> int: ...


@runtime_checkable
class DeadLetterQueue(Protocol):
    async def list_dead_letters(self, *, limit: int = 100,
                                before_seq: int | None = None) -> Sequence[DeadLetterView]:
        """Return dead letters, highest seq first, older than ``before_seq`` when given."""
        ...

    async def retry_dead_letter(self, event_id: str, *, actor: str) -> bool:
        """Put one dead letter back in the push queue; False when there is no such event."""
        ...

    async def retry_all_dead_letters(self, *, actor: str) -> int:
        """Put every dead letter back in the push queue; return how many."""
        ...


class FaceConsentView(Protocol):
    """A member's consent to face recognition, as recorded at the kiosk."""

    @property
    def member_id(self) -> str: ...
    @property
    def version(self) -> str: ...           # version of the consent text shown
    @property
    def scope(self) -> str: ...             # "store" or "chain"
    @property
    def recorded_at(self) -> str: ...       # ISO-8601 UTC
    @property
    def device(self) -> str | None: ...     # lane or device where it was given
    @property
    def templates(self) -> int: ...         # face templates stored for the member


@runtime_checkable
class FaceConsentRegistry(Protocol):
    async def list_consents(self) -> Sequence[FaceConsentView]:
        """Return the current consents (withdrawn ones are gone with their data)."""
        ...

    async def delete_member_face_data(self, member_id: str, actor: str) -> bool:
        """Withdraw the consent and delete every template of the member, here and (through
        sync) at the CRM; False when the member has no face data."""
        ...
