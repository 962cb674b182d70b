//! Totals per (tenant, hour, offer, affiliate) in `stats_hourly` and per (tenant, UTC day, offer,
//! affiliate) in `stats_daily`, both changed in the same transaction as the raw rows they count:
//! reports read these and never scan raw clicks. A range is read as whole UTC days from the
//! daily table and only the hours at its edges from the hourly one ([`Span`]), summed in SQL.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use affnet_db::sql::{self, Params};
use affnet_db::{AffiliateId, DbConn, Micros, OfferId, TenantId};

pub const HOUR_MICROS: i64 = 3_600_000_000;
pub const DAY_MICROS: i64 = 24 * HOUR_MICROS;

/// The start of the UTC hour holding `t`.
pub fn hour_of(t: Micros) -> Micros {
    Micros(t.0 - t.0.rem_euclid(HOUR_MICROS))
}

/// The UTC midnight starting the day that holds `t` (a `stats_daily.day`).
pub fn day_of(t: Micros) -> Micros {
    Micros(t.0 - t.0.rem_euclid(DAY_MICROS))
}

/// One piece of a [`Span`]: a rollup table and a range `[from, to)` of its time column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub table: &'static str,
    /// `hour` or `day`.
    pub column: &'static str,
    pub from: Micros,
    pub to: Micros,
}

/// Where the rollups that count `[from, to)` are read: every hour that overlaps the range (the
/// rollups count whole hours, as they always have), as the whole UTC days among them from
/// `stats_daily` and the hours before and after those days from `stats_hourly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub before: Option<Part>,
    pub days: Option<Part>,
    pub after: Option<Part>,
}

impl Span {
    /// Whole days from the daily table, the rest from the hourly one.
    pub fn of(from: Micros, to: Micros) -> Span {
        let Some((first, end)) = Span::hours(from, to) else { return Span::default() };
        let first_day = match first.rem_euclid(DAY_MICROS) {
            0 => Some(first),
            r => first.checked_add(DAY_MICROS - r),
        };
        let end_day = end - end.rem_euclid(DAY_MICROS);
        match first_day {
            Some(d0) if d0 < end_day => Span {
                before: (first < d0).then(|| Span::hourly_part(first, d0)),
                days: Some(Part { table: "stats_daily", column: "day", from: Micros(d0), to: Micros(end_day) }),
                after: (end_day < end).then(|| Span::hourly_part(end_day, end)),
            },
            _ => Span { before: Some(Span::hourly_part(first, end)), days: None, after: None },
        }
    }

    /// Every hour from the hourly table (a report by hour, or by the days of a zone that is not
    /// at UTC).
    pub fn hourly(from: Micros, to: Micros) -> Span {
        match Span::hours(from, to) {
            Some((first, end)) => Span { before: Some(Span::hourly_part(first, end)), days: None, after: None },
            None => Span::default(),
        }
    }

    /// The first hour overlapping `[from, to)` and the end of the last one (saturating at the
    /// largest instant), if any hour does.
    fn hours(from: Micros, to: Micros) -> Option<(i64, i64)> {
        let first = hour_of(from).0;
        let end = match to.0.rem_euclid(HOUR_MICROS) {
            0 => to.0,
            r => to.0.checked_add(HOUR_MICROS - r).unwrap_or(i64::MAX),
        };
        (first < end).then_some((first, end))
    }

    fn hourly_part(from: i64, to: i64) -> Part {
        Part { table: "stats_hourly", column: "hour", from: Micros(from), to: Micros(to) }
    }

    /// The parts, in time order.
    pub fn parts(&self) -> impl Iterator<Item = Part> {
        [self.before, self.days, self.after].into_iter().flatten()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub tenant: TenantId,
    pub hour: Micros,
    pub offer: OfferId,
    pub affiliate: AffiliateId,
}

/// Changes to one row (may be negative when a conversion changes status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta {
    pub clicks: i64,
    pub rejected_clicks: i64,
    pub approved: i64,
    pub pending: i64,
    pub rejected: i64,
    pub payout: i64,
    pub revenue: i64,
    pub pending_payout: i64,
    pub pending_revenue: i64,
}

