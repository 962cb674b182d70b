//! What the pages and the API list: clicks, conversions, postback jobs and attempts of a
//! tenant, filtered, newest first, bounded. And the transaction tracer: everything that
//! happened to one transaction id.

use diesel::prelude::*;

use affnet_db::schema::{clicks, conversion_attempts, conversions, offers, postback_attempts, postback_jobs};
use affnet_db::{AdvertiserId, AffiliateId, ConversionId, DbConn, Micros, OfferId, TenantId};
use affnet_offers::offer::ConversionStatus;

use crate::click::Click;
use crate::conversion::{Attempt, Conversion};
use crate::transaction_id::TransactionId;

/// Narrows a list. Every field is optional; `from`/`to` bound the creation time (`to` excluded).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: Option<Micros>,
    pub to: Option<Micros>,
    pub offer: Option<OfferId>,
    pub affiliate: Option<AffiliateId>,
    pub advertiser: Option<AdvertiserId>,
    pub status: Option<String>,
    /// Matches any of `aff_sub`..`aff_sub5` and `source` exactly.
    pub sub: Option<String>,
    /// Conversions (and their postback jobs) of one transaction id (a click's), exactly.
    pub transaction: Option<String>,
    /// One conversion (and its postback jobs).
    pub conversion: Option<ConversionId>,
    /// Conversions (and their jobs) of the advertiser's order id (`adv_sub`), exactly.
    pub adv_sub: Option<String>,
}

type Db = <DbConn as diesel::Connection>::Backend;

/// Narrows a boxed query over `clicks` (alone or joined) by `f`'s click-side filters.
macro_rules! click_filters {
    ($q:ident, $f:expr, $time:path, $offer:path, $affiliate:path, $advertiser:path) => {{
        let f: &Filter = $f;
        if let Some(t) = f.from {
            $q = $q.filter($time.ge(t));
        }
        if let Some(t) = f.to {
            $q = $q.filter($time.lt(t));
        }
        if let Some(o) = f.offer {
            $q = $q.filter($offer.eq(o));
        }
        if let Some(a) = f.affiliate {
            $q = $q.filter($affiliate.eq(a));
        }
        if let Some(a) = f.advertiser {
            $q = $q.filter($advertiser.eq(a));
        }
        if let Some(s) = f.sub.as_deref().filter(|s| !s.is_empty()) {
            $q = $q.filter(
                clicks::aff_sub
                    .eq(s.to_owned())
                    .or(clicks::aff_sub2.eq(s.to_owned()))
                    .or(clicks::aff_sub3.eq(s.to_owned()))
                    .or(clicks::aff_sub4.eq(s.to_owned()))
                    .or(clicks::aff_sub5.eq(s.to_owned()))
                    .or(clicks::source.eq(s.to_owned())),
            );
        }
    }};
}

/// The tenant's clicks narrowed by `f`; `None` when `f` names a transaction id the tenant has no
/// click for.
fn clicks_query(
    conn: &mut DbConn,
    tenant: TenantId,
    f: &Filter,
) -> QueryResult<Option<clicks::BoxedQuery<'static, Db>>> {
    let mut q = clicks::table.filter(clicks::tenant_id.eq(tenant)).into_boxed::<Db>();
    click_filters!(q, f, clicks::created_at, clicks::offer_id, clicks::affiliate_id, clicks::advertiser_id);
    if let Some(t) = &f.transaction {
        // Found by its key first (the primary key on SQLite, where an id alone would scan the
        // tenant's clicks), then narrowed to it by the primary key.
        let Ok(tid) = TransactionId::parse(t) else { return Ok(None) };
        let Some(click) = Click::find_for(conn, tenant, tid)? else { return Ok(None) };
        q = q.filter(clicks::id.eq(click.id)).filter(clicks::seq.eq(click.seq));
    }
    Ok(Some(q))
}

