//! Hourly totals per (tenant, hour, offer, affiliate), changed in the same transaction as the
//! raw rows they count: reports read these and never scan raw clicks.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::upsert::excluded;

use affnet_db::schema::stats_hourly as sh;
use affnet_db::{AffiliateId, DbConn, Micros, OfferId, TenantId};

pub const HOUR_MICROS: i64 = 3_600_000_000;

/// The start of the UTC hour holding `t`.
pub fn hour_of(t: Micros) -> Micros {
    Micros(t.0 - t.0.rem_euclid(HOUR_MICROS))
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
    fn add(&mut self, o: &Delta) {
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

/// Increments gathered over a batch, written as one upsert per row touched, in key order (so
/// that concurrent writers lock rollup rows in the same order and cannot deadlock).
#[derive(Debug, Default)]
pub struct Increments(BTreeMap<Key, Delta>);

impl Increments {
    pub fn add(&mut self, key: Key, delta: Delta) {
        self.0.entry(key).or_default().add(&delta);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies every increment (inside the caller's transaction).
    pub fn apply(&self, conn: &mut DbConn) -> QueryResult<()> {
        for (k, d) in &self.0 {
            affnet_db::with_backend!(&mut *conn, |c| {
                diesel::insert_into(sh::table)
                    .values((
                        sh::tenant_id.eq(k.tenant),
                        sh::hour.eq(k.hour),
                        sh::offer_id.eq(k.offer),
                        sh::affiliate_id.eq(k.affiliate),
                        sh::clicks.eq(d.clicks),
                        sh::rejected_clicks.eq(d.rejected_clicks),
                        sh::approved.eq(d.approved),
                        sh::pending.eq(d.pending),
                        sh::rejected.eq(d.rejected),
                        sh::payout.eq(d.payout),
                        sh::revenue.eq(d.revenue),
                        sh::pending_payout.eq(d.pending_payout),
                        sh::pending_revenue.eq(d.pending_revenue),
                    ))
                    .on_conflict((sh::tenant_id, sh::hour, sh::offer_id, sh::affiliate_id))
                    .do_update()
                    .set((
                        sh::clicks.eq(sh::clicks + excluded(sh::clicks)),
                        sh::rejected_clicks.eq(sh::rejected_clicks + excluded(sh::rejected_clicks)),
                        sh::approved.eq(sh::approved + excluded(sh::approved)),
                        sh::pending.eq(sh::pending + excluded(sh::pending)),
                        sh::rejected.eq(sh::rejected + excluded(sh::rejected)),
                        sh::payout.eq(sh::payout + excluded(sh::payout)),
                        sh::revenue.eq(sh::revenue + excluded(sh::revenue)),
                        sh::pending_payout.eq(sh::pending_payout + excluded(sh::pending_payout)),
                        sh::pending_revenue.eq(sh::pending_revenue + excluded(sh::pending_revenue)),
                    ))
                    .execute(c)
            })?;
        }
        Ok(())
    }
}

/// Totals of one row set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Queryable, serde::Serialize)]
pub struct Totals {
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

/// Sums of the tenant's rollups in `[from, to)`, optionally for one offer and/or affiliate.
/// (Summed here rather than with SQL `SUM`, whose result type differs between the backends; a
/// 30-day range is at most 720 rows per offer and affiliate.)
pub fn totals(
    conn: &mut DbConn,
    tenant: TenantId,
    from: Micros,
    to: Micros,
    offer: Option<OfferId>,
    affiliate: Option<AffiliateId>,
) -> QueryResult<Totals> {
    let mut q = sh::table
        .filter(sh::tenant_id.eq(tenant))
        .filter(sh::hour.ge(hour_of(from)))
        .filter(sh::hour.lt(to))
        .into_boxed();
    if let Some(o) = offer {
        q = q.filter(sh::offer_id.eq(o));
    }
    if let Some(a) = affiliate {
        q = q.filter(sh::affiliate_id.eq(a));
    }
    let rows: Vec<Totals> = q
        .select((
            sh::clicks,
            sh::rejected_clicks,
            sh::approved,
            sh::pending,
            sh::rejected,
            sh::payout,
            sh::revenue,
            sh::pending_payout,
            sh::pending_revenue,
        ))
        .load(conn)?;
    Ok(rows.into_iter().fold(Totals::default(), |t, r| Totals {
        clicks: t.clicks + r.clicks,
        rejected_clicks: t.rejected_clicks + r.rejected_clicks,
        approved: t.approved + r.approved,
        pending: t.pending + r.pending,
        rejected: t.rejected + r.rejected,
        payout: t.payout + r.payout,
        revenue: t.revenue + r.revenue,
        pending_payout: t.pending_payout + r.pending_payout,
        pending_revenue: t.pending_revenue + r.pending_revenue,
    }))
}
