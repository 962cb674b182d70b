//! Reports and dashboards: clicks, conversions, payout and revenue of a tenant over a range of
//! days, grouped by day, hour, offer, affiliate or advertiser (read from the hourly rollups),
//! or by goal or sub id (read from the raw rows through their `(tenant_id, created_at)` index,
//! at most [`RAW_ROW_LIMIT`] rows of each table).
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

use affnet_db::schema::{advertisers, affiliates, clicks, conversions, goals, offers, stats_hourly as sh};
use affnet_db::{AdvertiserId, AffiliateId, DbConn, Micros, OfferId, TenantId};

/// The most raw rows (of clicks, and of conversions) one goal or sub id report reads.
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

    /// Read from the raw rows (bounded) rather than the rollups.
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
    /// The most raw rows of each table a goal or sub id report reads (normally
    /// [`RAW_ROW_LIMIT`]).
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

    fn add(&mut self, o: &Row) {
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
struct Acc(BTreeMap<(Key, String), Row>);

impl Acc {
    fn row(&mut self, key: Key, currency: &str) -> &mut Row {
        self.0.entry((key.clone(), currency.to_owned())).or_insert_with(|| Row::new(key, currency.to_owned()))
    }

    fn conversion(&mut self, key: Key, currency: &str, status: &str, payout: i64, revenue: i64, want: Option<&str>) {
        let counted = match want {
            Some(w) => w == status,
            None => status == "approved" || status == "pending",
        };
        if counted {
            let r = self.row(key, currency);
            r.conversions += 1;
            r.payout += payout;
            r.revenue += revenue;
        }
    }

    fn rows(self) -> Vec<Row> {
        self.0.into_values().collect()
    }
}

/// The tenant's offers: id → (advertiser, currency).
fn offer_facts(conn: &mut DbConn, tenant: TenantId) -> QueryResult<HashMap<OfferId, (AdvertiserId, String)>> {
    let rows: Vec<(OfferId, AdvertiserId, String)> = offers::table
        .filter(offers::tenant_id.eq(tenant))
        .select((offers::id, offers::advertiser_id, offers::currency))
        .load(conn)?;
    Ok(rows.into_iter().map(|(o, a, c)| (o, (a, c))).collect())
}

/// Runs a report. Rows come in key order; see [`sort`].
pub fn run(conn: &mut DbConn, q: &Query) -> QueryResult<Report> {
    if q.group.is_raw() {
        raw(conn, q)
    } else {
        rollups(conn, q)
    }
}

type RollupRow = (Micros, OfferId, AffiliateId, i64, i64, i64, i64, i64, i64, i64, i64);

fn rollups(conn: &mut DbConn, q: &Query) -> QueryResult<Report> {
    Ok(rollups_by(conn, q, &[q.group])?.into_iter().next().unwrap_or_default())
}

/// One report per grouping in `groups` (of the rollups: date, hour, offer, affiliate or
/// advertiser) from a single read of the rollups; `q.group` is not used. The dashboards ask for
/// days, offers and affiliates at once.
pub fn rollups_by(conn: &mut DbConn, q: &Query, groups: &[GroupBy]) -> QueryResult<Vec<Report>> {
    let facts = offer_facts(conn, q.tenant)?;
    let mut query = sh::table
        .filter(sh::tenant_id.eq(q.tenant))
        .filter(sh::hour.ge(crate::rollup::hour_of(q.from)))
        .filter(sh::hour.lt(q.to))
        .into_boxed();
    if let Some(o) = q.offer {
        query = query.filter(sh::offer_id.eq(o));
    }
    if let Some(a) = q.affiliate {
        query = query.filter(sh::affiliate_id.eq(a));
    }
    if let Some(adv) = q.advertiser {
        let own: Vec<OfferId> = facts.iter().filter(|(_, (a, _))| *a == adv).map(|(o, _)| *o).collect();
        query = query.filter(sh::offer_id.eq_any(own));
    }
    let rows: Vec<RollupRow> = query
        .select((
            sh::hour,
            sh::offer_id,
            sh::affiliate_id,
            sh::clicks,
            sh::approved,
            sh::pending,
            sh::rejected,
            sh::payout,
            sh::revenue,
            sh::pending_payout,
            sh::pending_revenue,
        ))
        .load(conn)?;
    // Two stages: sum every rollup row under integer keys (day number, hour, id) and a currency
    // index, without allocating; then label the few distinct keys. (A 30-day report of a busy
    // network reads 10^5 rollup rows: per-row strings were most of its time.)
    let mut currencies: Vec<&str> = Vec::new();
    let mut days: HashMap<i64, i64> = HashMap::new();
    let mut stage: Vec<HashMap<(i64, usize), [i64; 4]>> = groups.iter().map(|_| HashMap::new()).collect();
    for (hour, offer, affiliate, clicks, approved, pending, rejected, payout, revenue, p_payout, p_revenue) in rows {
        let (advertiser, currency) = match facts.get(&offer) {
            Some((a, c)) => (a.0, c.as_str()),
            None => (0, ""),
        };
        let ci = match currencies.iter().position(|c| *c == currency) {
            Some(i) => i,
            None => {
                currencies.push(currency);
                currencies.len() - 1
            }
        };
        let (n, pay, rev) = match q.status.as_deref() {
            Some("approved") => (approved, payout, revenue),
            Some("pending") => (pending, p_payout, p_revenue),
            Some(_) => (rejected, 0, 0),
            None => (approved + pending, payout + p_payout, revenue + p_revenue),
        };
        for (group, sums) in groups.iter().zip(stage.iter_mut()) {
            let k = match group {
                GroupBy::Date => *days.entry(hour.0).or_insert_with(|| q.tz.day_of(hour)),
                GroupBy::Hour => hour.0,
                GroupBy::Offer => offer.0,
                GroupBy::Affiliate => affiliate.0,
                _ => advertiser,
            };
            let e = sums.entry((k, ci)).or_insert([0; 4]);
            e[0] += clicks;
            e[1] += n;
            e[2] += pay;
            e[3] += rev;
        }
    }
    let mut reports = Vec::with_capacity(groups.len());
    for (group, sums) in groups.iter().zip(stage) {
        let mut acc = Acc::default();
        for ((k, ci), [clicks, n, pay, rev]) in sums {
            let key = match group {
                GroupBy::Date => Key::Text(day_label(k)),
                GroupBy::Hour => Key::Text(q.tz.hour_label(Micros(k))),
                _ => Key::Id(k),
            };
            let add =
                Row { key: Key::None, currency: String::new(), clicks, conversions: n, payout: pay, revenue: rev };
            acc.row(key, currencies.get(ci).copied().unwrap_or("")).add(&add);
        }
        reports.push(Report { rows: acc.rows(), truncated: false });
    }
    Ok(reports)
}

type SubCols = (String, String, String, String, String, String);

fn sub_of(group: GroupBy, s: &SubCols) -> Key {
    let v = match group {
        GroupBy::Sub(1) => &s.0,
        GroupBy::Sub(2) => &s.1,
        GroupBy::Sub(3) => &s.2,
        GroupBy::Sub(4) => &s.3,
        GroupBy::Sub(_) => &s.4,
        _ => &s.5,
    };
    Key::Text(v.clone())
}

fn raw(conn: &mut DbConn, q: &Query) -> QueryResult<Report> {
    let facts = offer_facts(conn, q.tenant)?;
    let mut acc = Acc::default();
    let mut truncated = false;
    let want = q.status.as_deref();
    let subs =
        (clicks::aff_sub, clicks::aff_sub2, clicks::aff_sub3, clicks::aff_sub4, clicks::aff_sub5, clicks::source);
    if q.group == GroupBy::Goal {
        let mut query = conversions::table
            .filter(conversions::tenant_id.eq(q.tenant))
            .filter(conversions::created_at.ge(q.from))
            .filter(conversions::created_at.lt(q.to))
            .into_boxed();
        if let Some(o) = q.offer {
            query = query.filter(conversions::offer_id.eq(o));
        }
        if let Some(a) = q.affiliate {
            query = query.filter(conversions::affiliate_id.eq(a));
        }
        if let Some(a) = q.advertiser {
            query = query.filter(conversions::advertiser_id.eq(a));
        }
        let rows: Vec<(Option<i64>, String, String, i64, i64)> = query
            .order(conversions::created_at.asc())
            .limit(q.raw_limit + 1)
            .select((
                conversions::goal_id,
                conversions::currency,
                conversions::status,
                conversions::payout,
                conversions::revenue,
            ))
            .load(conn)?;
        truncated |= rows.len() as i64 > q.raw_limit;
        for (goal, currency, status, payout, revenue) in rows.into_iter().take(q.raw_limit as usize) {
            let key = goal.map(Key::Id).unwrap_or(Key::None);
            acc.conversion(key, &currency, &status, payout, revenue, want);
        }
        return Ok(Report { rows: acc.rows(), truncated });
    }

    let mut cq = clicks::table
        .filter(clicks::tenant_id.eq(q.tenant))
        .filter(clicks::created_at.ge(q.from))
        .filter(clicks::created_at.lt(q.to))
        .into_boxed();
    if let Some(o) = q.offer {
        cq = cq.filter(clicks::offer_id.eq(o));
    }
    if let Some(a) = q.affiliate {
        cq = cq.filter(clicks::affiliate_id.eq(a));
    }
    if let Some(a) = q.advertiser {
        cq = cq.filter(clicks::advertiser_id.eq(a));
    }
    let rows: Vec<(OfferId, SubCols)> =
        cq.order(clicks::created_at.asc()).limit(q.raw_limit + 1).select((clicks::offer_id, subs)).load(conn)?;
    truncated |= rows.len() as i64 > q.raw_limit;
    for (offer, s) in rows.iter().take(q.raw_limit as usize) {
        let currency = facts.get(offer).map(|(_, c)| c.as_str()).unwrap_or("");
        acc.row(sub_of(q.group, s), currency).clicks += 1;
    }

    let mut vq = conversions::table
        .inner_join(clicks::table)
        .filter(conversions::tenant_id.eq(q.tenant))
        .filter(conversions::created_at.ge(q.from))
        .filter(conversions::created_at.lt(q.to))
        .into_boxed();
    if let Some(o) = q.offer {
        vq = vq.filter(conversions::offer_id.eq(o));
    }
    if let Some(a) = q.affiliate {
        vq = vq.filter(conversions::affiliate_id.eq(a));
    }
    if let Some(a) = q.advertiser {
        vq = vq.filter(conversions::advertiser_id.eq(a));
    }
    let rows: Vec<(SubCols, String, String, i64, i64)> = vq
        .order(conversions::created_at.asc())
        .limit(q.raw_limit + 1)
        .select((subs, conversions::currency, conversions::status, conversions::payout, conversions::revenue))
        .load(conn)?;
    truncated |= rows.len() as i64 > q.raw_limit;
    for (s, currency, status, payout, revenue) in rows.into_iter().take(q.raw_limit as usize) {
        acc.conversion(sub_of(q.group, &s), &currency, &status, payout, revenue, want);
    }
    Ok(Report { rows: acc.rows(), truncated })
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
