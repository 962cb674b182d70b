//! Postback delivery: a worker inside `affnet serve` takes due jobs from the outbox, fires them
//! (timeouts, bounded response reading, SSRF guard, optional HMAC signature), records every
//! attempt, and retries failures with exponential backoff and jitter until a limit, then marks
//! them `failed`. On PostgreSQL several nodes share the outbox: jobs are claimed with
//! `FOR UPDATE SKIP LOCKED` and a lease, so a job is fired by one node at a time.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use affnet_db::schema::{affiliates, postback_attempts, postback_jobs, postbacks, tenants, users};
use affnet_db::{AffiliateId, Clock, DbConn, DbPool, Micros, TenantId};

use crate::host_slots::{HostSlots, Slot};

/// How the worker behaves (from `AFFNET_POSTBACK_*` settings).
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Requests in flight at once (claimed and not yet recorded). 256 by default: a job holds
    /// its slot until its round is committed, so the slots must cover the claim's and the
    /// record's commits, not only the request (measured, 12-20k jobs to a local receiver:
    /// 64 → 256 took PostgreSQL from 4,800-5,800 to 6,600-9,300 deliveries/s and SQLite from
    /// 10,000-11,100 to 12,600-13,300; BENCHMARKS.md).
    pub concurrency: usize,
    /// Requests in flight to one host (`host:port`) at once, whatever `concurrency` allows: a
    /// burst of conversions does not flood an affiliate's tracker. 64 by default.
    pub per_host: usize,
    /// The longest a claimed job waits for a free request to its host: one that would wait
    /// longer is given back unsent, due again when the host is expected to have room
    /// ([`crate::host_slots`]), so that a slow or hanging tracker with a backlog does not hold
    /// the slots other hosts' postbacks need. 1 s by default.
    pub host_wait: Duration,
    /// Attempts before a job is `failed`.
    pub max_attempts: i64,
    /// Delay before the first retry; doubles each time, capped at `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub connect_timeout: Duration,
    /// Whole request, including reading the (first KiB of the) response.
    pub timeout: Duration,
    /// Allow loopback/private targets (tests, or a network whose affiliates are internal).
    pub allow_private: bool,
    /// How long a claimed job is reserved for the node that claimed it.
    pub lease: Duration,
    /// How long a stopping worker waits for the requests in flight (the server's shutdown
    /// timeout): the ones still unanswered then are left `sending`, and sent again by the next
    /// server on the database (at least once), rather than holding the stop for up to `timeout`.
    pub stop_grace: Duration,
    /// How long an idle worker waits before looking for due jobs again.
    pub idle_poll: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            per_host: 64,
            host_wait: Duration::from_secs(1),
            max_attempts: 10,
            first_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(86_400),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            allow_private: false,
            lease: Duration::from_secs(300),
            stop_grace: Duration::from_secs(10),
            idle_poll: Duration::from_millis(250),
        }
    }
}

/// The response bytes kept of each attempt.
pub const EXCERPT_BYTES: usize = 1024;

/// True for addresses a postback must never reach: loopback, private, link-local, multicast,
/// unspecified, shared (CGNAT), benchmarking and reserved ranges, in IPv4 and IPv6 (including
/// IPv4-mapped IPv6).
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                // The documentation ranges (RFC 5737): never a public tracker, and a machine may
                // hold one (this one's own interface did).
                || (o[0] == 192 && o[1] == 0 && o[2] == 2)
                || (o[0] == 198 && o[1] == 51 && o[2] == 100)
                || (o[0] == 203 && o[1] == 0 && o[2] == 113)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden(IpAddr::V4(v4));
            }
            let s = v6.segments();
            let embedded =
                |hi: u16, lo: u16| IpAddr::V4(std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
            // IPv4-compatible ::a.b.c.d and 6to4 2002:AABB:CCDD::/48 carry an IPv4 address.
            if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                return forbidden(embedded(s[6], s[7]));
            }
            if s[0] == 0x2002 && forbidden(embedded(s[1], s[2])) {
                return true;
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || (s[0] == 0x2001 && s[1] == 0)
                || (s[0] == 0x2001 && s[1] == 0xdb8)
        }
    }
}

/// Resolves host names and keeps only allowed addresses, so that the guard also holds for
/// redirects and for names that resolve to internal addresses.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs.iter().copied().filter(|a| allow || !forbidden(a.ip())).collect();
            if allowed.is_empty() {
                let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "refused: {host} resolves only to private or reserved addresses ({})",
                    shown.join(", ")
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why a URL may not be called at all (scheme, or a forbidden IP literal as host).
pub fn refuse_target(url: &reqwest::Url, allow_private: bool) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!("refused: the {} scheme is not allowed (http or https only)", url.scheme()));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a),
        Some(url::Host::Domain(_)) => return None,
        None => return Some("refused: the URL has no host".into()),
    };
    (!allow_private && forbidden(ip)).then(|| format!("refused: {ip} is a private or reserved address"))
}

/// Redirects followed in one request, at most.
pub const MAX_REDIRECTS: usize = 3;

/// The HTTP client of the worker: guarded resolver, timeouts, at most [`MAX_REDIRECTS`]
/// redirects and never to a forbidden address or another scheme. A redirect it does not follow
/// is the answer: an `HTTP 3xx` failure ([`fire`] says why it was not followed).
pub fn client(config: &DeliveryConfig) -> Result<reqwest::Client, String> {
    let allow = config.allow_private;
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow_private: allow }))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            // `previous`: the URLs requested so far, the first one included.
            if attempt.previous().len() > MAX_REDIRECTS || refuse_target(attempt.url(), allow).is_some() {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        // Never through an environment proxy: the proxy would resolve names past the guard.
        .no_proxy()
        .connect_timeout(config.connect_timeout)
        .timeout(config.timeout)
        .user_agent(concat!("affnet-postback/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// One request to make.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: String,
    pub url: String,
    pub body: String,
    pub content_type: String,
    /// The affiliate's signing secret (empty: unsigned).
    pub secret: String,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttemptResult {
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub response_excerpt: String,
    pub error: String,
}

impl AttemptResult {
    pub fn delivered(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }

    /// Never sent because the target is not allowed (scheme, no host, a private address, a
    /// name resolving only to private addresses) or not a URL: retrying cannot help, so the
    /// job fails at once (a person re-fires it once the URL or the operator's setting changed).
    pub fn refused(&self) -> bool {
        self.status_code.is_none() && (self.error.starts_with(REFUSED) || self.error.starts_with(INVALID_URL))
    }
}

/// How the error of a target that is not allowed begins ([`AttemptResult::refused`]).
const REFUSED: &str = "refused: ";
/// How the error of a URL that does not parse begins.
const INVALID_URL: &str = "invalid URL: ";

/// `X-Affnet-Signature: t=<unix>,v1=<hex hmac-sha256(secret, "<t>.<url><body>")>`, `url` as
/// requested (parsed: `http://h?c=1` is `http://h/?c=1`).
pub fn signature(secret: &str, unix: i64, url: &str, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("{unix}.{url}{body}").as_bytes());
    format!("t={unix},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Makes one request and reads at most [`EXCERPT_BYTES`] of the answer.
pub async fn fire(client: &reqwest::Client, out: &Outgoing, allow_private: bool, now_unix: i64) -> AttemptResult {
    let started = Instant::now();
    // Responses are arbitrary bytes (a GIF pixel, gzip): control characters are replaced so
    // that the stored text can never fail the transaction that records the round.
    let clean = |s: String| -> String {
        if s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            s.chars().map(|c| if c.is_control() && !matches!(c, '\n' | '\r' | '\t') { '\u{fffd}' } else { c }).collect()
        } else {
            s
        }
    };
    let done = |status: Option<u16>, excerpt: String, error: String| AttemptResult {
        status_code: status,
        latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        response_excerpt: clean(excerpt),
        error: clean(error),
    };
    let url = match reqwest::Url::parse(&out.url) {
        Ok(u) => u,
        Err(e) => return done(None, String::new(), format!("{INVALID_URL}{e}")),
    };
    if let Some(why) = refuse_target(&url, allow_private) {
        tracing::warn!(url = %url.host_str().unwrap_or(""), reason = %why, "postback refused");
        return done(None, String::new(), why);
    }
    // Signed as requested: the parser's normal form (`http://h?c=1` is requested as
    // `http://h/?c=1`, `'` as `%27`), which the receiver rebuilds from `Host` and its target; a
    // user name and password are sent in an `Authorization` header, not in the URL.
    let signed = (!out.secret.is_empty()).then(|| {
        let mut requested = url.clone();
        let _ = requested.set_username("");
        let _ = requested.set_password(None);
        signature(&out.secret, now_unix, requested.as_str(), &out.body)
    });
    let mut req = if out.method == "POST" {
        client.post(url).header("content-type", &out.content_type).body(out.body.clone())
    } else {
        client.get(url)
    };
    if let Some(signed) = signed {
        req = req.header("x-affnet-signature", signed);
    }
    let mut res = match req.send().await {
        Ok(r) => r,
        Err(e) => return done(None, String::new(), describe(&e)),
    };
    let status = res.status().as_u16();
    let unfollowed = (300..400).contains(&status).then(|| unfollowed_redirect(&res, allow_private)).flatten();
    let mut excerpt: Vec<u8> = Vec::new();
    while excerpt.len() < EXCERPT_BYTES {
        match res.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk[..chunk.len().min(EXCERPT_BYTES - excerpt.len())]),
            Ok(None) => break,
            Err(e) => return done(Some(status), String::from_utf8_lossy(&excerpt).into_owned(), describe(&e)),
        }
    }
    // Dropping the response closes the connection without reading the rest.
    drop(res);
    let error = match (status, unfollowed) {
        (200..=299, _) => String::new(),
        (_, Some(why)) => format!("HTTP {status}: {why}"),
        _ => format!("HTTP {status}"),
    };
    done(Some(status), String::from_utf8_lossy(&excerpt).into_owned(), error)
}

/// Why the client stopped at the redirect `res` (to a refused target, or one too many), when it
/// names where to go.
fn unfollowed_redirect(res: &reqwest::Response, allow_private: bool) -> Option<String> {
    let location = res.headers().get(reqwest::header::LOCATION)?.to_str().ok()?;
    let next = res.url().join(location).ok()?;
    Some(match refuse_target(&next, allow_private) {
        Some(why) => format!("redirect to {} not followed, {why}", alert_target(next.as_str())),
        None => format!("redirect not followed: more than {MAX_REDIRECTS} redirects"),
    })
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    // The guarded resolver's refusal, however deep the client wrapped it, is the whole story
    // (and marks the attempt refused, not failed for now).
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if text.starts_with(REFUSED) && !e.is_redirect() {
            return text.chars().take(500).collect();
        }
        source = s.source();
    }
    let mut msg = if e.is_timeout() { "timed out".to_owned() } else { e.to_string() };
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg.chars().take(500).collect()
}

