-- Every HTTP call made for a postback job (or a test-fire), with what came back.
CREATE TABLE postback_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    job_id BIGINT REFERENCES postback_jobs(id),
    postback_id BIGINT REFERENCES postbacks(id),
    affiliate_id BIGINT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    status_code BIGINT,
    latency_ms BIGINT NOT NULL,
    response_excerpt TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    test BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX postback_attempts_tenant_time ON postback_attempts (tenant_id, created_at);
CREATE INDEX postback_attempts_tenant_job ON postback_attempts (tenant_id, job_id);
CREATE INDEX postback_attempts_tenant_affiliate ON postback_attempts (tenant_id, affiliate_id, created_at);

-- Optional per-affiliate secret: postbacks then carry an HMAC signature header.
ALTER TABLE affiliates ADD COLUMN postback_secret TEXT NOT NULL DEFAULT '';