/// The tenant's clicks, newest first.
pub fn clicks(conn: &mut DbConn, tenant: TenantId, f: &Filter, limit: i64, offset: i64) -> QueryResult<Vec<Click>> {
    let Some(q) = clicks_query(conn, tenant, f)? else { return Ok(Vec::new()) };
    q.order((clicks::created_at.desc(), clicks::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(Click::as_select())
        .load(conn)
}

/// How many clicks [`clicks`] has with the same filter, all pages.
pub fn count_clicks(conn: &mut DbConn, tenant: TenantId, f: &Filter) -> QueryResult<i64> {
    let Some(q) = clicks_query(conn, tenant, f)? else { return Ok(0) };
    q.count().get_result(conn)
}

/// A conversion with the sub ids of its click (what people filter and export by).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConversionRow {
    #[serde(flatten)]
    pub conversion: Conversion,
    pub aff_sub: String,
    pub aff_sub2: String,
    pub source: String,
    pub click_at: Micros,
    /// The click's other sub ids (pages show them; the API's conversion keeps its documented
    /// fields).
    #[serde(skip)]
    pub more_subs: MoreSubs,
}

/// `aff_sub3`..`aff_sub5` and `aff_click_id` of a conversion's click.
#[derive(Debug, Clone, Default)]
pub struct MoreSubs {
    pub aff_sub3: String,
    pub aff_sub4: String,
    pub aff_sub5: String,
    pub aff_click_id: String,
}

/// The click columns a [`ConversionRow`] carries, and their values.
const CLICK_COLUMNS: (
    clicks::aff_sub,
    clicks::aff_sub2,
    clicks::source,
    clicks::created_at,
    clicks::aff_sub3,
    clicks::aff_sub4,
    clicks::aff_sub5,
    clicks::aff_click_id,
) = (
    clicks::aff_sub,
    clicks::aff_sub2,
    clicks::source,
    clicks::created_at,
    clicks::aff_sub3,
    clicks::aff_sub4,
    clicks::aff_sub5,
    clicks::aff_click_id,
);
type ClickCols = (String, String, String, Micros, String, String, String, String);

/// A conversion's click, by the clicks table's primary key: the sequence key on SQLite (with the
/// id), the id on PostgreSQL (where a node of the previous release, during a rolling upgrade,
/// records conversions without the key).
fn click_of_conversion(
    conn: &DbConn,
) -> diesel::dsl::On<clicks::table, diesel::expression::SqlLiteral<diesel::sql_types::Bool>> {
    clicks::table.on(diesel::dsl::sql::<diesel::sql_types::Bool>(match conn {
        DbConn::Sqlite(_) => "clicks.seq = conversions.click_seq AND clicks.id = conversions.click_id",
        DbConn::Pg(_) => "clicks.id = conversions.click_id",
    }))
}

/// Narrows `$q` to `$column = $value` (text). On SQLite the comparison is told to its planner to
/// be rare (`likelihood` on `$name`, the column in SQL), so that it reads the column's index:
/// without statistics it preferred an index that serves the `ORDER BY`, or an affiliate's rows,
/// and read them all for one transaction. (PostgreSQL plans by its statistics: the plain
/// comparison.)
macro_rules! filter_rare_text {
    ($q:ident, $sqlite:expr, $column:path, $name:literal, $value:expr) => {
        if $sqlite {
            $q = $q.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(concat!("likelihood(", $name, " = "))
                    .bind::<diesel::sql_types::Text, _>($value)
                    .sql(", 0.000001)"),
            );
        } else {
            $q = $q.filter($column.eq($value));
        }
    };
}

/// Narrows a boxed query over `conversions` (alone or joined) to `f`'s transaction, conversion
/// and order id (`sqlite`: the connection's backend).
macro_rules! conversion_filters {
    ($q:ident, $f:expr, $sqlite:expr) => {{
        let f: &Filter = $f;
        if let Some(t) = &f.transaction {
            filter_rare_text!($q, $sqlite, conversions::click_id, "conversions.click_id", t.clone());
        }
        if let Some(c) = f.conversion {
            $q = $q.filter(conversions::id.eq(c));
        }
        if let Some(a) = &f.adv_sub {
            filter_rare_text!($q, $sqlite, conversions::adv_sub, "conversions.adv_sub", a.clone());
        }
    }};
}