impl Delta {
    pub(crate) fn add(&mut self, o: &Delta) {
        self.clicks += o.clicks;
        self.rejected_clicks += o.rejected_clicks;
        self.approved += o.approved;
        self.pending += o.pending;
        self.rejected += o.rejected;
        self.payout += o.payout;
        self.revenue += o.revenue;
        self.pending_payout += o.pending_payout;
        self.pending_revenue += o.pending_revenue;
    }

    /// What one conversion of `status` adds.
    pub fn conversion(status: &str, payout: i64, revenue: i64) -> Delta {
        match status {
            "approved" => Delta { approved: 1, payout, revenue, ..Delta::default() },
            "pending" => Delta { pending: 1, pending_payout: payout, pending_revenue: revenue, ..Delta::default() },
            _ => Delta { rejected: 1, ..Delta::default() },
        }
    }

    pub fn negated(&self) -> Delta {
        Delta {
            clicks: -self.clicks,
            rejected_clicks: -self.rejected_clicks,
            approved: -self.approved,
            pending: -self.pending,
            rejected: -self.rejected,
            payout: -self.payout,
            revenue: -self.revenue,
            pending_payout: -self.pending_payout,
            pending_revenue: -self.pending_revenue,
        }
    }
}

/// Increments gathered over a batch, written as multi-row upserts (`Upsert`): first every
/// hourly row in key order, then every daily row in key order (so that concurrent writers lock
/// rollup rows in one global order and cannot deadlock).
#[derive(Debug, Default)]
pub struct Increments(BTreeMap<Key, Delta>);

impl Increments {
    pub fn add(&mut self, key: Key, delta: Delta) {
        self.0.entry(key).or_default().add(&delta);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rows to add: every hourly row, then every daily row, each in key order (tenant,
    /// bucket, offer, affiliate, then the [`COUNTERS`]).
    pub fn rows(&self) -> (Vec<[i64; 13]>, Vec<[i64; 13]>) {
        // The daily rows touched, keyed like the hourly ones with `hour` holding the day.
        let mut days: BTreeMap<Key, Delta> = BTreeMap::new();
        for (k, d) in &self.0 {
            days.entry(Key { hour: day_of(k.hour), ..*k }).or_default().add(d);
        }
        let row = |(k, d): (&Key, &Delta)| {
            [
                k.tenant.0,
                k.hour.0,
                k.offer.0,
                k.affiliate.0,
                d.clicks,
                d.rejected_clicks,
                d.approved,
                d.pending,
                d.rejected,
                d.payout,
                d.revenue,
                d.pending_payout,
                d.pending_revenue,
            ]
        };
        (self.0.iter().map(row).collect(), days.iter().map(row).collect())
    }

    /// Applies every increment to `stats_hourly` and `stats_daily` (inside the caller's
    /// transaction). The only writer of either table: they always agree.
    pub fn apply(&self, conn: &mut DbConn) -> QueryResult<()> {
        let (hours, days) = self.rows();
        for (table, key, rows) in [("stats_hourly", HOURLY_KEY, &hours), ("stats_daily", DAILY_KEY, &days)] {
            for chunk in rows.chunks(UPSERT_CHUNK) {
                let upsert = Upsert { table, key, counters: &COUNTERS, rows: chunk };
                affnet_db::with_backend!(&mut *conn, |c| upsert.execute(c))?;
            }
        }
        Ok(())
    }
}

/// The key columns of `stats_hourly` and `stats_daily`.
pub(crate) const HOURLY_KEY: &str = "tenant_id, hour, offer_id, affiliate_id";
pub(crate) const DAILY_KEY: &str = "tenant_id, day, offer_id, affiliate_id";

/// The most rollup rows one upsert carries (13 parameters each).
const UPSERT_CHUNK: usize = 64;

/// `INSERT INTO <table> (<key>, <counters>) VALUES (…), … ON CONFLICT (<key>) DO UPDATE SET
/// n = n + excluded.n, …` for integer rows (the key's columns, then the counters) in key order.
/// A diesel query whose prepared statement the connection caches (by its SQL: one per table and
/// row count): diesel's own upsert is never cached, and was parsed and planned again in every
/// click and conversion batch (seen in PostgreSQL's statement log).
pub(crate) struct Upsert<'a, const N: usize> {
    pub table: &'static str,
    /// The key's columns, comma-separated.
    pub key: &'static str,
    pub counters: &'static [&'static str],
    pub rows: &'a [[i64; N]],
}

