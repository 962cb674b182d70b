CREATE TABLE advertisers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    contact_name TEXT NOT NULL DEFAULT '',
    contact_email TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX advertisers_tenant ON advertisers (tenant_id, id);

CREATE TABLE affiliates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    contact_email TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    manager_user_id BIGINT REFERENCES users(id),
    notes TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX affiliates_tenant ON affiliates (tenant_id, id);

ALTER TABLE users ADD COLUMN advertiser_id BIGINT REFERENCES advertisers(id);
ALTER TABLE users ADD COLUMN affiliate_id BIGINT REFERENCES affiliates(id);

CREATE TABLE offers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    advertiser_id BIGINT NOT NULL REFERENCES advertisers(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    offer_url TEXT NOT NULL,
    preview_url TEXT NOT NULL DEFAULT '',
    fallback_url TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    visibility TEXT NOT NULL,
    currency TEXT NOT NULL,
    payout_type TEXT NOT NULL,
    payout_flat BIGINT NOT NULL,
    payout_bps BIGINT NOT NULL,
    revenue_type TEXT NOT NULL,
    revenue_flat BIGINT NOT NULL,
    revenue_bps BIGINT NOT NULL,
    conversion_status TEXT NOT NULL,
    min_click_age_secs BIGINT NOT NULL,
    max_click_age_secs BIGINT NOT NULL,
    daily_cap BIGINT,
    total_cap BIGINT,
    cap_unit TEXT NOT NULL,
    over_cap TEXT NOT NULL,
    dedupe_adv_sub BOOLEAN NOT NULL,
    one_per_click BOOLEAN NOT NULL,
    require_token BOOLEAN NOT NULL,
    security_token TEXT NOT NULL,
    ip_allowlist TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX offers_tenant ON offers (tenant_id, id);
CREATE INDEX offers_tenant_advertiser ON offers (tenant_id, advertiser_id);

CREATE TABLE goals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    offer_id BIGINT NOT NULL REFERENCES offers(id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    payout_type TEXT NOT NULL,
    payout_flat BIGINT NOT NULL,
    payout_bps BIGINT NOT NULL,
    revenue_type TEXT NOT NULL,
    revenue_flat BIGINT NOT NULL,
    revenue_bps BIGINT NOT NULL,
    allow_multiple BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX goals_tenant_offer ON goals (tenant_id, offer_id);

CREATE TABLE offer_access (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    offer_id BIGINT NOT NULL REFERENCES offers(id),
    affiliate_id BIGINT NOT NULL REFERENCES affiliates(id),
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    requested_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by BIGINT REFERENCES users(id),
    UNIQUE (tenant_id, offer_id, affiliate_id)
);
CREATE INDEX offer_access_tenant_status ON offer_access (tenant_id, status);
CREATE INDEX offer_access_tenant_affiliate ON offer_access (tenant_id, affiliate_id);

CREATE TABLE payout_overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    offer_id BIGINT NOT NULL REFERENCES offers(id),
    goal_id BIGINT REFERENCES goals(id),
    affiliate_id BIGINT NOT NULL REFERENCES affiliates(id),
    payout_type TEXT NOT NULL,
    payout_flat BIGINT NOT NULL,
    payout_bps BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX payout_overrides_unique ON payout_overrides (tenant_id, offer_id, affiliate_id, COALESCE(goal_id, 0));
