//! Reports and dashboards: clicks, conversions, payout and revenue of a tenant over a range of
//! days, grouped by day, hour, offer, affiliate or advertiser (summed in SQL from the rollups:
//! whole UTC days from the daily table, the hours at the edges from the hourly one, see
//! [`crate::rollup::Span`]); by sub id (from the sub id rollups where they are verified to be
//! exact, and the raw clicks of the rest, see [`crate::sub_report`]); or by goal (summed in SQL
//! over the earliest [`RAW_ROW_LIMIT`] conversions, read through their `(tenant_id, created_at)`
//! index).
//!
//! Day boundaries follow the network's time zone: `UTC`, a fixed offset such as `+02:00`, or an
//! IANA name such as `Europe/Berlin` (daylight saving time included; the zone database is
//! bundled into the binary). Rollups are hourly, so only zones whose offsets are whole hours are
//! accepted; any other setting is read as UTC and [`Tz::setting`] says so.
//!
//! Money is kept per currency: every row is one (group, currency) pair, since amounts of
//! different currencies are never added. Conversions count approved and pending ones (their
//! payout and revenue too) unless a status is asked for.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use affnet_db::schema::{advertisers, affiliates, goals, offers};
use affnet_db::sql::{self, Params};
use affnet_db::{AdvertiserId, AffiliateId, DbConn, Micros, OfferId, TenantId};

use crate::rollup::Span;

/// The most raw rows one report reads: conversions of a goal report, clicks of a sub id report
/// (of the hours its rollups do not cover yet).
pub const RAW_ROW_LIMIT: i64 = 100_000;

/// The longest range a report covers, in days.
pub const MAX_DAYS: i64 = 366;

/// A network's time zone: a fixed offset from UTC in whole hours, or a named (IANA) zone whose
/// offsets are whole hours. Copy: named zones are kept in a process-wide registry and referred
/// to by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tz {
    offset_hours: i64,
    /// 0: the fixed offset above; n: entry n-1 of the registry.
    zone: u16,
}

type Registry = std::sync::Mutex<Vec<(String, jiff::tz::TimeZone)>>;

fn registry() -> &'static Registry {
    static ZONES: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    ZONES.get_or_init(Registry::default)
}

/// The named zone `name`, if the bundled database knows it and its offsets (checked monthly
/// over 2000–2040) are whole hours.
fn named_zone(name: &str) -> Option<Tz> {
    if name.len() > 64 || !name.contains('/') {
        return None;
    }
    let zone = jiff::tz::TimeZone::get(name).ok()?;
    let canonical = zone.iana_name().unwrap_or(name).to_owned();
    let whole_hours = (0..41 * 12).all(|month: i64| {
        let t = 946_684_800 + month * 2_629_746; // 2000-01-01 plus average months
        jiff::Timestamp::from_second(t).map(|ts| zone.to_offset(ts).seconds() % 3600 == 0).unwrap_or(false)
    });
    if !whole_hours {
        return None;
    }
    let mut zones = registry().lock().ok()?;
    let index = match zones.iter().position(|(n, _)| *n == canonical) {
        Some(i) => i,
        None => {
            zones.push((canonical, zone));
            zones.len() - 1
        }
    };
    Some(Tz { offset_hours: 0, zone: u16::try_from(index + 1).ok()? })
}

impl Tz {
    pub const UTC: Tz = Tz { offset_hours: 0, zone: 0 };

