"""Template rows: enrol (sealed, inside the consent check's transaction) and load them back.

Every change bumps the ``face_gallery`` counter in the same transaction, so a daemon notices
templates changed by another process (the CLI, a sync) with one cheap read.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from ..audit import record_audit
from ..cart import new_id, utc_now
from ..sales import next_counter
from .consent import GALLERY_COUNTER, active_store_consent, require_member
from .types import ConsentRequired, Encoding
from .vault import SealError, TemplateCipher

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Enrolment:
    member_id: str
    templates: int
    replaced: int
    consent_id: str


@dataclass(frozen=True, slots=True)
class SealedRow:
    id: str
    member_id: str
    key_id: str
    sealed: bytes


def write_enrolment(
    conn: sqlite3.Connection, cipher: TemplateCipher, *, member_id: str,
    encodings: Sequence[Encoding], actor: str, source: str,
) -> Enrolment:
    """Replace the member's templates with ``encodings`` (inside a write transaction).

    Refuses without an active store consent, checked in the same transaction as the insert so
    a withdrawal can never slip between the check and the write.
    """
    require_member(conn, member_id)
    consent = active_store_consent(conn, member_id)
    if consent is None:
        raise ConsentRequired(f"member {member_id} has not consented to face recognition: "
                              "record the consent first (kiosk consent screen, or "
                              "--consent-recorded-by NAME for a signed paper form)")
    conn.execute("PRAGMA secure_delete = ON")
    try:
        replaced = conn.execute("DELETE FROM face_templates WHERE member_id = ?",
                                (member_id,)).rowcount
    finally:
        conn.execute("PRAGMA secure_delete = OFF")
    now = utc_now()
    for encoding in encodings:
        template_id = new_id()
        conn.execute(
            "INSERT INTO face_templates (id, member_id, consent_id, key_id, sealed, source,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (template_id, member_id, consent.id, cipher.key_id,
             cipher.seal(template_id, member_id, encoding), source, now))
    next_gallery(conn)
    record_audit(conn, actor, "face.enrolled", f"member:{member_id}",
                 {"templates": len(encodings), "replaced": replaced, "consent_id": consent.id,
                  "source": source})
    return Enrolment(member_id, len(encodings), replaced, consent.id)


def next_gallery(conn: sqlite3.Connection) -> None:
    next_counter(conn, GALLERY_COUNTER)


def gallery_generation(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (GALLERY_COUNTER,)).fetchone()
    return int(row[0]) if row else 0


def sealed_rows(conn: sqlite3.Connection) -> tuple[int, list[SealedRow]]:
    """Return the gallery generation and every sealed template, read together."""
    generation = gallery_generation(conn)
    rows = conn.execute("SELECT id, member_id, key_id, sealed FROM face_templates ORDER BY id")
    return generation, [SealedRow(r[0], r[1], r[2], bytes(r[3])) for r in rows]


def open_rows(cipher: TemplateCipher, rows: Sequence[SealedRow]) -> list[tuple[str, Encoding]]:
    """Decrypt ``rows``; skip (and log once) those sealed with another key or altered."""
    opened: list[tuple[str, Encoding]] = []
    foreign = damaged = 0
    for row in rows:
        if row.key_id != cipher.key_id:
            foreign += 1
            continue
        try:
            opened.append((row.member_id, cipher.open(row.id, row.member_id, row.sealed)))
        except SealError:
            damaged += 1
    if foreign:
        _LOGGER.error("%d face templates were sealed with another key than %s: restore the "
                      "key file that sealed them, or withdraw and re-enrol those members",
                      foreign, cipher.key_id)
    if damaged:
        _LOGGER.error("%d face templates do not open (altered rows); they are ignored", damaged)
    return opened
