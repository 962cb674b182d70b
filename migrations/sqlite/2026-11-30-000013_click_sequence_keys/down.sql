-- Back to clicks keyed by their id, and conversions referencing it (see up.sql).
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE clicks_old (
    id TEXT PRIMARY KEY NOT NULL,
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
INSERT INTO clicks_old (id, tenant_id, offer_id, affiliate_id, advertiser_id, aff_sub, aff_sub2, aff_sub3, aff_sub4,
                        aff_sub5, source, aff_click_id, ip, user_agent, referrer, created_at)
SELECT id, tenant_id, offer_id, affiliate_id, advertiser_id, aff_sub, aff_sub2, aff_sub3, aff_sub4, aff_sub5, source,
       aff_click_id, ip, user_agent, referrer, created_at
FROM clicks ORDER BY seq;
CREATE TABLE conversions_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    click_id TEXT NOT NULL REFERENCES clicks(id),
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
    click_key TEXT,
    adv_sub_key TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO conversions_old (id, tenant_id, click_id, offer_id, affiliate_id, advertiser_id, goal_id, status, currency,
                             sale_amount, payout, revenue, adv_sub, ip, click_key, adv_sub_key, created_at, updated_at)
SELECT id, tenant_id, click_id, offer_id, affiliate_id, advertiser_id, goal_id, status, currency, sale_amount, payout,
       revenue, adv_sub, ip, click_key, adv_sub_key, created_at, updated_at
FROM conversions;
DROP TABLE conversions;
ALTER TABLE conversions_old RENAME TO conversions;
CREATE INDEX conversions_tenant_time ON conversions (tenant_id, created_at);
CREATE INDEX conversions_tenant_click ON conversions (tenant_id, click_id);
CREATE INDEX conversions_tenant_advertiser_time ON conversions (tenant_id, advertiser_id, created_at);
CREATE INDEX conversions_tenant_affiliate_time ON conversions (tenant_id, affiliate_id, created_at);
CREATE UNIQUE INDEX conversions_click_key ON conversions (tenant_id, click_key);
CREATE UNIQUE INDEX conversions_adv_sub_key ON conversions (tenant_id, adv_sub_key);
DROP TABLE clicks;
ALTER TABLE clicks_old RENAME TO clicks;
CREATE INDEX clicks_tenant_time ON clicks (tenant_id, created_at);
COMMIT;
PRAGMA foreign_keys = ON;