    /// `UTC`, `Z`, `+02:00`, `-05:00`, `+0200` (whole hours within ±14), or an IANA zone name
    /// with whole-hour offsets (`Europe/Berlin`, `America/New_York`); `None` otherwise.
    pub fn parse(s: &str) -> Option<Tz> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") || s == "Etc/UTC" {
            return Some(Tz::UTC);
        }
        if s.contains('/') {
            return named_zone(s);
        }
        let s = s.strip_prefix("UTC").unwrap_or(s);
        let (sign, rest) = match s.as_bytes().first()? {
            b'+' => (1, &s[1..]),
            b'-' => (-1, &s[1..]),
            _ => return None,
        };
        let (h, m) = match rest.split_once(':') {
            Some((h, m)) => (h, m),
            None if rest.len() == 4 => rest.split_at(2),
            None => (rest, "00"),
        };
        if h.is_empty() || h.len() > 2 || m.len() != 2 || !(h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())) {
            return None;
        }
        let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
        (m == 0 && h <= 14).then_some(Tz { offset_hours: sign * h, zone: 0 })
    }

    /// The zone of a network's `timezone` setting, and whether it was understood (else UTC).
    pub fn setting(s: &str) -> (Tz, bool) {
        match Tz::parse(s) {
            Some(tz) => (tz, true),
            None => (Tz::UTC, false),
        }
    }

    fn name(self) -> Option<String> {
        let zones = registry().lock().ok()?;
        zones.get(usize::from(self.zone).checked_sub(1)?).map(|(n, _)| n.clone())
    }

    /// The offset from UTC at instant `t`, in microseconds.
    fn offset(self, t: Micros) -> i64 {
        if self.zone == 0 {
            return self.offset_hours * Micros::HOUR;
        }
        let Ok(zones) = registry().lock() else { return 0 };
        match (zones.get(usize::from(self.zone) - 1), jiff::Timestamp::from_microsecond(t.0)) {
            (Some((_, zone)), Ok(ts)) => i64::from(zone.to_offset(ts).seconds()) * 1_000_000,
            _ => 0,
        }
    }

    /// The setting's canonical spelling: `UTC`, `+02:00` or the zone's name.
    pub fn setting_value(self) -> String {
        if let Some(name) = self.name() {
            return name;
        }
        match self.offset_hours {
            0 => "UTC".into(),
            h => format!("{}{:02}:00", if h < 0 { '-' } else { '+' }, h.abs()),
        }
    }

    /// `UTC`, `UTC+02:00` or the zone's name.
    pub fn label(self) -> String {
        if let Some(name) = self.name() {
            return name;
        }
        match self.offset_hours {
            0 => "UTC".into(),
            h => format!("UTC{}{:02}:00", if h < 0 { '-' } else { '+' }, h.abs()),
        }
    }

    /// Whether the zone is at UTC (offset 0) during all of `[from, to)`: then its days are
    /// the daily rollups' days.
    pub fn is_utc_over(self, from: Micros, to: Micros) -> bool {
        if self.zone == 0 {
            return self.offset_hours == 0;
        }
        let Ok(zones) = registry().lock() else { return false };
        let (Some((_, zone)), Ok(start)) =
            (zones.get(usize::from(self.zone) - 1), jiff::Timestamp::from_microsecond(from.0))
        else {
            return false;
        };
        zone.to_offset(start).seconds() == 0
            && zone
                .following(start)
                .take_while(|t| t.timestamp().as_microsecond() < to.0)
                .all(|t| t.offset().seconds() == 0)
    }

    /// The local day holding `t`, as days since 1970-01-01.
    pub fn day_of(self, t: Micros) -> i64 {
        (t.0 + self.offset(t)).div_euclid(Micros::DAY)
    }

    /// The instant the local day `day` (days since 1970-01-01) starts (the offset in force at
    /// that midnight, found in two steps around a daylight-saving change).
    pub fn day_start(self, day: i64) -> Micros {
        let midnight = day * Micros::DAY;
        let guess = midnight - self.offset(Micros(midnight));
        Micros(midnight - self.offset(Micros(guess)))
    }

    /// The local hour holding `t`, as `YYYY-MM-DD HH:00`.
    pub fn hour_label(self, t: Micros) -> String {
        let local = t.0 + self.offset(t);
        let hour = local.rem_euclid(Micros::DAY) / Micros::HOUR;
        format!("{} {hour:02}:00", day_label(local.div_euclid(Micros::DAY)))
    }
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
pub fn day_label(day: i64) -> String {
    match time::Date::from_julian_day((day + 2_440_588) as i32) {
        Ok(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        Err(_) => day.to_string(),
    }
}

/// The day number of `YYYY-MM-DD`, if it is a date.
pub fn parse_day(s: &str) -> Option<i64> {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s.trim(), &f).ok()?;
    Some(i64::from(d.to_julian_day()) - 2_440_588)
}

/// What rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Date,
    Hour,
    Offer,
    Affiliate,
    Advertiser,
    Goal,
    /// `aff_sub` (1) .. `aff_sub5` (5).
    Sub(u8),
    Source,
}

