-- The reference CRM's own database. Money is integer fen; times are ISO-8601 UTC text.
-- Every entity a change stream serves carries `version` (from counters 'version:<stream>',
-- bumped on every change) and `deleted` (a tombstone, so deletions reach the edge too).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- Paired devices. The secret is the HMAC key both ends hold; acked_through_seq is the highest
-- seq such that every event 1..seq of the device is settled (stored or rejected).
CREATE TABLE devices (
    device_key        TEXT PRIMARY KEY,        -- store:device
    store_id          TEXT NOT NULL,
    device_id         TEXT NOT NULL,
    secret            BLOB NOT NULL,
    acked_through_seq INTEGER NOT NULL DEFAULT 0,
    paired_at         TEXT NOT NULL,
    last_seen_at      TEXT
);

CREATE TABLE pairing_codes (
    code       TEXT PRIMARY KEY,
    store_id   TEXT NOT NULL,
    device_id  TEXT,                           -- NULL: any device of the store
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    used_by    TEXT
);

-- Nonces of signed requests seen within the replay window.
CREATE TABLE nonces (
    device_key TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (device_key, nonce)
) WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces(expires_ms);

-- Every event stored exactly once. The id is the device's rowid << 40 | seq, so the primary key
-- itself makes (device, seq) unique and ordered: no second index to write per event.
-- `body` is the event's line exactly as the device signed and sent it.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    device_key  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body        TEXT NOT NULL CHECK (json_valid(body)),
    digest      TEXT NOT NULL,                 -- SHA-256 of body: the same id must send it again
    received_at TEXT NOT NULL
);

-- Events refused per event (origin 'crm') or given up by the edge (origin 'edge').
CREATE TABLE rejections (
    device_key TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    event_id   TEXT NOT NULL,
    type       TEXT,
    origin     TEXT NOT NULL CHECK (origin IN ('crm', 'edge')),
    code       TEXT NOT NULL,
    message    TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (device_key, seq)
);

CREATE TABLE products (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    name_en            TEXT,
    category           TEXT NOT NULL,
    price_fen          INTEGER NOT NULL CHECK (price_fen >= 0),
    member_price_fen   INTEGER CHECK (member_price_fen >= 0),
    sold_by_weight     INTEGER NOT NULL DEFAULT 0,
    age_restricted     INTEGER NOT NULL DEFAULT 0,
    expected_weight_g  INTEGER,
    weight_tolerance_g INTEGER,
    active             INTEGER NOT NULL DEFAULT 1,
    updated_at         TEXT NOT NULL,
    version            INTEGER NOT NULL,
    deleted            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX products_version ON products(version);

CREATE TABLE barcodes (
    code       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('gtin', 'item')),
    product_id TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    PRIMARY KEY (kind, code)
);
CREATE INDEX barcodes_product ON barcodes(product_id);

CREATE TABLE promotions (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    label      TEXT NOT NULL,
    body       TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1,
    starts_at  TEXT,
    ends_at    TEXT,
    priority   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    version    INTEGER NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX promotions_version ON promotions(version);

CREATE TABLE members (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    phone            TEXT,
    member_code      TEXT UNIQUE,
    tier             TEXT NOT NULL DEFAULT 'standard',
    points_balance   INTEGER NOT NULL DEFAULT 0,   -- the sum of member_ledger, kept with it
    stored_value_fen INTEGER NOT NULL DEFAULT 0,
    code_seed        TEXT,
    updated_at       TEXT NOT NULL,
    version          INTEGER NOT NULL,
    deleted          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX members_version ON members(version);

-- Balances are ledgers of deltas: an entry id is applied once, never overwritten.
CREATE TABLE member_ledger (
    entry_id   TEXT PRIMARY KEY,
    member_id  TEXT NOT NULL REFERENCES members(id),
    balance    TEXT NOT NULL CHECK (balance IN ('points', 'stored_value')),
    delta      INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    event_id   TEXT,                           -- NULL for adjustments made at the CRM
    at         TEXT NOT NULL
);
CREATE INDEX member_ledger_member ON member_ledger(member_id);

CREATE TABLE coupons (
    code              TEXT PRIMARY KEY,
    label             TEXT NOT NULL,
    body              TEXT NOT NULL,
    valid_from        TEXT,
    valid_to          TEXT,
    member_id         TEXT,
    redeemed_at       TEXT,
    redeemed_event_id TEXT,                    -- the first redemption wins
    updated_at        TEXT NOT NULL,
    version           INTEGER NOT NULL,
    deleted           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX coupons_version ON coupons(version);

-- What the CRM flagged about accepted events (told to the edge in the push answer).
CREATE TABLE conflicts (
    id         INTEGER PRIMARY KEY,
    device_key TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    event_id   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    detail     TEXT NOT NULL,
    at         TEXT NOT NULL,
    UNIQUE (event_id, kind, subject)
);
CREATE INDEX conflicts_device_seq ON conflicts(device_key, seq);

-- What each device may do offline.
CREATE TABLE allowances (
    device_key          TEXT NOT NULL,
    kind                TEXT NOT NULL,
    limit_fen           INTEGER NOT NULL CHECK (limit_fen >= 0),
    per_transaction_fen INTEGER NOT NULL CHECK (per_transaction_fen >= 0),
    granted_at          TEXT NOT NULL,
    expires_at          TEXT,
    version             INTEGER NOT NULL,
    deleted             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_key, kind)
);
CREATE INDEX allowances_version ON allowances(version);
