//! Clicks: the rows the redirect records, and the writer that commits them in groups together
//! with their rollup increments.

use diesel::prelude::*;

use affnet_db::schema::{click_rejections, clicks};
use affnet_db::{AdvertiserId, AffiliateId, DbConn, Micros, OfferId, TenantId};

use crate::recorder::BatchWriter;
use crate::rollup::{hour_of, Delta, Increments, Key};
use crate::transaction_id::SequenceKeys;
use crate::TransactionId;

/// A click to record. `id` is the transaction id (32 hex characters), `seq` its sequence key
/// ([`TransactionId::seq`]; negative for clicks recorded before keys existed).
#[derive(Debug, Clone, PartialEq, Eq, Insertable, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = clicks)]
pub struct Click {
    pub id: String,
    #[serde(skip)]
    pub seq: i64,
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
    /// On SQLite, where the sequence key is the primary key, first makes `keys` start above
    /// every stored one ([`SequenceKeys::advance_past`]: a restart after the clock stepped back
    /// must not repeat one).
    pub fn new(mut db: crate::WriterConn, keys: &SequenceKeys) -> QueryResult<Self> {
        if let DbConn::Sqlite(c) = &mut db.conn {
            let max: Option<i64> = clicks::table.select(diesel::dsl::max(clicks::seq)).first(c)?;
            keys.advance_past(max.unwrap_or(0));
        }
        Ok(Self { db })
    }
}

impl Click {
    /// The click named by `tid` (of any tenant: the id names it; the conversion endpoint).
    pub fn find(conn: &mut DbConn, tid: TransactionId) -> QueryResult<Option<Click>> {
        Self::find_where(conn, None, tid)
    }

    /// The tenant's click named by `tid`.
    pub fn find_for(conn: &mut DbConn, tenant: TenantId, tid: TransactionId) -> QueryResult<Option<Click>> {
        Self::find_where(conn, Some(tenant), tid)
    }

    /// The tenant's click with sequence key `seq` and id `id` (as a conversion records them):
    /// by both on SQLite, where the key is the primary key; by the id, the primary key, on
    /// PostgreSQL (a node of the previous release, during a rolling upgrade, records
    /// conversions without the key).
    pub fn by_key(conn: &mut DbConn, tenant: TenantId, seq: i64, id: &str) -> QueryResult<Click> {
        let mut q =
            clicks::table.filter(clicks::tenant_id.eq(tenant)).filter(clicks::id.eq(id.to_owned())).into_boxed();
        if matches!(conn, DbConn::Sqlite(_)) {
            q = q.filter(clicks::seq.eq(seq));
        }
        q.select(Click::as_select()).first(conn)
    }

    /// By sequence key and id (the primary key on SQLite; the id on PostgreSQL); then by the key
    /// of a click recorded before ids masked their counter ([`TransactionId::plain_seq`]); then,
    /// for clicks recorded before sequence keys, by id among the negative keys (a partial index
    /// on SQLite).
    fn find_where(conn: &mut DbConn, tenant: Option<TenantId>, tid: TransactionId) -> QueryResult<Option<Click>> {
        for key in [ClickKey::Seq(tid.seq()), ClickKey::Seq(tid.plain_seq()), ClickKey::BeforeKeys] {
            if let Some(click) = lookup(tenant, tid, key).first(conn).optional()? {
                return Ok(Some(click));
            }
        }
        Ok(None)
    }
}

/// Which sequence key a click is looked up by.
#[derive(Clone, Copy)]
enum ClickKey {
    Seq(i64),
    /// Any negative key: clicks recorded before sequence keys.
    BeforeKeys,
}

/// The click named by `tid` with sequence key `key`.
fn lookup(
    tenant: Option<TenantId>,
    tid: TransactionId,
    key: ClickKey,
) -> diesel::dsl::Select<clicks::BoxedQuery<'static, Db>, diesel::dsl::AsSelect<Click, Db>> {
    let mut q = clicks::table.filter(clicks::id.eq(tid.to_string())).into_boxed::<Db>();
    q = match key {
        ClickKey::Seq(seq) => q.filter(clicks::seq.eq(seq)),
        // A literal, not a bound value: SQLite uses a partial index only for a query that states
        // its condition (and this build's plans never depend on bound values: QPSG).
        ClickKey::BeforeKeys => q.filter(clicks::seq.lt(diesel::dsl::sql::<diesel::sql_types::BigInt>("0"))),
    };
    if let Some(t) = tenant {
        q = q.filter(clicks::tenant_id.eq(t));
    }
    q.select(Click::as_select())
}

type Db = <DbConn as diesel::Connection>::Backend;

