//! Clicks per sub id, aggregated asynchronously: the worker that fills `stats_sub_clicks_hourly`
//! and `stats_sub_clicks_daily` (migration 10) from the committed clicks, off the click path (the
//! click writer's batch is untouched: clicks + `stats_hourly`/`stats_daily` increments, nothing
//! more).
//!
//! **Hours.** The worker aggregates the clicks of one (tenant, UTC hour) with one
//! `INSERT … SELECT … GROUP BY` into a connection-private scratch table (per combination of the
//! six sub ids, offer and affiliate, then per slot), then, in a short write transaction, replaces
//! the hour's rows with the scratch rows and records in `stats_sub_progress` how far it read
//! (`upto`) and how many clicks it counted. Replacing (not adding) makes it idempotent: an hour
//! aggregated twice holds the same rows. (The read runs before the write transaction so that on
//! SQLite, whose writers take turns, the click writer waits only for the replacement, never for
//! the scan; a temporary table is private to the connection and takes no lock of the database.)
//!
//! **Which clicks.** Those created up to now minus [`Config::grace`] (a click is normally
//! committed well within that), the open hour included, so that a report reads raw only the
//! clicks of the last grace and interval. An hour's first pass aggregates it whole; later passes
//! add only the clicks created since the previous cut ([`extend_hour`], one short range per pass)
//! as long as the hour's rows hold every click before that cut ([`holds_all_before`]), and
//! aggregate the hour whole again otherwise. Progress rows record the cut (`upto`) and the count.
//!
//! **Stragglers.** A click committed after its hour was aggregated is not lost: `stats_hourly` is
//! exact (its increments commit with the clicks), so the hour's click count there then differs
//! from the progress row's, and the next pass aggregates the hour again (and folds its day
//! again). Nothing depends on the worker noticing in time, though: a report uses an hour's rows
//! only while the two counts are equal ([`crate::sub_report`]), and reads the hour's raw clicks
//! otherwise. Why equal counts mean exact rows: clicks are an append-only log (never updated or
//! deleted), so the clicks the worker read are a subset of the hour's clicks now; a subset with
//! as many elements as the set is the set.
//!
//! **Days.** Once every hour of a UTC day is in, the day's hourly rows are summed into the daily
//! table (same scratch, then replace), and `stats_sub_days` records the clicks they hold (the sum
//! of the day's slot-1 rows: each click has exactly one value per slot). A report reads a day
//! there while that equals the day's clicks in `stats_daily`; by the same argument it then holds
//! every click of the day.
//!
//! **Conversions** per sub id are counted synchronously per hour ([`crate::sub_conversions`]),
//! with a count of changes per day; the worker sums a whole day's hourly rows into
//! `stats_sub_conversions_daily` when that count differs from the one it last folded (new
//! conversions, status changes), recording the count it read *before* the rows, so that a change
//! committed in between leaves the fold marked stale rather than wrongly current.
//!
//! **Finding work** is cheap: per tenant, the daily click counts of `stats_daily` against
//! `stats_sub_days` (one row per day); only days that differ (and the current day) have their
//! hours compared, `stats_hourly` against `stats_sub_progress`. The worker looks back
//! [`LOOKBACK_DAYS`] days on each pass and over all days on its first pass and every
//! [`FULL_PASS_EVERY`] (a straggler older than two days, or history written before the worker
//! ran, is caught then; reports stay exact meanwhile, reading such hours raw).
//!
//! **Several nodes** may run the worker at once: on PostgreSQL each replacement takes a
//! transaction-scoped advisory lock per tenant (so two replacements of one hour cannot mix rows);
//! on SQLite write transactions take turns anyway. Either node's result is exact for what it
//! read, and the counts say so.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use affnet_db::schema::tenants;
use affnet_db::sql::{self, Params};
use affnet_db::{Clock, DatabaseUrl, DbConn, Micros, TenantId};

use crate::click::Click;
use crate::rollup::{day_of, DAY_MICROS, HOUR_MICROS};

/// The sub id slots of the rollups: (slot, column of `clicks`). Slot numbers are stored.
pub const SLOTS: [(i64, &str); 6] =
    [(1, "aff_sub"), (2, "aff_sub2"), (3, "aff_sub3"), (4, "aff_sub4"), (5, "aff_sub5"), (6, "source")];

