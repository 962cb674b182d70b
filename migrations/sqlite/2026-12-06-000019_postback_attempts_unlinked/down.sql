CREATE TABLE postback_attempts_linked (
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
INSERT INTO postback_attempts_linked (id, tenant_id, job_id, postback_id, affiliate_id, method, url, status_code, latency_ms, response_excerpt, error, test, created_at)
    SELECT id, tenant_id, job_id, CASE WHEN postback_id IN (SELECT id FROM postbacks) THEN postback_id END,
        affiliate_id, method, url, status_code, latency_ms, response_excerpt, error, test, created_at
    FROM postback_attempts;
DROP TABLE postback_attempts;
ALTER TABLE postback_attempts_linked RENAME TO postback_attempts;
CREATE INDEX postback_attempts_tenant_time ON postback_attempts (tenant_id, created_at);
CREATE INDEX postback_attempts_tenant_job ON postback_attempts (tenant_id, job_id);
CREATE INDEX postback_attempts_tenant_affiliate ON postback_attempts (tenant_id, affiliate_id, created_at);
