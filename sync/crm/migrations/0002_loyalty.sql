-- Loyalty at the reference CRM (docs/loyalty.md): rules for coupons issued after payment,
-- shop guides, wallet payer ids linked to members, joins with their consent, the rotating
-- member-code steps the CRM accepted, and the guide each sale was attributed to.

CREATE TABLE coupon_rules (
    id         TEXT PRIMARY KEY,
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
CREATE INDEX coupon_rules_version ON coupon_rules(version);

CREATE TABLE guides (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    version    INTEGER NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX guides_version ON guides(version);

-- A wallet's payer id (WeChat openid, Alipay buyer_user_id) -> the member it belongs to.
CREATE TABLE wallet_links (
    provider  TEXT NOT NULL,
    payer_id  TEXT NOT NULL,
    member_id TEXT NOT NULL REFERENCES members(id),
    event_id  TEXT,                     -- the member.joined event that linked it
    linked_at TEXT NOT NULL,
    PRIMARY KEY (provider, payer_id)
);
CREATE INDEX wallet_links_member ON wallet_links(member_id);

CREATE TABLE member_joins (
    join_id         TEXT PRIMARY KEY,
    member_id       TEXT NOT NULL REFERENCES members(id),
    event_id        TEXT NOT NULL,
    device_key      TEXT NOT NULL,
    lane            TEXT NOT NULL,
    consent_version TEXT NOT NULL,
    consented_at    TEXT NOT NULL
);

-- The last rotating member-code step the CRM's own check accepted (a code is used once).
CREATE TABLE member_code_steps (
    member_id   TEXT PRIMARY KEY REFERENCES members(id),
    last_step   INTEGER NOT NULL,
    accepted_at TEXT NOT NULL
);

-- The guide a sale was attributed to, with what the per-guide reports need.
CREATE TABLE sale_guides (
    event_id  TEXT PRIMARY KEY,
    sale_id   TEXT NOT NULL,
    guide_id  TEXT NOT NULL,
    member_id TEXT,
    total_fen INTEGER NOT NULL,
    sold_at   TEXT NOT NULL
);
CREATE INDEX sale_guides_guide ON sale_guides(guide_id, sold_at);

-- A coupon the CRM learnt from a device (coupon.issued), not made by its staff.
ALTER TABLE coupons ADD COLUMN issued_event_id TEXT;