/// The wait before retry number `attempts` (1-based): first_backoff × 2^(attempts-1), with
/// ±20 % jitter so that failing receivers are not hit in lockstep, never above the cap
/// (`max_backoff` is the longest wait: at the cap the jitter only shortens it).
pub fn backoff(config: &DeliveryConfig, attempts: i64, rng: &mut impl Rng) -> Duration {
    let exp = u32::try_from((attempts - 1).clamp(0, 30)).unwrap_or(30);
    let base = config.first_backoff.saturating_mul(2u32.saturating_pow(exp)).min(config.max_backoff);
    base.mul_f64(rng.gen_range(0.8..1.2)).min(config.max_backoff)
}

#[derive(Debug, Clone, QueryableByName)]
struct Claimed {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    tenant_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    postback_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    affiliate_id: i64,
    #[diesel(sql_type = Text)]
    method: String,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Text)]
    content_type: String,
    #[diesel(sql_type = BigInt)]
    attempts: i64,
    /// The node key this claim set ([`NO_NODE`] on SQLite, or while the node had lost its
    /// lock): recording the attempt's outcome moves the job only if it is still claimed with it
    /// (another node may have claimed it again meanwhile, its node's lock gone: then that claim
    /// decides). Claims of one node share it, so a round's jobs stay one statement.
    #[diesel(sql_type = BigInt)]
    locked_by: i64,
    /// The lease this claim set: with `locked_by`, it tells this claim from a later one of the
    /// same node (a job given back and claimed again meanwhile), which then decides.
    #[diesel(sql_type = BigInt)]
    locked_until: Micros,
}

/// `locked_by` of a claim made without a node key (node keys are positive).
const NO_NODE: i64 = 0;

/// Reserves up to `limit` jobs for this node (`node`: its liveness key, PostgreSQL): first (when
/// `expired`) jobs whose lease ran out or, on PostgreSQL, whose node is gone (no session holds
/// its advisory lock: [`crate::liveness`]) and were claimed before `orphaned_before`, then due jobs in `next_attempt_at` order. Two
/// statements, each an ordered scan of its own partial index (`postback_jobs_lease`,
/// `postback_jobs_due_at`): one claim with `OR` sorted every queued job each time.
fn claim(
    conn: &mut DbConn,
    now: Micros,
    lease_until: Micros,
    limit: i64,
    expired: bool,
    node: Option<i64>,
    orphaned_before: Micros,
) -> QueryResult<Vec<Claimed>> {
    const EXPIRED: &str = "SELECT id FROM postback_jobs WHERE state = 'sending' AND locked_until < $1 \
                           ORDER BY locked_until LIMIT $3";
    const DUE: &str = "SELECT id FROM postback_jobs WHERE state IN ('queued', 'retry') AND next_attempt_at <= $1 \
                       ORDER BY next_attempt_at LIMIT $3";
    // The jobs in flight are at most the nodes' concurrency: the scan of the `sending` ones is
    // short, and runs once a second (`LEASE_CHECK_EVERY`).
    let expired_or_orphaned = format!(
        "SELECT id FROM postback_jobs WHERE state = 'sending' AND (locked_until < $1 OR (locked_by > 0 \
         AND updated_at < $5 AND locked_by NOT IN ({}))) ORDER BY locked_until LIMIT $3",
        crate::liveness::LIVE_NODES
    );
    let sql = |select: &str, lock: &str| {
        format!(
            "UPDATE postback_jobs SET state = 'sending', locked_until = $2, locked_by = $4, updated_at = $1 \
             WHERE id IN ({select}{lock}) \
             RETURNING id, tenant_id, postback_id, affiliate_id, method, url, body, content_type, attempts, locked_by, \
             locked_until"
        )
    };
    // `orphans`: the statement is `expired_or_orphaned` and takes `$5` (SQLite refuses a
    // parameter a statement does not have).
    let claim_from = |conn: &mut DbConn, select: &str, limit: i64, orphans: bool| -> QueryResult<Vec<Claimed>> {
        let text = match conn {
            DbConn::Pg(_) => sql(select, " FOR UPDATE SKIP LOCKED"),
            // SQLite numbers parameters `?N`; `$N` would be named ones, bound in order of
            // appearance.
            DbConn::Sqlite(_) => sql(select, "").replace('$', "?"),
        };
        let query = diesel::sql_query(&text)
            .bind::<BigInt, _>(now.0)
            .bind::<BigInt, _>(lease_until.0)
            .bind::<BigInt, _>(limit)
            .bind::<BigInt, _>(node.unwrap_or(NO_NODE));
        match (conn, orphans) {
            (DbConn::Pg(c), true) => query.bind::<BigInt, _>(orphaned_before.0).load(c),
            (DbConn::Pg(c), false) => query.load(c),
            (DbConn::Sqlite(c), _) => query.load(c),
        }
    };
    // Jobs whose lease ran out or whose node is gone, each with its interrupted attempt: in one
    // transaction, so that a claim never stands without its log row (or the reverse).
    let take_expired = |conn: &mut DbConn| -> QueryResult<Vec<Claimed>> {
        let mut jobs = match node {
            Some(_) => claim_from(conn, &expired_or_orphaned, limit, true)?,
            None => claim_from(conn, EXPIRED, limit, false)?,
        };
        if !jobs.is_empty() {
            // Claimed from a node that died (or hung) while sending them: that request counts
            // as an attempt that may have reached the affiliate.
            log_interrupted(
                conn,
                jobs.iter()
                    .map(|j| (j.id, j.tenant_id, j.postback_id, j.affiliate_id, j.method.as_str(), j.url.as_str())),
                &TakenBack::Died.error(),
                now,
            )?;
            for job in &mut jobs {
                job.attempts += 1;
            }
        }
        Ok(jobs)
    };
    let both = |conn: &mut DbConn| -> QueryResult<Vec<Claimed>> {
        let mut jobs = match (expired, &mut *conn) {
            (false, _) => Vec::new(),
            // SQLite: `both` runs in a write transaction already.
            (true, DbConn::Sqlite(_)) => take_expired(conn)?,
            (true, DbConn::Pg(_)) => conn.transaction(take_expired)?,
        };
        let left = limit - i64::try_from(jobs.len()).unwrap_or(limit);
        if left > 0 {
            jobs.extend(claim_from(conn, DUE, left, false)?);
        }
        Ok(jobs)
    };
    match conn {
        // Each statement claims on its own (SKIP LOCKED: no other node waits for them).
        DbConn::Pg(_) => both(conn),
        DbConn::Sqlite(_) => crate::write_tx(conn, both),
    }
}

/// An attempt row.
#[derive(Insertable)]
#[diesel(table_name = postback_attempts)]
struct NewAttempt<'a> {
    tenant_id: TenantId,
    job_id: Option<i64>,
    postback_id: Option<i64>,
    affiliate_id: AffiliateId,
    method: &'a str,
    url: &'a str,
    status_code: Option<i64>,
    latency_ms: i64,
    response_excerpt: &'a str,
    error: &'a str,
    test: bool,
    created_at: Micros,
}