impl GroupBy {
    pub const ALL: [GroupBy; 12] = [
        GroupBy::Date,
        GroupBy::Hour,
        GroupBy::Offer,
        GroupBy::Affiliate,
        GroupBy::Advertiser,
        GroupBy::Goal,
        GroupBy::Sub(1),
        GroupBy::Sub(2),
        GroupBy::Sub(3),
        GroupBy::Sub(4),
        GroupBy::Sub(5),
        GroupBy::Source,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Date => "date",
            GroupBy::Hour => "hour",
            GroupBy::Offer => "offer",
            GroupBy::Affiliate => "affiliate",
            GroupBy::Advertiser => "advertiser",
            GroupBy::Goal => "goal",
            GroupBy::Sub(1) => "aff_sub",
            GroupBy::Sub(2) => "aff_sub2",
            GroupBy::Sub(3) => "aff_sub3",
            GroupBy::Sub(4) => "aff_sub4",
            GroupBy::Sub(_) => "aff_sub5",
            GroupBy::Source => "source",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            GroupBy::Date => "Date",
            GroupBy::Hour => "Hour",
            GroupBy::Offer => "Offer",
            GroupBy::Affiliate => "Affiliate",
            GroupBy::Advertiser => "Advertiser",
            GroupBy::Goal => "Goal",
            GroupBy::Source => "Source",
            GroupBy::Sub(_) => self.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == s.trim())
    }

    /// Read at least in part from raw rows, up to [`Query::raw_limit`]: goals from the raw
    /// conversions, sub ids from the raw clicks of the hours their rollups do not cover yet.
    pub fn is_raw(self) -> bool {
        matches!(self, GroupBy::Goal | GroupBy::Sub(_) | GroupBy::Source)
    }

    /// Clicks have no goal: a goal report counts conversions only.
    pub fn has_clicks(self) -> bool {
        self != GroupBy::Goal
    }
}

/// The conversion statuses a report can be narrowed to.
pub const STATUSES: [&str; 3] = ["approved", "pending", "rejected"];

/// One report's question. `from`..`to` are instants (`to` excluded), normally local midnights.
#[derive(Debug, Clone)]
pub struct Query {
    pub tenant: TenantId,
    pub from: Micros,
    pub to: Micros,
    pub tz: Tz,
    pub offer: Option<OfferId>,
    pub affiliate: Option<AffiliateId>,
    pub advertiser: Option<AdvertiserId>,
    /// One of [`STATUSES`]; `None` counts approved and pending conversions.
    pub status: Option<String>,
    pub group: GroupBy,
    /// The most raw rows a goal report (conversions) or a sub id report (clicks not covered by
    /// its rollups) reads (normally [`RAW_ROW_LIMIT`]).
    pub raw_limit: i64,
}

/// A row's group: an id (offer, affiliate, advertiser, goal), a text (day, hour, sub id), or
/// no goal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    None,
    Id(i64),
    Text(String),
}

impl Key {
    pub fn id(&self) -> Option<i64> {
        match self {
            Key::Id(id) => Some(*id),
            _ => None,
        }
    }

    pub fn text(&self) -> String {
        match self {
            Key::None => String::new(),
            Key::Id(id) => id.to_string(),
            Key::Text(t) => t.clone(),
        }
    }
}

/// One row: a group in one currency. Money in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: Key,
    pub currency: String,
    pub clicks: i64,
    pub conversions: i64,
    pub payout: i64,
    pub revenue: i64,
}

impl Row {
    fn new(key: Key, currency: String) -> Row {
        Row { key, currency, clicks: 0, conversions: 0, payout: 0, revenue: 0 }
    }

    pub fn profit(&self) -> i64 {
        self.revenue - self.payout
    }

    /// Conversions per 100 clicks in hundredths (1234 = 12.34 %), when there were clicks.
    pub fn cr_hundredths(&self) -> Option<i64> {
        (self.clicks > 0).then(|| (self.conversions * 10_000 + self.clicks / 2) / self.clicks)
    }

    /// `12.34%`, or `–` without clicks.
    pub fn cr(&self) -> String {
        match self.cr_hundredths() {
            Some(h) => format!("{}.{:02}%", h / 100, h % 100),
            None => "–".into(),
        }
    }

    pub(crate) fn add(&mut self, o: &Row) {
        self.clicks += o.clicks;
        self.conversions += o.conversions;
        self.payout += o.payout;
        self.revenue += o.revenue;
    }
}

/// A report's rows, and whether the raw-row limit cut it short.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub truncated: bool,
}

/// Adds up rows of one group and currency.
#[derive(Default)]
pub(crate) struct Acc(BTreeMap<(Key, String), Row>);

impl Acc {
    pub(crate) fn row(&mut self, key: Key, currency: &str) -> &mut Row {
        self.0.entry((key.clone(), currency.to_owned())).or_insert_with(|| Row::new(key, currency.to_owned()))
    }