/// The value of a click in `slot` ('' when it had none).
pub fn value_of(click: &Click, slot: i64) -> &str {
    match slot {
        1 => &click.aff_sub,
        2 => &click.aff_sub2,
        3 => &click.aff_sub3,
        4 => &click.aff_sub4,
        5 => &click.aff_sub5,
        _ => &click.source,
    }
}

/// Days a regular pass looks back for days whose counts differ.
pub const LOOKBACK_DAYS: i64 = 2;

/// How often the worker looks at every day instead of the last [`LOOKBACK_DAYS`].
pub const FULL_PASS_EVERY: Duration = Duration::from_secs(3600);

/// The worker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `AFFNET_SUB_ROLLUP_INTERVAL`: the pause between passes (default 30 s; 0 turns the worker
    /// off, e.g. on all but one node).
    pub interval: Duration,
    /// `AFFNET_SUB_ROLLUP_GRACE`: how old a click must be before it is aggregated (default
    /// 60 s). Clicks committed later are stragglers: counted, at a later pass.
    pub grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config { interval: Duration::from_secs(30), grace: Duration::from_secs(60) }
    }
}

/// What one or more passes did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Done {
    /// Hours aggregated (again, for stragglers).
    pub hours: u64,
    /// Days folded into the daily table.
    pub days: u64,
    /// Clicks counted by the hours aggregated.
    pub clicks: i64,
    /// Days of conversions folded into the daily table.
    pub conversion_days: u64,
}

impl Done {
    fn add(&mut self, o: Done) {
        self.hours += o.hours;
        self.days += o.days;
        self.clicks += o.clicks;
        self.conversion_days += o.conversion_days;
    }

    pub fn is_empty(&self) -> bool {
        self.hours == 0 && self.days == 0 && self.conversion_days == 0
    }
}

#[derive(Debug, QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    k: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(Debug, QueryableByName)]
pub(crate) struct Progress {
    #[diesel(sql_type = BigInt)]
    pub hour: i64,
    #[diesel(sql_type = BigInt)]
    pub upto: i64,
    #[diesel(sql_type = BigInt)]
    pub clicks: i64,
}

/// `k → n` of a statement selecting `k` and `n` for the tenant `$1` and the range `[$2, $3)`.
pub(crate) fn counts(
    conn: &mut DbConn,
    text: &str,
    tenant: TenantId,
    from: i64,
    to: i64,
) -> QueryResult<BTreeMap<i64, i64>> {
    let mut p = Params::new();
    p.add(tenant.0);
    p.add(from);
    p.add(to);
    Ok(sql::load::<Count>(conn, text, &p)?.into_iter().map(|c| (c.k, c.n)).collect())
}

/// Clicks per UTC day of the tenant in `[from, to)` (days), from `stats_daily`.
pub(crate) const DAY_CLICKS: &str = "SELECT day AS k, CAST(SUM(clicks) AS BIGINT) AS n FROM stats_daily \
     WHERE tenant_id = $1 AND day >= $2 AND day < $3 GROUP BY day";
/// Clicks held by the folded days of the tenant in `[from, to)`.
pub(crate) const FOLDED_DAYS: &str =
    "SELECT day AS k, clicks AS n FROM stats_sub_days WHERE tenant_id = $1 AND day >= $2 AND day < $3";
/// The conversion changes of the tenant's days in `[from, to)`.
pub(crate) const CONVERSION_CHANGES: &str =
    "SELECT day AS k, changes AS n FROM stats_sub_conversion_changes WHERE tenant_id = $1 AND day >= $2 AND day < $3";
/// The conversion changes folded into the daily rows of the tenant's days in `[from, to)`.
pub(crate) const CONVERSION_FOLDS: &str =
    "SELECT day AS k, changes AS n FROM stats_sub_conversion_folds WHERE tenant_id = $1 AND day >= $2 AND day < $3";
/// Clicks per UTC hour of the tenant in `[from, to)` (hours), from `stats_hourly`.
pub(crate) const HOUR_CLICKS: &str = "SELECT hour AS k, CAST(SUM(clicks) AS BIGINT) AS n FROM stats_hourly \
     WHERE tenant_id = $1 AND hour >= $2 AND hour < $3 GROUP BY hour";

