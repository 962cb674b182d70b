//! Clicks: the rows the redirect records, and the writer that commits them in groups together
//! with their rollup increments.

use diesel::prelude::*;

use affnet_db::schema::{click_rejections, clicks};
use affnet_db::{AdvertiserId, AffiliateId, DbConn, Micros, OfferId, TenantId};

use crate::recorder::BatchWriter;
use crate::rollup::{hour_of, Delta, Increments, Key};

/// A click to record. `id` is the transaction id (32 hex characters).
#[derive(Debug, Clone, PartialEq, Eq, Insertable, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = clicks)]
pub struct Click {
    pub id: String,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub offer_id: OfferId,
    pub affiliate_id: AffiliateId,
    pub advertiser_id: AdvertiserId,
    pub aff_sub: String,
    pub aff_sub2: String,
    pub aff_sub3: String,
    pub aff_sub4: String,
    pub aff_sub5: String,
    pub source: String,
    pub aff_click_id: String,
    pub ip: String,
    pub user_agent: String,
    pub referrer: String,
    pub created_at: Micros,
}

/// Why a click was not tracked (stored and counted; the visitor goes to the fallback URL or
/// gets an error page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClickRefusal {
    OfferNotActive,
    UnknownAffiliate,
    AffiliateNotActive,
    AffiliateNotApproved,
}

impl ClickRefusal {
    pub fn code(self) -> &'static str {
        match self {
            ClickRefusal::OfferNotActive => "offer_not_active",
            ClickRefusal::UnknownAffiliate => "unknown_affiliate",
            ClickRefusal::AffiliateNotActive => "affiliate_not_active",
            ClickRefusal::AffiliateNotApproved => "affiliate_not_approved",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = click_rejections)]
pub struct ClickRejection {
    pub tenant_id: TenantId,
    pub offer_id: OfferId,
    pub affiliate_id: AffiliateId,
    pub reason: String,
    pub ip: String,
    pub created_at: Micros,
}

/// One job of the click writer.
#[derive(Debug)]
pub enum ClickJob {
    Click(Box<Click>),
    Rejection(ClickRejection),
}

/// Owns one connection; writes each batch of clicks and refusals with their rollup increments
/// in one transaction.
pub struct ClickWriter {
    db: crate::WriterConn,
}

impl ClickWriter {
    pub fn new(db: crate::WriterConn) -> Self {
        Self { db }
    }
}

