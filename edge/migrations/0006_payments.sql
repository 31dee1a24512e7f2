-- Wallet payment codes (WeChat Pay micropay, Alipay face-to-face): one row per order sent to a
-- provider. Each step is written here BEFORE the network call it describes, so a restart knows
-- what may have happened and queries, settles or reverses accordingly.
CREATE TABLE payments (
    id             TEXT PRIMARY KEY,       -- our out_trade_no, made before anything is sent
    sale_id        TEXT NOT NULL,          -- the cart's sale id: the sale this pays for
    cart_id        TEXT NOT NULL,
    lane           TEXT NOT NULL,
    provider       TEXT NOT NULL CHECK (provider IN ('wechat', 'alipay')),
    amount_fen     INTEGER NOT NULL CHECK (amount_fen > 0),
    code_masked    TEXT NOT NULL,          -- e.g. 13************6789; never the whole code
    code_hash      TEXT NOT NULL UNIQUE,   -- salted SHA-256 of the code: one code, one order
    state          TEXT NOT NULL CHECK (state IN ('created', 'submitted', 'waiting_user',
                       'querying', 'paid', 'failed', 'reversing', 'reversed', 'in_doubt')),
    reason         TEXT,                   -- why it failed or was reversed (a reason code)
    queries        INTEGER NOT NULL DEFAULT 0,
    reversals      INTEGER NOT NULL DEFAULT 0,
    transaction_id TEXT,                   -- the provider's id once paid
    last_error     TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    finished_at    TEXT
);
-- At most one payment per sale is in flight or paid: money never moves twice for one cart.
CREATE UNIQUE INDEX payments_one_live_per_sale ON payments(sale_id)
    WHERE state NOT IN ('failed', 'reversed');
CREATE INDEX payments_unfinished ON payments(state)
    WHERE state NOT IN ('paid', 'failed', 'reversed');
CREATE INDEX payments_created ON payments(created_at);

-- The salt of code_hash, made once per database, so no table precomputed over all codes fits
-- it. A code is valid for about a minute; the hash only has to recognise a reused one.
INSERT INTO meta (key, value) VALUES ('payment_code_salt', lower(hex(randomblob(32))));