/// The progress rows of the tenant's hours in `[from, to)`.
pub(crate) fn progress(
    conn: &mut DbConn,
    tenant: TenantId,
    from: i64,
    to: i64,
) -> QueryResult<BTreeMap<i64, Progress>> {
    let mut p = Params::new();
    let (t, a, b) = (p.add(tenant.0), p.add(from), p.add(to));
    let text = format!(
        "SELECT hour, upto, clicks FROM stats_sub_progress WHERE tenant_id = {t} AND hour >= {a} AND hour < {b}"
    );
    Ok(sql::load::<Progress>(conn, &text, &p)?.into_iter().map(|r| (r.hour, r)).collect())
}

/// One pass over every tenant: aggregates the clicks created up to `now - grace` (the open hour
/// included) of the hours whose progress disagrees with `stats_hourly` or does not reach that
/// cut, then folds the whole days among them. Days before `since` are not looked at (`None`:
/// every day). Stops between two hours when `stop` is set.
pub fn pass(
    conn: &mut DbConn,
    now: Micros,
    grace: Duration,
    since: Option<Micros>,
    stop: &AtomicBool,
) -> QueryResult<Done> {
    // Clicks created before `limit` are aggregated.
    let limit = now.0.saturating_sub(i64::try_from(grace.as_micros()).unwrap_or(i64::MAX));
    let since = since.map_or(i64::MIN, |s| day_of(s).0);
    let mut done = Done::default();
    let ids: Vec<TenantId> = tenants::table.select(tenants::id).order(tenants::id).load(conn)?;
    for tenant in ids {
        let want = counts(conn, DAY_CLICKS, tenant, since, limit)?;
        let have = counts(conn, FOLDED_DAYS, tenant, since, limit)?;
        // Newest first: recent days are the ones reports ask for most.
        for (&day, &clicks) in want.iter().rev() {
            if clicks == 0 || have.get(&day) == Some(&clicks) {
                continue;
            }
            let end = (day + DAY_MICROS).min(limit);
            let hour_want = counts(conn, HOUR_CLICKS, tenant, day, end)?;
            let hour_have = progress(conn, tenant, day, end)?;
            for (&hour, &clicks) in &hour_want {
                if stop.load(Ordering::Acquire) {
                    return Ok(done);
                }
                let upto = (hour + HOUR_MICROS).min(limit);
                let have = hour_have.get(&hour);
                let fine = have.is_some_and(|p| {
                    if upto < hour + HOUR_MICROS {
                        // The open hour: aggregated up to this cut (a straggler is seen later).
                        p.upto >= upto
                    } else {
                        p.upto >= hour + HOUR_MICROS && p.clicks == clicks
                    }
                });
                if clicks > 0 && !fine {
                    let n = match have {
                        Some(p) if p.upto > hour && p.upto < upto && holds_all_before(conn, tenant, p, clicks)? => {
                            extend_hour(conn, tenant, p, upto, now)?
                        }
                        _ => aggregate_hour(conn, tenant, hour, upto, now)?,
                    };
                    done.add(Done { hours: 1, clicks: n, ..Done::default() });
                }
            }
            if day + DAY_MICROS <= limit {
                fold_day(conn, tenant, day, now)?;
                done.days += 1;
            }
        }
        // Whole days of conversions changed since they were folded.
        let complete = day_of(Micros(limit)).0;
        let changes = counts(conn, CONVERSION_CHANGES, tenant, since, complete)?;
        let folded = counts(conn, CONVERSION_FOLDS, tenant, since, complete)?;
        for (&day, &version) in changes.iter().rev() {
            if stop.load(Ordering::Acquire) {
                return Ok(done);
            }
            if folded.get(&day) != Some(&version) {
                fold_conversion_day(conn, tenant, day, now)?;
                done.conversion_days += 1;
            }
        }
    }
    Ok(done)
}

/// Catches up synchronously (`affnet rollup subs`): passes over every day until one finds
/// nothing left to do.
pub fn catch_up(conn: &mut DbConn, now: Micros, grace: Duration) -> QueryResult<Done> {
    let never = AtomicBool::new(false);
    let mut total = Done::default();
    // A second pass finds only what was committed meanwhile; the bound is for safety.
    for _ in 0..10 {
        let done = pass(conn, now, grace, None, &never)?;
        total.add(done);
        if done.is_empty() {
            break;
        }
    }
    Ok(total)
}