/// PostgreSQL: a round's attempts as one `INSERT … SELECT * FROM UNNEST(…)`, one array per
/// column: the same SQL whatever the number of rows, so the connection prepares it once (a
/// multi-row `VALUES` was parsed and planned again each round: ~0.2 ms, measured).
struct InsertAttemptColumns<'a> {
    /// tenant_id, affiliate_id, latency_ms, created_at.
    ints: [Vec<i64>; 4],
    /// job_id, postback_id, status_code.
    nullable: [Vec<Option<i64>>; 3],
    /// method, url, response_excerpt, error.
    texts: [Vec<&'a str>; 4],
    test: Vec<bool>,
}

impl<'a> InsertAttemptColumns<'a> {
    fn new(rows: &[NewAttempt<'a>]) -> Self {
        Self {
            ints: [
                rows.iter().map(|r| r.tenant_id.0).collect(),
                rows.iter().map(|r| r.affiliate_id.0).collect(),
                rows.iter().map(|r| r.latency_ms).collect(),
                rows.iter().map(|r| r.created_at.0).collect(),
            ],
            nullable: [
                rows.iter().map(|r| r.job_id).collect(),
                rows.iter().map(|r| r.postback_id).collect(),
                rows.iter().map(|r| r.status_code).collect(),
            ],
            texts: [
                rows.iter().map(|r| r.method).collect(),
                rows.iter().map(|r| r.url).collect(),
                rows.iter().map(|r| r.response_excerpt).collect(),
                rows.iter().map(|r| r.error).collect(),
            ],
            test: rows.iter().map(|r| r.test).collect(),
        }
    }
}

impl diesel::query_builder::QueryId for InsertAttemptColumns<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> RunQueryDsl<Conn> for InsertAttemptColumns<'_> {}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for InsertAttemptColumns<'_> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, Bool};
        let [tenant, affiliate, latency, created_at] = &self.ints;
        let [job, postback, status] = &self.nullable;
        let [method, url, excerpt, error] = &self.texts;
        out.push_sql(
            "INSERT INTO postback_attempts (tenant_id, job_id, postback_id, affiliate_id, method, url, status_code, \
             latency_ms, response_excerpt, error, test, created_at) SELECT * FROM UNNEST(",
        );
        out.push_bind_param::<Array<BigInt>, _>(tenant)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(job)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(postback)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(affiliate)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(method)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(url)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(status)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(latency)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(excerpt)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(error)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Bool>, _>(&self.test)?;
        out.push_sql("::boolean[], ");
        out.push_bind_param::<Array<BigInt>, _>(created_at)?;
        out.push_sql("::bigint[])");
        Ok(())
    }
}

/// Inserts attempt rows: one statement on PostgreSQL, chunks of 1,000 on SQLite.
fn insert_attempts(conn: &mut DbConn, rows: &[NewAttempt<'_>]) -> QueryResult<()> {
    match conn {
        DbConn::Pg(c) => {
            InsertAttemptColumns::new(rows).execute(c)?;
        }
        DbConn::Sqlite(c) => {
            for chunk in rows.chunks(1000) {
                diesel::insert_into(postback_attempts::table).values(chunk).execute(c)?;
            }
        }
    }
    Ok(())
}

/// How the error of an attempt whose answer was never recorded begins: its node stopped or died
/// while the request was out, so it may have reached the affiliate.
pub const INTERRUPTED: &str = "interrupted: ";

/// Why a job is taken back ([`take_back`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakenBack {
    /// Its node stopped (gracefully) before the answer came.
    Stopped,
    /// Its node died (killed, crashed) or hung: found by a lease that ran out, a node lock that
    /// is gone, or, on SQLite, the next server's start.
    Died,
}

impl TakenBack {
    fn error(self) -> String {
        let why = match self {
            TakenBack::Stopped => "the server stopped before the answer came",
            TakenBack::Died => "the server sending it stopped without recording the answer",
        };
        format!("{INTERRUPTED}{why}; the request may have reached the affiliate; sent again")
    }
}

/// Logs the requests of jobs (id, tenant, postback, affiliate, method, url) taken back from a node
/// that stopped or died while sending them: an attempt row each, saying the request may have
/// reached the affiliate (so that the delivery log shows every request the affiliate may have
/// received: delivery is at least once), counted on its job as its last error.
fn log_interrupted<'a>(
    conn: &mut DbConn,
    jobs: impl Iterator<Item = (i64, i64, Option<i64>, i64, &'a str, &'a str)>,
    error: &str,
    now: Micros,
) -> QueryResult<()> {
    let rows: Vec<NewAttempt<'_>> = jobs
        .map(|(id, tenant, postback_id, affiliate, method, url)| NewAttempt {
            tenant_id: TenantId(tenant),
            job_id: Some(id),
            postback_id,
            affiliate_id: AffiliateId(affiliate),
            method,
            url,
            status_code: None,
            latency_ms: 0,
            response_excerpt: "",
            error,
            test: false,
            created_at: now,
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    insert_attempts(conn, &rows)?;
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.job_id).collect();
    diesel::update(postback_jobs::table.filter(postback_jobs::id.eq_any(&ids)))
        .set((postback_jobs::attempts.eq(postback_jobs::attempts + 1), postback_jobs::last_error.eq(error)))
        .execute(conn)?;
    Ok(())
}

/// A job a stopping node gives back ([`take_back`]): its id, the node key it was claimed with,
/// and whether its request had started (a job still waiting for a free request slot to its
/// host never reached the affiliate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GivenBack {
    pub id: i64,
    pub claimed_with: i64,
    pub sent: bool,
}

/// Makes `sending` jobs due again at `now`. Those whose request may have reached the affiliate
/// get an attempt row saying so ([`INTERRUPTED`]), and that attempt counts: `given` by a node
/// stopping with requests unanswered (a job claimed again meanwhile with another key, by another
/// node whose lease check found it, is left to that claim), or every one (`None`, all possibly
/// sent) for SQLite's next server. Returns how many jobs were taken back.
pub fn take_back(conn: &mut DbConn, given: Option<&[GivenBack]>, why: TakenBack, now: Micros) -> QueryResult<usize> {
    type Row = (i64, i64, Option<i64>, i64, String, String, Option<i64>);
    let error = why.error();
    crate::write_tx(conn, |conn| {
        use postback_jobs as j;
        let columns = (j::id, j::tenant_id, j::postback_id, j::affiliate_id, j::method, j::url, j::locked_by);
        let ids: Vec<i64> = given.unwrap_or_default().iter().map(|g| g.id).collect();
        let sending = j::table.filter(j::state.eq("sending"));
        // Locked (PostgreSQL) until they are moved below; SQLite's write lock holds them.
        let jobs: Vec<Row> = match (given, &mut *conn) {
            (Some([]), _) => return Ok(0),
            (Some(_), DbConn::Pg(c)) => sending.filter(j::id.eq_any(&ids)).select(columns).for_update().load(c)?,
            (Some(_), DbConn::Sqlite(c)) => sending.filter(j::id.eq_any(&ids)).select(columns).load(c)?,
            (None, DbConn::Pg(c)) => sending.select(columns).for_update().load(c)?,
            (None, DbConn::Sqlite(c)) => sending.select(columns).load(c)?,
        };
        // (job, possibly sent) for the jobs still claimed as they were given back.
        let mut taken: Vec<(Row, bool)> = Vec::new();
        for row in jobs {
            match given.map(|g| g.iter().find(|g| g.id == row.0)) {
                None => taken.push((row, true)),
                Some(Some(g)) if row.6 == Some(g.claimed_with) => taken.push((row, g.sent)),
                Some(_) => {}
            }
        }
        if taken.is_empty() {
            return Ok(0);
        }
        log_interrupted(
            conn,
            taken
                .iter()
                .filter(|(_, sent)| *sent)
                .map(|((id, t, p, a, m, u, _), _)| (*id, *t, *p, *a, m.as_str(), u.as_str())),
            &error,
            now,
        )?;
        let ids: Vec<i64> = taken.iter().map(|(r, _)| r.0).collect();
        diesel::update(j::table.filter(j::id.eq_any(&ids)))
            .set((
                j::state.eq("retry"),
                j::next_attempt_at.eq(now),
                j::locked_until.eq(None::<Micros>),
                j::locked_by.eq(None::<i64>),
                j::updated_at.eq(now),
            ))
            .execute(conn)
    })
}

/// Makes due again the `sending` jobs claimed with `node` at `claimed_at` with a lease until
/// `lease_until` (one claim's marks: its statement committed, its rows never came back), none of
/// them sent. Returns how many.
fn give_back_claimed(
    conn: &mut DbConn,
    node: i64,
    claimed_at: Micros,
    lease_until: Micros,
    now: Micros,
) -> QueryResult<usize> {
    use postback_jobs as j;
    let ids: Vec<i64> = j::table
        .filter(j::state.eq("sending"))
        .filter(j::locked_by.eq(node))
        .filter(j::updated_at.eq(claimed_at))
        .filter(j::locked_until.eq(lease_until))
        .select(j::id)
        .load(conn)?;
    let given: Vec<GivenBack> = ids.into_iter().map(|id| GivenBack { id, claimed_with: node, sent: false }).collect();
    take_back(conn, Some(&given), TakenBack::Stopped, now)
}

