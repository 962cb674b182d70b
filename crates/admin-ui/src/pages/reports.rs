//! Reports and dashboards of the three portals, over [`affnet_tracking::reports`]. Staff see
//! the whole network with payout, revenue and profit; affiliates their own traffic with their
//! payout; advertisers their own offers with what they pay (revenue, shown as "Cost"), never an
//! affiliate's payout nor sub ids. Days follow the network's time zone.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_db::{AdvertiserId, AffiliateId, Currency, FieldErrors, Money, OfferId};
use affnet_tracking::reports::{self, GroupBy, Key, Query, Row, SortBy, Tz};
use askama::Template;

use super::catalogue::{percent_encode, Pager};
use super::tracking::conversions::csv_field;
use crate::auth::{AdvertiserUser, AffiliateUser, CurrentUser, Staff};
use crate::layout::{render, Layout};
use crate::{AppError, AppState};

/// Whose numbers a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Staff,
    Affiliate(AffiliateId),
    Advertiser(AdvertiserId),
}

impl Scope {
    fn groups(self) -> Vec<GroupBy> {
        GroupBy::ALL
            .into_iter()
            .filter(|g| match self {
                Scope::Staff => true,
                Scope::Affiliate(_) => !matches!(g, GroupBy::Affiliate | GroupBy::Advertiser),
                Scope::Advertiser(_) => matches!(g, GroupBy::Date | GroupBy::Hour | GroupBy::Offer | GroupBy::Goal),
            })
            .collect()
    }

    pub fn shows_payout(self) -> bool {
        !matches!(self, Scope::Advertiser(_))
    }

    pub fn shows_revenue(self) -> bool {
        !matches!(self, Scope::Affiliate(_))
    }

    pub fn shows_profit(self) -> bool {
        self == Scope::Staff
    }

    /// What the revenue column is called: advertisers see it as what they pay.
    pub fn revenue_label(self) -> &'static str {
        if matches!(self, Scope::Advertiser(_)) {
            "Cost"
        } else {
            "Revenue"
        }
    }

    fn apply(self, q: &mut Query) {
        match self {
            Scope::Staff => {}
            Scope::Affiliate(a) => q.affiliate = Some(a),
            Scope::Advertiser(a) => {
                q.advertiser = Some(a);
                q.affiliate = None;
            }
        }
    }

    fn base(self) -> &'static str {
        match self {
            Scope::Staff => "/admin",
            Scope::Affiliate(_) => "/affiliate",
            Scope::Advertiser(_) => "/advertiser",
        }
    }
}

/// `2.50 USD`, or `2.50 USD, 1.00 EUR` for amounts of several currencies; `0` for none.
fn amounts(by_currency: &BTreeMap<String, i64>) -> String {
    let parts: Vec<String> = by_currency.iter().map(|(c, m)| one_amount(*m, c)).collect();
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join(", ")
    }
}

/// A stored currency code is read as stored (`str::parse`), not checked against ISO 4217 again.
fn one_amount(minor: i64, currency: &str) -> String {
    match currency.parse::<Currency>() {
        Ok(c) => Money::new(minor, c).to_string(),
        Err(_) => minor.to_string(),
    }
}