    /// The rows with anything to show: a key with nothing counted (a refused click's rollup
    /// row, say) is not a row of the report.
    pub(crate) fn rows(self) -> Vec<Row> {
        self.0.into_values().filter(|r| (r.clicks, r.conversions, r.payout, r.revenue) != (0, 0, 0, 0)).collect()
    }
}

/// Runs a report. Rows come in key order; see [`sort`].
pub fn run(conn: &mut DbConn, q: &Query) -> QueryResult<Report> {
    if q.group.is_raw() {
        raw(conn, q)
    } else {
        rollups(conn, q)
    }
}

fn rollups(conn: &mut DbConn, q: &Query) -> QueryResult<Report> {
    Ok(rollups_by(conn, q, &[q.group])?.into_iter().next().unwrap_or_default())
}

/// One group of rollup sums, in one currency (of the offer; empty for an unknown offer).
#[derive(Debug, QueryableByName)]
struct Summed {
    /// The hour or day (UTC, micros) for dates and hours; else the id.
    #[diesel(sql_type = BigInt)]
    k: i64,
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

/// What a status filter counts, as expressions over a rollup row: conversions, payout, revenue.
pub(crate) fn counted(status: Option<&str>) -> (&'static str, &'static str, &'static str) {
    match status {
        None => ("approved + pending", "payout + pending_payout", "revenue + pending_revenue"),
        Some("approved") => ("approved", "payout", "revenue"),
        Some("pending") => ("pending", "pending_payout", "pending_revenue"),
        Some("rejected") => ("rejected", "0", "0"),
        // Nothing is stored with another status.
        Some(_) => ("0", "0", "0"),
    }
}

/// The `AND …` conditions of a report's offer, affiliate and advertiser filters over a table
/// with `offer_id` and `affiliate_id` columns (`t`: the tenant's parameter).
pub(crate) fn rollup_filter(q: &Query, p: &mut Params, t: &str) -> String {
    let mut filter = String::new();
    if let Some(o) = q.offer {
        filter.push_str(&format!(" AND offer_id = {}", p.add(o.0)));
    }
    if let Some(a) = q.affiliate {
        filter.push_str(&format!(" AND affiliate_id = {}", p.add(a.0)));
    }
    if let Some(adv) = q.advertiser {
        filter.push_str(&format!(
            " AND offer_id IN (SELECT id FROM offers WHERE tenant_id = {t} AND advertiser_id = {})",
            p.add(adv.0)
        ));
    }
    filter
}

/// The sums of one grouping (date, hour, offer, affiliate or advertiser), computed in SQL: per
/// key and offer in each table's part of the range, then per key and currency (the offer's).
fn sums(conn: &mut DbConn, q: &Query, group: GroupBy) -> QueryResult<Vec<Summed>> {
    let span = match group {
        GroupBy::Hour => Span::hourly(q.from, q.to),
        // UTC days are the daily table's days; a zone at another offset splits them.
        GroupBy::Date if !q.tz.is_utc_over(q.from, q.to) => Span::hourly(q.from, q.to),
        _ => Span::of(q.from, q.to),
    };
    let mut p = Params::new();
    let t = p.add(q.tenant.0);
    let filter = rollup_filter(q, &mut p, &t);
    let (conversions, payout, revenue) = counted(q.status.as_deref());
    let parts: Vec<String> = span
        .parts()
        .map(|part| {
            let k = match group {
                GroupBy::Date | GroupBy::Hour => part.column,
                GroupBy::Affiliate => "affiliate_id",
                _ => "offer_id",
            };
            let (col, a, b) = (part.column, p.add(part.from.0), p.add(part.to.0));
            format!(
                "SELECT {k} AS k, offer_id, SUM(clicks) AS clicks, SUM({conversions}) AS conversions, \
                 SUM({payout}) AS payout, SUM({revenue}) AS revenue FROM {} \
                 WHERE tenant_id = {t} AND {col} >= {a} AND {col} < {b}{filter} GROUP BY {k}, offer_id",
                part.table
            )
        })
        .collect();
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let key = if group == GroupBy::Advertiser { "COALESCE(o.advertiser_id, 0)" } else { "g.k" };
    let text = format!(
        "SELECT {key} AS k, COALESCE(o.currency, '') AS currency, CAST(SUM(g.clicks) AS BIGINT) AS clicks, \
         CAST(SUM(g.conversions) AS BIGINT) AS conversions, CAST(SUM(g.payout) AS BIGINT) AS payout, \
         CAST(SUM(g.revenue) AS BIGINT) AS revenue FROM ({}) g \
         LEFT JOIN offers o ON o.tenant_id = {t} AND o.id = g.offer_id GROUP BY 1, 2",
        parts.join(" UNION ALL ")
    );
    sql::load(conn, &text, &p)
}

/// One report per grouping in `groups` (of the rollups: date, hour, offer, affiliate or
/// advertiser), each summed in SQL; `q.group` is not used. The dashboards ask for days, offers
/// and affiliates at once.
pub fn rollups_by(conn: &mut DbConn, q: &Query, groups: &[GroupBy]) -> QueryResult<Vec<Report>> {
    let mut reports = Vec::with_capacity(groups.len());
    for &group in groups {
        let mut acc = Acc::default();
        for s in sums(conn, q, group)? {
            let key = match group {
                GroupBy::Date => Key::Text(day_label(q.tz.day_of(Micros(s.k)))),
                GroupBy::Hour => Key::Text(q.tz.hour_label(Micros(s.k))),
                _ => Key::Id(s.k),
            };
            let row = acc.row(key, &s.currency);
            row.clicks += s.clicks;
            row.conversions += s.conversions;
            row.payout += s.payout;
            row.revenue += s.revenue;
        }
        reports.push(Report { rows: acc.rows(), truncated: false });
    }
    Ok(reports)
}

/// One group of a goal or sub id report, in one currency: `id` keys goals (none: no goal),
/// `text` sub ids; `seen` counts its raw rows, `n` those counted (clicks, or conversions of the
/// statuses asked for); `last` is the time of its latest click (0 for conversions).
#[derive(Debug, QueryableByName)]
struct RawSum {
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    #[diesel(sql_type = Text)]
    text: String,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    seen: i64,
    /// Clicks, or counted conversions.
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    payout: i64,
    #[diesel(sql_type = BigInt)]
    revenue: i64,
    #[diesel(sql_type = BigInt)]
    last: i64,
}

impl RawSum {
    fn key(&self, group: GroupBy) -> Key {
        match (group, self.id) {
            (GroupBy::Goal, Some(id)) => Key::Id(id),
            (GroupBy::Goal, None) => Key::None,
            _ => Key::Text(self.text.clone()),
        }
    }
}

/// The column of a sub id grouping.
pub(crate) fn sub_column(group: GroupBy) -> &'static str {
    match group {
        GroupBy::Sub(1) => "aff_sub",
        GroupBy::Sub(2) => "aff_sub2",
        GroupBy::Sub(3) => "aff_sub3",
        GroupBy::Sub(4) => "aff_sub4",
        GroupBy::Sub(_) => "aff_sub5",
        _ => "source",
    }
}