/// The tenant's conversions joined to their clicks, narrowed by `f`.
macro_rules! conversions_query {
    ($conn:expr, $tenant:expr, $f:expr) => {{
        let (tenant, f): (TenantId, &Filter) = ($tenant, $f);
        let mut q = conversions::table
            .inner_join(click_of_conversion($conn))
            .filter(conversions::tenant_id.eq(tenant))
            .filter(clicks::tenant_id.eq(tenant))
            .into_boxed::<Db>();
        let sqlite = matches!($conn, DbConn::Sqlite(_));
        click_filters!(
            q,
            f,
            conversions::created_at,
            conversions::offer_id,
            conversions::affiliate_id,
            conversions::advertiser_id
        );
        if let Some(s) = f.status.as_deref().and_then(|s| s.parse::<ConversionStatus>().ok()) {
            q = q.filter(conversions::status.eq(s));
        }
        conversion_filters!(q, f, sqlite);
        q
    }};
}

/// The tenant's conversions, newest first.
pub fn conversions(
    conn: &mut DbConn,
    tenant: TenantId,
    f: &Filter,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<ConversionRow>> {
    let rows: Vec<(Conversion, ClickCols)> = conversions_query!(conn, tenant, f)
        .order((conversions::created_at.desc(), conversions::id.desc()))
        .limit(limit)
        .offset(offset)
        .select((Conversion::as_select(), CLICK_COLUMNS))
        .load(conn)?;
    Ok(rows.into_iter().map(row).collect())
}

/// How many conversions [`conversions`] has with the same filter, all pages.
pub fn count_conversions(conn: &mut DbConn, tenant: TenantId, f: &Filter) -> QueryResult<i64> {
    conversions_query!(conn, tenant, f).count().get_result(conn)
}

/// Conversion `id` of the tenant with its click's sub ids.
pub fn conversion_row(conn: &mut DbConn, tenant: TenantId, id: ConversionId) -> QueryResult<ConversionRow> {
    let r: (Conversion, ClickCols) = conversions::table
        .inner_join(click_of_conversion(conn))
        .filter(conversions::tenant_id.eq(tenant))
        .filter(clicks::tenant_id.eq(tenant))
        .filter(conversions::id.eq(id))
        .select((Conversion::as_select(), CLICK_COLUMNS))
        .first(conn)?;
    Ok(row(r))
}

fn row(
    (conversion, (aff_sub, aff_sub2, source, click_at, aff_sub3, aff_sub4, aff_sub5, aff_click_id)): (
        Conversion,
        ClickCols,
    ),
) -> ConversionRow {
    let more_subs = MoreSubs { aff_sub3, aff_sub4, aff_sub5, aff_click_id };
    ConversionRow { conversion, aff_sub, aff_sub2, source, click_at, more_subs }
}

/// An outbox job.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = postback_jobs)]
pub struct Job {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub conversion_id: ConversionId,
    pub postback_id: Option<i64>,
    pub affiliate_id: AffiliateId,
    pub event: String,
    pub method: String,
    pub url: String,
    pub body: String,
    pub content_type: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Micros,
    pub locked_until: Option<Micros>,
    pub last_error: String,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// One HTTP call made for a postback.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = postback_attempts)]
pub struct DeliveryAttempt {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub job_id: Option<i64>,
    pub postback_id: Option<i64>,
    pub affiliate_id: AffiliateId,
    pub method: String,
    pub url: String,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub response_excerpt: String,
    pub error: String,
    pub test: bool,
    pub created_at: Micros,
}

/// Postback jobs of the tenant narrowed by `f`.
macro_rules! jobs_query {
    ($conn:expr, $tenant:expr, $f:expr) => {{
        let (tenant, f): (TenantId, &Filter) = ($tenant, $f);
        let sqlite = matches!($conn, DbConn::Sqlite(_));
        let mut q = postback_jobs::table
            .inner_join(conversions::table)
            .filter(postback_jobs::tenant_id.eq(tenant))
            .filter(conversions::tenant_id.eq(tenant))
            .into_boxed::<Db>();
        match f.affiliate {
            // One conversion's jobs are found by it (`postback_jobs_tenant_conversion`): `+`
            // keeps SQLite's planner off the affiliate's index, which read all their jobs.
            Some(a) if sqlite && (f.transaction.is_some() || f.conversion.is_some() || f.adv_sub.is_some()) => {
                q = q.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("+postback_jobs.affiliate_id = ")
                        .bind::<diesel::sql_types::BigInt, _>(a.0),
                );
            }
            Some(a) => q = q.filter(postback_jobs::affiliate_id.eq(a)),
            None => {}
        }
        if let Some(o) = f.offer {
            q = q.filter(conversions::offer_id.eq(o));
        }
        if let Some(s) = f.status.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(postback_jobs::state.eq(s.to_owned()));
        }
        if let Some(t) = f.from {
            q = q.filter(postback_jobs::created_at.ge(t));
        }
        if let Some(t) = f.to {
            q = q.filter(postback_jobs::created_at.lt(t));
        }
        conversion_filters!(q, f, sqlite);
        q
    }};
}

