//! Conversions per sub id: `stats_sub_conversions_hourly` and `stats_sub_conversions_daily`, kept
//! per (tenant, sub id slot, UTC hour / day, value, offer, affiliate) in the same transactions as
//! the conversions and their [`crate::rollup::Increments`] (new conversions and status changes),
//! so that they are always exact, like `stats_hourly` and `stats_daily`. The value of each slot is
//! the converting click's sub id ([`crate::sub_rollup::SLOTS`]); the counters mean what they mean
//! in `stats_daily` (approved, pending, rejected; payout and revenue of approved and of pending
//! ones; no money for rejected ones). Conversions are ~100 times rarer than clicks: the six rows
//! per conversion and table are a few multi-row upserts per conversion batch. The clicks per sub
//! id are not counted here but by the asynchronous worker of [`crate::sub_rollup`], off the click
//! path.

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
    /// The hour (or, for the daily table, the day) of the conversion.
    at: Micros,
    value: String,
    offer: OfferId,
    affiliate: AffiliateId,
}

/// Changes to the conversion counters per sub id, gathered over a batch and written by
/// [`SubIncrements::apply`] as multi-row upserts, hourly rows then daily rows, each in key order
/// (the lock order of every writer of these tables).
#[derive(Debug, Default)]
pub struct SubIncrements(BTreeMap<Key, Delta>);

impl SubIncrements {
    /// What one conversion of `click`, in the UTC hour `hour`, changes: `delta` for the click's
    /// value in each slot.
    pub fn add(&mut self, click: &Click, hour: Micros, offer: OfferId, affiliate: AffiliateId, delta: Delta) {
        for (slot, _) in SLOTS {
            let value = crate::sub_rollup::value_of(click, slot);
            let key = Key { tenant: click.tenant_id, slot, at: hour, value: value.to_owned(), offer, affiliate };
            self.0.entry(key).or_default().add(&delta);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies the changes to both tables (inside the caller's transaction).
    pub fn apply(&self, conn: &mut DbConn) -> QueryResult<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut days: BTreeMap<Key, Delta> = BTreeMap::new();
        for (k, d) in &self.0 {
            days.entry(Key { at: day_of(k.at), ..k.clone() }).or_default().add(d);
        }
        for (table, bucket, rows) in
            [("stats_sub_conversions_hourly", "hour", &self.0), ("stats_sub_conversions_daily", "day", &days)]
        {
            let rows: Vec<(&Key, [i64; 7])> = rows
                .iter()
                .map(|(k, d)| {
                    (k, [d.approved, d.pending, d.rejected, d.payout, d.revenue, d.pending_payout, d.pending_revenue])
                })
                .collect();
            for chunk in rows.chunks(UPSERT_CHUNK) {
                let upsert = Upsert { table, bucket, rows: chunk };
                affnet_db::with_backend!(&mut *conn, |c| upsert.execute(c))?;
            }
        }
        Ok(())
    }
}

/// The most rows one upsert carries (13 parameters each).
const UPSERT_CHUNK: usize = 64;

/// The counters, in the order of the arrays above.
const COUNTERS: [&str; 7] =
    ["approved", "pending", "rejected", "payout", "revenue", "pending_payout", "pending_revenue"];

/// `INSERT INTO <table> (…) VALUES (…), … ON CONFLICT (key) DO UPDATE SET n = n + excluded.n, …`:
/// like `rollup`'s upsert, a query whose prepared statement the connection caches by its SQL.
struct Upsert<'a> {
    table: &'static str,
    /// `hour` or `day`.
    bucket: &'static str,
    rows: &'a [(&'a Key, [i64; 7])],
}

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
        let key = format!("tenant_id, slot, {}, value, offer_id, affiliate_id", self.bucket);
        out.push_sql(&format!("INSERT INTO {} ({key}, {}) VALUES ", self.table, COUNTERS.join(", ")));
        for (i, (k, counters)) in self.rows.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<BigInt, _>(&k.tenant.0)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&k.slot)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&k.at.0)?;
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
        out.push_sql(&format!(" ON CONFLICT ({key}) DO UPDATE SET "));
        for (j, c) in COUNTERS.iter().enumerate() {
            if j > 0 {
                out.push_sql(", ");
            }
            out.push_sql(&format!("{c} = {}.{c} + excluded.{c}", self.table));
        }
        Ok(())
    }
}