/// Job ids, and the leases of the claims that took them (to update the jobs still held by
/// those claims in one statement).
#[derive(Default)]
struct IdsAndLeases {
    ids: Vec<i64>,
    leases: Vec<Micros>,
}

impl IdsAndLeases {
    fn add(&mut self, job: &Claimed) {
        self.ids.push(job.id);
        if !self.leases.contains(&job.locked_until) {
            self.leases.push(job.locked_until);
        }
    }
}

/// Gives back claimed jobs that were never sent because their host was busy
/// ([`crate::host_slots`]): each due again at its time (rounded up to a tenth of a second, so
/// that a round is a few statements), `queued` if it was never attempted, else `retry`, with no
/// attempt counted or logged. A job claimed again meanwhile (by another node, or by this one
/// after it was given back) is left to that claim. Returns how many were given back.
fn give_back_deferred(conn: &mut DbConn, jobs: &[(&Claimed, Micros)], now: Micros) -> QueryResult<usize> {
    use postback_jobs as j;
    const TENTH: i64 = Micros::SECOND / 10;
    let mut groups: std::collections::BTreeMap<(i64, &str, i64), IdsAndLeases> = Default::default();
    for (job, until) in jobs {
        let state = if job.attempts == 0 { "queued" } else { "retry" };
        let until = until.0.saturating_add(TENTH - 1).div_euclid(TENTH).saturating_mul(TENTH);
        groups.entry((job.locked_by, state, until)).or_default().add(job);
    }
    let mut given = 0;
    for ((node, state, until), IdsAndLeases { ids, leases }) in &groups {
        // The leases of their claims, as for the delivered ones ([`Deliverer::record`]).
        given += diesel::update(
            j::table
                .filter(j::id.eq_any(ids))
                .filter(j::state.eq("sending"))
                .filter(j::locked_by.eq(node))
                .filter(j::locked_until.eq_any(leases)),
        )
        .set((
            j::state.eq(*state),
            j::next_attempt_at.eq(Micros(*until)),
            j::locked_until.eq(None::<Micros>),
            j::locked_by.eq(None::<i64>),
            j::updated_at.eq(now),
        ))
        .execute(conn)?;
    }
    Ok(given)
}

/// Moves a job whose attempt failed on: retry later, or failed after the last attempt.
fn record_failure(
    conn: &mut DbConn,
    job: &Claimed,
    result: &AttemptResult,
    now: Micros,
    next_attempt: Micros,
    max_attempts: i64,
) -> QueryResult<bool> {
    conn.transaction(|c| {
        let attempts = job.attempts + 1;
        let state = if attempts >= max_attempts || result.refused() { "failed" } else { "retry" };
        let moved = diesel::update(
            postback_jobs::table
                .filter(postback_jobs::id.eq(job.id))
                .filter(postback_jobs::state.eq("sending"))
                .filter(postback_jobs::locked_by.eq(job.locked_by))
                .filter(postback_jobs::locked_until.eq(job.locked_until)),
        )
        .set((
            postback_jobs::state.eq(state),
            postback_jobs::attempts.eq(attempts),
            postback_jobs::next_attempt_at.eq(next_attempt),
            postback_jobs::locked_until.eq(None::<Micros>),
            postback_jobs::locked_by.eq(None::<i64>),
            postback_jobs::last_error.eq(&result.error),
            postback_jobs::updated_at.eq(now),
        ))
        .execute(c)?;
        Ok(moved > 0 && state == "failed")
    })
}

/// Alerts about one postback are sent at most once in this window.
pub const ALERT_INTERVAL_MICROS: i64 = 86_400_000_000;

/// Consecutive failed attempts of one postback that make it "failing".
pub const ALERT_AFTER_FAILURES: i64 = 3;

/// Someone to tell about a failing postback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecipient {
    pub email: String,
    pub name: String,
    /// The affiliate's account manager (a staff user), not one of the affiliate's users.
    pub manager: bool,
}

/// A postback that started failing: what to say and to whom. Built inside the round's
/// transaction (which also stamps `postbacks.last_alert_at`), handed to the sender after commit.
#[derive(Debug, Clone)]
pub struct FailureAlert {
    pub tenant_id: TenantId,
    pub network: String,
    pub affiliate_id: AffiliateId,
    pub affiliate: String,
    pub postback_id: i64,
    /// Host and path of the postback URL (no scheme, credentials, query or fragment).
    pub target: String,
    /// The last status or error, with the request URL left out.
    pub last_error: String,
    /// True when a job used all its attempts (else: several consecutive failed attempts).
    pub gave_up: bool,
    pub recipients: Vec<AlertRecipient>,
}

/// Sends the alerts of a round (blocking is allowed: it is called off the async executor).
pub type AlertSender = Arc<dyn Fn(&FailureAlert) + Send + Sync>;

/// Host and path of a postback URL: no scheme, user info, query string or fragment.
pub fn alert_target(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{host}{path}")
}

/// What an alert says went wrong: the HTTP status, or the error with the request URL (which may
/// carry tokens in its query) replaced by host and path.
fn alert_error(job_url: &str, result: &AttemptResult) -> String {
    if let Some(code) = result.status_code.filter(|c| !(200..300).contains(c)) {
        return format!("HTTP {code}");
    }
    let target = alert_target(job_url);
    let mut error = result.error.replace(job_url, &target);
    if let Ok(parsed) = reqwest::Url::parse(job_url) {
        error = error.replace(parsed.as_str(), &target);
    }
    error
}

