-- Self-checkout security: interventions that lock a lane until an attendant clears them,
-- attendant badges, learned item weights, printed receipts, and scan-and-go exit passes.

-- An intervention is active while cleared_at is NULL; a restart restores the lock.
CREATE TABLE interventions (
    id         TEXT PRIMARY KEY,
    lane       TEXT NOT NULL,
    cart_id    TEXT NOT NULL,
    reason     TEXT NOT NULL CHECK (reason IN ('age_restricted', 'weight_mismatch',
                   'unexpected_weight', 'item_removed', 'unknown_item', 'quantity_limit',
                   'rescan_audit', 'attendant_called')),
    detail     TEXT NOT NULL,             -- JSON: what raised it (item, grams, ...)
    raised_at  TEXT NOT NULL,
    cleared_at TEXT,
    cleared_by TEXT,                      -- the console user whose badge or PIN cleared it
    method     TEXT CHECK (method IN ('badge', 'pin')),
    outcome    TEXT                       -- JSON: what the attendant did (rescans, ...)
);
CREATE INDEX interventions_active ON interventions(lane) WHERE cleared_at IS NULL;
CREATE INDEX interventions_raised ON interventions(raised_at);

-- Attendant badges belong to console users. Only the SHA-256 of the badge id is kept, so a
-- copy of the database does not give anyone a badge; `hint` tells badges apart on screen.
CREATE TABLE badges (
    badge_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES console_users(id),
    hint       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX badges_user ON badges(user_id);

-- Bagging-scale weights seen for products without an expected weight in the catalog.
CREATE TABLE weight_samples (
    id         INTEGER PRIMARY KEY,
    product_id TEXT NOT NULL,
    grams      INTEGER NOT NULL CHECK (grams > 0),
    source     TEXT NOT NULL CHECK (source IN ('shopper', 'attendant')),
    lane       TEXT NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX weight_samples_product ON weight_samples(product_id, id);

-- The printed receipt of each sale (printed after the sale commits; a failure never undoes
-- the sale). Job ids go to the printer's own journal, which makes a retry print nothing twice.
CREATE TABLE receipts (
    sale_id    TEXT PRIMARY KEY REFERENCES sales(id),
    lane       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'printed', 'failed', 'in_doubt',
                   'no_printer')),
    job_id     TEXT NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    reprints   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

-- Public keys the CRM signs exit tokens with (the exit_keys change stream).
CREATE TABLE exit_keys (
    key_id     TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,             -- base64url of the raw 32-byte Ed25519 public key
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One exit per sale: a token whose sale is here is refused as already used.
CREATE TABLE exit_passes (
    sale_id    TEXT PRIMARY KEY,
    lane       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    item_count INTEGER NOT NULL,
    amount_fen INTEGER NOT NULL,
    issued_at  TEXT NOT NULL,
    used_at    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('passed', 'audit', 'audit_passed',
                   'audit_failed')),
    audit      TEXT                       -- JSON: the items asked for and those rescanned
);
CREATE INDEX exit_passes_used ON exit_passes(used_at);