/// The connection-private table a replacement is computed in.
const SCRATCH: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS sub_rollup_scratch (slot BIGINT NOT NULL, \
     value TEXT NOT NULL, offer_id BIGINT NOT NULL, affiliate_id BIGINT NOT NULL, clicks BIGINT NOT NULL)";

/// An empty scratch table.
fn clear_scratch(conn: &mut DbConn) -> QueryResult<()> {
    use diesel::connection::SimpleConnection;
    match conn {
        DbConn::Sqlite(c) => c.batch_execute(&format!("{SCRATCH}; DELETE FROM sub_rollup_scratch")),
        DbConn::Pg(c) => c.batch_execute(&format!("{SCRATCH}; TRUNCATE sub_rollup_scratch")),
    }
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The clicks the scratch rows hold (those of slot 1: one value per click).
fn scratch_clicks(conn: &mut DbConn) -> QueryResult<i64> {
    let text = "SELECT CAST(COALESCE(SUM(clicks), 0) AS BIGINT) AS n FROM sub_rollup_scratch WHERE slot = 1";
    Ok(sql::load::<N>(conn, text, &Params::new())?.first().map_or(0, |r| r.n))
}

/// The tenant's raw clicks created in `[from, to)`, counted up to `at_most` (a count above it
/// reads as `at_most`): what a rollup row set lacks after its cut.
pub(crate) fn clicks_between(
    conn: &mut DbConn,
    tenant: TenantId,
    from: i64,
    to: i64,
    at_most: i64,
) -> QueryResult<i64> {
    let mut p = Params::new();
    let text = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM (SELECT 1 AS x FROM clicks WHERE tenant_id = {} \
         AND created_at >= {} AND created_at < {} LIMIT {}) r",
        p.add(tenant.0),
        p.add(from),
        p.add(to),
        p.add(at_most.max(0))
    );
    Ok(sql::load::<N>(conn, &text, &p)?.first().map_or(0, |r| r.n))
}

/// `slot IN (1, …, 6)`.
fn all_slots() -> String {
    let slots: Vec<String> = SLOTS.iter().map(|(s, _)| s.to_string()).collect();
    format!("slot IN ({})", slots.join(", "))
}

/// The write transaction of a replacement: on PostgreSQL it first takes the tenant's advisory
/// lock, so that replacements by several nodes take turns (SQLite's writers always do).
fn replace_tx<T>(conn: &mut DbConn, tenant: TenantId, f: impl FnOnce(&mut DbConn) -> QueryResult<T>) -> QueryResult<T> {
    affnet_db::write_tx(conn, |c| {
        if let DbConn::Pg(_) = c {
            let mut p = Params::new();
            // "SUBR" in the high bytes: a key space of its own.
            let key = p.add(0x5355_4252_0000_0000_i64 | (tenant.0 & 0xffff_ffff));
            sql::execute(c, &format!("SELECT pg_advisory_xact_lock({key})"), &p)?;
        }
        f(c)
    })
}

/// Counts the tenant's clicks created in `[from, upto)` per sub id value, offer and affiliate
/// into the scratch table. Returns the clicks counted.
fn count_into_scratch(conn: &mut DbConn, tenant: TenantId, from: i64, upto: i64) -> QueryResult<i64> {
    clear_scratch(conn)?;
    let mut p = Params::new();
    let (t, a, b) = (p.add(tenant.0), p.add(from), p.add(upto));
    // Per combination of sub ids, offer and affiliate first (one read of the clicks), then per
    // slot from those few rows.
    let per_slot: Vec<String> = SLOTS
        .iter()
        .map(|(slot, column)| {
            format!(
                "SELECT {slot}, {column}, offer_id, affiliate_id, CAST(SUM(n) AS BIGINT) FROM c \
                 GROUP BY {column}, offer_id, affiliate_id"
            )
        })
        .collect();
    let text = format!(
        "WITH c AS MATERIALIZED (SELECT aff_sub, aff_sub2, aff_sub3, aff_sub4, aff_sub5, source, offer_id, \
         affiliate_id, COUNT(*) AS n FROM clicks WHERE tenant_id = {t} AND created_at >= {a} AND created_at < {b} \
         GROUP BY aff_sub, aff_sub2, aff_sub3, aff_sub4, aff_sub5, source, offer_id, affiliate_id) \
         INSERT INTO sub_rollup_scratch (slot, value, offer_id, affiliate_id, clicks) {}",
        per_slot.join(" UNION ALL ")
    );
    sql::execute(conn, &text, &p)?;
    scratch_clicks(conn)
}