/// Decides whether the failed attempt of `job` starts an alert: the job gave up, or it is the
/// postback's [`ALERT_AFTER_FAILURES`]th consecutive failed attempt; and no alert about that
/// postback went out in the last [`ALERT_INTERVAL_MICROS`]. Stamps `last_alert_at` when so.
fn failure_alert(
    conn: &mut DbConn,
    job: &Claimed,
    result: &AttemptResult,
    gave_up: bool,
    now: Micros,
) -> QueryResult<Option<FailureAlert>> {
    let Some(postback_id) = job.postback_id else { return Ok(None) };
    let tenant = TenantId(job.tenant_id);
    if !gave_up {
        let recent: Vec<Option<i64>> = postback_attempts::table
            .filter(postback_attempts::tenant_id.eq(tenant))
            .filter(postback_attempts::postback_id.eq(postback_id))
            .filter(postback_attempts::test.eq(false))
            // A request cut by its node's stop says nothing of the affiliate's tracker.
            .filter(postback_attempts::error.not_like(format!("{INTERRUPTED}%")))
            .order(postback_attempts::id.desc())
            .limit(ALERT_AFTER_FAILURES)
            .select(postback_attempts::status_code)
            .load(conn)?;
        let failed = recent.iter().filter(|s| !s.is_some_and(|s| (200..300).contains(&s))).count();
        if i64::try_from(failed).unwrap_or(0) < ALERT_AFTER_FAILURES {
            return Ok(None);
        }
    }
    let stamped = diesel::update(
        postbacks::table.filter(postbacks::tenant_id.eq(tenant)).filter(postbacks::id.eq(postback_id)).filter(
            postbacks::last_alert_at.is_null().or(postbacks::last_alert_at.le(Some(now.plus(-ALERT_INTERVAL_MICROS)))),
        ),
    )
    .set(postbacks::last_alert_at.eq(Some(now)))
    .execute(conn)?;
    if stamped == 0 {
        return Ok(None);
    }
    let affiliate = AffiliateId(job.affiliate_id);
    let network: String = tenants::table.filter(tenants::id.eq(tenant)).select(tenants::name).first(conn)?;
    let (company, manager): (String, Option<i64>) = affiliates::table
        .filter(affiliates::tenant_id.eq(tenant))
        .filter(affiliates::id.eq(affiliate))
        .select((affiliates::name, affiliates::manager_user_id))
        .first(conn)?;
    let template: String = postbacks::table.filter(postbacks::id.eq(postback_id)).select(postbacks::url).first(conn)?;
    let members: Vec<(String, String)> = users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::affiliate_id.eq(affiliate))
        .filter(users::status.eq("active"))
        .order(users::id.asc())
        .select((users::email, users::name))
        .load(conn)?;
    let mut recipients: Vec<AlertRecipient> =
        members.into_iter().map(|(email, name)| AlertRecipient { email, name, manager: false }).collect();
    if let Some(m) = manager {
        let found: Option<(String, String)> = users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::id.eq(m))
            .filter(users::status.eq("active"))
            .select((users::email, users::name))
            .first(conn)
            .optional()?;
        if let Some((email, name)) = found.filter(|(e, _)| !recipients.iter().any(|r| &r.email == e)) {
            recipients.push(AlertRecipient { email, name, manager: true });
        }
    }
    Ok(Some(FailureAlert {
        tenant_id: tenant,
        network,
        affiliate_id: affiliate,
        affiliate: company,
        postback_id,
        target: alert_target(&template),
        last_error: alert_error(&job.url, result),
        gave_up,
        recipients,
    }))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn store_attempt(
    conn: &mut DbConn,
    tenant: TenantId,
    job: Option<i64>,
    postback: Option<i64>,
    affiliate: AffiliateId,
    method: &str,
    url: &str,
    result: &AttemptResult,
    test: bool,
    now: Micros,
) -> QueryResult<()> {
    diesel::insert_into(postback_attempts::table)
        .values((
            postback_attempts::tenant_id.eq(tenant),
            postback_attempts::job_id.eq(job),
            postback_attempts::postback_id.eq(postback),
            postback_attempts::affiliate_id.eq(affiliate),
            postback_attempts::method.eq(method),
            postback_attempts::url.eq(url),
            postback_attempts::status_code.eq(result.status_code.map(i64::from)),
            postback_attempts::latency_ms.eq(result.latency_ms),
            postback_attempts::response_excerpt.eq(&result.response_excerpt),
            postback_attempts::error.eq(&result.error),
            postback_attempts::test.eq(test),
            postback_attempts::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The worker.
pub struct Deliverer {
    pool: DbPool,
    client: reqwest::Client,
    config: DeliveryConfig,
    clock: Arc<dyn Clock>,
    alerts: Option<AlertSender>,
    /// The clock time from which the next claim looks for jobs whose lease ran out.
    next_lease_check: AtomicI64,
    /// This node's lock on its key, on PostgreSQL ([`crate::liveness`]).
    node: Option<Arc<crate::liveness::NodeLock>>,
    /// The requests in flight to each `host:port` (at most `per_host`), and its pacing.
    hosts: HostSlots,
}

/// What became of a claimed job.
#[derive(Debug)]
enum Handled {
    /// Its request was sent; the answer.
    Sent(AttemptResult),
    /// Given back unsent, due again then: its host had no free request slot and was not
    /// expected to have one soon ([`crate::host_slots`]).
    Deferred(Micros),
}

/// How many times a round of answers is recorded before it is given up (its jobs then wait for
/// their lease), and the first wait between tries (doubling, at most 5 s): about 20 s in all.
const RECORD_TRIES: u32 = 8;
const RECORD_RETRY: Duration = Duration::from_millis(200);

/// How often claims look for jobs whose lease ran out. A lease lasts minutes (`lease`), so once
/// a second finds them as soon as every claim would, and the other claims save a statement
/// (~0.2 ms of PostgreSQL's planning each, measured: BENCHMARKS.md).
const LEASE_CHECK_EVERY: i64 = Micros::SECOND;

/// Added to the request timeout before the jobs of a node that is gone are claimed again.
const ORPHAN_MARGIN: Duration = Duration::from_secs(5);

/// The wait after failed try number `tries` ([`RECORD_RETRY`], doubling, at most 5 s).
fn record_retry_wait(tries: u32) -> Duration {
    RECORD_RETRY.saturating_mul(1 << tries.min(5)).min(Duration::from_secs(5))
}

/// A pooled connection, its error as diesel's (the worker's queries return `QueryResult`).
fn pooled(pool: &DbPool) -> QueryResult<affnet_db::PooledConn> {
    pool.get().map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))
}

/// The signing secrets of the jobs' affiliates, in the jobs' order, in one query (affiliate ids
/// are unique across tenants; the tenant is matched too).
fn signing_secrets(conn: &mut DbConn, jobs: &[Claimed]) -> QueryResult<Vec<String>> {
    let mut ids: Vec<i64> = jobs.iter().map(|j| j.affiliate_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<(i64, i64, String)> = affiliates::table
        .filter(affiliates::id.eq_any(ids.into_iter().map(AffiliateId).collect::<Vec<_>>()))
        .select((affiliates::tenant_id, affiliates::id, affiliates::postback_secret))
        .load(conn)?;
    let by_affiliate: HashMap<(i64, i64), String> = found.into_iter().map(|(t, a, secret)| ((t, a), secret)).collect();
    Ok(jobs.iter().map(|j| by_affiliate.get(&(j.tenant_id, j.affiliate_id)).cloned().unwrap_or_default()).collect())
}

fn blocking_err(e: tokio::task::JoinError) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(e.to_string().into())
}

impl Deliverer {
    pub fn new(pool: DbPool, config: DeliveryConfig, clock: Arc<dyn Clock>) -> Result<Self, String> {
        Ok(Self {
            client: client(&config)?,
            pool: pool.clone(),
            clock,
            alerts: None,
            next_lease_check: AtomicI64::new(i64::MIN),
            node: crate::liveness::NodeLock::acquire(&pool).map_err(|e| format!("postback worker: {e}"))?.map(Arc::new),
            // Slow hosts share half of the slots, so that several hanging trackers cannot take
            // them all.
            hosts: HostSlots::new(config.per_host, config.host_wait, config.concurrency.div_ceil(2)),
            config,
        })
    }

    /// Tells the affiliate and their manager when a postback starts failing, through `sender`
    /// (called after the round is committed; it logs its own failures).
    pub fn with_alerts(mut self, sender: AlertSender) -> Self {
        self.alerts = Some(sender);
        self
    }

    /// The key this node marks the jobs it claims with, on PostgreSQL ([`crate::liveness`]).
    pub fn node(&self) -> Option<i64> {
        self.node.as_ref().map(|n| n.key())
    }

    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }

    /// Claims the due jobs (up to the concurrency), fires them concurrently, records each
    /// attempt. Returns how many jobs were fired. (The running worker, [`Deliverer::spawn`],
    /// does the same as a pipeline.)
    pub async fn run_once(&self) -> QueryResult<usize> {
        let limit = i64::try_from(self.config.concurrency.max(1)).unwrap_or(1);
        let jobs = self.claim(limit).await?;
        let n = jobs.len();
        let results = join_all(jobs.into_iter().map(|job| self.fire_job(job, || {})).collect()).await;
        self.record(Arc::new(results), false).await?;
        Ok(n)
    }

    /// Claims up to `limit` jobs for this node, each with its affiliate's signing secret.
    async fn claim(&self, limit: i64) -> QueryResult<Vec<(Claimed, String)>> {
        let now = self.clock.now();
        let lease_until = now.plus(i64::try_from(self.config.lease.as_micros()).unwrap_or(i64::MAX));
        let expired = now.0 >= self.next_lease_check.load(Ordering::Relaxed);
        if expired {
            self.next_lease_check.store(now.plus(LEASE_CHECK_EVERY).0, Ordering::Relaxed);
        }
        // A job claimed by a node that is gone is claimed again once its request is surely over
        // (its timeout, and a margin). Nodes of one PostgreSQL database tell time by its clock
        // (`affnet_db::DatabaseClock`), so one node's lease and claim times mean the same to
        // the others.
        let orphaned_before =
            Micros(now.0 - i64::try_from((self.config.timeout + ORPHAN_MARGIN).as_micros()).unwrap_or(i64::MAX));
        let pool = self.pool.clone();
        let node_lock = self.node.clone();
        let (node, claimed) = tokio::task::spawn_blocking(move || {
            let node = node_lock.as_deref().and_then(|n| {
                if expired {
                    n.keep();
                }
                n.key_if_held()
            });
            let claimed = pooled(&pool).and_then(|mut conn| {
                let jobs = claim(&mut conn, now, lease_until, limit, expired, node, orphaned_before)?;
                let secrets = signing_secrets(&mut conn, &jobs)?;
                Ok((jobs, secrets))
            });
            (node, claimed)
        })
        .await
        .map_err(blocking_err)?;
        match claimed {
            Ok((jobs, secrets)) => Ok(jobs.into_iter().zip(secrets).collect()),
            Err(e) => {
                self.give_back_lost_claim(node.unwrap_or(NO_NODE), now, lease_until).await;
                Err(e)
            }
        }
    }

    /// After a claim that failed: its statement may have committed before its rows were lost (the
    /// connection broke on the way back, or the query after it failed). Those jobs are `sending`
    /// with this claim's marks and were never sent: they are made due again at once, tried on a
    /// new connection as answers are recorded ([`RECORD_TRIES`]). Left alone, they waited for
    /// their lease (minutes) and were logged as interrupted requests that never went out.
    async fn give_back_lost_claim(&self, node: i64, claimed_at: Micros, lease_until: Micros) {
        for tries in 1..=RECORD_TRIES {
            let (pool, now) = (self.pool.clone(), self.clock.now());
            let given = tokio::task::spawn_blocking(move || -> QueryResult<usize> {
                give_back_claimed(&mut *pooled(&pool)?, node, claimed_at, lease_until, now)
            })
            .await
            .map_err(blocking_err)
            .and_then(|r| r);
            match given {
                Ok(0) => return,
                Ok(n) => {
                    tracing::warn!(
                        jobs = n,
                        "postback worker: the jobs of a claim whose answer was lost are due again"
                    );
                    return;
                }
                Err(e) if tries == RECORD_TRIES => {
                    tracing::error!(error = %e, tries, "postback worker: cannot look for the jobs of a failed claim; they wait for their lease");
                }
                Err(_) => {
                    tokio::time::sleep(record_retry_wait(tries)).await;
                }
            }
        }
    }

    /// Fires one claimed job (waiting, if its host already has `per_host` requests in flight,
    /// for one of them to end, or deferring it if that would take longer than `host_wait`).
    async fn fire_job(&self, (job, secret): (Claimed, String), on_send: impl FnOnce()) -> (Claimed, Handled) {
        let out = Outgoing {
            method: job.method.clone(),
            url: job.url.clone(),
            body: job.body.clone(),
            content_type: job.content_type.clone(),
            secret,
        };
        let host = reqwest::Url::parse(&job.url)
            .ok()
            .and_then(|u| u.host_str().map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0))))
            .unwrap_or_default();
        let request = match self.hosts.acquire(&host).await {
            Slot::Granted(request) => request,
            Slot::Deferred(after) => {
                let until = self.clock.now().plus(i64::try_from(after.as_micros()).unwrap_or(i64::MAX));
                return (job, Handled::Deferred(until));
            }
        };
        on_send();
        let result = fire(&self.client, &out, self.config.allow_private, self.clock.now().unix_seconds()).await;
        drop(request);
        (job, Handled::Sent(result))
    }

    /// Records fired jobs' attempts and moves the jobs on (delivered, retry later, failed), and
    /// gives the deferred ones back, in one transaction; then sends the alerts of postbacks that
    /// keep failing. `again`: a try after a failed one, which may have committed before its
    /// connection broke: only the jobs still `sending` under this claim are recorded, so no
    /// attempt is logged twice.
    async fn record(&self, results: Arc<Vec<(Claimed, Handled)>>, again: bool) -> QueryResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        let (pool, config, clock) = (self.pool.clone(), self.config.clone(), self.clock.clone());
        let sender = self.alerts.clone();
        tokio::task::spawn_blocking(move || -> QueryResult<()> {
            let mut conn = pooled(&pool)?;
            let mut rng = rand::thread_rng();
            // One transaction (one durable commit) for the whole round: every attempt in one
            // INSERT, every delivered job in one UPDATE, failures one by one (each its backoff).
            let (alerts, given_back) = crate::write_tx(&mut conn, |conn| -> QueryResult<(Vec<FailureAlert>, usize)> {
                let done = clock.now();
                let mut alerts = Vec::new();
                let results: Vec<&(Claimed, Handled)> = if again {
                    let ids: Vec<i64> = results.iter().map(|(job, _)| job.id).collect();
                    let held: std::collections::HashSet<(i64, Option<i64>, Option<Micros>)> = postback_jobs::table
                        .filter(postback_jobs::id.eq_any(&ids))
                        .filter(postback_jobs::state.eq("sending"))
                        .select((postback_jobs::id, postback_jobs::locked_by, postback_jobs::locked_until))
                        .load(conn)?
                        .into_iter()
                        .collect();
                    results
                        .iter()
                        .filter(|(job, _)| held.contains(&(job.id, Some(job.locked_by), Some(job.locked_until))))
                        .collect()
                } else {
                    results.iter().collect()
                };
                let mut deferred: Vec<(&Claimed, Micros)> = Vec::new();
                let mut sent: Vec<(&Claimed, &AttemptResult)> = Vec::new();
                for (job, handled) in results {
                    match handled {
                        Handled::Sent(result) => sent.push((job, result)),
                        Handled::Deferred(until) => deferred.push((job, *until)),
                    }
                }
                let results = sent;
                let given_back = give_back_deferred(conn, &deferred, done)?;
                let rows: Vec<NewAttempt<'_>> = results
                    .iter()
                    .map(|(job, result)| NewAttempt {
                        tenant_id: TenantId(job.tenant_id),
                        job_id: Some(job.id),
                        postback_id: job.postback_id,
                        affiliate_id: AffiliateId(job.affiliate_id),
                        method: &job.method,
                        url: &job.url,
                        status_code: result.status_code.map(i64::from),
                        latency_ms: result.latency_ms,
                        response_excerpt: &result.response_excerpt,
                        error: &result.error,
                        test: false,
                        created_at: done,
                    })
                    .collect();
                insert_attempts(conn, &rows)?;
                // By the node key they were claimed with (one group, but for a node that lost
                // its lock meanwhile): a job claimed again by another node is left to that claim.
                // And by the leases of their claims: a job given back and claimed again since
                // has a lease of a later claim, not among this round's (a job's answers are
                // recorded one round after the other), and is left to that claim. One statement
                // per node, whatever the claims.
                let mut delivered: std::collections::BTreeMap<i64, IdsAndLeases> = Default::default();
                for (job, r) in &results {
                    crate::metrics::delivery(r.delivered());
                    if r.delivered() {
                        delivered.entry(job.locked_by).or_default().add(job);
                    }
                }
                for (node, IdsAndLeases { ids, leases }) in &delivered {
                    diesel::update(
                        postback_jobs::table
                            .filter(postback_jobs::id.eq_any(ids))
                            .filter(postback_jobs::locked_until.eq_any(leases))
                            .filter(postback_jobs::state.eq("sending"))
                            .filter(postback_jobs::locked_by.eq(node)),
                    )
                    .set((
                        postback_jobs::state.eq("delivered"),
                        postback_jobs::attempts.eq(postback_jobs::attempts + 1),
                        postback_jobs::locked_until.eq(None::<Micros>),
                        postback_jobs::locked_by.eq(None::<i64>),
                        postback_jobs::last_error.eq(""),
                        postback_jobs::updated_at.eq(done),
                    ))
                    .execute(conn)?;
                }
                for (job, result) in results.iter().filter(|(_, r)| !r.delivered()) {
                    let wait = backoff(&config, job.attempts + 1, &mut rng);
                    let next = done.plus(i64::try_from(wait.as_micros()).unwrap_or(i64::MAX));
                    tracing::info!(job = job.id, attempts = job.attempts + 1, error = %result.error, "postback not delivered");
                    let gave_up = record_failure(conn, job, result, done, next, config.max_attempts)?;
                    if sender.is_some() {
                        alerts.extend(failure_alert(conn, job, result, gave_up, done)?);
                    }
                }
                Ok((alerts, given_back))
            })?;
            if given_back > 0 {
                crate::metrics::deferred(given_back);
                tracing::info!(
                    jobs = given_back,
                    "postbacks given back unsent: their host is busy; due again when it should have room"
                );
            }
            if let Some(send) = &sender {
                for alert in &alerts {
                    tracing::info!(
                        postback = alert.postback_id,
                        affiliate = %alert.affiliate_id,
                        recipients = alert.recipients.len(),
                        "postback failing: alerting the affiliate"
                    );
                    send(alert);
                }
            }
            Ok(())
        })
        .await
        .map_err(blocking_err)??;
        Ok(())
    }

    /// Runs the worker on a thread of its own until `stop` is set, as a pipeline: while some
    /// jobs are being fired, the next ones are claimed and the answered ones recorded (in one
    /// transaction per group of answers), with at most `concurrency` jobs claimed and not yet
    /// recorded. A claim waits for half of that to be free, so claims stay large.
    pub fn spawn(self, stop: Arc<AtomicBool>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new().name("postback-worker".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "postback worker cannot start");
                    return;
                }
            };
            rt.block_on(Arc::new(self).pipeline(stop));
        })
    }

    async fn pipeline(self: Arc<Self>, stop: Arc<AtomicBool>) {
        use tokio::sync::{mpsc, Semaphore};
        let concurrency = self.config.concurrency.clamp(1, Semaphore::MAX_PERMITS);
        let slots = Arc::new(Semaphore::new(concurrency));
        let (answered, mut answers) =
            mpsc::unbounded_channel::<((Claimed, Handled), tokio::sync::OwnedSemaphorePermit)>();
        // The jobs fired and not answered yet, with their tasks: a worker that stops gives them
        // back (due again) and drops their answers, once the grace is over. An answer that
        // arrived is always recorded.
        let unanswered: Unanswered = Arc::default();
        let recorder = {
            let this = self.clone();
            tokio::spawn(async move {
                while let Some(first) = answers.recv().await {
                    let mut batch = vec![first];
                    while batch.len() < 1000 {
                        match answers.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let (results, permits): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                    let results = Arc::new(results);
                    // A lost database connection (a restart, a failover, a network blip) must
                    // not drop the answers: they are recorded again on a new connection, for the
                    // jobs still claimed by this node. Dropped, their jobs stayed `sending` until
                    // the lease ran out, and were then sent a second time.
                    let mut tries = 0;
                    while let Err(e) = this.record(results.clone(), tries > 0).await {
                        tries += 1;
                        if tries >= RECORD_TRIES {
                            // The jobs stay `sending` until their lease runs out, then are
                            // claimed again.
                            tracing::error!(error = %e, tries, "postback worker: cannot record attempts");
                            break;
                        }
                        tracing::warn!(error = %e, tries, "postback worker: cannot record attempts; trying again");
                        tokio::time::sleep(record_retry_wait(tries)).await;
                    }
                    drop(permits);
                }
            })
        };
        let half = u32::try_from(concurrency.div_ceil(2)).unwrap_or(1);
        'work: while !stop.load(Ordering::Acquire) {
            // Slots free up as requests end (up to the postback timeout): look at `stop` while
            // waiting, and again before claiming, so that nothing is claimed after the stop.
            let first = loop {
                match tokio::time::timeout(STOP_CHECK, slots.clone().acquire_many_owned(half)).await {
                    Ok(Ok(permits)) => break permits,
                    Ok(Err(_)) => break 'work,
                    Err(_) if stop.load(Ordering::Acquire) => break 'work,
                    Err(_) => continue,
                }
            };
            if stop.load(Ordering::Acquire) {
                break;
            }
            let mut held = first;
            while held.num_permits() < concurrency {
                match slots.clone().try_acquire_owned() {
                    Ok(p) => held.merge(p),
                    Err(_) => break,
                }
            }
            let limit = i64::try_from(held.num_permits()).unwrap_or(1);
            let jobs = match self.claim(limit).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = %e, "postback worker: database error");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                drop(held);
                tokio::time::sleep(self.config.idle_poll).await;
                continue;
            }
            for job in jobs {
                let Some(permit) = held.split(1) else { break };
                let (this, answered, unanswered_now) = (self.clone(), answered.clone(), unanswered.clone());
                let (id, claimed_with) = (job.0.id, job.0.locked_by);
                if let Ok(mut u) = unanswered.lock() {
                    u.insert(id, InFlight { claimed_with, sent: false, task: None });
                }
                let sending = unanswered.clone();
                let task = tokio::spawn(async move {
                    let result = this
                        .fire_job(job, || {
                            if let Some(f) = sending.lock().ok().as_mut().and_then(|u| u.get_mut(&id)) {
                                f.sent = true;
                            }
                        })
                        .await;
                    // Recorded only while the job is still this worker's (not given back).
                    let ours = unanswered_now.lock().map(|mut u| u.remove(&id).is_some()).unwrap_or(false);
                    if ours {
                        let _ = answered.send((result, permit));
                    }
                });
                if let Ok(mut u) = unanswered.lock() {
                    if let Some(f) = u.get_mut(&id) {
                        f.task = Some(task.abort_handle());
                    }
                }
            }
            drop(held);
        }
        // Stopping: requests answered within the grace are recorded; the ones still unanswered
        // then are cut, and their jobs made due again for the next server (at least once).
        drop(answered);
        let mut recorder = recorder;
        if tokio::time::timeout(self.config.stop_grace, &mut recorder).await.is_err() {
            let cut: Vec<(i64, InFlight)> = unanswered.lock().map(|mut u| u.drain().collect()).unwrap_or_default();
            let given: Vec<GivenBack> =
                cut.iter().map(|(id, f)| GivenBack { id: *id, claimed_with: f.claimed_with, sent: f.sent }).collect();
            for handle in cut.into_iter().filter_map(|(_, f)| f.task) {
                handle.abort();
            }
            let (pool, now) = (self.pool.clone(), self.clock.now());
            let released = tokio::task::spawn_blocking(move || {
                let mut conn = pool.get().map_err(|e| e.to_string())?;
                take_back(&mut conn, Some(&given), TakenBack::Stopped, now).map_err(|e| e.to_string())
            })
            .await;
            tracing::warn!(
                grace_secs = self.config.stop_grace.as_secs(),
                released = ?released,
                "postback worker stopped with requests unanswered; their jobs are due again for the next server"
            );
            // The answers that arrived are recorded before the worker ends.
            let _ = tokio::time::timeout(RECORD_AT_STOP, recorder).await;
        }
    }
}

