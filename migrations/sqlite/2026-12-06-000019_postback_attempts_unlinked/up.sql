-- The postback attempts log keeps its ids without foreign keys, as on PostgreSQL since migration
-- 12. A postback deleted while one of its jobs was being sent left an answer naming a postback
-- that no longer existed: its foreign key refused the whole round of answers, every time it was
-- tried again, and the worker recorded nothing more (a probe found it). SQLite drops a foreign
-- key by rebuilding the table.
CREATE TABLE postback_attempts_unlinked (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    job_id BIGINT,
    postback_id BIGINT,
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
INSERT INTO postback_attempts_unlinked (id, tenant_id, job_id, postback_id, affiliate_id, method, url, status_code, latency_ms, response_excerpt, error, test, created_at)
    SELECT id, tenant_id, job_id, postback_id, affiliate_id, method, url, status_code, latency_ms, response_excerpt, error, test, created_at FROM postback_attempts;
DROP TABLE postback_attempts;
ALTER TABLE postback_attempts_unlinked RENAME TO postback_attempts;
CREATE INDEX postback_attempts_tenant_time ON postback_attempts (tenant_id, created_at);
CREATE INDEX postback_attempts_tenant_job ON postback_attempts (tenant_id, job_id);
CREATE INDEX postback_attempts_tenant_affiliate ON postback_attempts (tenant_id, affiliate_id, created_at);