/// Records how far the hour's rows reach and how many clicks they hold.
fn record_progress(
    conn: &mut DbConn,
    tenant: TenantId,
    hour: i64,
    upto: i64,
    clicks: i64,
    now: Micros,
) -> QueryResult<()> {
    let mut p = Params::new();
    let (t, h, u, n, at) = (p.add(tenant.0), p.add(hour), p.add(upto), p.add(clicks), p.add(now.0));
    sql::execute(
        conn,
        &format!(
            "INSERT INTO stats_sub_progress (tenant_id, hour, upto, clicks, aggregated_at) \
             VALUES ({t}, {h}, {u}, {n}, {at}) ON CONFLICT (tenant_id, hour) DO UPDATE SET \
             upto = excluded.upto, clicks = excluded.clicks, aggregated_at = excluded.aggregated_at"
        ),
        &p,
    )
    .map(|_| ())
}

/// Aggregates the tenant's clicks created in `[hour, upto)` into the hour's rows, replacing
/// them, and records the progress. Returns the clicks counted.
pub fn aggregate_hour(conn: &mut DbConn, tenant: TenantId, hour: i64, upto: i64, now: Micros) -> QueryResult<i64> {
    let clicks = count_into_scratch(conn, tenant, hour, upto)?;
    replace_tx(conn, tenant, |c| {
        let mut p = Params::new();
        let (t, h) = (p.add(tenant.0), p.add(hour));
        sql::execute(
            c,
            &format!("DELETE FROM stats_sub_clicks_hourly WHERE tenant_id = {t} AND {} AND hour = {h}", all_slots()),
            &p,
        )?;
        sql::execute(
            c,
            &format!(
                "INSERT INTO stats_sub_clicks_hourly (tenant_id, slot, hour, value, offer_id, affiliate_id, clicks) \
                 SELECT {t}, slot, {h}, value, offer_id, affiliate_id, clicks FROM sub_rollup_scratch"
            ),
            &p,
        )?;
        record_progress(c, tenant, hour, upto, clicks, now)
    })?;
    Ok(clicks)
}

/// Whether the hour's rows, aggregated up to `p.upto`, hold every click created before it: their
/// count plus the clicks created after it make up `clicks` (the hour's count in `stats_hourly`,
/// read a moment earlier; a click committed in between makes them differ, and the hour is then
/// aggregated whole, which is always right).
fn holds_all_before(conn: &mut DbConn, tenant: TenantId, p: &Progress, clicks: i64) -> QueryResult<bool> {
    let missing = clicks - p.clicks;
    // (One more than needed is enough to tell "more" from "exactly".)
    let rest = clicks_between(conn, tenant, p.upto, p.hour + HOUR_MICROS, missing.saturating_add(1))?;
    Ok(missing >= 0 && rest == missing)
}