/// A job a worker fired and has no answer for yet.
struct InFlight {
    /// The node key it was claimed with.
    claimed_with: i64,
    /// Its request started (it had a request slot to its host).
    sent: bool,
    /// Its task (set just after it is spawned).
    task: Option<tokio::task::AbortHandle>,
}

/// The jobs a worker fired and has no answer for yet, by id.
type Unanswered = Arc<std::sync::Mutex<std::collections::HashMap<i64, InFlight>>>;

/// How often a worker waiting for free slots looks whether it should stop.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// How long a stopping worker waits for the answers it has to be recorded.
const RECORD_AT_STOP: Duration = Duration::from_secs(30);

/// Awaits every future concurrently (they are few: at most the configured concurrency).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Puts a delivered or failed job of `tenant` back in the queue, to be fired now (the "re-fire"
/// button), as its postback is saved now: a person who corrected the URL (or the method, body or
/// content type) re-fires the corrected request, with the conversion as it is now. A job whose
/// postback was deleted sends what it was queued with. Returns false when no such job exists.
pub fn refire(
    conn: &mut DbConn,
    tenant: TenantId,
    affiliate: Option<AffiliateId>,
    job: i64,
    now: Micros,
) -> Result<bool, affnet_offers::OffersError> {
    let mut q =
        postback_jobs::table.filter(postback_jobs::tenant_id.eq(tenant)).filter(postback_jobs::id.eq(job)).into_boxed();
    if let Some(a) = affiliate {
        q = q.filter(postback_jobs::affiliate_id.eq(a));
    }
    let found: Option<(i64, Option<i64>)> =
        q.select((postback_jobs::conversion_id, postback_jobs::postback_id)).first(conn).optional()?;
    let Some((conversion_id, postback_id)) = found else {
        return Ok(false);
    };
    affnet_db::write_tx(conn, |conn| {
        let idle_job = postback_jobs::table
            .filter(postback_jobs::tenant_id.eq(tenant))
            .filter(postback_jobs::id.eq(job))
            .filter(postback_jobs::state.ne("sending"));
        let again = (
            postback_jobs::state.eq("queued"),
            postback_jobs::attempts.eq(0),
            postback_jobs::next_attempt_at.eq(now),
            postback_jobs::updated_at.eq(now),
        );
        match current_request(conn, tenant, conversion_id, postback_id)? {
            Some(r) => diesel::update(idle_job)
                .set((
                    again,
                    postback_jobs::method.eq(r.method),
                    postback_jobs::url.eq(r.url),
                    postback_jobs::body.eq(r.body),
                    postback_jobs::content_type.eq(r.content_type),
                ))
                .execute(conn)?,
            None => diesel::update(idle_job).set(again).execute(conn)?,
        };
        Ok(true)
    })
}