/// The condition on a conversion's `status` that a report counts.
fn status_condition(status: Option<&str>) -> &'static str {
    match status {
        None => "g.status IN ('approved', 'pending')",
        Some("approved") => "g.status = 'approved'",
        Some("pending") => "g.status = 'pending'",
        Some("rejected") => "g.status = 'rejected'",
        // Nothing is stored with another status.
        Some(_) => "1 = 0",
    }
}

/// `FROM … WHERE …` of the raw rows a goal or sub id report reads: the tenant's rows of `table`
/// (named `alias`, with `join`) created in `[from, to)`, narrowed by the query's filters.
fn raw_from(
    q: &Query,
    (from, to): (Micros, Micros),
    p: &mut Params,
    tenant: &str,
    table: &str,
    alias: &str,
    join: &str,
) -> String {
    let a = alias;
    let mut sql = format!(
        "FROM {table} {a}{join} WHERE {a}.tenant_id = {tenant} AND {a}.created_at >= {} AND {a}.created_at < {}",
        p.add(from.0),
        p.add(to.0)
    );
    for (column, value) in [
        ("offer_id", q.offer.map(|o| o.0)),
        ("affiliate_id", q.affiliate.map(|a| a.0)),
        ("advertiser_id", q.advertiser.map(|a| a.0)),
    ] {
        if let Some(v) = value {
            sql.push_str(&format!(" AND {a}.{column} = {}", p.add(v)));
        }
    }
    sql
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Whether more than `limit` rows match `from` (a [`raw_from`] of `alias` with its parameters
/// `p`).
fn more_than(conn: &mut DbConn, from: &str, alias: &str, mut p: Params, limit: i64) -> QueryResult<bool> {
    // In time order, so that the `(tenant_id, created_at)` index is read and left at row
    // `limit + 1`, whatever the planner knows of the table.
    let text = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM \
         (SELECT 1 AS x {from} ORDER BY {alias}.created_at LIMIT 1 OFFSET {}) m",
        p.add(limit)
    );
    Ok(sql::load::<Count>(conn, &text, &p)?.into_iter().any(|c| c.n > 0))
}

fn raw(conn: &mut DbConn, q: &Query) -> QueryResult<Report> {
    match q.group {
        GroupBy::Goal => goals(conn, q),
        _ => crate::sub_report::run(conn, q),
    }
}

/// A goal report: summed in SQL over the earliest `q.raw_limit` conversions of the range;
/// `truncated` when there were more.
fn goals(conn: &mut DbConn, q: &Query) -> QueryResult<Report> {
    let limit = q.raw_limit.max(0);
    let mut p = Params::new();
    let t = p.add(q.tenant.0);
    let from = raw_from(q, (q.from, q.to), &mut p, &t, "conversions", "v", "");
    let check = p.clone();
    let counted = status_condition(q.status.as_deref());
    // A rejected conversion is counted, but its money is not (as in every rollup grouping:
    // [`counted`]).
    let text = format!(
        "SELECT g.k AS id, CAST('' AS TEXT) AS text, g.currency AS currency, CAST(COUNT(*) AS BIGINT) AS seen, \
         CAST(SUM(CASE WHEN {counted} THEN 1 ELSE 0 END) AS BIGINT) AS n, \
         CAST(SUM(CASE WHEN {counted} AND g.status <> 'rejected' THEN g.payout ELSE 0 END) AS BIGINT) AS payout, \
         CAST(SUM(CASE WHEN {counted} AND g.status <> 'rejected' THEN g.revenue ELSE 0 END) AS BIGINT) AS revenue, \
         CAST(0 AS BIGINT) AS last FROM \
         (SELECT v.goal_id AS k, v.currency, v.status, v.payout, v.revenue {from} \
         ORDER BY v.created_at LIMIT {}) g GROUP BY 1, 2, 3",
        p.add(limit)
    );
    let found: Vec<RawSum> = sql::load(conn, &text, &p)?;
    let seen = found.iter().map(|r| r.seen).sum::<i64>();
    // Conversions are few beside clicks: the limit is seldom reached, and only then is the
    // table asked whether it holds more.
    let truncated = seen >= limit && more_than(conn, &from, "v", check, limit)?;
    let mut acc = Acc::default();
    for r in found.into_iter().filter(|r| r.n > 0) {
        let row = acc.row(r.key(q.group), &r.currency);
        row.conversions += r.n;
        row.payout += r.payout;
        row.revenue += r.revenue;
    }
    Ok(Report { rows: acc.rows(), truncated })
}

/// The clicks of a sub id report's query created in `[from, to)`, counted per sub id (of
/// `q.group`) and currency (the offer's) in SQL, over the earliest `limit` of them; and whether
/// there were more (then exactly `limit` are counted).
pub(crate) fn raw_clicks(
    conn: &mut DbConn,
    q: &Query,
    (from, to): (Micros, Micros),
    limit: i64,
) -> QueryResult<(Vec<Row>, bool)> {
    let limit = limit.max(0);
    let mut p = Params::new();
    let t = p.add(q.tenant.0);
    let from = raw_from(q, (from, to), &mut p, &t, "clicks", "c", "");
    let key = format!("c.{}", sub_column(q.group));
    // One click more than the limit is read: if it is there, the report is cut short and one
    // click of the latest time is taken off again (which one, among clicks of the same
    // microsecond, is the database's choice, as it is for the limit itself). Counted per sub id
    // and offer first, then per currency (the offer's), so that offers are looked up once per
    // group, not once per click.
    let text = format!(
        "SELECT CAST(NULL AS BIGINT) AS id, g.k AS text, COALESCE(o.currency, '') AS currency, \
         CAST(SUM(g.n) AS BIGINT) AS seen, CAST(SUM(g.n) AS BIGINT) AS n, CAST(0 AS BIGINT) AS payout, \
         CAST(0 AS BIGINT) AS revenue, CAST(MAX(g.last) AS BIGINT) AS last FROM \
         (SELECT r.k, r.offer_id, COUNT(*) AS n, MAX(r.created_at) AS last FROM \
         (SELECT {key} AS k, c.offer_id, c.created_at {from} ORDER BY c.created_at LIMIT {}) r \
         GROUP BY r.k, r.offer_id) g \
         LEFT JOIN offers o ON o.tenant_id = {t} AND o.id = g.offer_id GROUP BY 1, 2, 3",
        p.add(limit.saturating_add(1))
    );
    let mut found: Vec<RawSum> = sql::load(conn, &text, &p)?;
    let seen = found.iter().map(|r| r.seen).sum::<i64>();
    let latest = found.iter().map(|r| r.last).max().unwrap_or_default();
    if let Some(r) = found.iter_mut().rfind(|r| seen > limit && r.last == latest) {
        r.n -= seen - limit;
    }
    let mut acc = Acc::default();
    for r in found.into_iter().filter(|r| r.n > 0) {
        acc.row(r.key(q.group), &r.currency).clicks += r.n;
    }
    Ok((acc.rows(), seen > limit))
}

/// A column rows can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Key,
    Clicks,
    Conversions,
    Cr,
    Payout,
    Revenue,
    Profit,
}

