//! Reports grouped by a sub id (`aff_sub` .. `aff_sub5`, `source`): read from the sub id rollups
//! where they are verified to be exact, and from the raw clicks only for the rest.
//!
//! - **Conversions** (counts, payout, revenue, any status) come from `stats_sub_conversions_*`:
//!   the hourly rows are kept in the conversions' own transactions ([`crate::sub_conversions`]),
//!   so they are always exact; a whole UTC day of the range is read from the daily rows the
//!   worker folded while the day's count of changes is still the one folded, from its hourly
//!   rows otherwise (today, a day with a status change since); the edge hours from the hourly
//!   rows.
//! - **Clicks** come from `stats_sub_clicks_*`, filled asynchronously ([`crate::sub_rollup`]).
//!   Before reading, the report checks what they cover ([`plan`]): a whole UTC day of the range
//!   is read from the daily table when `stats_sub_days` holds as many clicks for it as
//!   `stats_daily`; every other hour with clicks (the edge hours of zones off UTC, days not
//!   folded) from the hourly table when its progress row holds as many as `stats_hourly`, or,
//!   for an hour aggregated up to `upto` only, when that count plus the raw clicks after `upto`
//!   does (those are then read raw; they are counted up to the raw-row limit only); the rest
//!   raw: the current hour, hours not aggregated yet, hours with a straggler. `stats_daily` and
//!   `stats_hourly` are exact (written with the clicks) and clicks are never updated or deleted,
//!   so equal counts mean the rollup rows hold exactly the clicks there are (see
//!   [`crate::sub_rollup`]).
//! - The raw clicks are read in time order, at most [`Query::raw_limit`] of them (the earliest);
//!   the report is `truncated` when there were more. It never is when the rollups cover the range.
//!
//! The check and the reads run in one read-only transaction (a snapshot: on PostgreSQL
//! `REPEATABLE READ`), so that the worker replacing an hour meanwhile cannot make the report
//! count clicks twice or not at all.
//!
//! As in every rollup report, the hours overlapping the range count (a report's range is made of
//! local midnights of a whole-hour zone, so it is whole hours anyway). Filters as in the other
//! rollup reports: offer and affiliate on the rollup rows, advertiser through the offers table;
//! the raw clicks by their own columns. Rejected conversions carry no money (as in `stats_daily`).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use affnet_db::sql::{self, Params};
use affnet_db::{DbConn, Micros};

use crate::reports::{self, Acc, GroupBy, Key, Query, Report};
use crate::rollup::{Span, DAY_MICROS, HOUR_MICROS};
use crate::sub_rollup::{self, counts, CONVERSION_CHANGES, CONVERSION_FOLDS, DAY_CLICKS, FOLDED_DAYS, HOUR_CLICKS};

/// The rollups' slot of a sub id grouping (`None` for the others).
pub fn slot_of(group: GroupBy) -> Option<i64> {
    match group {
        GroupBy::Sub(n @ 1..=5) => Some(i64::from(n)),
        GroupBy::Source => Some(6),
        _ => None,
    }
}

/// Where a sub id report reads: its clicks from ranges `[from, to)` of UTC days of the daily
/// rollups, of hours of the hourly rollups, and of time of the raw clicks; its conversions from
/// ranges of days of the daily and of hours of the hourly conversion rollups. Each list in time
/// order, adjacent ranges joined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub days: Vec<(Micros, Micros)>,
    pub hours: Vec<(Micros, Micros)>,
    pub raw: Vec<(Micros, Micros)>,
    pub conversion_days: Vec<(Micros, Micros)>,
    pub conversion_hours: Vec<(Micros, Micros)>,
}

/// Appends `[from, to)` to ranges in time order, joined to the last one when adjacent.
fn push(ranges: &mut Vec<(Micros, Micros)>, from: i64, to: i64) {
    match ranges.last_mut() {
        Some(last) if last.1 .0 == from => last.1 = Micros(to),
        _ => ranges.push((Micros(from), Micros(to))),
    }
}