/// Writes `jobs` and their rollup increments (inside the caller's transaction).
pub fn write_clicks(conn: &mut DbConn, jobs: &[ClickJob]) -> QueryResult<()> {
    let mut increments = Increments::default();
    let mut new_clicks: Vec<&Click> = Vec::with_capacity(jobs.len());
    for job in jobs {
        match job {
            ClickJob::Click(c) => {
                increments.add(
                    Key {
                        tenant: c.tenant_id,
                        hour: hour_of(c.created_at),
                        offer: c.offer_id,
                        affiliate: c.affiliate_id,
                    },
                    Delta { clicks: 1, ..Delta::default() },
                );
                new_clicks.push(c);
            }
            ClickJob::Rejection(r) => {
                increments.add(
                    Key {
                        tenant: r.tenant_id,
                        hour: hour_of(r.created_at),
                        offer: r.offer_id,
                        affiliate: r.affiliate_id,
                    },
                    Delta { rejected_clicks: 1, ..Delta::default() },
                );
                diesel::insert_into(click_rejections::table).values(r).execute(conn)?;
            }
        }
    }
    match conn {
        // Multi-row INSERTs of up to 128 rows with plain `?` parameters. (diesel's insert
        // builds the SQL text again for every row on SQLite — identifier escaping, column
        // lists — which cost more than SQLite's own work: measured with perf, BENCHMARKS.md.)
        DbConn::Sqlite(c) => {
            use diesel::sql_types::{BigInt, Text};
            for chunk in new_clicks.chunks(128) {
                let mut q = diesel::sql_query(sqlite_insert_sql(chunk.len())).into_boxed::<diesel::sqlite::Sqlite>();
                for r in chunk {
                    q = q
                        .bind::<Text, _>(&r.id)
                        .bind::<BigInt, _>(r.tenant_id.0)
                        .bind::<BigInt, _>(r.offer_id.0)
                        .bind::<BigInt, _>(r.affiliate_id.0)
                        .bind::<BigInt, _>(r.advertiser_id.0)
                        .bind::<Text, _>(&r.aff_sub)
                        .bind::<Text, _>(&r.aff_sub2)
                        .bind::<Text, _>(&r.aff_sub3)
                        .bind::<Text, _>(&r.aff_sub4)
                        .bind::<Text, _>(&r.aff_sub5)
                        .bind::<Text, _>(&r.source)
                        .bind::<Text, _>(&r.aff_click_id)
                        .bind::<Text, _>(&r.ip)
                        .bind::<Text, _>(&r.user_agent)
                        .bind::<Text, _>(&r.referrer)
                        .bind::<BigInt, _>(r.created_at.0);
                }
                q.execute(c)?;
            }
        }
        // One INSERT … SELECT FROM UNNEST(arrays) per batch: the same short statement whatever
        // the batch size (PostgreSQL parses and plans it cheaply), 16 array parameters.
        DbConn::Pg(c) if !new_clicks.is_empty() => {
            use diesel::sql_types::{Array, BigInt, Text};
            let text = |f: fn(&Click) -> &str| new_clicks.iter().map(|c| f(c)).collect::<Vec<&str>>();
            let int = |f: fn(&Click) -> i64| new_clicks.iter().map(|c| f(c)).collect::<Vec<i64>>();
            diesel::sql_query(
                "INSERT INTO clicks (id, tenant_id, offer_id, affiliate_id, advertiser_id, aff_sub, aff_sub2, \
                 aff_sub3, aff_sub4, aff_sub5, source, aff_click_id, ip, user_agent, referrer, created_at) \
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], \
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
                 $13::text[], $14::text[], $15::text[], $16::bigint[])",
            )
            .bind::<Array<Text>, _>(text(|c| &c.id))
            .bind::<Array<BigInt>, _>(int(|c| c.tenant_id.0))
            .bind::<Array<BigInt>, _>(int(|c| c.offer_id.0))
            .bind::<Array<BigInt>, _>(int(|c| c.affiliate_id.0))
            .bind::<Array<BigInt>, _>(int(|c| c.advertiser_id.0))
            .bind::<Array<Text>, _>(text(|c| &c.aff_sub))
            .bind::<Array<Text>, _>(text(|c| &c.aff_sub2))
            .bind::<Array<Text>, _>(text(|c| &c.aff_sub3))
            .bind::<Array<Text>, _>(text(|c| &c.aff_sub4))
            .bind::<Array<Text>, _>(text(|c| &c.aff_sub5))
            .bind::<Array<Text>, _>(text(|c| &c.source))
            .bind::<Array<Text>, _>(text(|c| &c.aff_click_id))
            .bind::<Array<Text>, _>(text(|c| &c.ip))
            .bind::<Array<Text>, _>(text(|c| &c.user_agent))
            .bind::<Array<Text>, _>(text(|c| &c.referrer))
            .bind::<Array<BigInt>, _>(int(|c| c.created_at.0))
            .execute(c)?;
        }
        DbConn::Pg(_) => {}
    }
    increments.apply(conn)
}

/// `INSERT INTO clicks (…16 columns…) VALUES (?, …), …` for `rows` rows.
fn sqlite_insert_sql(rows: usize) -> String {
    const HEAD: &str = "INSERT INTO clicks (id, tenant_id, offer_id, affiliate_id, advertiser_id, aff_sub, aff_sub2, \
                        aff_sub3, aff_sub4, aff_sub5, source, aff_click_id, ip, user_agent, referrer, created_at) VALUES ";
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let mut sql = String::with_capacity(HEAD.len() + rows * (ROW.len() + 2));
    sql.push_str(HEAD);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(ROW);
    }
    sql
}

impl BatchWriter for ClickWriter {
    type Job = ClickJob;
    type Answer = Result<(), String>;

    fn write(&mut self, jobs: Vec<ClickJob>) -> Vec<Self::Answer> {
        let n = jobs.len();
        let batch = crate::write_tx(&mut self.db.conn, |c| write_clicks(c, &jobs));
        match batch {
            Ok(()) => {
                crate::metrics::click_batch(jobs.iter().filter(|j| matches!(j, ClickJob::Click(_))).count());
                vec![Ok(()); n]
            }
            Err(e) => {
                // One bad row must not sink its neighbours: retry one by one.
                tracing::warn!(error = %e, batch = n, "click batch failed; retrying its clicks one by one");
                self.db.heal();
                jobs.iter()
                    .map(|job| {
                        crate::write_tx(&mut self.db.conn, |c| write_clicks(c, std::slice::from_ref(job))).map_err(
                            |e| {
                                tracing::error!(error = %e, "click not recorded");
                                e.to_string()
                            },
                        )
                    })
                    .collect()
            }
        }
    }
}
