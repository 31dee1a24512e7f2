-- Who did what, for store IT and for the chain: console actions, consent records and their
-- withdrawal, attendant interventions. Append-only; rows are never updated or deleted by the
-- daemon. `detail` is JSON and never holds secrets (no passwords, PINs, keys or payment codes).
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,          -- ISO-8601 UTC
    actor  TEXT NOT NULL,          -- a console user, 'kiosk:<lane>', 'attendant:<badge>', 'cli', 'system'
    action TEXT NOT NULL,          -- dotted verb, e.g. 'face.consent_withdrawn', 'user.created'
    target TEXT,                   -- what it was done to, e.g. 'member:M0001'
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_target ON audit_log(target);