/// A job of the delivery log with its conversion's transaction id.
#[derive(Debug, Clone)]
pub struct ListedJob {
    pub job: Job,
    pub transaction_id: String,
}

/// The delivery log: postback jobs of the tenant (of one affiliate when given), newest first,
/// filtered by state (`queued`, `sending`, `retry`, `delivered`, `failed`), offer, time,
/// transaction id and conversion.
pub fn jobs(conn: &mut DbConn, tenant: TenantId, f: &Filter, limit: i64, offset: i64) -> QueryResult<Vec<ListedJob>> {
    // By creation time, as the other lists: `postback_jobs_tenant_affiliate` (an affiliate's log)
    // and `postback_jobs_tenant_time` (a network's) serve this order; by id, SQLite read and
    // sorted all of an affiliate's jobs for each page.
    let rows: Vec<(Job, String)> = jobs_query!(&*conn, tenant, f)
        .order((postback_jobs::created_at.desc(), postback_jobs::id.desc()))
        .limit(limit)
        .offset(offset)
        .select((Job::as_select(), conversions::click_id))
        .load(conn)?;
    Ok(rows.into_iter().map(|(job, transaction_id)| ListedJob { job, transaction_id }).collect())
}

/// How many jobs [`jobs`] has with the same filter, all pages.
pub fn count_jobs(conn: &mut DbConn, tenant: TenantId, f: &Filter) -> QueryResult<i64> {
    jobs_query!(&*conn, tenant, f).count().get_result(conn)
}

/// The states a job goes through.
pub const JOB_STATES: &[&str] = &["queued", "sending", "retry", "delivered", "failed"];

/// Postback job `id` of the tenant (of `affiliate` when given).
pub fn job(conn: &mut DbConn, tenant: TenantId, affiliate: Option<AffiliateId>, id: i64) -> QueryResult<ListedJob> {
    let mut q = postback_jobs::table
        .inner_join(conversions::table)
        .filter(postback_jobs::tenant_id.eq(tenant))
        .filter(conversions::tenant_id.eq(tenant))
        .filter(postback_jobs::id.eq(id))
        .into_boxed::<Db>();
    if let Some(a) = affiliate {
        q = q.filter(postback_jobs::affiliate_id.eq(a));
    }
    let (job, transaction_id) = q.select((Job::as_select(), conversions::click_id)).first(conn)?;
    Ok(ListedJob { job, transaction_id })
}

/// The attempts of some jobs (for the log's detail), oldest first.
pub fn attempts_of_jobs(conn: &mut DbConn, tenant: TenantId, jobs: &[i64]) -> QueryResult<Vec<DeliveryAttempt>> {
    postback_attempts::table
        .filter(postback_attempts::tenant_id.eq(tenant))
        .filter(postback_attempts::job_id.eq_any(jobs.iter().map(|j| Some(*j)).collect::<Vec<_>>()))
        .order(postback_attempts::id.asc())
        .select(DeliveryAttempt::as_select())
        .load(conn)
}

