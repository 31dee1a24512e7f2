"""Consent first: recorded, audited and sent; enrolment refused without it; withdrawal deletes.

Templates at rest are sealed: the database file never holds the numbers of a face.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.audit import recent_audit
from edge.face.consent import ConsentTexts
from edge.face.engine import Job, read_photo
from edge.face.service import FaceService
from edge.face.types import ConsentRequired, FaceError, Image, UnknownMember
from edge.face.vault import KeyFileError, SealError, TemplateCipher
from edge.store import Store
from tests.face_clips import add_members, engine, face_service

OBAMA = "faces/obama/obama_1.jpg"
OBAMA_OTHER = "faces/obama/obama_2.jpg"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await store.open()
    await add_members(store, ["M1", "M2"])
    yield store
    await store.close()


@pytest.fixture
async def service(store: Store, tmp_path: Path) -> FaceService:
    service = face_service(store, tmp_path)
    await service.start()
    return service


async def outbox(store: Store) -> list[tuple[str, dict[str, Any]]]:
    rows = await store.fetchall("SELECT type, payload FROM outbox ORDER BY seq")
    return [(r["type"], json.loads(r["payload"])) for r in rows]


async def consent(service: FaceService, member: str = "M1", scope: str = "store") -> None:
    await service.record_consent(member, service.texts.current, scope, lane="1",
                                 actor="kiosk:1")


def database_bytes(folder: Path) -> bytes:
    """Return the database file with its write-ahead log, as a thief would copy them."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("edge.db*")))


def photo(corpus: Path, name: str = OBAMA) -> Image:
    return read_photo(corpus / name)


async def test_the_texts_come_in_both_languages_for_both_consents(service: FaceService) -> None:
    shown = service.consent_texts()
    assert shown["version"] == service.texts.current
    for scope in ("store", "chain"):
        assert "会员" in shown["texts"][scope]["zh-CN"]
        assert "member" in shown["texts"][scope]["en"]
    with pytest.raises(ValueError, match="missing"):
        ConsentTexts.parse('current = "v1"\n[[versions]]\nversion = "v1"\n'
                           '[versions.store]\nen = "x"\n')


async def test_consent_is_recorded_audited_and_sent_to_the_crm(
        service: FaceService, store: Store) -> None:
    record = await service.record_consent("M1", service.texts.current, "store", lane="1",
                                          actor="kiosk:1", language="en")
    assert (record.member_id, record.scope, record.lane, record.language) == ("M1", "store",
                                                                              "1", "en")
    assert record.device_id == "lane-pc-1" and record.given_at
    sent = await outbox(store)
    assert [t for t, _ in sent] == ["face.consent_recorded"]
    assert sent[0][1] == {
        "consent_id": record.id, "member_id": "M1", "scope": "store",
        "text_version": service.texts.current, "language": "en", "device_id": "lane-pc-1",
        "lane": "1", "actor": "kiosk:1", "given_at": record.given_at, "supersedes": None}
    audit = await recent_audit(store, target="member:M1")
    assert [(a.actor, a.action) for a in audit] == [("kiosk:1", "face.consent_recorded")]
    # Tapping "agree" twice records it once.
    again = await service.record_consent("M1", service.texts.current, "store", lane="1",
                                         actor="kiosk:1")
    assert again.id == record.id and len(await outbox(store)) == 1
    assert [c.id for c in await service.list_consents(active_only=True)] == [record.id]


async def test_consent_needs_the_current_text_a_known_member_and_store_before_chain(
        service: FaceService, store: Store) -> None:
    with pytest.raises(FaceError, match="not the current one"):
        await service.record_consent("M1", "2019-old", "store", lane="1", actor="kiosk:1")
    with pytest.raises(UnknownMember):
        await service.record_consent("M404", service.texts.current, "store", lane="1",
                                     actor="kiosk:1")
    with pytest.raises(ConsentRequired, match="store consent first"):
        await consent(service, scope="chain")
    await consent(service)
    await consent(service, scope="chain")
    scopes = sorted(c.scope for c in await service.list_consents(member_id="M1"))
    assert scopes == ["chain", "store"]
    assert [t for t, _ in await outbox(store)] == ["face.consent_recorded"] * 2


async def test_enrolment_without_consent_is_refused(
        service: FaceService, store: Store, corpus: Path) -> None:
    with pytest.raises(ConsentRequired, match="has not consented"):
        await service.enroll("M1", [photo(corpus)], actor="kiosk:1", source="kiosk:1")
    assert await store.fetchall("SELECT id FROM face_templates") == []
    assert len(service.gallery) == 0
    audit = await recent_audit(store, target="member:M1")
    assert [a.action for a in audit] == ["face.enrol_refused"]
    assert await outbox(store) == []