/// Which parts of the query's range the click rollups cover exactly (see the module doc). Call
/// it in the transaction that reads them.
pub fn plan(conn: &mut DbConn, q: &Query) -> QueryResult<Plan> {
    let span = Span::of(q.from, q.to);
    let mut plan = Plan::default();
    // Hours to check one by one: the edges, and the days not covered by the daily rollups.
    let mut hours: Vec<(Micros, Micros)> = Vec::new();
    if let Some(b) = span.before {
        push(&mut hours, b.from.0, b.to.0);
    }
    if let Some(b) = span.before {
        push(&mut plan.conversion_hours, b.from.0, b.to.0);
    }
    if let Some(d) = span.days {
        let changes = counts(conn, CONVERSION_CHANGES, q.tenant, d.from.0, d.to.0)?;
        let folded = counts(conn, CONVERSION_FOLDS, q.tenant, d.from.0, d.to.0)?;
        for (&day, version) in &changes {
            if folded.get(&day) == Some(version) {
                push(&mut plan.conversion_days, day, day + DAY_MICROS);
            } else {
                push(&mut plan.conversion_hours, day, day + DAY_MICROS);
            }
        }
        let want = counts(conn, DAY_CLICKS, q.tenant, d.from.0, d.to.0)?;
        let have = counts(conn, FOLDED_DAYS, q.tenant, d.from.0, d.to.0)?;
        for (&day, &clicks) in want.iter().filter(|(_, &n)| n > 0) {
            if have.get(&day) == Some(&clicks) {
                push(&mut plan.days, day, day + DAY_MICROS);
            } else {
                push(&mut hours, day, day + DAY_MICROS);
            }
        }
    }
    if let Some(a) = span.after {
        push(&mut hours, a.from.0, a.to.0);
        push(&mut plan.conversion_hours, a.from.0, a.to.0);
    }
    for (from, to) in hours {
        let want = counts(conn, HOUR_CLICKS, q.tenant, from.0, to.0)?;
        let have = sub_rollup::progress(conn, q.tenant, from.0, to.0)?;
        for (&hour, &clicks) in want.iter().filter(|(_, &n)| n > 0) {
            let end = hour + HOUR_MICROS;
            match have.get(&hour) {
                Some(p) if p.upto >= end && p.clicks == clicks => push(&mut plan.hours, hour, end),
                Some(p) if p.upto > hour && p.upto < end && p.clicks <= clicks => {
                    // Aggregated up to `upto`: exact if the clicks after it make up the rest.
                    // Counted up to the raw-row limit: past it the report is cut short anyway,
                    // and reads the hour's earliest clicks raw.
                    let limit = q.raw_limit.max(0);
                    let rest = sub_rollup::clicks_between(conn, q.tenant, p.upto, end, limit.saturating_add(1))?;
                    if rest <= limit && p.clicks + rest == clicks {
                        push(&mut plan.hours, hour, end);
                        if rest > 0 {
                            push(&mut plan.raw, p.upto, end);
                        }
                    } else {
                        push(&mut plan.raw, hour, end);
                    }
                }
                _ => push(&mut plan.raw, hour, end),
            }
        }
    }
    Ok(plan)
}

/// Runs a sub id report (see the module doc).
pub fn run(conn: &mut DbConn, q: &Query) -> QueryResult<Report> {
    read_tx(conn, |c| {
        let plan = plan(c, q)?;
        let mut acc = Acc::default();
        for s in rollup_sums(c, q, &plan)? {
            let row = acc.row(Key::Text(s.k), &s.currency);
            row.clicks += s.clicks;
            row.conversions += s.conversions;
            row.payout += s.payout;
            row.revenue += s.revenue;
        }
        // The raw clicks, earliest first, up to the limit over all their ranges.
        let mut left = q.raw_limit.max(0);
        let mut truncated = false;
        for &range in &plan.raw {
            let (rows, more) = reports::raw_clicks(c, q, range, left)?;
            for r in &rows {
                acc.row(r.key.clone(), &r.currency).add(r);
                left -= r.clicks;
            }
            if more {
                truncated = true;
                break;
            }
        }
        Ok(Report { rows: acc.rows(), truncated })
    })
}