impl<const N: usize> diesel::query_builder::QueryId for Upsert<'_, N> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn, const N: usize> RunQueryDsl<Conn> for Upsert<'_, N> {}

impl<DB, const N: usize> diesel::query_builder::QueryFragment<DB> for Upsert<'_, N>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<BigInt>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        push_insert_head(&mut out, self.table, self.key, self.counters);
        out.push_sql(" VALUES ");
        for (i, row) in self.rows.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    out.push_sql(", ");
                }
                out.push_bind_param::<BigInt, _>(v)?;
            }
            out.push_sql(")");
        }
        push_add_on_conflict(&mut out, self.table, self.key, self.counters);
        Ok(())
    }
}

/// ` ON CONFLICT (<key>) DO UPDATE SET n = <table>.n + excluded.n, …`: the tail of every rollup
/// upsert (the counters of a row already there are added to).
pub(crate) fn push_add_on_conflict<DB: diesel::backend::Backend>(
    out: &mut diesel::query_builder::AstPass<'_, '_, DB>,
    table: &str,
    key: &str,
    counters: &[&str],
) {
    out.push_sql(" ON CONFLICT (");
    out.push_sql(key);
    out.push_sql(") DO UPDATE SET ");
    for (j, c) in counters.iter().enumerate() {
        if j > 0 {
            out.push_sql(", ");
        }
        for part in [c, " = ", table, ".", c, " + excluded.", c] {
            out.push_sql(part);
        }
    }
}

/// `INSERT INTO <table> (<key>, <counters>)`, pushed piece by piece: a statement's SQL is walked
/// at every execution (to collect its binds, and to find it in the statement cache), so the
/// hot paths build no strings for it (`format!` here was ~5 % of the click writer's CPU).
pub(crate) fn push_insert_head<DB: diesel::backend::Backend>(
    out: &mut diesel::query_builder::AstPass<'_, '_, DB>,
    table: &str,
    key: &str,
    counters: &[&str],
) {
    out.push_sql("INSERT INTO ");
    out.push_sql(table);
    out.push_sql(" (");
    out.push_sql(key);
    for c in counters {
        out.push_sql(", ");
        out.push_sql(c);
    }
    out.push_sql(")");
}

/// PostgreSQL: the upsert of [`Upsert`] with one array per column, `INSERT INTO <table> (…)
/// SELECT * FROM UNNEST($1::bigint[], …) ON CONFLICT …`: the same SQL whatever the row count,
/// so it can be one part of a larger statement (the click batch, `click::ClickBatch`).
/// `key` is the table's key columns, comma-separated; `then` is pushed between the `SELECT` and
/// `ON CONFLICT` (a `WHERE` that orders it after another part of the statement).
pub(crate) fn push_upsert_columns<'b>(
    out: &mut diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    table: &str,
    key: &str,
    columns: &'b [Vec<i64>; 13],
    then: &str,
) -> QueryResult<()> {
    use diesel::sql_types::Array;
    push_insert_head(out, table, key, &COUNTERS);
    out.push_sql(" SELECT * FROM UNNEST(");
    for (j, column) in columns.iter().enumerate() {
        if j > 0 {
            out.push_sql(", ");
        }
        out.push_bind_param::<Array<BigInt>, _>(column)?;
        out.push_sql("::bigint[]");
    }
    out.push_sql(") AS u");
    out.push_sql(then);
    push_add_on_conflict(out, table, key, &COUNTERS);
    Ok(())
}

/// Rows as one array per column (for [`push_upsert_columns`]).
pub(crate) fn columns(rows: &[[i64; 13]]) -> [Vec<i64>; 13] {
    std::array::from_fn(|j| rows.iter().map(|r| r[j]).collect())
}

/// Totals of one row set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, QueryableByName, serde::Serialize)]
pub struct Totals {
    #[diesel(sql_type = BigInt)]
    pub clicks: i64,
    #[diesel(sql_type = BigInt)]
    pub rejected_clicks: i64,
    #[diesel(sql_type = BigInt)]
    pub approved: i64,
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = BigInt)]
    pub rejected: i64,
    #[diesel(sql_type = BigInt)]
    pub payout: i64,
    #[diesel(sql_type = BigInt)]
    pub revenue: i64,
    #[diesel(sql_type = BigInt)]
    pub pending_payout: i64,
    #[diesel(sql_type = BigInt)]
    pub pending_revenue: i64,
}

