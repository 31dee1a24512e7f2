-- Loyalty (docs/loyalty.md): rotating member codes, coupons redeemed and issued here, rules
-- for issuing coupons after payment, guides, and members attached to a sale after payment.

-- The guide (导购) a sale is attributed to, from the guide's personal code scanned at the lane.
ALTER TABLE sales ADD COLUMN guide_id TEXT;
CREATE INDEX sales_guide ON sales(guide_id, created_at) WHERE guide_id IS NOT NULL;
CREATE INDEX sales_member ON sales(member_id, created_at) WHERE member_id IS NOT NULL;

-- The last rotating member-code step this appliance accepted, per member: a code is used once,
-- so a screenshot of it is refused. Written in the transaction that attaches the member.
CREATE TABLE member_code_steps (
    member_id   TEXT PRIMARY KEY,
    last_step   INTEGER NOT NULL,      -- unix time // step seconds
    lane        TEXT NOT NULL,
    cart_id     TEXT NOT NULL,         -- the cart it was accepted for (a rescan there is fine)
    accepted_at TEXT NOT NULL
);

-- A coupon redeemed by a sale here. Apart from redeemed_at, which is the CRM's word and which
-- the coupons stream rewrites: a page read before the CRM saw this sale must not undo it.
ALTER TABLE coupons ADD COLUMN redeemed_sale_id TEXT;
CREATE INDEX coupons_member ON coupons(member_id) WHERE member_id IS NOT NULL;

-- Rules for coupons issued after payment (支付后发券), from the coupon_rules stream.
CREATE TABLE coupon_rules (
    id         TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    body       TEXT NOT NULL,          -- JSON: edge.coupon_issue.IssueRule
    active     INTEGER NOT NULL DEFAULT 1,
    starts_at  TEXT,
    ends_at    TEXT,
    priority   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

-- Coupons this appliance issued after a sale (the coupon itself is a row of `coupons`).
CREATE TABLE coupons_issued (
    code      TEXT PRIMARY KEY,
    sale_id   TEXT NOT NULL REFERENCES sales(id),
    rule_id   TEXT NOT NULL,
    shareable INTEGER NOT NULL CHECK (shareable IN (0, 1)),
    issued_at TEXT NOT NULL
);
CREATE INDEX coupons_issued_sale ON coupons_issued(sale_id);

-- Shop guides (导购), from the guides stream; their personal code is GD<id>.
CREATE TABLE guides (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    updated_at TEXT NOT NULL
);

-- A member attached to a sale after it was paid: found by the wallet's payer id at the CRM,
-- or joined on the kiosk. sales.member_id is set in the same transaction (the digitisation
-- rate counts it); outbox_seq is the follow-up event that carries the points to the CRM.
CREATE TABLE sale_members_attached (
    sale_id     TEXT PRIMARY KEY REFERENCES sales(id),
    member_id   TEXT NOT NULL,
    how         TEXT NOT NULL CHECK (how IN ('wallet', 'joined')),
    outbox_seq  INTEGER NOT NULL,
    attached_at TEXT NOT NULL
);

-- One-tap joining after payment: the consent as given (no wallet id is kept here; it travels
-- once, in the member.joined event, to the CRM that links it).
CREATE TABLE member_joins (
    id              TEXT PRIMARY KEY,
    member_id       TEXT NOT NULL,
    sale_id         TEXT NOT NULL REFERENCES sales(id),
    lane            TEXT NOT NULL,
    provider        TEXT NOT NULL,
    consent_version TEXT NOT NULL,
    consented_at    TEXT NOT NULL
);
