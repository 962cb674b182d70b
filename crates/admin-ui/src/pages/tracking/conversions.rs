//! Conversions and clicks as each portal sees them: staff see the network's (and change a
//! conversion's status, audited), affiliates their own with their payout, advertisers theirs
//! with the revenue they pay and never an affiliate's payout (also as CSV). And the staff's
//! transaction tracer: everything that happened to one transaction id.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_db::{AdvertiserId, AffiliateId, ConversionId, FieldErrors};
use affnet_offers::ConversionStatus;
use affnet_tracking::click::Click;
use affnet_tracking::conversion::{Conversion, StatusChange};
use affnet_tracking::listing::{self, ConversionRow, Filter, Trace};
use affnet_tracking::reports::Tz;
use askama::Template;

use super::deliveries::JobRow;
use super::{affiliate_names, conversion_statuses, goal_names, money, offer_names, FilterForm};
use crate::auth::{AdvertiserUser, AffiliateUser, CurrentUser, Staff};
use crate::csrf::CsrfForm;
use crate::layout::{render, see_other, Layout};
use crate::pages::catalogue::{page_offset, percent_encode, Pager, PER_PAGE};
use crate::{AppError, AppState};

/// A conversion as the lists show it (money already in words).
pub struct Row {
    pub c: ConversionRow,
    pub offer_name: String,
    /// The goal's name, for a goal conversion.
    pub goal_name: String,
    /// The affiliate's name, for staff (empty for the other portals).
    pub affiliate_name: String,
    pub payout: String,
    pub revenue: String,
    pub sale: String,
}

fn states() -> Vec<(String, String)> {
    conversion_statuses().into_iter().map(|s| (s.to_owned(), s.to_owned())).collect()
}

/// Loads a page of conversions for `filter` (already scoped by the caller).
async fn load_rows(
    state: &AppState,
    me: &CurrentUser,
    filter: Filter,
    offset: i64,
    limit: i64,
) -> Result<Vec<Row>, AppError> {
    let tenant = me.tenant.id;
    let staff = me.role().is_staff();
    state
        .db(move |c| {
            let list = listing::conversions(c, tenant, &filter, limit, offset)?;
            let names = offer_names(c, tenant, list.iter().map(|r| r.conversion.offer_id))?;
            let affiliates =
                affiliate_names(c, tenant, list.iter().map(|r| r.conversion.affiliate_id).filter(|_| staff))?;
            let goals = goal_names(c, tenant, list.iter().filter_map(|r| r.conversion.goal_id))?;
            Ok(list
                .into_iter()
                .map(|r| {
                    let cur = r.conversion.currency;
                    Row {
                        offer_name: names.get(&r.conversion.offer_id.0).cloned().unwrap_or_default(),
                        goal_name: r.conversion.goal_id.and_then(|g| goals.get(&g.0).cloned()).unwrap_or_default(),
                        affiliate_name: affiliates.get(&r.conversion.affiliate_id.0).cloned().unwrap_or_default(),
                        payout: money(r.conversion.payout, cur),
                        revenue: money(r.conversion.revenue, cur),
                        sale: r.conversion.sale_amount.map(|s| money(s, cur)).unwrap_or_default(),
                        c: r,
                    }
                })
                .collect())
        })
        .await
}

#[derive(Template)]
#[template(path = "admin/conversions.html")]
struct StaffConversionsPage {
    l: Layout,
    action: &'static str,
    q: FilterForm,
    errors: FieldErrors,
    states: Vec<(String, String)>,
    rows: Vec<Row>,
    pager: Pager,
}

/// `GET /admin/conversions`
pub async fn staff_conversions(
    state: web::Data<AppState>,
    me: Staff,
    q: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    let mut q = q.into_inner();
    q.conversion = String::new();
    let action = "/admin/conversions";
    let (filter, errors) = q.filter(&conversion_statuses(), crate::pages::reports::network_tz(&me.tenant).0);
    let (page, offset) = page_offset(q.page);
    let mut rows =
        if errors.is_empty() { load_rows(&state, &me, filter, offset, PER_PAGE + 1).await? } else { Vec::new() };
    let pager = Pager::new(action, &q.params(), page, &mut rows);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = StaffConversionsPage {
        l: Layout::for_user(&me, "Conversions", action),
        action,
        q,
        errors,
        states: states(),
        rows,
        pager,
    };
    render(status, &page)
}

