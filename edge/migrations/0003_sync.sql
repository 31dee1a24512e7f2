-- CRM sync: where the push stands, the pull cursors, dead letters, conflicts, allowances.
-- Every figure here is written in the same transaction as the rows it describes.

-- Every outbox event up to acked_through_seq is settled at the CRM: stored, or rejected and
-- then kept in sync_dead_letters. One row.
CREATE TABLE sync_push (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    acked_through_seq INTEGER NOT NULL CHECK (acked_through_seq >= 0),
    updated_at        TEXT NOT NULL
);
INSERT INTO sync_push (id, acked_through_seq, updated_at)
VALUES (1, 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- One row per change stream: the cursor of the last page applied (in the page's transaction)
-- and when the CRM last answered for the stream.
CREATE TABLE sync_cursors (
    stream     TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    checked_at TEXT NOT NULL,          -- last successful pull, even of an empty page
    changed_at TEXT                    -- last page that held changes
);

-- Events the CRM refused (origin 'crm') or that could not be sent at all (origin 'edge', e.g.
-- too large). The outbox row stays; store IT fixes the cause and asks for a retry.
CREATE TABLE sync_dead_letters (
    seq             INTEGER PRIMARY KEY REFERENCES outbox(seq),
    event_id        TEXT NOT NULL,
    type            TEXT NOT NULL,
    origin          TEXT NOT NULL CHECK (origin IN ('crm', 'edge')),
    code            TEXT NOT NULL,
    message         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 1,
    first_failed_at TEXT NOT NULL,
    last_failed_at  TEXT NOT NULL,
    retry_requested INTEGER NOT NULL DEFAULT 0 CHECK (retry_requested IN (0, 1))
);

-- What the CRM flagged about events it accepted, e.g. a coupon already redeemed elsewhere.
CREATE TABLE sync_conflicts (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,         -- e.g. coupon_already_redeemed
    subject     TEXT NOT NULL,         -- e.g. the coupon code
    detail      TEXT NOT NULL,         -- JSON from the CRM
    reported_at TEXT NOT NULL,
    UNIQUE (event_id, kind, subject)
);

-- What this device may do offline, as granted by the CRM (the allowances stream).
CREATE TABLE sync_allowances (
    kind                TEXT PRIMARY KEY,   -- 'stored_value'
    limit_fen           INTEGER NOT NULL CHECK (limit_fen >= 0),
    per_transaction_fen INTEGER NOT NULL CHECK (per_transaction_fen >= 0),
    granted_at          TEXT NOT NULL,
    expires_at          TEXT
);

-- The rotating member code's secret (base32), and how far this device's own events are
-- already included in the member's balances as of the CRM.
ALTER TABLE members ADD COLUMN code_seed TEXT;
ALTER TABLE members ADD COLUMN crm_seq INTEGER NOT NULL DEFAULT 0;
