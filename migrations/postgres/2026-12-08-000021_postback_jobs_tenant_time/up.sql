-- The delivery log lists a network's postback jobs newest first, by creation time (as the
-- conversions, clicks and calls lists do): this index serves that order, and `from`/`to`,
-- without sorting all the network's jobs. An affiliate's log is served the same way by
-- `postback_jobs_tenant_affiliate (tenant_id, affiliate_id, created_at)`.
CREATE INDEX postback_jobs_tenant_time ON postback_jobs (tenant_id, created_at);
