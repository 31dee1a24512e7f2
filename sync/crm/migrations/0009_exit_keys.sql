-- Scan-and-go exit tokens: the Ed25519 keys the CRM signs them with. One key is active (the
-- one that signs); older ones stay published until they are retired, so tokens issued just
-- before a rotation still pass. A retired key is a tombstone in the exit_keys stream.
-- This reference CRM keeps the private keys here; a chain keeps them in an HSM or KMS.

CREATE TABLE exit_keys (
    key_id      TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,     -- base64url of the raw 32-byte public key
    private_key TEXT NOT NULL,     -- PKCS#8 PEM
    active      INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX exit_keys_one_active ON exit_keys(active) WHERE active = 1;

-- Tokens issued, for the record (a token is not stored: the sale and its expiry are).
CREATE TABLE exit_tokens (
    sale_id    TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX exit_tokens_sale ON exit_tokens(sale_id);