/// The rollup row a click counts in.
fn rollup_key(c: &Click) -> Key {
    Key { tenant: c.tenant_id, hour: hour_of(c.created_at), offer: c.offer_id, affiliate: c.affiliate_id }
}

/// Writes `jobs` and their rollup increments (inside the caller's transaction).
pub fn write_clicks(conn: &mut DbConn, jobs: &[ClickJob]) -> QueryResult<()> {
    let mut increments = Increments::default();
    let mut new_clicks: Vec<&Click> = Vec::with_capacity(jobs.len());
    for job in jobs {
        match job {
            ClickJob::Click(c) => {
                increments.add(rollup_key(c), Delta { clicks: 1, ..Delta::default() });
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
    // In id order: the id is time-ordered, so each b-tree (the rows, the id index, the
    // (tenant, time) index) then takes the batch as appends to its last page, instead of
    // inserts around it that rebalance (and write) its neighbouring pages.
    new_clicks.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    match conn {
        DbConn::Sqlite(c) => {
            for chunk in new_clicks.chunks(INSERT_CHUNK) {
                insert_clicks_sqlite(c, chunk)?;
            }
        }
        DbConn::Pg(c) if !new_clicks.is_empty() => {
            InsertClickColumns::new(&new_clicks).execute(c)?;
        }
        DbConn::Pg(_) => {}
    }
    increments.apply(conn)
}

/// The most clicks one INSERT carries (17 parameters each: 1,088 on SQLite, whose limit is
/// 32,766).
const INSERT_CHUNK: usize = 64;
// `insert_clicks_sqlite` has an `InsertClicks` for every count up to 64.
const _: () = assert!(INSERT_CHUNK <= 64);

/// SQLite: one `INSERT … VALUES (?, …), …` of `ROWS` clicks (at most [`INSERT_CHUNK`]). Like
/// [`InsertClickColumns`], a diesel query whose prepared statement the connection caches, so
/// that a batch pays for binding and executing, never for parsing and planning. (`sql_query` is
/// never cached, and diesel's own multi-row insert rebuilds its SQL per row: both measured with
/// perf, BENCHMARKS.md.) The row count is part of the type so that diesel finds the statement by
/// its type id: a query without a static id has its SQL built, hashed and compared at every
/// execution to find it (with the rollups' SQL, ~10 % of the click writer's CPU in `perf`).
struct InsertClicks<'a, const ROWS: usize>(&'a [&'a Click]);

impl<const ROWS: usize> diesel::query_builder::QueryId for InsertClicks<'_, ROWS> {
    type QueryId = InsertClicks<'static, ROWS>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Conn, const ROWS: usize> RunQueryDsl<Conn> for InsertClicks<'_, ROWS> {}

/// Inserts `rows` (1 to [`INSERT_CHUNK`] clicks) with the [`InsertClicks`] of their count.
fn insert_clicks_sqlite(conn: &mut diesel::SqliteConnection, rows: &[&Click]) -> QueryResult<usize> {
    macro_rules! by_count {
        ($($n:literal)*) => {
            match rows.len() {
                $($n => InsertClicks::<$n>(rows).execute(conn),)*
                n => Err(diesel::result::Error::QueryBuilderError(format!("{n} clicks in one INSERT").into())),
            }
        };
    }
    by_count!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
              33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64)
}

const INSERT_HEAD: &str = "INSERT INTO clicks (id, seq, tenant_id, offer_id, affiliate_id, advertiser_id, aff_sub, \
                           aff_sub2, aff_sub3, aff_sub4, aff_sub5, source, aff_click_id, ip, user_agent, referrer, \
                           created_at) ";

impl<const ROWS: usize> diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for InsertClicks<'_, ROWS> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Text};
        if self.0.len() != ROWS {
            // The statement is cached by its type: its SQL must hold exactly ROWS rows.
            return Err(diesel::result::Error::QueryBuilderError(
                format!("{} clicks in an INSERT of {ROWS}", self.0.len()).into(),
            ));
        }
        out.push_sql(INSERT_HEAD);
        out.push_sql("VALUES ");
        for (i, r) in self.0.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<Text, _>(&r.id)?;
            for v in [&r.seq, &r.tenant_id.0, &r.offer_id.0, &r.affiliate_id.0, &r.advertiser_id.0] {
                out.push_sql(", ");
                out.push_bind_param::<BigInt, _>(v)?;
            }
            for v in [
                &r.aff_sub,
                &r.aff_sub2,
                &r.aff_sub3,
                &r.aff_sub4,
                &r.aff_sub5,
                &r.source,
                &r.aff_click_id,
                &r.ip,
                &r.user_agent,
                &r.referrer,
            ] {
                out.push_sql(", ");
                out.push_bind_param::<Text, _>(v)?;
            }
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&r.created_at.0)?;
            out.push_sql(")");
        }
        Ok(())
    }
}