fn decimal(minor: i64, currency: &str) -> String {
    match currency.parse::<Currency>() {
        Ok(c) => Money::new(minor, c).decimal(),
        Err(_) => minor.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Dashboards

/// One period of a dashboard (today, yesterday, …).
pub struct Period {
    pub label: &'static str,
    pub clicks: i64,
    pub conversions: i64,
    pub cr: String,
    pub payout: String,
    pub revenue: String,
    pub profit: String,
}

/// One day's bars of the chart, in SVG user units.
pub struct Bar {
    pub x: i64,
    pub w: i64,
    pub clicks_y: i64,
    pub clicks_h: i64,
    pub conv_y: i64,
    pub conv_h: i64,
    pub title: String,
    /// The `MM-DD` under the bar, every seventh day.
    pub label: String,
}

pub struct Chart {
    pub bars: Vec<Bar>,
    pub top: i64,
    pub bottom: i64,
    pub max: i64,
    pub mid: i64,
    /// Where the `mid` label sits.
    pub mid_y: i64,
    pub description: String,
}

pub const CHART_TOP: i64 = 10;
pub const CHART_BOTTOM: i64 = 170;

/// A line of a top-5 table.
pub struct Top {
    pub id: i64,
    pub name: String,
    pub clicks: i64,
    pub conversions: i64,
    pub cr: String,
}

pub struct Dashboard {
    pub scope: Scope,
    pub periods: Vec<Period>,
    pub chart: Chart,
    pub top_offers: Vec<Top>,
    pub top_affiliates: Vec<Top>,
    pub tz_label: String,
    pub tz_notice: String,
}

impl Dashboard {
    pub fn shows_payout(&self) -> bool {
        self.scope.shows_payout()
    }
    pub fn shows_revenue(&self) -> bool {
        self.scope.shows_revenue()
    }
    pub fn shows_profit(&self) -> bool {
        self.scope.shows_profit()
    }
    pub fn shows_top_affiliates(&self) -> bool {
        self.scope == Scope::Staff
    }
    pub fn revenue_label(&self) -> &'static str {
        self.scope.revenue_label()
    }
    pub fn reports_href(&self) -> String {
        format!("{}/reports", self.scope.base())
    }
}

fn tz_of(me: &CurrentUser) -> (Tz, String) {
    network_tz(&me.tenant)
}

/// The network's time zone for its days, and a notice when its setting is not understood (UTC is
/// used then).
pub(crate) fn network_tz(tenant: &affnet_accounts::Tenant) -> (Tz, String) {
    let (tz, known) = Tz::setting(&tenant.timezone);
    let notice = if known {
        String::new()
    } else {
        format!("The network's time zone \"{}\" is not supported here; days are in UTC.", tenant.timezone)
    };
    (tz, notice)
}

fn period(label: &'static str, rows: &[&Row]) -> Period {
    let owned: Vec<Row> = rows.iter().map(|r| (*r).clone()).collect();
    let totals = reports::totals(&owned);
    let money = |f: fn(&Row) -> i64| amounts(&totals.iter().map(|t| (t.currency.clone(), f(t))).collect());
    let all = owned.iter().fold(
        Row { key: Key::None, currency: String::new(), clicks: 0, conversions: 0, payout: 0, revenue: 0 },
        |mut a, r| {
            a.clicks += r.clicks;
            a.conversions += r.conversions;
            a
        },
    );
    Period {
        label,
        clicks: all.clicks,
        conversions: all.conversions,
        cr: all.cr(),
        payout: money(|t| t.payout),
        revenue: money(|t| t.revenue),
        profit: money(|t| t.profit()),
    }
}

fn tops(rows: Vec<Row>, names: &HashMap<i64, String>) -> Vec<Top> {
    let mut by: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for r in rows {
        let e = by.entry(r.key.id().unwrap_or_default()).or_default();
        e.0 += r.clicks;
        e.1 += r.conversions;
    }
    let mut list: Vec<Top> = by
        .into_iter()
        .map(|(id, (clicks, conversions))| {
            let cr = Row { key: Key::None, currency: String::new(), clicks, conversions, payout: 0, revenue: 0 }.cr();
            Top { id, name: names.get(&id).cloned().unwrap_or_default(), clicks, conversions, cr }
        })
        .collect();
    list.sort_by(|a, b| b.conversions.cmp(&a.conversions).then(b.clicks.cmp(&a.clicks)).then(a.id.cmp(&b.id)));
    list.truncate(5);
    list
}

/// The numbers of a landing page: the last 30 days of the scope, in the network's days.
pub async fn dashboard(state: &AppState, me: &CurrentUser, scope: Scope) -> Result<Dashboard, AppError> {
    let (tz, tz_notice) = tz_of(me);
    let today = tz.day_of(state.clock.now());
    let first = today - 29;
    let mut q = Query {
        tenant: me.tenant.id,
        from: tz.day_start(first),
        to: tz.day_start(today + 1),
        tz,
        offer: None,
        affiliate: None,
        advertiser: None,
        status: None,
        group: GroupBy::Date,
        raw_limit: reports::RAW_ROW_LIMIT,
    };
    scope.apply(&mut q);
    let tenant = me.tenant.id;
    let (days, offers, affiliates, offer_names, affiliate_names) = state
        .db(move |c| {
            let groups: &[GroupBy] = if scope == Scope::Staff {
                &[GroupBy::Date, GroupBy::Offer, GroupBy::Affiliate]
            } else {
                &[GroupBy::Date, GroupBy::Offer]
            };
            let mut found = reports::rollups_by(c, &q, groups)?.into_iter().map(|r| r.rows);
            let (days, offers) = (found.next().unwrap_or_default(), found.next().unwrap_or_default());
            let affiliates = found.next().unwrap_or_default();
            let ids = |rows: &[Row]| rows.iter().filter_map(|r| r.key.id()).collect::<Vec<_>>();
            let on = reports::names(c, tenant, GroupBy::Offer, &ids(&offers))?;
            let an = reports::names(c, tenant, GroupBy::Affiliate, &ids(&affiliates))?;
            Ok((days, offers, affiliates, on, an))
        })
        .await?;
    let day_no = |r: &Row| reports::parse_day(&r.key.text()).unwrap_or_default();
    let within = |from: i64, to: i64| days.iter().filter(|r| (from..=to).contains(&day_no(r))).collect::<Vec<_>>();
    let periods = vec![
        period("Today", &within(today, today)),
        period("Yesterday", &within(today - 1, today - 1)),
        period("Last 7 days", &within(today - 6, today)),
        period("Last 30 days", &within(first, today)),
    ];
    // The chart: clicks and conversions of each of the 30 days.
    let mut per_day: BTreeMap<i64, (i64, i64)> = (first..=today).map(|d| (d, (0, 0))).collect();
    for r in &days {
        let e = per_day.entry(day_no(r)).or_default();
        e.0 += r.clicks;
        e.1 += r.conversions;
    }
    let top = per_day.values().map(|(k, v)| (*k).max(*v)).max().unwrap_or(0).max(1);
    let max = nice_max(top);
    let height = CHART_BOTTOM - CHART_TOP;
    let bars = per_day
        .iter()
        .enumerate()
        .map(|(i, (day, (clicks, conv)))| {
            let x = 50 + i as i64 * 22;
            let ch = clicks * height / max;
            let vh = conv * height / max;
            let label = reports::day_label(*day);
            Bar {
                x,
                w: 18,
                clicks_y: CHART_BOTTOM - ch,
                clicks_h: ch,
                conv_y: CHART_BOTTOM - vh,
                conv_h: vh,
                title: format!("{label}: {clicks} clicks, {conv} conversions"),
                label: if (today - day) % 7 == 0 {
                    label.get(5..).unwrap_or_default().to_owned()
                } else {
                    String::new()
                },
            }
        })
        .collect();
    let total = periods.last().map(|p| (p.clicks, p.conversions)).unwrap_or_default();
    let chart = Chart {
        bars,
        top: CHART_TOP,
        bottom: CHART_BOTTOM,
        max,
        mid: max / 2,
        mid_y: CHART_BOTTOM - (max / 2) * height / max,
        description: format!(
            "Clicks and conversions per day from {} to {} ({}): {} clicks and {} conversions in all.",
            reports::day_label(first),
            reports::day_label(today),
            tz.label(),
            total.0,
            total.1
        ),
    };
    Ok(Dashboard {
        scope,
        periods,
        chart,
        top_offers: tops(offers, &offer_names),
        top_affiliates: tops(affiliates, &affiliate_names),
        tz_label: tz.label(),
        tz_notice,
    })
}

/// The top of the chart's axis: 1, 2 or 5 times a power of ten, at least `n`.
fn nice_max(n: i64) -> i64 {
    let mut p = 1;
    loop {
        for m in [1, 2, 5] {
            if m * p >= n {
                return m * p;
            }
        }
        p *= 10;
    }
}

// ---------------------------------------------------------------------------------------------
// The reports page

/// The report form, as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ReportForm {
    pub from: String,
    pub to: String,
    pub offer: String,
    pub affiliate: String,
    pub status: String,
    pub group_by: String,
    pub sort: String,
    /// The page of rows shown (1-based; the CSV and the API hold every row).
    pub page: String,
}

