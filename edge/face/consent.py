"""Consent to face recognition: the versioned texts, and recording and withdrawing it.

The write functions run inside one ``Store.write`` transaction each, together with their audit
row and their outbox event for the CRM: a consent, or its withdrawal and the deletion of the
templates, exists with its record or not at all.

Events (``append_outbox``), payloads as the CRM receives them:
- ``face.consent_recorded``: consent_id, member_id, scope, text_version, language, device_id,
  lane, actor, given_at, supersedes (the consent id it replaced, or null)
- ``face.consent_withdrawn``: member_id, scopes, consent_ids, templates_deleted, reason
  ("withdrawn" or "deleted_by_store"), actor, withdrawn_at. Every store holding this member's
  face data deletes it; a chain-scope withdrawal deletes the chain's copies.
"""

from __future__ import annotations

import sqlite3
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..audit import record_audit
from ..cart import new_id, utc_now
from ..sales import OutboxIdentity, append_outbox, next_counter
from .types import ConsentRequired, FaceError, UnknownMember

SCOPES = ("store", "chain")
LANGUAGES = ("zh-CN", "en")
CONSENT_RECORDED = "face.consent_recorded"
CONSENT_WITHDRAWN = "face.consent_withdrawn"
GALLERY_COUNTER = "face_gallery"


@dataclass(frozen=True, slots=True)
class ConsentTexts:
    """Every published version of the consent texts; ``current`` is the one to show."""

    current: str
    versions: Mapping[str, Mapping[str, Mapping[str, str]]]  # version -> scope -> language

    @classmethod
    def bundled(cls) -> ConsentTexts:
        text = resources.files("edge.face").joinpath("consent_texts.toml").read_text("utf-8")
        return cls.parse(text)

    @classmethod
    def parse(cls, text: str) -> ConsentTexts:
        """Check that every version has every scope in every language."""
        data = tomllib.loads(text)
        versions: dict[str, dict[str, dict[str, str]]] = {}
        for entry in data.get("versions", []):
            version = entry.get("version")
            if not isinstance(version, str) or not version:
                raise ValueError("every [[versions]] entry needs a version")
            scopes = {}
            for scope in SCOPES:
                texts = entry.get(scope, {})
                missing = [lang for lang in LANGUAGES if not str(texts.get(lang, "")).strip()]
                if missing:
                    raise ValueError(f"consent text {version} {scope}: missing {missing}")
                scopes[scope] = {lang: str(texts[lang]).strip() for lang in LANGUAGES}
            versions[version] = scopes
        current = data.get("current")
        if current not in versions:
            raise ValueError(f"current consent text {current!r} is not among the versions")
        return cls(current, versions)

    def current_texts(self) -> dict[str, Any]:
        """Return what a consent screen shows: the version and its texts per scope, language."""
        return {"version": self.current,
                "texts": {scope: dict(t) for scope, t in self.versions[self.current].items()}}


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: str
    member_id: str
    scope: str
    text_version: str
    language: str
    device_id: str
    lane: str | None
    actor: str
    given_at: str
    withdrawn_at: str | None = None
    withdrawn_by: str | None = None

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


@dataclass(frozen=True, slots=True)
class Withdrawal:
    member_id: str
    scopes: tuple[str, ...]
    consent_ids: tuple[str, ...]
    templates_deleted: int
    at: str


_COLUMNS = ("id, member_id, scope, text_version, language, device_id, lane, actor, given_at,"
            " withdrawn_at, withdrawn_by")