/// PostgreSQL: `INSERT … SELECT * FROM UNNEST($1::text[], …)`, one array per column: the same
/// short statement whatever the row count.
struct InsertClickColumns<'a> {
    /// id, aff_sub … aff_sub5, source, aff_click_id, ip, user_agent, referrer.
    texts: [Vec<&'a str>; 11],
    /// seq, tenant_id, offer_id, affiliate_id, advertiser_id, created_at.
    ints: [Vec<i64>; 6],
}

impl<'a> InsertClickColumns<'a> {
    fn new(rows: &[&'a Click]) -> Self {
        let text = |f: fn(&'a Click) -> &'a str| rows.iter().map(|c| f(c)).collect::<Vec<&str>>();
        let int = |f: fn(&Click) -> i64| rows.iter().map(|c| f(c)).collect::<Vec<i64>>();
        Self {
            texts: [
                text(|c| &c.id),
                text(|c| &c.aff_sub),
                text(|c| &c.aff_sub2),
                text(|c| &c.aff_sub3),
                text(|c| &c.aff_sub4),
                text(|c| &c.aff_sub5),
                text(|c| &c.source),
                text(|c| &c.aff_click_id),
                text(|c| &c.ip),
                text(|c| &c.user_agent),
                text(|c| &c.referrer),
            ],
            ints: [
                int(|c| c.seq),
                int(|c| c.tenant_id.0),
                int(|c| c.offer_id.0),
                int(|c| c.affiliate_id.0),
                int(|c| c.advertiser_id.0),
                int(|c| c.created_at.0),
            ],
        }
    }
}

/// The same SQL whatever the row count: found in diesel's statement cache by its type.
impl diesel::query_builder::QueryId for InsertClickColumns<'_> {
    type QueryId = InsertClickColumns<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Conn> RunQueryDsl<Conn> for InsertClickColumns<'_> {}

impl<'a> InsertClickColumns<'a> {
    fn push<'b>(&'b self, out: &mut diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Text};
        let [id, subs @ ..] = &self.texts;
        let [seq, tenant, offer, affiliate, advertiser, created_at] = &self.ints;
        out.push_sql(INSERT_HEAD);
        out.push_sql("SELECT * FROM UNNEST(");
        out.push_bind_param::<Array<Text>, _>(id)?;
        out.push_sql("::text[]");
        for ints in [seq, tenant, offer, affiliate, advertiser] {
            out.push_sql(", ");
            out.push_bind_param::<Array<BigInt>, _>(ints)?;
            out.push_sql("::bigint[]");
        }
        for texts in subs {
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(texts)?;
            out.push_sql("::text[]");
        }
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(created_at)?;
        out.push_sql("::bigint[])");
        Ok(())
    }
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for InsertClickColumns<'_> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        self.push(&mut out)
    }
}

/// PostgreSQL: a batch of clicks and its rollup increments as **one statement**, committed on
/// its own (no `BEGIN`/`COMMIT` round trips: one round trip per batch instead of five):
///
/// ```sql
/// WITH h AS (INSERT INTO stats_hourly … ON CONFLICT … DO UPDATE … RETURNING 1),
///      c AS (INSERT INTO clicks … SELECT * FROM UNNEST(…))
/// INSERT INTO stats_daily … SELECT * FROM UNNEST(…) WHERE (SELECT COUNT(*) FROM h) >= 0
/// ON CONFLICT … DO UPDATE …
/// ```
///
/// A statement is atomic: all of it commits or none. The `WHERE` makes the daily rows wait for
/// the hourly ones, so rollup rows are locked hourly first, then daily, each in key order: the
/// order every other writer of them (conversions, status changes) uses, so no deadlock.
struct ClickBatch<'a> {
    clicks: InsertClickColumns<'a>,
    hourly: [Vec<i64>; 13],
    daily: [Vec<i64>; 13],
}

/// The same SQL whatever the row counts: found in diesel's statement cache by its type.
impl diesel::query_builder::QueryId for ClickBatch<'_> {
    type QueryId = ClickBatch<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Conn> RunQueryDsl<Conn> for ClickBatch<'_> {}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for ClickBatch<'_> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("WITH h AS (");
        crate::rollup::push_upsert_columns(&mut out, "stats_hourly", crate::rollup::HOURLY_KEY, &self.hourly, "")?;
        out.push_sql(" RETURNING 1), c AS (");
        self.clicks.push(&mut out)?;
        out.push_sql(") ");
        crate::rollup::push_upsert_columns(
            &mut out,
            "stats_daily",
            crate::rollup::DAILY_KEY,
            &self.daily,
            " WHERE (SELECT COUNT(*) FROM h) >= 0",
        )
    }
}