impl SortBy {
    pub const ALL: [SortBy; 7] =
        [SortBy::Key, SortBy::Clicks, SortBy::Conversions, SortBy::Cr, SortBy::Payout, SortBy::Revenue, SortBy::Profit];

    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Key => "key",
            SortBy::Clicks => "clicks",
            SortBy::Conversions => "conversions",
            SortBy::Cr => "cr",
            SortBy::Payout => "payout",
            SortBy::Revenue => "revenue",
            SortBy::Profit => "profit",
        }
    }

    pub fn parse(s: &str) -> Option<SortBy> {
        SortBy::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Sorts rows by a column (ties by key, then currency).
pub fn sort(rows: &mut [Row], by: SortBy, descending: bool) {
    rows.sort_by(|a, b| {
        let o = match by {
            SortBy::Key => a.key.cmp(&b.key),
            SortBy::Clicks => a.clicks.cmp(&b.clicks),
            SortBy::Conversions => a.conversions.cmp(&b.conversions),
            SortBy::Cr => a.cr_hundredths().cmp(&b.cr_hundredths()),
            SortBy::Payout => a.payout.cmp(&b.payout),
            SortBy::Revenue => a.revenue.cmp(&b.revenue),
            SortBy::Profit => a.profit().cmp(&b.profit()),
        };
        let o = if descending { o.reverse() } else { o };
        o.then_with(|| a.key.cmp(&b.key)).then_with(|| a.currency.cmp(&b.currency))
    });
}

/// The totals of rows: one row per currency (key [`Key::None`]), in currency order.
pub fn totals(rows: &[Row]) -> Vec<Row> {
    let mut by: BTreeMap<String, Row> = BTreeMap::new();
    for r in rows {
        by.entry(r.currency.clone()).or_insert_with(|| Row::new(Key::None, r.currency.clone())).add(r);
    }
    by.into_values().collect()
}

/// Names of the ids of a grouping (offers, affiliates, advertisers or goals of the tenant).
pub fn names(conn: &mut DbConn, tenant: TenantId, group: GroupBy, ids: &[i64]) -> QueryResult<HashMap<i64, String>> {
    let rows: Vec<(i64, String)> = match group {
        GroupBy::Offer => offers::table
            .filter(offers::tenant_id.eq(tenant))
            .filter(offers::id.eq_any(ids.iter().map(|i| OfferId(*i)).collect::<Vec<_>>()))
            .select((offers::id, offers::name))
            .load::<(OfferId, String)>(conn)?
            .into_iter()
            .map(|(i, n)| (i.0, n))
            .collect(),
        GroupBy::Affiliate => affiliates::table
            .filter(affiliates::tenant_id.eq(tenant))
            .filter(affiliates::id.eq_any(ids.iter().map(|i| AffiliateId(*i)).collect::<Vec<_>>()))
            .select((affiliates::id, affiliates::name))
            .load::<(AffiliateId, String)>(conn)?
            .into_iter()
            .map(|(i, n)| (i.0, n))
            .collect(),
        GroupBy::Advertiser => advertisers::table
            .filter(advertisers::tenant_id.eq(tenant))
            .filter(advertisers::id.eq_any(ids.iter().map(|i| AdvertiserId(*i)).collect::<Vec<_>>()))
            .select((advertisers::id, advertisers::name))
            .load::<(AdvertiserId, String)>(conn)?
            .into_iter()
            .map(|(i, n)| (i.0, n))
            .collect(),
        GroupBy::Goal => goals::table
            .filter(goals::tenant_id.eq(tenant))
            .filter(goals::id.eq_any(ids.iter().map(|i| affnet_db::GoalId(*i)).collect::<Vec<_>>()))
            .select((goals::id, goals::name))
            .load::<(affnet_db::GoalId, String)>(conn)?
            .into_iter()
            .map(|(i, n)| (i.0, n))
            .collect(),
        _ => Vec::new(),
    };
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_parse_whole_hour_offsets_only() {
        assert_eq!(Tz::parse("UTC"), Some(Tz::UTC));
        assert_eq!(Tz::parse(""), Some(Tz::UTC));
        assert_eq!(Tz::parse("+02:00").map(Tz::label), Some("UTC+02:00".into()));
        assert_eq!(Tz::parse("-0500").map(Tz::label), Some("UTC-05:00".into()));
        assert_eq!(Tz::parse("UTC+3").map(Tz::label), Some("UTC+03:00".into()));
        assert_eq!(Tz::parse("+05:30"), None);
        assert_eq!(Tz::parse("Asia/Kolkata"), None, "half-hour offsets cannot split hourly rollups");
        assert_eq!(Tz::parse("Mars/Olympus_Mons"), None);
        let berlin = Tz::parse("Europe/Berlin").unwrap();
        assert_eq!(berlin.setting_value(), "Europe/Berlin");
        // 2026-07-01 is in summer time (+02:00), 2026-01-15 in winter time (+01:00).
        let july = parse_day("2026-07-01").unwrap();
        assert_eq!(berlin.day_start(july), Micros(july * Micros::DAY - 2 * Micros::HOUR));
        let january = parse_day("2026-01-15").unwrap();
        assert_eq!(berlin.day_start(january), Micros(january * Micros::DAY - Micros::HOUR));
        assert_eq!(berlin.day_of(Micros(july * Micros::DAY - 90 * 60 * 1_000_000)), july);
        assert_eq!(berlin.day_of(Micros(january * Micros::DAY - 90 * 60 * 1_000_000)), january - 1);
        assert_eq!(Tz::parse("UTC+3").map(Tz::setting_value), Some("+03:00".into()));
        assert_eq!(Tz::parse("-0500").map(Tz::setting_value), Some("-05:00".into()));
        assert_eq!(Tz::parse("z").map(Tz::setting_value), Some("UTC".into()));
        assert_eq!(Tz::setting("Asia/Kolkata"), (Tz::UTC, false));
    }

    #[test]
    fn days_follow_the_offset() {
        let tz = Tz::parse("+02:00").unwrap_or_default();
        let day = parse_day("2026-11-26").unwrap_or_default();
        assert_eq!(day_label(day), "2026-11-26");
        // Local midnight of +02:00 is 22:00 UTC the day before.
        assert_eq!(tz.day_start(day), Micros(day * Micros::DAY - 2 * Micros::HOUR));
        assert_eq!(tz.day_of(Micros(day * Micros::DAY - Micros::HOUR)), day);
        assert_eq!(Tz::UTC.day_of(Micros(day * Micros::DAY - Micros::HOUR)), day - 1);
        assert_eq!(tz.hour_label(Micros(day * Micros::DAY - Micros::HOUR)), "2026-11-26 01:00");
        assert_eq!(parse_day("26/11/2026"), None);
    }

    #[test]
    fn rows_sort_and_total_per_currency() {
        let row = |k: &str, c: &str, clicks, conv, pay| Row {
            key: Key::Text(k.into()),
            currency: c.into(),
            clicks,
            conversions: conv,
            payout: pay,
            revenue: pay * 2,
        };
        let mut rows = vec![row("a", "USD", 10, 1, 100), row("b", "USD", 4, 2, 50), row("c", "EUR", 0, 1, 7)];
        sort(&mut rows, SortBy::Cr, true);
        assert_eq!(rows.iter().map(|r| r.key.text()).collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(rows[0].cr(), "50.00%");
        assert_eq!(rows[2].cr(), "–");
        let t = totals(&rows);
        assert_eq!(t.len(), 2);
        assert_eq!((t[1].currency.as_str(), t[1].clicks, t[1].conversions, t[1].payout), ("USD", 14, 3, 150));
        assert_eq!(t[1].profit(), 150);
    }
}