#[derive(Debug, serde::Deserialize)]
pub struct StatusForm {
    status: String,
    #[serde(default)]
    note: String,
    /// The conversions list (with its filters) the change was made from, to go back to.
    #[serde(default)]
    back: String,
}

/// `POST /admin/conversions/{id}/status`: audited; rollups and postbacks follow.
pub async fn staff_set_status(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> Result<HttpResponse, AppError> {
    let to: ConversionStatus =
        form.status.parse().map_err(|_| AppError::BadRequest("status must be approved, pending or rejected".into()))?;
    let (tenant, now, by, id) = (me.tenant.id, state.clock.now(), me.user.id, ConversionId(id.into_inner()));
    let note = form.note;
    let conv = crate::audit::by_user(&state, &me.user, move |c, log| {
        let (from, conv) = Conversion::change_status(c, tenant, id, to, &note, Some(by), now)?;
        if from != to {
            log.add(
                Entity::Conversion,
                conv.id,
                "status",
                crate::audit::conversion_status(&conv.click_id, from, to, &note),
            );
        }
        Ok(conv)
    })
    .await?;
    tracing::info!(tenant = %me.tenant.slug, by = %by, conversion = %conv.id, status = to.as_str(), "conversion status changed");
    me.session.flash("success", format!("Conversion #{} is now {}.", conv.id, to.as_str()));
    // Back to the list it was changed on; from the tracer (or anywhere else), to the tracer.
    let back = crate::pages::sign_in::safe_next(Some(form.back.as_str()))
        .filter(|b| b.starts_with("/admin/conversions?") || *b == "/admin/conversions");
    match back {
        Some(list) => Ok(see_other(list)),
        None => Ok(see_other(&format!("/admin/tracer?transaction_id={}", percent_encode(&conv.click_id)))),
    }
}

pub struct ClickRow {
    pub click: Click,
    pub offer_name: String,
    pub affiliate_name: String,
}

#[derive(Template)]
#[template(path = "admin/clicks.html")]
struct ClicksPage {
    l: Layout,
    action: &'static str,
    q: FilterForm,
    errors: FieldErrors,
    rows: Vec<ClickRow>,
    pager: Pager,
}

/// `GET /admin/clicks`
pub async fn staff_clicks(
    state: web::Data<AppState>,
    me: Staff,
    q: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    let mut q = q.into_inner();
    q.status = String::new();
    q.conversion = String::new();
    q.adv_sub = String::new();
    let action = "/admin/clicks";
    let (filter, errors) = q.filter(&[], crate::pages::reports::network_tz(&me.tenant).0);
    let (page, offset) = page_offset(q.page);
    let tenant = me.tenant.id;
    let mut rows = if errors.is_empty() {
        state
            .db(move |c| {
                let list = listing::clicks(c, tenant, &filter, PER_PAGE + 1, offset)?;
                let names = offer_names(c, tenant, list.iter().map(|k| k.offer_id))?;
                let affiliates = affiliate_names(c, tenant, list.iter().map(|k| k.affiliate_id))?;
                Ok(list
                    .into_iter()
                    .map(|click| ClickRow {
                        offer_name: names.get(&click.offer_id.0).cloned().unwrap_or_default(),
                        affiliate_name: affiliates.get(&click.affiliate_id.0).cloned().unwrap_or_default(),
                        click,
                    })
                    .collect::<Vec<_>>())
            })
            .await?
    } else {
        Vec::new()
    };
    let pager = Pager::new(action, &q.params(), page, &mut rows);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render(status, &ClicksPage { l: Layout::for_user(&me, "Clicks", action), action, q, errors, rows, pager })
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct TracerQuery {
    /// Also `transaction`, the lists' name for it (an edited list URL lands on the trace).
    #[serde(default, alias = "transaction")]
    transaction_id: String,
}

#[derive(Template)]
#[template(path = "admin/tracer.html")]
struct TracerPage {
    l: Layout,
    transaction_id: String,
    trace: Option<Trace>,
    conversions: Vec<TracedConversion>,
    jobs: Vec<JobRow>,
    offer_name: String,
    affiliate_name: String,
    changes: Vec<StatusChange>,
    states: Vec<(String, String)>,
    /// Why each conversion without a job fired no postback.
    why_none: Vec<String>,
}

/// A conversion of the tracer, money in words.
pub struct TracedConversion {
    pub c: Conversion,
    /// The goal's name, for a goal conversion.
    pub goal_name: String,
    pub sale: String,
    pub payout: String,
    pub revenue: String,
}

/// `GET /admin/tracer?transaction_id=...`
pub async fn tracer(
    state: web::Data<AppState>,
    me: Staff,
    q: web::Query<TracerQuery>,
) -> Result<HttpResponse, AppError> {
    let tid = q.into_inner().transaction_id.trim().to_owned();
    let tenant = me.tenant.id;
    let (trace, offer_name, affiliate_name, changes, why_none, goals) = if tid.is_empty() {
        (None, String::new(), String::new(), Vec::new(), Vec::new(), std::collections::BTreeMap::new())
    } else {
        let t = tid.clone();
        state
            .db(move |c| {
                let trace = listing::trace(c, tenant, &t)?;
                let names = offer_names(c, tenant, trace.click.as_ref().map(|k| k.offer_id))?;
                let affiliate = match &trace.click {
                    Some(k) => {
                        affnet_offers::Affiliate::find(c, tenant, k.affiliate_id).map(|a| a.name).unwrap_or_default()
                    }
                    None => String::new(),
                };
                let ids: Vec<ConversionId> = trace.conversions.iter().map(|c| c.id).collect();
                let changes = StatusChange::of_conversions(c, tenant, &ids)?;
                let mut why_none = Vec::new();
                for conv in
                    trace.conversions.iter().filter(|conv| trace.jobs.iter().all(|j| j.conversion_id != conv.id))
                {
                    let why = affnet_tracking::outbox::why_no_postback(c, conv)?;
                    why_none.push(super::no_postback_words(conv, &why, false));
                }
                let goals = goal_names(c, tenant, trace.conversions.iter().filter_map(|conv| conv.goal_id))?;
                Ok((Some(trace), names.into_values().next().unwrap_or_default(), affiliate, changes, why_none, goals))
            })
            .await?
    };
    let conversions = trace
        .as_ref()
        .map(|t| {
            t.conversions
                .iter()
                .map(|c| TracedConversion {
                    goal_name: c.goal_id.and_then(|g| goals.get(&g.0).cloned()).unwrap_or_default(),
                    sale: c.sale_amount.map(|s| money(s, c.currency)).unwrap_or_default(),
                    payout: money(c.payout, c.currency),
                    revenue: money(c.revenue, c.currency),
                    c: c.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let jobs = trace
        .as_ref()
        .map(|t| {
            t.jobs
                .iter()
                .map(|j| JobRow {
                    job: j.clone(),
                    transaction_id: t.transaction_id.clone(),
                    attempts: t.deliveries.iter().filter(|a| a.job_id == Some(j.id)).cloned().collect(),
                    can_refire: matches!(j.state.as_str(), "delivered" | "failed" | "retry"),
                })
                .collect()
        })
        .unwrap_or_default();
    let page = TracerPage {
        l: Layout::for_user(&me, "Transaction tracer", "/admin/tracer"),
        transaction_id: tid,
        trace,
        conversions,
        jobs,
        offer_name,
        affiliate_name,
        changes,
        states: states(),
        why_none,
    };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "affiliate/conversions.html")]
struct AffiliateConversionsPage {
    l: Layout,
    action: &'static str,
    q: FilterForm,
    errors: FieldErrors,
    states: Vec<(String, String)>,
    rows: Vec<Row>,
    pager: Pager,
    /// Filtered to one of the affiliate's transactions with no conversion: its click, said.
    click_note: Option<String>,
}

/// `GET /affiliate/conversions`: the affiliate's own conversions, with their payout.
pub async fn affiliate_conversions(
    state: web::Data<AppState>,
    me: AffiliateUser,
    q: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    let own: AffiliateId = me.user.affiliate_id.ok_or(AppError::Forbidden)?;
    let mut q = q.into_inner();
    q.affiliate = String::new();
    q.conversion = String::new();
    q.adv_sub = String::new();
    let action = "/affiliate/conversions";
    let (mut filter, errors) = q.filter(&conversion_statuses(), crate::pages::reports::network_tz(&me.tenant).0);
    filter.affiliate = Some(own);
    filter.advertiser = None;
    let asked = filter.transaction.clone();
    let (page, offset) = page_offset(q.page);
    let mut rows =
        if errors.is_empty() { load_rows(&state, &me, filter, offset, PER_PAGE + 1).await? } else { Vec::new() };
    let click_note = match asked {
        Some(t) if rows.is_empty() => {
            let tenant = me.tenant.id;
            state.db(move |c| click_note(c, tenant, own, &t)).await?
        }
        _ => None,
    };
    let pager = Pager::new(action, &q.params(), page, &mut rows);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = AffiliateConversionsPage {
        l: Layout::for_user(&me, "Conversions", action),
        action,
        q,
        errors,
        states: states(),
        rows,
        pager,
        click_note,
    };
    render(status, &page)
}

/// What an affiliate is told of one of its transactions that has no conversion: whether its
/// click was recorded (a lost click and a missing conversion look alike otherwise).
fn click_note(
    conn: &mut affnet_db::DbConn,
    tenant: affnet_db::TenantId,
    own: AffiliateId,
    tid: &str,
) -> Result<Option<String>, AppError> {
    let Ok(parsed) = affnet_tracking::transaction_id::TransactionId::parse(tid) else { return Ok(None) };
    let its = Filter { transaction: Some(tid.to_owned()), affiliate: Some(own), ..Filter::default() };
    if listing::count_conversions(conn, tenant, &its)? > 0 {
        // It has conversions: the other filters hid them.
        return Ok(None);
    }
    let click = affnet_tracking::click::Click::find_for(conn, tenant, parsed)?.filter(|k| k.affiliate_id == own);
    Ok(Some(match click {
        Some(k) => format!(
            "The click {tid} was recorded at {} UTC for offer #{}, and no conversion is recorded for it: the advertiser has not reported one, or its call was refused (your affiliate manager can see why).",
            k.created_at, k.offer_id
        ),
        None => format!("No click of yours has the transaction id {tid}."),
    }))
}

/// The advertiser's filter: their own conversions only, no affiliate or sub id filters.
fn advertiser_filter(own: AdvertiserId, q: &mut FilterForm, tz: Tz) -> (Filter, FieldErrors) {
    q.affiliate = String::new();
    q.sub = String::new();
    q.conversion = String::new();
    let (mut filter, errors) = q.filter(&conversion_statuses(), tz);
    filter.advertiser = Some(own);
    filter.affiliate = None;
    (filter, errors)
}

#[derive(Template)]
#[template(path = "advertiser/conversions.html")]
struct AdvertiserConversionsPage {
    l: Layout,
    action: &'static str,
    q: FilterForm,
    errors: FieldErrors,
    states: Vec<(String, String)>,
    rows: Vec<Row>,
    pager: Pager,
    csv: String,
}

/// `GET /advertiser/conversions`: attributed to the advertiser, with what they pay.
pub async fn advertiser_conversions(
    state: web::Data<AppState>,
    me: AdvertiserUser,
    q: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    let own = me.user.advertiser_id.ok_or(AppError::Forbidden)?;
    let mut q = q.into_inner();
    let action = "/advertiser/conversions";
    let (filter, errors) = advertiser_filter(own, &mut q, crate::pages::reports::network_tz(&me.tenant).0);
    let (page, offset) = page_offset(q.page);
    let mut rows =
        if errors.is_empty() { load_rows(&state, &me, filter, offset, PER_PAGE + 1).await? } else { Vec::new() };
    let pager = Pager::new(action, &q.params(), page, &mut rows);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let qs = q.query_string();
    let page = AdvertiserConversionsPage {
        l: Layout::for_user(&me, "Conversions", action),
        action,
        csv: if qs.is_empty() {
            "/advertiser/conversions.csv".into()
        } else {
            format!("/advertiser/conversions.csv?{qs}")
        },
        q,
        errors,
        states: states(),
        rows,
        pager,
    };
    render(status, &page)
}

/// Most rows one export holds.
const CSV_MAX_ROWS: i64 = 100_000;
const CSV_BATCH: i64 = 5_000;

/// One CSV field (RFC 4180): quoted when it holds a separator, quote or line break. Text that a
/// spreadsheet would run as a formula gets a leading apostrophe; a plain number (`-3.00`,
/// `-12.5%`) is written as it is, so that a loss stays a number a spreadsheet adds up.
pub fn csv_field(value: &str) -> String {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(value);
    let v = if formula { format!("'{value}") } else { value.to_owned() };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// `-`, digits, at most one `.` between digits, and an optional `%`: a number, never a formula.
fn is_plain_number(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let digits = digits.strip_suffix('%').unwrap_or(digits);
    let mut parts = digits.split('.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    parts.next().is_none() && all_digits(whole) && fraction.is_none_or(all_digits)
}

/// `GET /advertiser/conversions.csv`: the same filters; no payout column.
pub async fn advertiser_csv(
    state: web::Data<AppState>,
    me: AdvertiserUser,
    q: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    let own = me.user.advertiser_id.ok_or(AppError::Forbidden)?;
    let mut q = q.into_inner();
    let (filter, errors) = advertiser_filter(own, &mut q, crate::pages::reports::network_tz(&me.tenant).0);
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let mut out = String::from(
        "conversion_id,created_at_utc,offer_id,offer_name,goal_id,transaction_id,adv_sub,status,sale_amount,revenue,currency\r\n",
    );
    let mut offset = 0;
    while offset < CSV_MAX_ROWS {
        let rows = load_rows(&state, &me, filter.clone(), offset, CSV_BATCH).await?;
        let n = rows.len() as i64;
        for r in rows {
            let c = &r.c.conversion;
            let fields = [
                c.id.to_string(),
                c.created_at.format_utc(),
                c.offer_id.to_string(),
                r.offer_name.clone(),
                c.goal_id.map(|g| g.to_string()).unwrap_or_default(),
                c.click_id.clone(),
                c.adv_sub.clone(),
                c.status.as_str().to_owned(),
                c.sale_amount.map(|s| affnet_db::Money::new(s, c.currency).decimal()).unwrap_or_default(),
                affnet_db::Money::new(c.revenue, c.currency).decimal(),
                c.currency.code().to_owned(),
            ];
            out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
        }
        if n < CSV_BATCH {
            break;
        }
        offset += n;
    }
    let day = state.clock.now().format_utc();
    let day = day.split(' ').next().unwrap_or_default().to_owned();
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"conversions-{day}.csv\"")))
        .body(out))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("-1,5"), "\"'-1,5\"");
        // Numbers stay numbers; text that only starts like one does not.
        for number in ["-3.00", "-0.005", "-12.5%", "-7", "0.50"] {
            assert_eq!(csv_field(number), number);
        }
        for text in ["-neg", "-1+2", "-.5", "-1.", "-1.2.3", "-", "-%", "+5", "-1e3"] {
            assert_eq!(csv_field(text), format!("'{text}"), "{text}");
        }
    }
}
