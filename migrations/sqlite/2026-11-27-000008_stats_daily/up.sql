-- Daily totals per (tenant, UTC day, offer, affiliate): `day` is the UTC midnight (unix
-- microseconds) of the hours it sums. Kept in the same transactions as stats_hourly, so a
-- report reads whole days here and only the hours at the edges of its range from stats_hourly.
-- WITHOUT ROWID: the primary key is the table, so a range of days is one sequential read.
CREATE TABLE stats_daily (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    day BIGINT NOT NULL,
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
    PRIMARY KEY (tenant_id, day, offer_id, affiliate_id)
) WITHOUT ROWID;

INSERT INTO stats_daily (tenant_id, day, offer_id, affiliate_id, clicks, rejected_clicks, approved, pending,
                         rejected, payout, revenue, pending_payout, pending_revenue)
SELECT tenant_id, hour - ((hour % 86400000000) + 86400000000) % 86400000000, offer_id, affiliate_id,
       SUM(clicks), SUM(rejected_clicks), SUM(approved), SUM(pending), SUM(rejected), SUM(payout), SUM(revenue),
       SUM(pending_payout), SUM(pending_revenue)
FROM stats_hourly
GROUP BY 1, 2, 3, 4;

-- stats_hourly rebuilt WITHOUT ROWID for the same reason (a report by hour reads a range of it).
CREATE TABLE stats_hourly_new (
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
) WITHOUT ROWID;
INSERT INTO stats_hourly_new (tenant_id, hour, offer_id, affiliate_id, clicks, rejected_clicks, approved, pending,
                              rejected, payout, revenue, pending_payout, pending_revenue)
SELECT tenant_id, hour, offer_id, affiliate_id, clicks, rejected_clicks, approved, pending, rejected, payout,
       revenue, pending_payout, pending_revenue
FROM stats_hourly;
DROP TABLE stats_hourly;
ALTER TABLE stats_hourly_new RENAME TO stats_hourly;