async def test_withdrawal_deletes_the_templates_and_tells_the_crm(
        service: FaceService, store: Store, corpus: Path) -> None:
    await consent(service)
    enrolment = await service.enroll("M1", [photo(corpus)], actor="kiosk:1", source="kiosk:1")
    assert enrolment.templates == 1
    assert (await service.identify(photo(corpus, OBAMA_OTHER))).member_id == "M1"

    result = await service.withdraw("M1", "kiosk:1")
    assert result.templates_deleted == 1 and result.scopes == ("store",)
    assert await store.fetchall("SELECT id FROM face_templates") == []
    found = await service.identify(photo(corpus, OBAMA_OTHER))
    assert found.member_id is None and found.decision in ("unknown", "empty")
    kind, payload = (await outbox(store))[-1]
    assert kind == "face.consent_withdrawn"
    assert payload["member_id"] == "M1" and payload["templates_deleted"] == 1
    assert payload["scopes"] == ["store"] and payload["reason"] == "withdrawn"
    actions = [a.action for a in await recent_audit(store, target="member:M1")]
    assert actions[:2] == ["face.consent_withdrawn", "face.enrolled"]
    (record,) = await service.list_consents(member_id="M1")
    assert record.withdrawn_at is not None and record.withdrawn_by == "kiosk:1"
    # No consent, no enrolment; a second withdrawal changes nothing and sends nothing.
    with pytest.raises(ConsentRequired):
        await service.enroll("M1", [photo(corpus)], actor="kiosk:1", source="kiosk:1")
    sent = len(await outbox(store))
    await service.withdraw("M1", "kiosk:1")
    assert len(await outbox(store)) == sent


async def test_withdrawing_chain_use_only_keeps_this_stores_templates(
        service: FaceService, store: Store, corpus: Path) -> None:
    await consent(service)
    await consent(service, scope="chain")
    await service.enroll("M1", [photo(corpus)], actor="kiosk:1", source="kiosk:1")
    result = await service.withdraw("M1", "kiosk:1", scope="chain")
    assert result.scopes == ("chain",) and result.templates_deleted == 0
    assert len(service.gallery) == 1
    assert [c.scope for c in await service.list_consents(active_only=True)] == ["store"]
    assert (await outbox(store))[-1][1]["scopes"] == ["chain"]


async def test_store_it_deletes_a_members_face_data(
        service: FaceService, store: Store, corpus: Path) -> None:
    await consent(service)
    await service.enroll("M1", [photo(corpus)], actor="kiosk:1", source="kiosk:1")
    await service.delete_member_face_data("M1", "console:wang")
    assert len(service.gallery) == 0
    assert await service.list_consents(active_only=True) == []
    kind, payload = (await outbox(store))[-1]
    assert (kind, payload["reason"], payload["actor"]) == (
        "face.consent_withdrawn", "deleted_by_store", "console:wang")
    audit = await recent_audit(store, target="member:M1")
    assert (audit[0].actor, audit[0].action) == ("console:wang", "face.data_deleted")


async def test_templates_on_disk_are_unreadable_without_the_key(
        service: FaceService, store: Store, tmp_path: Path, corpus: Path) -> None:
    key = tmp_path / "face.key"
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_size == 32
    await consent(service)
    await service.enroll("M1", [photo(corpus)], actor="kiosk:1", source="kiosk:1")
    plain = engine().analyse(photo(corpus), Job(1, None)).encoding
    assert plain is not None
    raw = np.asarray(plain, dtype="<f4").tobytes()
    on_disk = await asyncio.to_thread(database_bytes, tmp_path)
    assert all(raw[i:i + 12] not in on_disk for i in range(0, len(raw) - 12, 4))
    # What is on disk opens only with this key, and only on its own row.
    row = await store.fetchone("SELECT id, member_id, sealed FROM face_templates")
    assert row is not None
    opened = service.cipher.open(row["id"], row["member_id"], row["sealed"])
    assert np.allclose(opened, plain)
    with pytest.raises(SealError):
        TemplateCipher(os.urandom(32)).open(row["id"], row["member_id"], row["sealed"])
    with pytest.raises(SealError):
        service.cipher.open(row["id"], "M2", row["sealed"])


async def test_a_key_file_others_can_read_is_refused(store: Store, tmp_path: Path) -> None:
    key = tmp_path / "face.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        await face_service(store, tmp_path).start()
    key.chmod(0o600)
    key.write_bytes(b"short")
    with pytest.raises(KeyFileError, match="damaged"):
        await face_service(store, tmp_path).start()


async def test_templates_sealed_with_another_key_are_not_used(
        service: FaceService, store: Store, tmp_path: Path, corpus: Path) -> None:
    await consent(service)
    await service.enroll("M1", [photo(corpus)], actor="kiosk:1", source="kiosk:1")
    (tmp_path / "face.key").unlink()  # the key file lost: a new one is made
    fresh = face_service(store, tmp_path)
    await fresh.start()
    assert fresh.cipher.key_id != service.cipher.key_id
    assert len(fresh.gallery) == 0


async def test_an_enrolment_by_another_process_reaches_the_kiosk(
        service: FaceService, tmp_path: Path, corpus: Path) -> None:
    # The CLI writes through its own connection; the daemon notices within its refresh time.
    other_store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await other_store.open()
    try:
        other = face_service(other_store, tmp_path)
        await other.start()
        await consent(other)
        await other.enroll("M1", [photo(corpus)], actor="cli", source="cli")
    finally:
        await other_store.close()
    assert len(service.gallery) == 0
    service.config = dataclasses.replace(service.config, gallery_refresh_ms=50)
    await asyncio.sleep(0.06)
    await service.refresh()
    assert service.gallery.members == ("M1",)
