-- Sub id rollups: what a report grouped by aff_sub .. aff_sub5 or source reads instead of the raw
-- clicks and conversions. Keyed so that "one tenant, one sub id slot, a range of hours or days"
-- is one contiguous range of the primary key. `slot`: 1..5 = aff_sub .. aff_sub5, 6 = source;
-- `value`: the click's sub id in that slot ('' when it had none, so that each slot's clicks sum
-- to all clicks). `hour` / `day`: UTC hour start / UTC midnight in unix microseconds, as in
-- stats_hourly / stats_daily. Currency is the offer's (joined at read time, as for stats_daily).
-- No foreign keys: these tables are derived data written in bulk (PostgreSQL would check every
-- row with a trigger, see migration 9), and tenants are never deleted.
-- (SQLite keeps these tables WITHOUT ROWID; PostgreSQL reads a range through the primary key's index.)

-- Clicks per sub id, written only by the sub id rollup worker (crates/tracking/src/sub_rollup.rs),
-- asynchronously: it aggregates the committed clicks of an hour with one INSERT … SELECT … GROUP BY
-- and replaces the hour's rows, so re-running it never counts twice. Off the click path.
CREATE TABLE stats_sub_clicks_hourly (
    tenant_id BIGINT NOT NULL,
    slot BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    value TEXT NOT NULL,
    offer_id BIGINT NOT NULL,
    affiliate_id BIGINT NOT NULL,
    clicks BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, slot, hour, value, offer_id, affiliate_id)
);

-- The hourly rows of a whole UTC day, summed (folded by the worker once the day's hours are in).
CREATE TABLE stats_sub_clicks_daily (
    tenant_id BIGINT NOT NULL,
    slot BIGINT NOT NULL,
    day BIGINT NOT NULL,
    value TEXT NOT NULL,
    offer_id BIGINT NOT NULL,
    affiliate_id BIGINT NOT NULL,
    clicks BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, slot, day, value, offer_id, affiliate_id)
);

-- Which hours the worker has aggregated: the clicks with created_at in [hour, upto) as of its
-- read, `clicks` of them (upto = hour + 1 h once the hour is closed). A report uses an hour's
-- rows only while `clicks` still equals the hour's count in stats_hourly (exact, synchronous):
-- a click committed after the aggregation (a straggler) makes them differ, the report reads that
-- hour raw, and the worker aggregates it again.
CREATE TABLE stats_sub_progress (
    tenant_id BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    upto BIGINT NOT NULL,
    clicks BIGINT NOT NULL,
    aggregated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, hour)
);

-- Which days are folded into stats_sub_clicks_daily, with the clicks their rows hold; used while
-- equal to the day's clicks in stats_daily.
CREATE TABLE stats_sub_days (
    tenant_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    clicks BIGINT NOT NULL,
    folded_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- Conversions per sub id (of their click), with the counters of stats_hourly / stats_daily (no
-- money for rejected ones). The hourly rows are kept synchronously, in the transactions that
-- apply rollup::Increments (new conversions and status changes), so always exact.
CREATE TABLE stats_sub_conversions_hourly (
    tenant_id BIGINT NOT NULL,
    slot BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    value TEXT NOT NULL,
    offer_id BIGINT NOT NULL,
    affiliate_id BIGINT NOT NULL,
    approved BIGINT NOT NULL DEFAULT 0,
    pending BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    payout BIGINT NOT NULL DEFAULT 0,
    revenue BIGINT NOT NULL DEFAULT 0,
    pending_payout BIGINT NOT NULL DEFAULT 0,
    pending_revenue BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, slot, hour, value, offer_id, affiliate_id)
);

-- The hourly rows of a whole UTC day, summed by the worker (a conversion batch writes one row per
-- day it changes, in stats_sub_conversion_changes, instead of six more rows per conversion).
CREATE TABLE stats_sub_conversions_daily (
    tenant_id BIGINT NOT NULL,
    slot BIGINT NOT NULL,
    day BIGINT NOT NULL,
    value TEXT NOT NULL,
    offer_id BIGINT NOT NULL,
    affiliate_id BIGINT NOT NULL,
    approved BIGINT NOT NULL DEFAULT 0,
    pending BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    payout BIGINT NOT NULL DEFAULT 0,
    revenue BIGINT NOT NULL DEFAULT 0,
    pending_payout BIGINT NOT NULL DEFAULT 0,
    pending_revenue BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, slot, day, value, offer_id, affiliate_id)
);

-- How many conversion changes (new conversions, status changes) each UTC day has had, counted
-- in the same transactions as the hourly rows. A version: it only grows.
CREATE TABLE stats_sub_conversion_changes (
    tenant_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    changes BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- The version of each day folded into stats_sub_conversions_daily (read before the hourly rows
-- it sums): a report reads a day there while it equals the day's changes, its hourly rows
-- otherwise.
CREATE TABLE stats_sub_conversion_folds (
    tenant_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    changes BIGINT NOT NULL,
    folded_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- The conversions recorded so far, every day folded (the clicks are left to the worker).
INSERT INTO stats_sub_conversions_hourly (tenant_id, slot, hour, value, offer_id, affiliate_id, approved, pending,
                                          rejected, payout, revenue, pending_payout, pending_revenue)
SELECT v.tenant_id, s.slot,
       v.created_at - ((v.created_at % 3600000000) + 3600000000) % 3600000000,
       CASE s.slot WHEN 1 THEN c.aff_sub WHEN 2 THEN c.aff_sub2 WHEN 3 THEN c.aff_sub3 WHEN 4 THEN c.aff_sub4
                   WHEN 5 THEN c.aff_sub5 ELSE c.source END,
       v.offer_id, v.affiliate_id,
       CAST(SUM(CASE WHEN v.status = 'approved' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN v.status = 'pending' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN v.status = 'rejected' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN v.status = 'approved' THEN v.payout ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN v.status = 'approved' THEN v.revenue ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN v.status = 'pending' THEN v.payout ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN v.status = 'pending' THEN v.revenue ELSE 0 END) AS BIGINT)
FROM conversions v
INNER JOIN clicks c ON c.id = v.click_id
CROSS JOIN (SELECT 1 AS slot UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5
            UNION ALL SELECT 6) s
GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO stats_sub_conversions_daily (tenant_id, slot, day, value, offer_id, affiliate_id, approved, pending,
                                         rejected, payout, revenue, pending_payout, pending_revenue)
SELECT tenant_id, slot, hour - ((hour % 86400000000) + 86400000000) % 86400000000, value, offer_id, affiliate_id,
       CAST(SUM(approved) AS BIGINT), CAST(SUM(pending) AS BIGINT), CAST(SUM(rejected) AS BIGINT),
       CAST(SUM(payout) AS BIGINT), CAST(SUM(revenue) AS BIGINT), CAST(SUM(pending_payout) AS BIGINT),
       CAST(SUM(pending_revenue) AS BIGINT)
FROM stats_sub_conversions_hourly
GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO stats_sub_conversion_changes (tenant_id, day, changes)
SELECT tenant_id, created_at - ((created_at % 86400000000) + 86400000000) % 86400000000, CAST(COUNT(*) AS BIGINT) FROM conversions GROUP BY 1, 2;

INSERT INTO stats_sub_conversion_folds (tenant_id, day, changes, folded_at)
SELECT tenant_id, day, changes, 0 FROM stats_sub_conversion_changes;
