-- The store's own data: catalog, members, promotions, carts, sales and the outbox.
-- Money columns are integer fen; times are ISO-8601 UTC text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Gap-free counters: receipt numbers per lane, the outbox sequence.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE products (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    name_en            TEXT,
    category           TEXT NOT NULL,
    price_fen          INTEGER NOT NULL CHECK (price_fen >= 0),   -- per unit, or per kg when sold by weight
    member_price_fen   INTEGER CHECK (member_price_fen >= 0),
    sold_by_weight     INTEGER NOT NULL DEFAULT 0 CHECK (sold_by_weight IN (0, 1)),
    age_restricted     INTEGER NOT NULL DEFAULT 0 CHECK (age_restricted IN (0, 1)),
    expected_weight_g  INTEGER CHECK (expected_weight_g > 0),      -- for the bagging-area scale
    weight_tolerance_g INTEGER CHECK (weight_tolerance_g >= 0),
    active             INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    updated_at         TEXT NOT NULL
);

-- GTINs are stored as 14 digits; in-store item codes of variable-measure labels as kind 'item'.
CREATE TABLE barcodes (
    code       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('gtin', 'item')),
    product_id TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    PRIMARY KEY (kind, code)
);
CREATE INDEX barcodes_product ON barcodes(product_id);

CREATE TABLE members (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    phone            TEXT,
    member_code      TEXT UNIQUE,
    tier             TEXT NOT NULL DEFAULT 'standard',
    points_balance   INTEGER NOT NULL DEFAULT 0,   -- as of the CRM; local deltas live in ledger
    stored_value_fen INTEGER NOT NULL DEFAULT 0,
    updated_at       TEXT NOT NULL
);
CREATE INDEX members_phone ON members(phone);

CREATE TABLE promotions (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('item_percent', 'buy_n_get_m', 'threshold')),
    label      TEXT NOT NULL,
    body       TEXT NOT NULL,          -- JSON: scope and amounts, as edge.pricing.Promotion
    active     INTEGER NOT NULL DEFAULT 1,
    starts_at  TEXT,
    ends_at    TEXT,
    priority   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE coupons (
    code         TEXT PRIMARY KEY,
    label        TEXT NOT NULL,
    body         TEXT NOT NULL,        -- JSON: kind, value, threshold, scope
    valid_from   TEXT,
    valid_to     TEXT,
    member_id    TEXT,
    redeemed_at  TEXT,
    updated_at   TEXT NOT NULL
);

-- The open cart of each lane, rewritten on every change so a restart restores it.
CREATE TABLE open_carts (
    lane       TEXT PRIMARY KEY,
    cart_id    TEXT NOT NULL,
    state      TEXT NOT NULL,          -- JSON
    updated_at TEXT NOT NULL
);

CREATE TABLE suspended_carts (
    id           TEXT PRIMARY KEY,
    lane         TEXT NOT NULL,
    state        TEXT NOT NULL,
    total_fen    INTEGER NOT NULL,
    suspended_at TEXT NOT NULL
);

CREATE TABLE sales (
    id           TEXT PRIMARY KEY,     -- generated before the commit: a retry is recognised
    cart_id      TEXT NOT NULL UNIQUE,
    lane         TEXT NOT NULL,
    receipt_no   INTEGER NOT NULL,
    member_id    TEXT,
    subtotal_fen INTEGER NOT NULL CHECK (subtotal_fen >= 0),
    discount_fen INTEGER NOT NULL CHECK (discount_fen >= 0),
    total_fen    INTEGER NOT NULL CHECK (total_fen >= 0),
    paid_fen     INTEGER NOT NULL,
    change_fen   INTEGER NOT NULL CHECK (change_fen >= 0),
    line_count   INTEGER NOT NULL,
    outbox_seq   INTEGER NOT NULL UNIQUE,   -- the sale.completed event written with it
    created_at   TEXT NOT NULL,
    UNIQUE (lane, receipt_no)
);
CREATE INDEX sales_created ON sales(created_at);

CREATE TABLE sale_lines (
    sale_id        TEXT NOT NULL REFERENCES sales(id),
    line_no        INTEGER NOT NULL,
    product_id     TEXT NOT NULL,
    name           TEXT NOT NULL,
    qty            INTEGER NOT NULL CHECK (qty > 0),
    weight_g       INTEGER,
    unit_price_fen INTEGER NOT NULL,
    base_fen       INTEGER NOT NULL,
    discount_fen   INTEGER NOT NULL,
    net_fen        INTEGER NOT NULL,
    PRIMARY KEY (sale_id, line_no)
);

CREATE TABLE sale_discounts (
    sale_id      TEXT NOT NULL REFERENCES sales(id),
    idx          INTEGER NOT NULL,
    promotion_id TEXT NOT NULL,
    label        TEXT NOT NULL,
    amount_fen   INTEGER NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (sale_id, idx)
);

CREATE TABLE tenders (
    id         TEXT PRIMARY KEY,
    sale_id    TEXT NOT NULL REFERENCES sales(id),
    kind       TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    reference  TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX tenders_sale ON tenders(sale_id);

-- Balances are ledgers of deltas, never overwritten.
CREATE TABLE ledger (
    id         TEXT PRIMARY KEY,
    account    TEXT NOT NULL,          -- e.g. member:M0001:points, drawer:2:cash
    delta      INTEGER NOT NULL,
    sale_id    TEXT REFERENCES sales(id),
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX ledger_account ON ledger(account);
CREATE INDEX ledger_sale ON ledger(sale_id);

-- Events for the CRM, written in the same transaction as what they describe.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY,   -- per-device, gap-free, from counters('outbox_seq')
    event_id    TEXT NOT NULL UNIQUE,  -- store:device:seq
    type        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    payload     TEXT NOT NULL          -- JSON
);
