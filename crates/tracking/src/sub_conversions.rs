//! Conversions per sub id: `stats_sub_conversions_hourly`, kept per (tenant, sub id slot, UTC hour,
//! value, offer, affiliate) in the same transactions as the conversions and their
//! [`crate::rollup::Increments`] (new conversions and status changes), so always exact, like
//! `stats_hourly`. The value of each slot is the converting click's sub id
//! ([`crate::sub_rollup::SLOTS`]); the counters mean what they mean in `stats_daily` (approved,
//! pending, rejected; payout and revenue of approved and of pending ones; no money for rejected
//! ones).
//!
//! The daily table, `stats_sub_conversions_daily`, is summed from the hourly rows by the worker
//! of [`crate::sub_rollup`]: a batch only adds its number of changes to each UTC day it touches
//! (`stats_sub_conversion_changes`, one row per day), and a report reads a day's daily rows only
//! while the version they were folded at is still the day's count of changes (its hourly rows
//! otherwise). Measured on the conversion benchmark (SQLite, server CPU per accepted conversion
//! against `main`): with the daily rows written here as well, 112 vs 97 µs (+15 %); as now,
//! 110 vs 101 µs (+9 %, BENCHMARKS.md). The day's count is the last row a batch writes, so
//! that on PostgreSQL batches of one tenant from several nodes hold its lock only while they
//! commit.
//!
//! Conversions are ~100 times rarer than clicks: a conversion batch writes one multi-row upsert
//! per 64 (slot, value) rows and one for the days. The clicks per sub id are not counted here but
//! by the asynchronous worker, off the click path.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use affnet_db::{AffiliateId, DbConn, Micros, OfferId, TenantId};

use crate::click::Click;
use crate::rollup::{day_of, Delta};
use crate::sub_rollup::SLOTS;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    tenant: TenantId,
    slot: i64,
    /// The UTC hour of the conversion.
    hour: Micros,
    value: String,
    offer: OfferId,
    affiliate: AffiliateId,
}

/// Changes to the conversion counters per sub id, gathered over a batch and written by
/// [`SubIncrements::apply`] as multi-row upserts: the hourly rows, then the days' change counts,
/// each in key order (the lock order of every writer of these tables).
#[derive(Debug, Default)]
pub struct SubIncrements {
    rows: BTreeMap<Key, Delta>,
    /// Changes per (tenant, UTC day).
    days: BTreeMap<(TenantId, Micros), i64>,
}

impl SubIncrements {
    /// What one conversion of `click`, in the UTC hour `hour`, changes: `delta` for the click's
    /// value in each slot.
    pub fn add(&mut self, click: &Click, hour: Micros, offer: OfferId, affiliate: AffiliateId, delta: Delta) {
        for (slot, _) in SLOTS {
            let value = crate::sub_rollup::value_of(click, slot);
            let key = Key { tenant: click.tenant_id, slot, hour, value: value.to_owned(), offer, affiliate };
            self.rows.entry(key).or_default().add(&delta);
        }
        *self.days.entry((click.tenant_id, day_of(hour))).or_default() += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Applies the changes to the hourly table, and counts them per day (inside the caller's
    /// transaction).
    pub fn apply(&self, conn: &mut DbConn) -> QueryResult<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows: Vec<(&Key, [i64; 7])> = self
            .rows
            .iter()
            .map(|(k, d)| {
                (k, [d.approved, d.pending, d.rejected, d.payout, d.revenue, d.pending_payout, d.pending_revenue])
            })
            .collect();
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let upsert = Upsert { rows: chunk };
            affnet_db::with_backend!(&mut *conn, |c| upsert.execute(c))?;
        }
        let days: Vec<[i64; 3]> = self.days.iter().map(|((t, d), n)| [t.0, d.0, *n]).collect();
        for chunk in days.chunks(UPSERT_CHUNK) {
            let changes = crate::rollup::Upsert {
                table: "stats_sub_conversion_changes",
                key: "tenant_id, day",
                counters: &["changes"],
                rows: chunk,
            };
            affnet_db::with_backend!(&mut *conn, |c| changes.execute(c))?;
        }
        Ok(())
    }
}

/// The most rows one upsert carries (13 parameters each).
const UPSERT_CHUNK: usize = 64;

/// The counters, in the order of the arrays above.
const COUNTERS: [&str; 7] =
    ["approved", "pending", "rejected", "payout", "revenue", "pending_payout", "pending_revenue"];

/// `INSERT INTO stats_sub_conversions_hourly (…) VALUES (…), … ON CONFLICT (key) DO UPDATE SET
/// n = n + excluded.n, …`: like `rollup`'s upsert, a query whose prepared statement the
/// connection caches by its SQL.
struct Upsert<'a> {
    rows: &'a [(&'a Key, [i64; 7])],
}

const TABLE: &str = "stats_sub_conversions_hourly";

impl diesel::query_builder::QueryId for Upsert<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> RunQueryDsl<Conn> for Upsert<'_> {}

impl<DB> diesel::query_builder::QueryFragment<DB> for Upsert<'_>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<BigInt> + diesel::sql_types::HasSqlType<Text>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let key = "tenant_id, slot, hour, value, offer_id, affiliate_id";
        out.push_sql(&format!("INSERT INTO {TABLE} ({key}, {}) VALUES ", COUNTERS.join(", ")));
        for (i, (k, counters)) in self.rows.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<BigInt, _>(&k.tenant.0)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&k.slot)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&k.hour.0)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&k.value)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&k.offer.0)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&k.affiliate.0)?;
            for v in counters {
                out.push_sql(", ");
                out.push_bind_param::<BigInt, _>(v)?;
            }
            out.push_sql(")");
        }
        crate::rollup::push_add_on_conflict(&mut out, TABLE, key, &COUNTERS);
        Ok(())
    }
}