def record_consent(
    conn: sqlite3.Connection, identity: OutboxIdentity, texts: ConsentTexts, *,
    member_id: str, version: str, scope: str, language: str, lane: str | None, actor: str,
) -> ConsentRecord:
    """Record one consent (inside a write transaction); a repeat of an active one is a no-op."""
    if scope not in SCOPES:
        raise FaceError(f"unknown consent scope {scope!r}; one of {', '.join(SCOPES)}")
    if language not in LANGUAGES:
        raise FaceError(f"unknown language {language!r}; one of {', '.join(LANGUAGES)}")
    if version != texts.current:
        raise FaceError(f"consent text version {version!r} is not the current one "
                        f"({texts.current}): show the current text and record that")
    require_member(conn, member_id)
    active = {r.scope: r for r in consents(conn, member_id=member_id, active_only=True)}
    if scope == "chain" and "store" not in active:
        raise ConsentRequired("chain-wide use needs the member's store consent first")
    previous = active.get(scope)
    if previous is not None and previous.text_version == version:
        return previous
    now = utc_now()
    record = ConsentRecord(new_id(), member_id, scope, version, language,
                           identity.device_id, lane, actor, now)
    if previous is not None:  # a newer text replaces the older consent
        conn.execute("UPDATE face_consents SET withdrawn_at = ?, withdrawn_by = ? WHERE id = ?",
                     (now, "superseded", previous.id))
    conn.execute(f"INSERT INTO face_consents ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",  # noqa: S608
                 (record.id, member_id, scope, version, language, identity.device_id, lane,
                  actor, now, None, None))
    payload = {"consent_id": record.id, "member_id": member_id, "scope": scope,
               "text_version": version, "language": language,
               "device_id": identity.device_id, "lane": lane, "actor": actor, "given_at": now,
               "supersedes": previous.id if previous else None}
    record_audit(conn, actor, CONSENT_RECORDED, f"member:{member_id}", payload)
    append_outbox(conn, identity, CONSENT_RECORDED, payload, now)
    return record


def withdraw_consent(
    conn: sqlite3.Connection, identity: OutboxIdentity, *, member_id: str, actor: str,
    scope: str | None = None, reason: str = "withdrawn",
) -> Withdrawal:
    """Withdraw consent and delete the templates it covered (inside a write transaction).

    ``scope`` None or "store" withdraws everything (chain use rests on the store consent);
    "chain" withdraws only chain-wide use and keeps the templates in this store.
    """
    if scope is not None and scope not in SCOPES:
        raise FaceError(f"unknown consent scope {scope!r}; one of {', '.join(SCOPES)}")
    ending = [r for r in consents(conn, member_id=member_id, active_only=True)
              if scope != "chain" or r.scope == "chain"]
    now = utc_now()
    deleted = 0
    if scope != "chain":
        # Zero the freed pages too, so no sealed template lingers in the file's free space.
        conn.execute("PRAGMA secure_delete = ON")
        try:
            deleted = conn.execute("DELETE FROM face_templates WHERE member_id = ?",
                                   (member_id,)).rowcount
        finally:
            conn.execute("PRAGMA secure_delete = OFF")
        if deleted:
            next_counter(conn, GALLERY_COUNTER)
    conn.executemany("UPDATE face_consents SET withdrawn_at = ?, withdrawn_by = ? WHERE id = ?",
                     [(now, actor, r.id) for r in ending])
    result = Withdrawal(member_id, tuple(sorted({r.scope for r in ending})),
                        tuple(r.id for r in ending), deleted, now)
    payload = {"member_id": member_id, "scopes": list(result.scopes),
               "consent_ids": list(result.consent_ids), "templates_deleted": deleted,
               "reason": reason, "actor": actor, "withdrawn_at": now}
    if ending or deleted:  # nothing there: nothing happened, so nothing to audit or send
        action = "face.data_deleted" if reason == "deleted_by_store" else CONSENT_WITHDRAWN
        record_audit(conn, actor, action, f"member:{member_id}", payload)
        append_outbox(conn, identity, CONSENT_WITHDRAWN, payload, now)
    return result


def consents(
    conn: sqlite3.Connection, *, member_id: str | None = None, active_only: bool = False,
    limit: int = 1000,
) -> list[ConsentRecord]:
    """Return consent records, newest first."""
    sql = f"SELECT {_COLUMNS} FROM face_consents WHERE 1 = 1"  # noqa: S608 - fixed columns
    params: list[Any] = []
    if member_id is not None:
        sql += " AND member_id = ?"
        params.append(member_id)
    if active_only:
        sql += " AND withdrawn_at IS NULL"
    sql += " ORDER BY given_at DESC, rowid DESC LIMIT ?"
    params.append(max(1, min(limit, 10_000)))
    return [ConsentRecord(*row) for row in conn.execute(sql, params)]


def active_store_consent(conn: sqlite3.Connection, member_id: str) -> ConsentRecord | None:
    found = [r for r in consents(conn, member_id=member_id, active_only=True)
             if r.scope == "store"]
    return found[0] if found else None


def require_member(conn: sqlite3.Connection, member_id: str) -> None:
    if conn.execute("SELECT 1 FROM members WHERE id = ?", (member_id,)).fetchone() is None:
        raise UnknownMember(f"no member {member_id!r} in this store's member list")
