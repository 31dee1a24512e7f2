-- Face recognition of members who consented (docs/face.md).
-- Consent records hold no biometric data and are kept after withdrawal as the record that
-- consent was given and taken back. Templates are the only biometric data, never images, and
-- are stored sealed with AES-256-GCM under a key file outside the database.

CREATE TABLE face_consents (
    id           TEXT PRIMARY KEY,
    member_id    TEXT NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('store', 'chain')),  -- chain needs store first
    text_version TEXT NOT NULL,          -- the version of the consent text that was shown
    language     TEXT NOT NULL,          -- 'zh-CN' or 'en'
    device_id    TEXT NOT NULL,          -- the appliance (config store.device_id)
    lane         TEXT,                   -- the kiosk lane whose screen showed it, if any
    actor        TEXT NOT NULL,          -- 'kiosk:<lane>', 'cli:<name>', a console user
    given_at     TEXT NOT NULL,          -- ISO-8601 UTC
    withdrawn_at TEXT,
    withdrawn_by TEXT
);
CREATE INDEX face_consents_member ON face_consents(member_id);
CREATE UNIQUE INDEX face_consents_active ON face_consents(member_id, scope)
    WHERE withdrawn_at IS NULL;

CREATE TABLE face_templates (
    id         TEXT PRIMARY KEY,
    member_id  TEXT NOT NULL,
    consent_id TEXT NOT NULL REFERENCES face_consents(id),
    key_id     TEXT NOT NULL,            -- which key sealed it (a hash, never the key)
    sealed     BLOB NOT NULL,            -- 12-byte nonce || AES-GCM(128 float32, little-endian)
    source     TEXT NOT NULL,            -- 'kiosk:<lane>', 'cli', a console user
    created_at TEXT NOT NULL
);
CREATE INDEX face_templates_member ON face_templates(member_id);