/// Adds the tenant's clicks created in `[p.upto, upto)` to the rows of the hour `p.hour`
/// (aggregated up to `p.upto`, holding `p.clicks`) and records the progress, in one transaction
/// that first checks the progress is still `p` (a pass of another node may have moved it: then
/// nothing is added, so that no click is ever counted twice). This is how the open hour is kept
/// current: each pass reads only the clicks since the previous one. Returns the clicks added.
///
/// Exactness does not depend on `p` holding every click before `p.upto`: a report compares the
/// counts ([`crate::sub_report`]), and when the hour closes a pass aggregates it whole unless its
/// count equals `stats_hourly`'s.
pub(crate) fn extend_hour(
    conn: &mut DbConn,
    tenant: TenantId,
    p: &Progress,
    upto: i64,
    now: Micros,
) -> QueryResult<i64> {
    let added = count_into_scratch(conn, tenant, p.upto, upto)?;
    replace_tx(conn, tenant, |c| {
        let current = progress(c, tenant, p.hour, p.hour + 1)?;
        if current.get(&p.hour).is_none_or(|q| (q.upto, q.clicks) != (p.upto, p.clicks)) {
            return Ok(0);
        }
        let mut params = Params::new();
        let (t, h) = (params.add(tenant.0), params.add(p.hour));
        // (`WHERE true`: SQLite's parser needs it between a SELECT and ON CONFLICT.)
        sql::execute(
            c,
            &format!(
                "INSERT INTO stats_sub_clicks_hourly (tenant_id, slot, hour, value, offer_id, affiliate_id, clicks) \
                 SELECT {t}, slot, {h}, value, offer_id, affiliate_id, clicks FROM sub_rollup_scratch WHERE true \
                 ON CONFLICT (tenant_id, slot, hour, value, offer_id, affiliate_id) DO UPDATE SET \
                 clicks = stats_sub_clicks_hourly.clicks + excluded.clicks"
            ),
            &params,
        )?;
        record_progress(c, tenant, p.hour, upto, p.clicks + added, now)?;
        Ok(added)
    })
}

/// Sums the tenant's hourly rows of the UTC day `day` into its daily rows, replacing them, and
/// records the clicks they hold. Returns that count.
pub fn fold_day(conn: &mut DbConn, tenant: TenantId, day: i64, now: Micros) -> QueryResult<i64> {
    clear_scratch(conn)?;
    let mut p = Params::new();
    let (t, a, b) = (p.add(tenant.0), p.add(day), p.add(day + DAY_MICROS));
    sql::execute(
        conn,
        &format!(
            "INSERT INTO sub_rollup_scratch (slot, value, offer_id, affiliate_id, clicks) \
             SELECT slot, value, offer_id, affiliate_id, CAST(SUM(clicks) AS BIGINT) FROM stats_sub_clicks_hourly \
             WHERE tenant_id = {t} AND {} AND hour >= {a} AND hour < {b} GROUP BY slot, value, offer_id, affiliate_id",
            all_slots()
        ),
        &p,
    )?;
    let clicks = scratch_clicks(conn)?;
    replace_tx(conn, tenant, |c| {
        let mut p = Params::new();
        let (t, d) = (p.add(tenant.0), p.add(day));
        sql::execute(
            c,
            &format!("DELETE FROM stats_sub_clicks_daily WHERE tenant_id = {t} AND {} AND day = {d}", all_slots()),
            &p,
        )?;
        sql::execute(
            c,
            &format!(
                "INSERT INTO stats_sub_clicks_daily (tenant_id, slot, day, value, offer_id, affiliate_id, clicks) \
                 SELECT {t}, slot, {d}, value, offer_id, affiliate_id, clicks FROM sub_rollup_scratch"
            ),
            &p,
        )?;
        let (n, at) = (p.add(clicks), p.add(now.0));
        sql::execute(
            c,
            &format!(
                "INSERT INTO stats_sub_days (tenant_id, day, clicks, folded_at) VALUES ({t}, {d}, {n}, {at}) \
                 ON CONFLICT (tenant_id, day) DO UPDATE SET clicks = excluded.clicks, folded_at = excluded.folded_at"
            ),
            &p,
        )?;
        Ok(())
    })?;
    Ok(clicks)
}

