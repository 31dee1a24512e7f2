"""The console's view of face consents (``edge.ports.FaceConsentRegistry``) over FaceService."""

from __future__ import annotations

from dataclasses import dataclass

from .service import FaceService


@dataclass(frozen=True, slots=True)
class ConsentRow:
    """One active consent as the console lists it."""

    member_id: str
    version: str
    scope: str
    recorded_at: str
    device: str | None
    templates: int


class ConsentRegistry:
    """List active consents with their template counts; delete a member's face data."""

    def __init__(self, service: FaceService) -> None:
        self._service = service

    async def list_consents(self) -> list[ConsentRow]:
        records = await self._service.list_consents(active_only=True)
        gallery = self._service.gallery
        return [ConsentRow(r.member_id, r.text_version, r.scope, r.given_at,
                           f"lane {r.lane}" if r.lane else r.device_id,
                           gallery.count(r.member_id)) for r in records]

    async def delete_member_face_data(self, member_id: str, actor: str) -> bool:
        done = await self._service.delete_member_face_data(member_id, actor)
        return bool(done.consent_ids or done.templates_deleted)
