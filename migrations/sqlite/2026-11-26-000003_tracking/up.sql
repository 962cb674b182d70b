-- Clicks: one row per tracked click; the id is the transaction id (time-ordered, 32 hex).
CREATE TABLE clicks (
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
-- One secondary index only: every index is paid on the hot path. Lists page through time;
-- reports read the hourly rollups, never raw clicks.
CREATE INDEX clicks_tenant_time ON clicks (tenant_id, created_at);

-- Clicks refused at the redirect (offer paused, affiliate not allowed, ...), with the reason.
CREATE TABLE click_rejections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    offer_id BIGINT NOT NULL,
    affiliate_id BIGINT NOT NULL,
    reason TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX click_rejections_tenant_time ON click_rejections (tenant_id, created_at);

-- Accepted conversions, with their status (approved / pending / rejected).
CREATE TABLE conversions (
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
    -- Set when the offer allows one conversion per click (and goal): makes a second one
    -- impossible even with several nodes writing at once.
    click_key TEXT,
    -- Set when the offer de-duplicates by adv_sub.
    adv_sub_key TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversions_tenant_time ON conversions (tenant_id, created_at);
CREATE INDEX conversions_tenant_click ON conversions (tenant_id, click_id);
CREATE INDEX conversions_tenant_advertiser_time ON conversions (tenant_id, advertiser_id, created_at);
CREATE INDEX conversions_tenant_affiliate_time ON conversions (tenant_id, affiliate_id, created_at);
CREATE UNIQUE INDEX conversions_click_key ON conversions (tenant_id, click_key);
CREATE UNIQUE INDEX conversions_adv_sub_key ON conversions (tenant_id, adv_sub_key);

-- Every call of the conversion endpoint, accepted or refused, with its outcome. The tenant is
-- unknown when the transaction id names no click (nothing links the call to a network).
CREATE TABLE conversion_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT REFERENCES tenants(id),
    transaction_id TEXT NOT NULL,
    offer_id BIGINT,
    goal_id BIGINT,
    conversion_id BIGINT REFERENCES conversions(id),
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    method TEXT NOT NULL,
    raw_query TEXT NOT NULL,
    ip TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX conversion_attempts_tenant_time ON conversion_attempts (tenant_id, created_at);
CREATE INDEX conversion_attempts_transaction ON conversion_attempts (transaction_id);

-- Who changed a conversion's status, when, and why.
CREATE TABLE conversion_status_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    conversion_id BIGINT NOT NULL REFERENCES conversions(id),
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    changed_by BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX conversion_status_changes_tenant_conversion ON conversion_status_changes (tenant_id, conversion_id);

-- Hourly totals, updated in the same transactions as the raw rows: reports read these.
CREATE TABLE stats_hourly (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    hour BIGINT NOT NULL,
    offer_id BIGINT NOT NULL,
    affiliate_id BIGINT NOT NULL,
    clicks BIGINT NOT NULL DEFAULT 0,
    rejected_clicks BIGINT NOT NULL DEFAULT 0,
    approved BIGINT NOT NULL DEFAULT 0,
    pending BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    payout BIGINT NOT NULL DEFAULT 0,
    revenue BIGINT NOT NULL DEFAULT 0,
    pending_payout BIGINT NOT NULL DEFAULT 0,
    pending_revenue BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, hour, offer_id, affiliate_id)
);

-- Affiliate postback URLs: standard (offer_id set) or global (offer_id NULL).
CREATE TABLE postbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    affiliate_id BIGINT NOT NULL REFERENCES affiliates(id),
    offer_id BIGINT REFERENCES offers(id),
    goal_id BIGINT REFERENCES goals(id),
    url TEXT NOT NULL,
    method TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL DEFAULT '',
    on_approved BOOLEAN NOT NULL,
    on_pending BOOLEAN NOT NULL,
    on_rejected BOOLEAN NOT NULL,
    on_status_change BOOLEAN NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX postbacks_tenant_affiliate ON postbacks (tenant_id, affiliate_id);

-- The outbox: one job per postback to fire, committed with the conversion (or status change)
-- that caused it. The URL and body are expanded when the job is created.
CREATE TABLE postback_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    conversion_id BIGINT NOT NULL REFERENCES conversions(id),
    postback_id BIGINT REFERENCES postbacks(id),
    affiliate_id BIGINT NOT NULL,
    event TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX postback_jobs_due ON postback_jobs (state, next_attempt_at);
CREATE INDEX postback_jobs_tenant_conversion ON postback_jobs (tenant_id, conversion_id);
CREATE INDEX postback_jobs_tenant_affiliate ON postback_jobs (tenant_id, affiliate_id, created_at);