/// The latest test-fires of the tenant (of one affiliate when given), newest first: calls made
/// from the postbacks page or the API's test endpoint, outside the outbox.
pub fn test_fires(
    conn: &mut DbConn,
    tenant: TenantId,
    affiliate: Option<AffiliateId>,
    limit: i64,
) -> QueryResult<Vec<DeliveryAttempt>> {
    // Test-fires have no job: `job_id IS NULL` reads them through the `(tenant_id, job_id)`
    // index, never the whole delivery history.
    let mut q = postback_attempts::table
        .filter(postback_attempts::tenant_id.eq(tenant))
        .filter(postback_attempts::job_id.is_null())
        .filter(postback_attempts::test.eq(true))
        .into_boxed();
    if let Some(a) = affiliate {
        q = q.filter(postback_attempts::affiliate_id.eq(a));
    }
    q.order(postback_attempts::id.desc()).limit(limit).select(DeliveryAttempt::as_select()).load(conn)
}

/// The calls of the conversion endpoint stored for the tenant, accepted and refused, newest
/// first: where anyone sees why a conversion did not count without knowing its transaction id
/// (DESIGN.md: every rejection is stored with its reason). `f.status` is `accepted` or a
/// refusal's reason code; `f.offer` and `f.advertiser` keep the calls that named such an offer
/// (an advertiser sees the calls for their own offers only).
fn conversion_calls_query(sqlite: bool, tenant: TenantId, f: &Filter) -> conversion_attempts::BoxedQuery<'static, Db> {
    let mut q = conversion_attempts::table.filter(conversion_attempts::tenant_id.eq(tenant)).into_boxed::<Db>();
    if let Some(t) = f.from {
        q = q.filter(conversion_attempts::created_at.ge(t));
    }
    if let Some(t) = f.to {
        q = q.filter(conversion_attempts::created_at.lt(t));
    }
    if let Some(o) = f.offer {
        q = q.filter(conversion_attempts::offer_id.eq(o));
    }
    if let Some(a) = f.advertiser {
        let theirs =
            offers::table.filter(offers::tenant_id.eq(tenant)).filter(offers::advertiser_id.eq(a)).select(offers::id);
        q = q.filter(conversion_attempts::offer_id.eq_any(theirs.nullable()));
    }
    match f.status.as_deref() {
        None | Some("") => {}
        Some("accepted") => q = q.filter(conversion_attempts::outcome.eq("accepted")),
        Some(reason) => q = q.filter(conversion_attempts::reason.eq(reason.to_owned())),
    }
    // As the call named it (a refused call may name a malformed one).
    if let Some(t) = &f.transaction {
        filter_rare_text!(
            q,
            sqlite,
            conversion_attempts::transaction_id,
            "conversion_attempts.transaction_id",
            t.clone()
        );
    }
    q
}

