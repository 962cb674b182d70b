-- Clicks keyed by their sequence key (the first 64 bits of the transaction id: 48-bit
-- millisecond + 16-bit sequence, `TransactionId::next`), an INTEGER PRIMARY KEY: a batch of
-- clicks is appended to the table's last page, and there is no index on the 32-character id
-- any more (it cost every click an insert into a second b-tree and ~3 more WAL pages per
-- commit: BENCHMARKS.md, session 8). A click is found by (seq, id).
-- Clicks recorded before keep their id and get a negative key (-rowid); a partial unique index
-- finds them by id. Conversions carry their click's key (click_seq) and lose the foreign key to
-- clicks(id), which needs a unique index on the id.
-- SQLite's procedure for schema changes: foreign key checks off, one transaction.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
-- First: fails if this migration already ran (a crash after its COMMIT, before its version was
-- recorded), so that it never runs twice.
ALTER TABLE conversions ADD COLUMN click_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE clicks_new (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    offer_id BIGINT NOT NULL REFERENCES offers(id),
    affiliate_id BIGINT NOT NULL REFERENCES affiliates(id),
    advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
    aff_sub TEXT NOT NULL DEFAULT '',
    aff_sub2 TEXT NOT NULL DEFAULT '',
    aff_sub3 TEXT NOT NULL DEFAULT '',
    aff_sub4 TEXT NOT NULL DEFAULT '',
    aff_sub5 TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    aff_click_id TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    referrer TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
INSERT INTO clicks_new (seq, id, tenant_id, offer_id, affiliate_id, advertiser_id, aff_sub, aff_sub2, aff_sub3,
                        aff_sub4, aff_sub5, source, aff_click_id, ip, user_agent, referrer, created_at)
SELECT -rowid, id, tenant_id, offer_id, affiliate_id, advertiser_id, aff_sub, aff_sub2, aff_sub3, aff_sub4,
       aff_sub5, source, aff_click_id, ip, user_agent, referrer, created_at
FROM clicks ORDER BY rowid DESC;
UPDATE conversions SET click_seq = COALESCE((SELECT -k.rowid FROM clicks k WHERE k.id = conversions.click_id), 0);

CREATE TABLE conversions_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    click_id TEXT NOT NULL,
    click_seq BIGINT NOT NULL,
    offer_id BIGINT NOT NULL REFERENCES offers(id),
    affiliate_id BIGINT NOT NULL REFERENCES affiliates(id),
    advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
    goal_id BIGINT REFERENCES goals(id),
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    sale_amount BIGINT,
    payout BIGINT NOT NULL,
    revenue BIGINT NOT NULL,
    adv_sub TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    -- Set when the offer allows one conversion per click (and goal): makes a second one
    -- impossible even with several nodes writing at once.
    click_key TEXT,
    -- Set when the offer de-duplicates by adv_sub.
    adv_sub_key TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO conversions_new (id, tenant_id, click_id, click_seq, offer_id, affiliate_id, advertiser_id, goal_id,
                             status, currency, sale_amount, payout, revenue, adv_sub, ip, click_key, adv_sub_key,
                             created_at, updated_at)
SELECT id, tenant_id, click_id, click_seq, offer_id, affiliate_id, advertiser_id, goal_id, status, currency,
       sale_amount, payout, revenue, adv_sub, ip, click_key, adv_sub_key, created_at, updated_at
FROM conversions;
DROP TABLE conversions;
ALTER TABLE conversions_new RENAME TO conversions;
CREATE INDEX conversions_tenant_time ON conversions (tenant_id, created_at);
CREATE INDEX conversions_tenant_click ON conversions (tenant_id, click_id);
CREATE INDEX conversions_tenant_advertiser_time ON conversions (tenant_id, advertiser_id, created_at);
CREATE INDEX conversions_tenant_affiliate_time ON conversions (tenant_id, affiliate_id, created_at);
CREATE UNIQUE INDEX conversions_click_key ON conversions (tenant_id, click_key);
CREATE UNIQUE INDEX conversions_adv_sub_key ON conversions (tenant_id, adv_sub_key);

DROP TABLE clicks;
ALTER TABLE clicks_new RENAME TO clicks;
CREATE INDEX clicks_tenant_time ON clicks (tenant_id, created_at);
CREATE UNIQUE INDEX clicks_before_seq ON clicks (id) WHERE seq < 0;
COMMIT;
PRAGMA foreign_keys = ON;
