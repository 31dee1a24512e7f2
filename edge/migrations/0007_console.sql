-- Store-IT console: users with roles, and their server-side sessions.
-- Users are never deleted (the audit log names them); they are disabled.

CREATE TABLE console_users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT NOT NULL CHECK (role IN ('cashier', 'supervisor', 'it_admin')),
    password_hash TEXT NOT NULL,       -- argon2id, never the password
    pin_hash      TEXT,                -- argon2id of the supervisor PIN, NULL when none is set
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TEXT NOT NULL,       -- ISO-8601 UTC
    updated_at    TEXT NOT NULL,
    last_login_at TEXT
);

-- The cookie carries a random token; only its SHA-256 is stored, so a copy of the database
-- does not let anyone sign in. Times are unix seconds (expiry arithmetic, not display).
CREATE TABLE console_sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES console_users(id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    address      TEXT
);
CREATE INDEX console_sessions_user ON console_sessions(user_id);