/// A job's request made anew from its postback as saved now.
struct Request {
    method: String,
    url: String,
    body: String,
    content_type: String,
}

/// The request the postback `postback_id` makes now for the conversion `conversion_id`; `None`
/// when the postback is gone.
fn current_request(
    conn: &mut DbConn,
    tenant: TenantId,
    conversion_id: i64,
    postback_id: Option<i64>,
) -> Result<Option<Request>, affnet_offers::OffersError> {
    let Some(id) = postback_id else { return Ok(None) };
    let postback = match crate::postback::Postback::find(conn, tenant, None, id) {
        Ok(p) => p,
        Err(affnet_offers::OffersError::NotFound) => return Ok(None),
        Err(other) => return Err(other),
    };
    let conversion = crate::conversion::Conversion::find(conn, tenant, affnet_db::ConversionId(conversion_id))?;
    let click = crate::click::Click::by_key(conn, tenant, conversion.click_seq, &conversion.click_id)?;
    let offer = affnet_offers::Offer::find(conn, tenant, conversion.offer_id)?;
    let (url, body) = crate::outbox::request_of(&postback, &conversion, &click, &offer);
    Ok(Some(Request { method: postback.method, url, body, content_type: postback.content_type }))
}

/// What a test-fire sent and got back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestFire {
    pub method: String,
    pub url: String,
    pub body: String,
    pub result: AttemptResult,
}

/// A made-up conversion for test-fires and previews: every macro gets a recognisable value.
pub fn sample(
    offer: &affnet_offers::Offer,
    affiliate: AffiliateId,
    now: Micros,
) -> (crate::conversion::Conversion, crate::click::Click) {
    let click = crate::click::Click {
        id: "0190a1b2c3d4e5f60718293a4b5c6d7e".into(),
        seq: 0x0190_a1b2_c3d4_e5f6,
        tenant_id: offer.tenant_id,
        offer_id: offer.id,
        affiliate_id: affiliate,
        advertiser_id: offer.advertiser_id,
        aff_sub: "sample_sub1".into(),
        aff_sub2: "sample_sub2".into(),
        aff_sub3: "sample_sub3".into(),
        aff_sub4: "sample_sub4".into(),
        aff_sub5: "sample_sub5".into(),
        source: "sample_source".into(),
        aff_click_id: "sample_click".into(),
        ip: "203.0.113.7".into(),
        user_agent: String::new(),
        referrer: String::new(),
        created_at: now,
    };
    let conversion = crate::conversion::Conversion {
        id: affnet_db::ConversionId(0),
        tenant_id: offer.tenant_id,
        click_id: click.id.clone(),
        click_seq: click.seq,
        offer_id: offer.id,
        affiliate_id: affiliate,
        advertiser_id: offer.advertiser_id,
        goal_id: None,
        status: affnet_offers::ConversionStatus::Approved,
        currency: offer.currency,
        sale_amount: Some(1250),
        payout: offer.payout_rate().amount_for(Some(1250)),
        revenue: 0,
        adv_sub: "sample_order".into(),
        ip: String::new(),
        click_key: None,
        adv_sub_key: None,
        created_at: now,
        updated_at: now,
    };
    (conversion, click)
}