/// A page of [`conversion_calls_query`].
pub fn conversion_calls(
    conn: &mut DbConn,
    tenant: TenantId,
    f: &Filter,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<Attempt>> {
    // Newest first through the `(tenant_id, created_at)` index.
    conversion_calls_query(matches!(conn, DbConn::Sqlite(_)), tenant, f)
        .order((conversion_attempts::created_at.desc(), conversion_attempts::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(Attempt::as_select())
        .load(conn)
}

/// The words a calls filter takes for `status`: `accepted`, then every refusal reason's code.
pub fn call_outcomes() -> Vec<&'static str> {
    std::iter::once("accepted").chain(crate::conversion::Reason::ALL.iter().map(|r| r.code())).collect()
}

/// How many calls [`conversion_calls`] pages through.
pub fn count_conversion_calls(conn: &mut DbConn, tenant: TenantId, f: &Filter) -> QueryResult<i64> {
    conversion_calls_query(matches!(conn, DbConn::Sqlite(_)), tenant, f).count().get_result(conn)
}

/// Everything about one transaction id, as the tenant may see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Trace {
    pub transaction_id: String,
    pub click: Option<Click>,
    /// Every call of the conversion endpoint that reached this tenant's click, oldest first.
    pub attempts: Vec<Attempt>,
    pub conversions: Vec<Conversion>,
    pub jobs: Vec<Job>,
    pub deliveries: Vec<DeliveryAttempt>,
}

/// The tracer: the click, every conversion attempt with its reason, the conversions, and every
/// postback job and delivery attempt. A transaction id of another tenant shows nothing.
pub fn trace(conn: &mut DbConn, tenant: TenantId, transaction_id: &str) -> QueryResult<Trace> {
    let tid = transaction_id.trim().to_ascii_lowercase();
    let click = match crate::TransactionId::parse(&tid) {
        Ok(parsed) => Click::find_for(conn, tenant, parsed)?,
        Err(_) => None,
    };
    let attempts: Vec<Attempt> = conversion_attempts::table
        .filter(conversion_attempts::tenant_id.eq(tenant))
        .filter(conversion_attempts::transaction_id.eq(&tid))
        .order(conversion_attempts::id.asc())
        .select(Attempt::as_select())
        .load(conn)?;
    let conversions = Conversion::for_click(conn, tenant, &tid)?;
    let ids: Vec<ConversionId> = conversions.iter().map(|c| c.id).collect();
    let jobs: Vec<Job> = postback_jobs::table
        .filter(postback_jobs::tenant_id.eq(tenant))
        .filter(postback_jobs::conversion_id.eq_any(ids))
        .order(postback_jobs::id.asc())
        .select(Job::as_select())
        .load(conn)?;
    let job_ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let deliveries = attempts_of_jobs(conn, tenant, &job_ids)?;
    Ok(Trace { transaction_id: tid, click, attempts, conversions, jobs, deliveries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    /// SQLite's plan (it keeps no statistics: the plan is the schema's and the statement's) of
    /// the one statement `list` sends.
    fn plan_of(conn: &mut DbConn, list: impl FnOnce(&mut DbConn)) -> Vec<String> {
        let sent = Arc::new(Mutex::new(Vec::<String>::new()));
        let DbConn::Sqlite(c) = conn else { unreachable!() };
        let log = sent.clone();
        c.set_instrumentation(move |event: diesel::connection::InstrumentationEvent<'_>| {
            if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event {
                log.lock().unwrap().push(query.to_string());
            }
        });
        list(conn);
        let DbConn::Sqlite(c) = conn else { unreachable!() };
        c.set_instrumentation(|_: diesel::connection::InstrumentationEvent<'_>| {});
        let sent = sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "{sent:?}");
        // Unbound parameters are NULL to SQLite: the plan does not depend on them.
        let sql = sent[0].split(" -- binds").next().unwrap().to_owned();
        let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load(c).unwrap();
        plan.into_iter().map(|p| p.detail).collect()
    }

    /// A page of the delivery log reads the page's jobs from an index in the log's order: it
    /// never sorts (nor scans) all of a network's or an affiliate's jobs. By job id, SQLite
    /// read all of an affiliate's jobs through its index and sorted them for each page (0.5 s
    /// with 900,000 jobs).
    #[test]
    fn delivery_log_pages_read_an_index_in_their_order() {
        let db = affnet_db::testing::TestDb::new(affnet_db::Backend::Sqlite);
        let mut conn = db.url.connect().unwrap();
        let tenant = TenantId(1);
        let affiliate = Some(AffiliateId(2));
        let day = Some(Micros(1_700_000_000_000_000));
        let cases = [
            ("a network's log", Filter::default(), "postback_jobs_tenant_time"),
            ("a network's day", Filter { from: day, to: day, ..Filter::default() }, "postback_jobs_tenant_time"),
            ("an affiliate's log", Filter { affiliate, ..Filter::default() }, "postback_jobs_tenant_affiliate"),
            (
                "an affiliate's failed jobs",
                Filter { affiliate, status: Some("failed".into()), ..Filter::default() },
                "postback_jobs_tenant_affiliate",
            ),
        ];
        for (what, filter, index) in cases {
            let plan = plan_of(&mut conn, |c| {
                jobs(c, tenant, &filter, 51, 0).unwrap();
            });
            assert!(
                plan[0].starts_with("SEARCH postback_jobs USING INDEX ") && plan[0].contains(index),
                "{what}: {plan:?}"
            );
            assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{what}: {plan:?}");
        }
        // One transaction's jobs are found by its conversions, not by the affiliate's jobs.
        let one =
            Filter { affiliate, transaction: Some("0190a1b2c3d4e5f60718293a4b5c6d7e".into()), ..Filter::default() };
        let plan = plan_of(&mut conn, |c| {
            jobs(c, tenant, &one, 51, 0).unwrap();
        });
        assert!(plan[0].contains("conversions_tenant_click"), "{plan:?}");
    }
}