/// Writes a batch of clicks only (no refusals) on PostgreSQL as one autocommitted statement
/// ([`ClickBatch`]).
fn write_click_batch_pg(conn: &mut diesel::PgConnection, clicks: &[&Click]) -> QueryResult<()> {
    let mut increments = Increments::default();
    for c in clicks {
        increments.add(rollup_key(c), Delta { clicks: 1, ..Delta::default() });
    }
    let (hourly, daily) = increments.rows();
    ClickBatch {
        clicks: InsertClickColumns::new(clicks),
        hourly: crate::rollup::columns(&hourly),
        daily: crate::rollup::columns(&daily),
    }
    .execute(conn)
    .map(|_| ())
}

/// The click writer's transaction: it only inserts and upserts, never reads before writing, so
/// on SQLite it does not need [`crate::write_tx`]'s lock-first statement (its first INSERT takes
/// the write lock, waiting out other writers with the busy timeout).
fn insert_tx<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> QueryResult<T>) -> QueryResult<T> {
    conn.transaction(f)
}

impl BatchWriter for ClickWriter {
    type Job = ClickJob;
    type Answer = Result<(), String>;

    fn write(&mut self, jobs: Vec<ClickJob>) -> Vec<Self::Answer> {
        let n = jobs.len();
        // PostgreSQL writes a batch of clicks alone as one statement; anything else (SQLite,
        // batches with refusals) in a transaction.
        let one_statement: Option<Vec<&Click>> = match self.db.conn {
            DbConn::Pg(_) => jobs
                .iter()
                .map(|j| match j {
                    ClickJob::Click(c) => Some(&**c),
                    ClickJob::Rejection(_) => None,
                })
                .collect::<Option<Vec<_>>>()
                .filter(|clicks| !clicks.is_empty()),
            DbConn::Sqlite(_) => None,
        };
        let batch = match (&mut self.db.conn, one_statement) {
            (DbConn::Pg(c), Some(clicks)) => write_click_batch_pg(c, &clicks),
            (conn, _) => insert_tx(conn, |c| write_clicks(c, &jobs)),
        };
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
                        insert_tx(&mut self.db.conn, |c| write_clicks(c, std::slice::from_ref(job))).map_err(|e| {
                            tracing::error!(error = %e, "click not recorded");
                            e.to_string()
                        })
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// The lookups use the primary key (by the key, then by the key of an id with its counter
    /// plain), and for clicks recorded before sequence keys the partial index on their ids:
    /// never a scan of the clicks table (an unknown transaction id takes all three lookups). Checked on the SQL diesel sends, with SQLite's query plan.
    #[test]
    fn lookups_by_transaction_id_never_scan_the_clicks() {
        let db = affnet_db::testing::TestDb::new(affnet_db::Backend::Sqlite);
        let mut conn = db.url.connect().unwrap();
        let sent = Arc::new(Mutex::new(Vec::<String>::new()));
        let DbConn::Sqlite(c) = &mut conn else { unreachable!() };
        let log = sent.clone();
        c.set_instrumentation(move |event: diesel::connection::InstrumentationEvent<'_>| {
            if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event {
                log.lock().unwrap().push(query.to_string());
            }
        });
        let unknown = TransactionId::parse("0190a1b2c3d4e5f60718293a4b5c6d7e").unwrap();
        assert_eq!(Click::find(&mut conn, unknown).unwrap(), None);
        let sent = sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 3, "{sent:?}");
        #[derive(QueryableByName)]
        struct Plan {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        for (sql, expected) in
            sent.iter().zip(["USING INTEGER PRIMARY KEY", "USING INTEGER PRIMARY KEY", "USING INDEX clicks_before_seq"])
        {
            // The statement with its parameters as literals (the id, then the key if any).
            let text =
                sql.split(" -- binds").next().unwrap().replacen('?', &format!("'{unknown}'"), 1).replacen('?', "1", 1);
            let DbConn::Sqlite(c) = &mut conn else { unreachable!() };
            let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {text}")).load(c).unwrap();
            assert!(
                plan.iter().any(|p| p.detail.contains(expected)),
                "{text}: {:?}",
                plan.iter().map(|p| &p.detail).collect::<Vec<_>>()
            );
        }
    }
}
