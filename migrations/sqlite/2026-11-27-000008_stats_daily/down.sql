DROP TABLE stats_daily;

-- stats_hourly back to a rowid table, as migration 3 made it.
CREATE TABLE stats_hourly_old (
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
INSERT INTO stats_hourly_old (tenant_id, hour, offer_id, affiliate_id, clicks, rejected_clicks, approved, pending,
                              rejected, payout, revenue, pending_payout, pending_revenue)
SELECT tenant_id, hour, offer_id, affiliate_id, clicks, rejected_clicks, approved, pending, rejected, payout,
       revenue, pending_payout, pending_revenue
FROM stats_hourly;
DROP TABLE stats_hourly;
ALTER TABLE stats_hourly_old RENAME TO stats_hourly;