/// A read-only transaction whose reads see one snapshot (SQLite: any read transaction in WAL
/// mode; PostgreSQL: `REPEATABLE READ`).
fn read_tx<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> QueryResult<T>) -> QueryResult<T> {
    conn.transaction(|c| {
        if let DbConn::Pg(p) = c {
            use diesel::connection::SimpleConnection;
            p.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        f(c)
    })
}

/// One sub id in one currency, summed from the rollups.
#[derive(Debug, QueryableByName)]
struct SubSum {
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    clicks: i64,
    #[diesel(sql_type = BigInt)]
    conversions: i64,
    #[diesel(sql_type = BigInt)]
    payout: i64,
    #[diesel(sql_type = BigInt)]
    revenue: i64,
}

/// The clicks and the conversions of the plan's days and hours, per sub id and currency, in one
/// statement: per sub id and offer in each table's part, then per currency (the
/// offer's).
fn rollup_sums(conn: &mut DbConn, q: &Query, plan: &Plan) -> QueryResult<Vec<SubSum>> {
    let Some(slot) = slot_of(q.group) else { return Ok(Vec::new()) };
    let mut p = Params::new();
    let t = p.add(q.tenant.0);
    let s = p.add(slot);
    let filter = crate::reports::rollup_filter(q, &mut p, &t);
    let mut parts: Vec<String> = Vec::new();
    let clicks = |table: &str, column: &str, (a, b): (Micros, Micros), p: &mut Params| {
        format!(
            "SELECT value AS k, offer_id, SUM(clicks) AS clicks, 0 AS conversions, 0 AS payout, 0 AS revenue \
             FROM {table} WHERE tenant_id = {t} AND slot = {s} AND {column} >= {} AND {column} < {}{filter} \
             GROUP BY value, offer_id",
            p.add(a.0),
            p.add(b.0)
        )
    };
    for &range in &plan.days {
        parts.push(clicks("stats_sub_clicks_daily", "day", range, &mut p));
    }
    for &range in &plan.hours {
        parts.push(clicks("stats_sub_clicks_hourly", "hour", range, &mut p));
    }
    let (conversions, payout, revenue) = reports::counted(q.status.as_deref());
    let days = plan.conversion_days.iter().map(|&r| ("stats_sub_conversions_daily", "day", r));
    let hours = plan.conversion_hours.iter().map(|&r| ("stats_sub_conversions_hourly", "hour", r));
    for (table, col, (from, to)) in days.chain(hours) {
        let (a, b) = (p.add(from.0), p.add(to.0));
        parts.push(format!(
            "SELECT value AS k, offer_id, 0 AS clicks, SUM({conversions}) AS conversions, SUM({payout}) AS payout, \
             SUM({revenue}) AS revenue FROM {table} \
             WHERE tenant_id = {t} AND slot = {s} AND {col} >= {a} AND {col} < {b}{filter} GROUP BY value, offer_id"
        ));
    }
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let text = format!(
        "SELECT g.k AS k, COALESCE(o.currency, '') AS currency, CAST(SUM(g.clicks) AS BIGINT) AS clicks, \
         CAST(SUM(g.conversions) AS BIGINT) AS conversions, CAST(SUM(g.payout) AS BIGINT) AS payout, \
         CAST(SUM(g.revenue) AS BIGINT) AS revenue FROM ({}) g \
         LEFT JOIN offers o ON o.tenant_id = {t} AND o.id = g.offer_id GROUP BY 1, 2",
        parts.join(" UNION ALL ")
    );
    let mut sums: Vec<SubSum> = sql::load(conn, &text, &p)?;
    sums.retain(|s| (s.clicks, s.conversions, s.payout, s.revenue) != (0, 0, 0, 0));
    Ok(sums)
}