/// The counters of a rollup row, in [`Totals`]' order.
const COUNTERS: [&str; 9] = [
    "clicks",
    "rejected_clicks",
    "approved",
    "pending",
    "rejected",
    "payout",
    "revenue",
    "pending_payout",
    "pending_revenue",
];

/// Sums of the tenant's rollups over the hours overlapping `[from, to)`, optionally for one
/// offer and/or affiliate: summed in SQL over whole days and the edge hours ([`Span::of`]).
pub fn totals(
    conn: &mut DbConn,
    tenant: TenantId,
    from: Micros,
    to: Micros,
    offer: Option<OfferId>,
    affiliate: Option<AffiliateId>,
) -> QueryResult<Totals> {
    let mut p = Params::new();
    let t = p.add(tenant.0);
    let mut filter = String::new();
    if let Some(o) = offer {
        filter.push_str(&format!(" AND offer_id = {}", p.add(o.0)));
    }
    if let Some(a) = affiliate {
        filter.push_str(&format!(" AND affiliate_id = {}", p.add(a.0)));
    }
    let inner = COUNTERS.iter().map(|c| format!("SUM({c}) AS {c}")).collect::<Vec<_>>().join(", ");
    let parts: Vec<String> = Span::of(from, to)
        .parts()
        .map(|part| {
            let (col, a, b) = (part.column, p.add(part.from.0), p.add(part.to.0));
            format!("SELECT {inner} FROM {} WHERE tenant_id = {t} AND {col} >= {a} AND {col} < {b}{filter}", part.table)
        })
        .collect();
    if parts.is_empty() {
        return Ok(Totals::default());
    }
    let outer = COUNTERS.iter().map(|c| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT) AS {c}")).collect::<Vec<_>>();
    let text = format!("SELECT {} FROM ({}) s", outer.join(", "), parts.join(" UNION ALL "));
    Ok(sql::load::<Totals>(conn, &text, &p)?.into_iter().next().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_MICROS;
    const D: i64 = DAY_MICROS;

    fn part(table: &'static str, from: i64, to: i64) -> Option<Part> {
        let column = if table == "stats_daily" { "day" } else { "hour" };
        Some(Part { table, column, from: Micros(from), to: Micros(to) })
    }

    #[test]
    fn spans_read_whole_days_daily_and_the_edges_hourly() {
        let d = 20_000 * D;
        // Local midnights of UTC+02:00 over three days: 22:00 .. 22:00.
        assert_eq!(
            Span::of(Micros(d - 2 * H), Micros(d + 3 * D - 2 * H)),
            Span {
                before: part("stats_hourly", d - 2 * H, d),
                days: part("stats_daily", d, d + 2 * D),
                after: part("stats_hourly", d + 2 * D, d + 3 * D - 2 * H),
            }
        );
        // UTC days: daily only.
        assert_eq!(
            Span::of(Micros(d), Micros(d + 30 * D)).parts().collect::<Vec<_>>(),
            vec![part("stats_daily", d, d + 30 * D).unwrap()]
        );
        // Less than a whole day: hourly only; a range inside an hour reads that hour.
        assert_eq!(Span::of(Micros(d + H), Micros(d + D + H)).days, None);
        assert_eq!(Span::of(Micros(d + 90_000_000), Micros(d + 100_000_000)).before, part("stats_hourly", d, d + H));
        // A range ending inside an hour reads that hour, as hours overlapping the range count.
        assert_eq!(Span::of(Micros(d), Micros(d + D + 1)).after, part("stats_hourly", d + D, d + D + H));
        assert_eq!(Span::of(Micros(d), Micros(d)), Span::default());
        assert_eq!(Span::of(Micros(d + H), Micros(d)), Span::default());
        // Everything: no overflow at the largest instant.
        let all = Span::of(Micros(0), Micros(i64::MAX));
        assert_eq!(all.days.map(|p| (p.from, p.to)), Some((Micros(0), Micros(i64::MAX - i64::MAX % D))));
        assert_eq!(all.after.map(|p| p.to), Some(Micros(i64::MAX)));
        assert_eq!(
            Span::hourly(Micros(d - 2 * H), Micros(d + D)).parts().collect::<Vec<_>>(),
            vec![part("stats_hourly", d - 2 * H, d + D).unwrap()]
        );
        assert_eq!(day_of(Micros(d + D - 1)), Micros(d));
    }
}
