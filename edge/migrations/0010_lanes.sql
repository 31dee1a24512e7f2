-- Staffed lanes: who is signed in at each lane, shifts with their X/Z figures, who sold and
-- voided what, refunds; and the guide calls of the aisle screens.
-- Money columns are integer fen; times are ISO-8601 UTC text unless said otherwise.

-- The cashier signed in at a staffed lane (one at a time). The cookie carries a random token;
-- only its SHA-256 is stored. Times are unix seconds (expiry arithmetic, not display).
CREATE TABLE lane_signins (
    lane         TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES console_users(id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    signed_in_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    address      TEXT
);

-- A shift of a lane's cash drawer, from its opening float to its Z report. shift_no is the
-- Z number: gap-free per lane, from counters('shift:<lane>').
CREATE TABLE lane_shifts (
    id          TEXT PRIMARY KEY,
    lane        TEXT NOT NULL,
    shift_no    INTEGER NOT NULL,
    float_fen   INTEGER NOT NULL CHECK (float_fen >= 0),
    opened_at   TEXT NOT NULL,
    opened_by   TEXT NOT NULL,
    closed_at   TEXT,
    closed_by   TEXT,
    counted_fen INTEGER CHECK (counted_fen >= 0),   -- cash counted at the Z, when declared
    report      TEXT,                                -- JSON: the Z report as printed
    printed     TEXT,                                -- the printer's outcome for the Z, if any
    UNIQUE (lane, shift_no)
);
CREATE UNIQUE INDEX lane_shifts_one_open ON lane_shifts(lane) WHERE closed_at IS NULL;

-- Who sold: one row per sale committed at a staffed lane, written in the sale's transaction.
CREATE TABLE lane_sales (
    sale_id  TEXT PRIMARY KEY REFERENCES sales(id),
    lane     TEXT NOT NULL,
    shift_id TEXT REFERENCES lane_shifts(id),
    cashier  TEXT
);
CREATE INDEX lane_sales_shift ON lane_sales(shift_id);

-- Lines and carts thrown away with a supervisor's approval (also in audit_log).
CREATE TABLE lane_voids (
    id         TEXT PRIMARY KEY,
    lane       TEXT NOT NULL,
    shift_id   TEXT REFERENCES lane_shifts(id),
    kind       TEXT NOT NULL CHECK (kind IN ('line', 'sale')),
    cart_id    TEXT NOT NULL,
    lines      INTEGER NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
    cashier    TEXT NOT NULL,
    supervisor TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX lane_voids_shift ON lane_voids(shift_id);

-- Refunds of past sales by receipt number: cash out of the refunding lane's drawer.
CREATE TABLE refunds (
    id          TEXT PRIMARY KEY,                -- made before the write: a retry is recognised
    lane        TEXT NOT NULL,                   -- where the money went out
    refund_no   INTEGER NOT NULL,                -- gap-free per lane, counters('refund:<lane>')
    shift_id    TEXT REFERENCES lane_shifts(id),
    sale_id     TEXT NOT NULL REFERENCES sales(id),
    amount_fen  INTEGER NOT NULL CHECK (amount_fen > 0),
    points      INTEGER NOT NULL DEFAULT 0,      -- points taken back from the member
    cashier     TEXT NOT NULL,
    supervisor  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    outbox_seq  INTEGER NOT NULL UNIQUE,         -- the sale.refunded event written with it
    created_at  TEXT NOT NULL,
    UNIQUE (lane, refund_no)
);
CREATE INDEX refunds_sale ON refunds(sale_id);
CREATE INDEX refunds_shift ON refunds(shift_id);

CREATE TABLE refund_lines (
    refund_id  TEXT NOT NULL REFERENCES refunds(id),
    line_no    INTEGER NOT NULL,                 -- the sale's line
    qty        INTEGER NOT NULL CHECK (qty > 0),
    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
    PRIMARY KEY (refund_id, line_no)
);

-- "Call a guide" presses from the aisle screens, and who answered. No shopper data.
CREATE TABLE guide_calls (
    id       TEXT PRIMARY KEY,
    zone     TEXT NOT NULL,
    called_at TEXT NOT NULL,
    acked_at TEXT,
    acked_by TEXT
);
CREATE INDEX guide_calls_open ON guide_calls(zone) WHERE acked_at IS NULL;
CREATE INDEX guide_calls_called ON guide_calls(called_at);