impl ReportForm {
    fn params(&self, sort: &str) -> String {
        [
            ("group_by", self.group_by.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("offer", self.offer.as_str()),
            ("affiliate", self.affiliate.as_str()),
            ("status", self.status.as_str()),
            ("sort", sort),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", percent_encode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// A row as shown (and exported).
pub struct Shown {
    pub key: String,
    /// `key` is one of the report's own labels ("Total", "(empty)", "(no goal)"), not a value:
    /// set apart on the page, not written as a value in the CSV.
    pub label: bool,
    pub name: String,
    pub href: String,
    pub currency: String,
    pub clicks: String,
    pub conversions: i64,
    pub cr: String,
    pub payout: String,
    pub revenue: String,
    pub profit: String,
}

/// A sortable column header.
pub struct Column {
    pub label: &'static str,
    pub href: String,
    /// `ascending`, `descending` or `none` (for `aria-sort`).
    pub aria: &'static str,
}

struct Built {
    group: GroupBy,
    rows: Vec<Shown>,
    totals: Vec<Shown>,
    truncated: bool,
}

/// The report query a form asks for in `tenant` (days of `tz`), its sort, or messages next to
/// the fields. Fills in the grouping's default in `form`.
pub(crate) fn validate(
    scope: Scope,
    tenant: affnet_db::TenantId,
    tz: Tz,
    now: affnet_db::Micros,
    form: &mut ReportForm,
) -> Result<(Query, SortBy, bool), FieldErrors> {
    let mut e = FieldErrors::new();
    let today = tz.day_of(now);
    let groups = scope.groups();
    let group = match form.group_by.trim() {
        "" => GroupBy::Date,
        g => match GroupBy::parse(g).filter(|g| groups.contains(g)) {
            Some(g) => g,
            None => {
                e.add(
                    "group_by",
                    format!(
                        "unknown grouping \"{g}\": choose one of {}",
                        groups.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                );
                GroupBy::Date
            }
        },
    };
    form.group_by = group.as_str().to_owned();
    let mut day = |field: &str, value: &str, default: i64| -> i64 {
        if value.trim().is_empty() {
            return default;
        }
        reports::parse_day(value).unwrap_or_else(|| {
            e.add(field, crate::pages::tracking::bad_date(value));
            default
        })
    };
    let from = day("from", &form.from.clone(), today - 6);
    let to = day("to", &form.to.clone(), today);
    if e.get("from").is_none() && e.get("to").is_none() {
        if from > to {
            e.add("to", "the end date comes before the start date");
        } else if to - from >= reports::MAX_DAYS {
            e.add("to", format!("a report covers at most {} days", reports::MAX_DAYS));
        }
    }
    let id = |v: &str, field: &str, what: &str, e: &mut FieldErrors| match v.trim() {
        "" => None,
        v => match v.parse::<i64>() {
            Ok(i) if i > 0 => Some(i),
            _ => {
                e.add(field, format!("enter {what} id (a number)"));
                None
            }
        },
    };
    let offer = id(&form.offer, "offer", "an offer", &mut e).map(OfferId);
    let affiliate = if scope == Scope::Staff {
        id(&form.affiliate, "affiliate", "an affiliate", &mut e).map(AffiliateId)
    } else {
        form.affiliate.clear();
        None
    };
    let status = match form.status.trim() {
        "" => None,
        s if reports::STATUSES.contains(&s) => Some(s.to_owned()),
        s => {
            e.add("status", format!("unknown status \"{s}\": choose one of {}", reports::STATUSES.join(", ")));
            None
        }
    };
    let sort = form.sort.trim();
    let (desc, col) = match sort.strip_prefix('-') {
        Some(c) => (true, c),
        None => (false, sort),
    };
    let by = match col {
        "" if desc => {
            e.add("sort", "name a column after \"-\" (-clicks sorts by clicks, most first)");
            form.sort.clear();
            None
        }
        "" => None,
        c => match scope.parse_sort(c) {
            Some(c) => Some(c),
            None => {
                e.add("sort", format!("cannot sort by \"{c}\""));
                form.sort.clear();
                None
            }
        },
    };
    let (by, desc) = match by {
        Some(b) => (b, desc),
        None if matches!(group, GroupBy::Date | GroupBy::Hour) => (SortBy::Key, false),
        None => (SortBy::Conversions, true),
    };
    e.into_result()?;
    let mut q = Query {
        tenant,
        from: tz.day_start(from),
        to: tz.day_start(to + 1),
        tz,
        offer,
        affiliate,
        advertiser: None,
        status,
        group,
        raw_limit: reports::RAW_ROW_LIMIT,
    };
    scope.apply(&mut q);
    Ok((q, by, desc))
}

fn allowed_sort(scope: Scope, c: SortBy) -> bool {
    match c {
        SortBy::Payout => scope.shows_payout(),
        SortBy::Revenue => scope.shows_revenue(),
        SortBy::Profit => scope.shows_profit(),
        _ => true,
    }
}

impl Scope {
    /// The column `sort` names, among the ones this scope shows (advertisers see revenue as
    /// "cost", and sort by either name).
    fn parse_sort(self, name: &str) -> Option<SortBy> {
        match (self, name) {
            (Scope::Advertiser(_), "cost") => Some(SortBy::Revenue),
            _ => SortBy::parse(name).filter(|c| allowed_sort(self, *c)),
        }
    }

    /// How this scope's links name a sort column.
    fn sort_name(self, c: SortBy) -> &'static str {
        match (self, c) {
            (Scope::Advertiser(_), SortBy::Revenue) => "cost",
            _ => c.as_str(),
        }
    }
}

fn shown(scope: Scope, group: GroupBy, r: &Row, names: &HashMap<i64, String>, total: bool) -> Shown {
    let label = total || matches!(r.key, Key::None) || matches!(&r.key, Key::Text(t) if t.is_empty());
    let (key, name, href) = if total {
        ("Total".to_owned(), String::new(), String::new())
    } else {
        match (&r.key, group) {
            (Key::None, GroupBy::Goal) => ("(no goal)".to_owned(), String::new(), String::new()),
            (Key::Id(id), g) => {
                let href = match (scope, g) {
                    (Scope::Staff, GroupBy::Offer) => format!("/admin/offers/{id}"),
                    (Scope::Staff, GroupBy::Affiliate) => format!("/admin/affiliates/{id}"),
                    (Scope::Staff, GroupBy::Advertiser) => format!("/admin/advertisers/{id}"),
                    _ => String::new(),
                };
                (format!("#{id}"), names.get(id).cloned().unwrap_or_default(), href)
            }
            (k, _) => {
                let t = k.text();
                (if t.is_empty() { "(empty)".to_owned() } else { t }, String::new(), String::new())
            }
        }
    };
    Shown {
        key,
        label,
        name,
        href,
        currency: r.currency.clone(),
        clicks: if group.has_clicks() { r.clicks.to_string() } else { "–".into() },
        conversions: r.conversions,
        cr: if group.has_clicks() { r.cr() } else { "–".into() },
        payout: decimal(r.payout, &r.currency),
        revenue: decimal(r.revenue, &r.currency),
        profit: decimal(r.profit(), &r.currency),
    }
}

/// A report's rows, sorted, with their totals per currency and the names of the ids in them.
pub(crate) struct Computed {
    pub rows: Vec<Row>,
    pub totals: Vec<Row>,
    pub names: HashMap<i64, String>,
    pub truncated: bool,
}

/// Runs a validated report query (off the executor) and sorts it.
pub(crate) async fn compute(state: &AppState, q: Query, by: SortBy, desc: bool) -> Result<Computed, AppError> {
    let (group, tenant) = (q.group, q.tenant);
    let (report, names) = state
        .db(move |c| {
            let report = reports::run(c, &q)?;
            let ids: Vec<i64> = report.rows.iter().filter_map(|r| r.key.id()).collect();
            let names = reports::names(c, tenant, group, &ids)?;
            Ok((report, names))
        })
        .await?;
    let mut rows = report.rows;
    reports::sort(&mut rows, by, desc);
    let totals = reports::totals(&rows);
    Ok(Computed { rows, totals, names, truncated: report.truncated })
}

async fn build(state: &AppState, scope: Scope, q: Query, by: SortBy, desc: bool) -> Result<Built, AppError> {
    let group = q.group;
    let c = compute(state, q, by, desc).await?;
    Ok(Built {
        group,
        rows: c.rows.iter().map(|r| shown(scope, group, r, &c.names, false)).collect(),
        totals: c.totals.iter().map(|r| shown(scope, group, r, &c.names, true)).collect(),
        truncated: c.truncated,
    })
}

#[derive(Template)]
#[template(path = "reports/page.html")]
struct ReportsPage {
    l: Layout,
    action: String,
    q: ReportForm,
    errors: FieldErrors,
    groups: Vec<(String, String)>,
    states: Vec<(String, String)>,
    scope: Scope,
    group_label: String,
    has_clicks: bool,
    columns: Vec<Column>,
    rows: Vec<Shown>,
    totals: Vec<Shown>,
    truncated: bool,
    limit: i64,
    /// Every row's count, this page's number, the pages' count, and the first and last row shown.
    total_rows: usize,
    page: usize,
    pages: usize,
    first: usize,
    last: usize,
    pager: Pager,
    csv: String,
    tz_label: String,
    tz_notice: String,
}

impl ReportsPage {
    fn shows_payout(&self) -> bool {
        self.scope.shows_payout()
    }
    fn shows_revenue(&self) -> bool {
        self.scope.shows_revenue()
    }
    fn shows_profit(&self) -> bool {
        self.scope.shows_profit()
    }
    fn shows_affiliate(&self) -> bool {
        self.scope == Scope::Staff
    }
}

fn columns(scope: Scope, form: &ReportForm, action: &str, group: GroupBy, by: SortBy, desc: bool) -> Vec<Column> {
    let mut cols = vec![(SortBy::Key, group.label())];
    if group.has_clicks() {
        cols.push((SortBy::Clicks, "Clicks"));
    }
    cols.push((SortBy::Conversions, "Conversions"));
    if group.has_clicks() {
        cols.push((SortBy::Cr, "Conversion rate"));
    }
    if scope.shows_payout() {
        cols.push((SortBy::Payout, "Payout"));
    }
    if scope.shows_revenue() {
        cols.push((SortBy::Revenue, scope.revenue_label()));
    }
    if scope.shows_profit() {
        cols.push((SortBy::Profit, "Profit"));
    }
    cols.into_iter()
        .map(|(c, label)| {
            let current = c == by;
            // A click on the sorted column flips it; a new column starts ascending for the key,
            // descending for the numbers.
            let next_desc = if current { !desc } else { c != SortBy::Key };
            let sort = format!("{}{}", if next_desc { "-" } else { "" }, scope.sort_name(c));
            Column {
                label,
                href: format!("{action}?{}", form.params(&sort)),
                aria: match (current, desc) {
                    (false, _) => "none",
                    (true, true) => "descending",
                    (true, false) => "ascending",
                },
            }
        })
        .collect()
}

async fn page(state: &AppState, me: &CurrentUser, scope: Scope, form: ReportForm) -> Result<HttpResponse, AppError> {
    let mut form = form;
    let action = format!("{}/reports", scope.base());
    let (tz, tz_notice) = tz_of(me);
    let groups = scope.groups().into_iter().map(|g| (g.as_str().to_owned(), g.label().to_owned())).collect::<Vec<_>>();
    let states = reports::STATUSES.iter().map(|s| (s.to_string(), s.to_string())).collect();
    let page_no = match form.page.trim() {
        "" => Some(1),
        p => p.parse::<usize>().ok().filter(|n| (1..=1_000_000).contains(n)),
    };
    let validated = validate(scope, me.tenant.id, tz, state.clock.now(), &mut form);
    let (status, errors, built, by, desc) = match (validated, page_no) {
        (Ok((q, by, desc)), Some(_)) => {
            let b = build(state, scope, q, by, desc).await?;
            (StatusCode::OK, FieldErrors::new(), Some(b), by, desc)
        }
        (validated, _) => {
            let mut e = validated.err().unwrap_or_default();
            if page_no.is_none() {
                e.add("page", "a page number, from 1");
            }
            (StatusCode::UNPROCESSABLE_ENTITY, e, None, SortBy::Key, false)
        }
    };
    let group = built.as_ref().map(|b| b.group).unwrap_or(GroupBy::Date);
    let columns = if built.is_some() { columns(scope, &form, &action, group, by, desc) } else { Vec::new() };
    let (mut rows, totals, truncated) = match built {
        Some(b) => (b.rows, b.totals, b.truncated),
        None => (Vec::new(), Vec::new(), false),
    };
    let qs = form.params(&form.sort);
    // One page of the rows, in their order; the totals are of them all.
    let page_no = page_no.unwrap_or(1);
    let total_rows = rows.len();
    let pages = total_rows.div_ceil(REPORT_PAGE).max(1);
    let first = (page_no - 1).saturating_mul(REPORT_PAGE).min(total_rows);
    let last = (first + REPORT_PAGE).min(total_rows);
    rows.truncate(last);
    rows.drain(..first);
    let link = |n: usize| format!("{action}?{qs}&page={n}");
    let pager = Pager {
        prev: (page_no > 1).then(|| link((page_no - 1).min(pages))),
        next: (page_no < pages).then(|| link(page_no + 1)),
    };
    let page = ReportsPage {
        l: Layout::for_user(me, "Reports", active_of(scope)),
        csv: format!("{action}.csv?{qs}"),
        action,
        errors,
        groups,
        states,
        scope,
        group_label: group.label().to_owned(),
        has_clicks: group.has_clicks(),
        columns,
        rows,
        totals,
        truncated,
        limit: reports::RAW_ROW_LIMIT,
        total_rows,
        page: page_no,
        pages,
        first: first + 1,
        last,
        pager,
        tz_label: tz.label(),
        tz_notice,
        q: form,
    };
    render(status, &page)
}

/// Rows per report page.
const REPORT_PAGE: usize = 100;

/// The navigation entry of a scope's reports page.
fn active_of(scope: Scope) -> &'static str {
    match scope {
        Scope::Staff => "/admin/reports",
        Scope::Affiliate(_) => "/affiliate/reports",
        Scope::Advertiser(_) => "/advertiser/reports",
    }
}

async fn csv(state: &AppState, me: &CurrentUser, scope: Scope, form: ReportForm) -> Result<HttpResponse, AppError> {
    let mut form = form;
    let (tz, _) = tz_of(me);
    let (q, by, desc) = validate(scope, me.tenant.id, tz, state.clock.now(), &mut form).map_err(AppError::Invalid)?;
    let group = q.group;
    let b = build(state, scope, q, by, desc).await?;
    let mut header = vec![group.as_str(), "name", "currency"];
    if group.has_clicks() {
        header.push("clicks");
    }
    header.push("conversions");
    if group.has_clicks() {
        header.push("conversion_rate");
    }
    if scope.shows_payout() {
        header.push("payout");
    }
    if scope.shows_revenue() {
        header.push(if matches!(scope, Scope::Advertiser(_)) { "cost" } else { "revenue" });
    }
    if scope.shows_profit() {
        header.push("profit");
    }
    let mut out = header.join(",");
    out.push_str("\r\n");
    // A value that reads like a label ("(empty)", "Total") must not pass for one: a row without
    // the value has an empty first cell, and the totals (one per currency) an empty first cell
    // and "Total" as their name (real rows have a first cell, or no name).
    let rows = b.rows.iter().map(|r| (r, false)).chain(b.totals.iter().map(|r| (r, true)));
    for (r, total) in rows {
        let (key, name) = match (total, r.label) {
            (true, _) => (String::new(), r.key.clone()),
            (false, true) => (String::new(), r.name.clone()),
            (false, false) => (r.key.clone(), r.name.clone()),
        };
        let mut f = vec![key, name, r.currency.clone()];
        if group.has_clicks() {
            f.push(r.clicks.clone());
        }
        f.push(r.conversions.to_string());
        if group.has_clicks() {
            f.push(r.cr.clone());
        }
        if scope.shows_payout() {
            f.push(r.payout.clone());
        }
        if scope.shows_revenue() {
            f.push(r.revenue.clone());
        }
        if scope.shows_profit() {
            f.push(r.profit.clone());
        }
        out.push_str(&f.iter().map(|v| csv_field(v)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"report-{}.csv\"", group.as_str())))
        .body(out))
}

fn affiliate_scope(me: &AffiliateUser) -> Result<Scope, AppError> {
    me.user.affiliate_id.map(Scope::Affiliate).ok_or(AppError::Forbidden)
}

fn advertiser_scope(me: &AdvertiserUser) -> Result<Scope, AppError> {
    me.user.advertiser_id.map(Scope::Advertiser).ok_or(AppError::Forbidden)
}

/// `GET /admin/reports`
pub async fn staff_page(
    state: web::Data<AppState>,
    me: Staff,
    q: web::Query<ReportForm>,
) -> Result<HttpResponse, AppError> {
    page(&state, &me, Scope::Staff, q.into_inner()).await
}

/// `GET /admin/reports.csv`
pub async fn staff_csv(
    state: web::Data<AppState>,
    me: Staff,
    q: web::Query<ReportForm>,
) -> Result<HttpResponse, AppError> {
    csv(&state, &me, Scope::Staff, q.into_inner()).await
}

/// `GET /affiliate/reports`
pub async fn affiliate_page(
    state: web::Data<AppState>,
    me: AffiliateUser,
    q: web::Query<ReportForm>,
) -> Result<HttpResponse, AppError> {
    page(&state, &me, affiliate_scope(&me)?, q.into_inner()).await
}

/// `GET /affiliate/reports.csv`
pub async fn affiliate_csv(
    state: web::Data<AppState>,
    me: AffiliateUser,
    q: web::Query<ReportForm>,
) -> Result<HttpResponse, AppError> {
    csv(&state, &me, affiliate_scope(&me)?, q.into_inner()).await
}

/// `GET /advertiser/reports`
pub async fn advertiser_page(
    state: web::Data<AppState>,
    me: AdvertiserUser,
    q: web::Query<ReportForm>,
) -> Result<HttpResponse, AppError> {
    page(&state, &me, advertiser_scope(&me)?, q.into_inner()).await
}

/// `GET /advertiser/reports.csv`
pub async fn advertiser_csv(
    state: web::Data<AppState>,
    me: AdvertiserUser,
    q: web::Query<ReportForm>,
) -> Result<HttpResponse, AppError> {
    csv(&state, &me, advertiser_scope(&me)?, q.into_inner()).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/reports", web::get().to(staff_page))
        .route("/admin/reports.csv", web::get().to(staff_csv))
        .route("/affiliate/reports", web::get().to(affiliate_page))
        .route("/affiliate/reports.csv", web::get().to(affiliate_csv))
        .route("/advertiser/reports", web::get().to(advertiser_page))
        .route("/advertiser/reports.csv", web::get().to(advertiser_csv));
}

#[cfg(test)]
mod tests {
    use super::nice_max;

    #[test]
    fn chart_axis_tops_are_round() {
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(480), 500);
    }
}