/// Sums the tenant's hourly conversion rows of the UTC day `day` into its daily rows, replacing
/// them, and records the day's count of changes read before the rows.
pub fn fold_conversion_day(conn: &mut DbConn, tenant: TenantId, day: i64, now: Micros) -> QueryResult<()> {
    let counters = ["approved", "pending", "rejected", "payout", "revenue", "pending_payout", "pending_revenue"];
    let sums: Vec<String> = counters.iter().map(|c| format!("CAST(SUM({c}) AS BIGINT)")).collect();
    replace_tx(conn, tenant, |c| {
        // The version first: a change committed after it (PostgreSQL reads each statement at a
        // new snapshot) makes the recorded version older than the rows, never newer.
        let version = counts(c, CONVERSION_CHANGES, tenant, day, day + DAY_MICROS)?.get(&day).copied().unwrap_or(0);
        let mut p = Params::new();
        let (t, d) = (p.add(tenant.0), p.add(day));
        sql::execute(
            c,
            &format!("DELETE FROM stats_sub_conversions_daily WHERE tenant_id = {t} AND {} AND day = {d}", all_slots()),
            &p,
        )?;
        let e = p.add(day + DAY_MICROS);
        sql::execute(
            c,
            &format!(
                "INSERT INTO stats_sub_conversions_daily (tenant_id, slot, day, value, offer_id, affiliate_id, {}) \
                 SELECT {t}, slot, {d}, value, offer_id, affiliate_id, {} FROM stats_sub_conversions_hourly \
                 WHERE tenant_id = {t} AND {} AND hour >= {d} AND hour < {e} \
                 GROUP BY slot, value, offer_id, affiliate_id",
                counters.join(", "),
                sums.join(", "),
                all_slots()
            ),
            &p,
        )?;
        let mut p = Params::new();
        let (t, d, v, at) = (p.add(tenant.0), p.add(day), p.add(version), p.add(now.0));
        sql::execute(
            c,
            &format!(
                "INSERT INTO stats_sub_conversion_folds (tenant_id, day, changes, folded_at) VALUES ({t}, {d}, {v}, {at}) \
                 ON CONFLICT (tenant_id, day) DO UPDATE SET changes = excluded.changes, folded_at = excluded.folded_at"
            ),
            &p,
        )?;
        Ok(())
    })
}

/// The worker started by `affnet serve`: a thread with its own connection, one [`pass`] every
/// [`Config::interval`].
pub struct Worker {
    url: DatabaseUrl,
    clock: Arc<dyn Clock>,
    config: Config,
}

impl Worker {
    pub fn new(url: &DatabaseUrl, clock: Arc<dyn Clock>, config: Config) -> Self {
        Self { url: url.clone(), clock, config }
    }

    /// Runs the worker on a thread of its own until `stop` is set (at once when the interval is
    /// 0: turned off).
    pub fn spawn(self, stop: Arc<AtomicBool>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new().name("sub-rollups".into()).spawn(move || {
            if self.config.interval.is_zero() {
                tracing::info!("sub id rollup worker turned off (AFFNET_SUB_ROLLUP_INTERVAL=0)");
                return;
            }
            let mut conn: Option<crate::WriterConn> = None;
            let mut last_full: Option<Micros> = None;
            while !stop.load(Ordering::Acquire) {
                if conn.is_none() {
                    match crate::WriterConn::open(&self.url) {
                        Ok(c) => conn = Some(c),
                        Err(e) => tracing::error!(error = %e, "sub id rollup worker cannot connect"),
                    }
                }
                if let Some(db) = conn.as_mut() {
                    let now = self.clock.now();
                    let full_due = last_full.is_none_or(|t| {
                        now.0.saturating_sub(t.0) >= i64::try_from(FULL_PASS_EVERY.as_micros()).unwrap_or(i64::MAX)
                    });
                    let since = (!full_due).then(|| Micros(now.0 - LOOKBACK_DAYS * DAY_MICROS));
                    let started = std::time::Instant::now();
                    match pass(&mut db.conn, now, self.config.grace, since, &stop) {
                        Ok(done) => {
                            if full_due {
                                last_full = Some(now);
                            }
                            if !done.is_empty() {
                                tracing::info!(
                                    hours = done.hours,
                                    days = done.days,
                                    clicks = done.clicks,
                                    conversion_days = done.conversion_days,
                                    ms = started.elapsed().as_millis() as u64,
                                    "sub id rollups aggregated"
                                );
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "sub id rollup pass failed; retrying at the next one");
                            db.heal();
                        }
                    }
                }
                let mut slept = Duration::ZERO;
                while slept < self.config.interval && !stop.load(Ordering::Acquire) {
                    let step = Duration::from_millis(100).min(self.config.interval - slept);
                    std::thread::sleep(step);
                    slept += step;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_name_the_click_columns_in_order() {
        let columns: Vec<&str> = SLOTS.iter().map(|(_, c)| *c).collect();
        assert_eq!(columns, ["aff_sub", "aff_sub2", "aff_sub3", "aff_sub4", "aff_sub5", "source"]);
        assert!(SLOTS.iter().enumerate().all(|(i, (s, _))| *s == i as i64 + 1));
    }
}