/// Loads what a test-fire needs: the postback (of `affiliate` when given), and a real
/// conversion of the tenant (of that postback's affiliate) or a sample one, as the affiliate
/// would be paid for it ([`sample_for`]), on the postback's offer, else on the newest offer the
/// affiliate can run (as the pages do: never an offer the affiliate may not see).
pub fn test_fire_request(
    conn: &mut DbConn,
    tenant: TenantId,
    affiliate: Option<AffiliateId>,
    postback_id: i64,
    conversion: Option<affnet_db::ConversionId>,
    now: Micros,
) -> Result<(crate::postback::Postback, Outgoing), affnet_offers::OffersError> {
    use affnet_offers::{Offer, OffersError};
    let postback = crate::postback::Postback::find(conn, tenant, affiliate, postback_id)?;
    let (conv, click, offer) = match conversion {
        Some(id) => {
            let conv = crate::conversion::Conversion::find(conn, tenant, id).map_err(|_| OffersError::NotFound)?;
            if conv.affiliate_id != postback.affiliate_id {
                return Err(OffersError::NotFound);
            }
            let click = crate::click::Click::by_key(conn, tenant, conv.click_seq, &conv.click_id)?;
            let offer = Offer::find(conn, tenant, conv.offer_id)?;
            (conv, click, offer)
        }
        None => {
            // Only an offer the affiliate can run now: a standard postback's offer may have been
            // made private or paused since it was saved.
            let offer = affnet_offers::access::visible_offers(conn, tenant, postback.affiliate_id, None, 1000, 0)?
                .into_iter()
                .filter(affnet_offers::access::VisibleOffer::can_run)
                .map(|v| v.offer)
                .find(|o| postback.offer_id.is_none_or(|own| own == o.id))
                .ok_or(OffersError::NotFound)?;
            let (conv, click) = sample_for(conn, &offer, postback.goal_id, postback.affiliate_id, now)?;
            (conv, click, offer)
        }
    };
    let out = outgoing(conn, tenant, &postback, &conv, &click, &offer)?;
    Ok((postback, out))
}

/// Like [`test_fire_request`] with a sample conversion on `offer`, chosen by the caller (the
/// pages pick an offer the affiliate may run, so a test-fire never shows another offer's name).
/// [`sample`] with the payout `affiliate` earns on `offer`: their payout override when they have
/// one (a preview showed the offer's default payout to an affiliate paid more).
/// On `goal` (a postback for one goal fires only for its conversions), the sample is a conversion
/// of that goal, at the goal's payout.
pub fn sample_for(
    conn: &mut DbConn,
    offer: &affnet_offers::Offer,
    goal: Option<affnet_db::GoalId>,
    affiliate: AffiliateId,
    now: Micros,
) -> Result<(crate::conversion::Conversion, crate::click::Click), affnet_offers::OffersError> {
    let (mut conversion, click) = sample(offer, affiliate, now);
    let goal = match goal {
        Some(g) => Some(affnet_offers::Goal::find(conn, offer.tenant_id, g)?).filter(|g| g.offer_id == offer.id),
        None => None,
    };
    conversion.goal_id = goal.as_ref().map(|g| g.id);
    let sources = affnet_offers::PayoutOverride::sources(conn, offer.tenant_id, offer, goal.as_ref(), affiliate)?;
    conversion.payout = affnet_offers::payout::resolve(&sources, conversion.sale_amount);
    Ok((conversion, click))
}

pub fn sample_request(
    conn: &mut DbConn,
    tenant: TenantId,
    affiliate: Option<AffiliateId>,
    postback_id: i64,
    offer: &affnet_offers::Offer,
    now: Micros,
) -> Result<(crate::postback::Postback, Outgoing), affnet_offers::OffersError> {
    let postback = crate::postback::Postback::find(conn, tenant, affiliate, postback_id)?;
    if offer.tenant_id != tenant {
        return Err(affnet_offers::OffersError::NotFound);
    }
    let (conv, click) = sample_for(conn, offer, postback.goal_id, postback.affiliate_id, now)?;
    let out = outgoing(conn, tenant, &postback, &conv, &click, offer)?;
    Ok((postback, out))
}

/// The request `postback` makes for `conversion`, signed with its affiliate's secret.
fn outgoing(
    conn: &mut DbConn,
    tenant: TenantId,
    postback: &crate::postback::Postback,
    conversion: &crate::conversion::Conversion,
    click: &crate::click::Click,
    offer: &affnet_offers::Offer,
) -> QueryResult<Outgoing> {
    let (url, body) = crate::outbox::request_of(postback, conversion, click, offer);
    let secret: String = affiliates::table
        .filter(affiliates::tenant_id.eq(tenant))
        .filter(affiliates::id.eq(postback.affiliate_id))
        .select(affiliates::postback_secret)
        .first(conn)?;
    Ok(Outgoing { method: postback.method.clone(), url, body, content_type: postback.content_type.clone(), secret })
}

/// Fires a prepared test request now and stores the attempt (marked as a test).
pub async fn test_fire(
    pool: &DbPool,
    client: &reqwest::Client,
    allow_private: bool,
    tenant: TenantId,
    postback: &crate::postback::Postback,
    out: Outgoing,
    now: Micros,
) -> Result<TestFire, affnet_offers::OffersError> {
    let result = fire(client, &out, allow_private, now.unix_seconds()).await;
    let (pool, pb, stored) = (pool.clone(), postback.clone(), (out.clone(), result.clone()));
    tokio::task::spawn_blocking(move || -> Result<(), affnet_offers::OffersError> {
        let mut conn = pool.get()?;
        let (out, result) = stored;
        store_attempt(
            &mut conn,
            tenant,
            None,
            Some(pb.id),
            pb.affiliate_id,
            &out.method,
            &out.url,
            &result,
            true,
            now,
        )?;
        Ok(())
    })
    .await
    .map_err(|e| affnet_offers::OffersError::Db(affnet_db::DbError::Pool(e.to_string())))??;
    Ok(TestFire { method: out.method, url: out.url, body: out.body, result })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_refuses_every_internal_range() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.2.2",
            "198.51.100.7",
            "203.0.113.200",
            "192.0.0.9",
            "2001:db8::1",
            "::ffff:192.0.2.2",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "::127.0.0.1",
            "::10.0.0.1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "2001:0:4136:e378::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
        ] {
            assert!(forbidden(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!forbidden(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn targets_are_checked_before_any_request() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(refuse_target(&u("ftp://example.com/x"), false).unwrap().contains("scheme"));
        assert!(refuse_target(&u("file:///etc/passwd"), true).unwrap().contains("scheme"));
        assert!(refuse_target(&u("http://127.0.0.1:9/x"), false).unwrap().contains("private"));
        assert!(refuse_target(&u("http://[::1]/x"), false).is_some());
        assert!(refuse_target(&u("http://127.0.0.1:9/x"), true).is_none());
        assert!(refuse_target(&u("https://example.com/x"), false).is_none());
    }

    #[test]
    fn alerts_name_host_and_path_only() {
        assert_eq!(
            alert_target("https://u:pw@pb.example.com:8443/cb/{transaction_id}?token=x#f"),
            "pb.example.com:8443/cb/{transaction_id}"
        );
        assert_eq!(alert_target("pb.example.com"), "pb.example.com");
        let url = "https://pb.example.com/cb?token=secret";
        let timeout = AttemptResult {
            status_code: None,
            latency_ms: 1,
            response_excerpt: String::new(),
            error: format!("error sending request for url ({url}): timed out"),
        };
        assert_eq!(alert_error(url, &timeout), "error sending request for url (pb.example.com/cb): timed out");
        let http = AttemptResult { status_code: Some(502), error: "HTTP 502".into(), ..timeout };
        assert_eq!(alert_error(url, &http), "HTTP 502");
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_day() {
        let c = DeliveryConfig::default();
        let mut rng = rand::thread_rng();
        for (attempt, base, most) in [
            (1, 60.0, 72.0),
            (2, 120.0, 144.0),
            (5, 960.0, 1_152.0),
            (12, 86_400.0, 86_400.0),
            (40, 86_400.0, 86_400.0),
        ] {
            for _ in 0..200 {
                let d = backoff(&c, attempt, &mut rng).as_secs_f64();
                assert!(d >= base * 0.8 && d <= most, "attempt {attempt}: {d}");
            }
        }
    }

    #[test]
    fn signatures_are_hmac_sha256_of_time_url_and_body() {
        // echo -n '1700000000.https://x.test/pb?a=1body' | openssl dgst -sha256 -hmac secret
        let s = signature("secret", 1_700_000_000, "https://x.test/pb?a=1", "body");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
    }
}
