//! The postback delivery log: the outbox jobs (an affiliate's own, or the whole network's for
//! staff), filtered by state, offer and dates, each with every HTTP attempt made for it, and a
//! re-fire button for delivered and failed jobs.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_db::{AffiliateId, FieldErrors};
use affnet_tracking::delivery;
use affnet_tracking::listing::{self, DeliveryAttempt, Filter, Job, ListedJob};
use askama::Template;

use super::{FilterForm, JOB_STATES};
use crate::auth::{AffiliateUser, CurrentUser, Staff};
use crate::csrf::CsrfForm;
use crate::layout::{render, see_other, Layout};
use crate::pages::catalogue::{page_offset, Pager, PER_PAGE};
use crate::{AppError, AppState};

pub struct JobRow {
    pub job: Job,
    /// Its conversion's transaction id.
    pub transaction_id: String,
    pub attempts: Vec<DeliveryAttempt>,
    pub can_refire: bool,
}

impl JobRow {
    /// The attempts of the current round, when a re-fire started a new one (the job counts its
    /// round's attempts; the log shows them all).
    pub fn round_attempts(&self) -> Option<i64> {
        let all = i64::try_from(self.attempts.len()).unwrap_or(i64::MAX);
        (self.job.attempts != all).then_some(self.job.attempts)
    }
}

#[derive(Template)]
#[template(path = "postbacks/log.html")]
struct LogPage {
    l: Layout,
    staff: bool,
    action: &'static str,
    q: FilterForm,
    errors: FieldErrors,
    states: Vec<(String, String)>,
    rows: Vec<JobRow>,
    pager: Pager,
    /// The latest test-fires (first page only).
    tests: Vec<DeliveryAttempt>,
    /// When the log is filtered to one transaction or conversion and shows no job: why each of
    /// its conversions fired none, or that none was recorded.
    why_none: Vec<String>,
}

/// Test-fires the log shows.
const TEST_FIRES_SHOWN: i64 = 10;

async fn log_page(
    state: &AppState,
    me: &CurrentUser,
    own: Option<AffiliateId>,
    q: FilterForm,
) -> Result<HttpResponse, AppError> {
    let (staff, action) =
        if own.is_some() { (false, "/affiliate/postbacks/log") } else { (true, "/admin/postbacks/log") };
    let (mut filter, errors) = q.filter(JOB_STATES, crate::pages::reports::network_tz(&me.tenant).0);
    if let Some(a) = own {
        filter.affiliate = Some(a);
    }
    // The one transaction or conversion asked for, to say why it has no job.
    let filter_one = Filter {
        transaction: filter.transaction.clone(),
        conversion: filter.conversion,
        affiliate: filter.affiliate,
        ..Filter::default()
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let (page, offset) = page_offset(q.page);
    let tenant = me.tenant.id;
    let tests = if page == 1 {
        state.db(move |c| Ok(listing::test_fires(c, tenant, own, TEST_FIRES_SHOWN)?)).await?
    } else {
        Vec::new()
    };
    let mut rows = if errors.is_empty() {
        state
            .db(move |c| {
                let jobs = listing::jobs(c, tenant, &filter, PER_PAGE + 1, offset)?;
                let ids: Vec<i64> = jobs.iter().map(|j| j.job.id).collect();
                let mut attempts = listing::attempts_of_jobs(c, tenant, &ids)?;
                Ok(jobs
                    .into_iter()
                    .map(|ListedJob { job, transaction_id }| {
                        let (mine, rest): (Vec<_>, Vec<_>) =
                            std::mem::take(&mut attempts).into_iter().partition(|a| a.job_id == Some(job.id));
                        attempts = rest;
                        JobRow {
                            can_refire: matches!(job.state.as_str(), "delivered" | "failed" | "retry"),
                            job,
                            transaction_id,
                            attempts: mine,
                        }
                    })
                    .collect::<Vec<_>>())
            })
            .await?
    } else {
        Vec::new()
    };
    // One transaction, or one conversion (both: they may not match, and the generic answer
    // says so).
    let asked_one = errors.is_empty() && (filter_one.transaction.is_some() != filter_one.conversion.is_some());
    let why_none = if rows.is_empty() && asked_one {
        state
            .db(move |c| {
                Ok(super::why_no_postbacks(c, tenant, &filter_one, own.is_some())?.unwrap_or_else(|| {
                    vec![match &filter_one.transaction {
                        Some(_) => "No conversion is recorded for this transaction, so no postback is due: the advertiser has not reported one, or its call was refused.".to_owned(),
                        None => "No conversion with this id.".to_owned(),
                    }]
                }))
            })
            .await?
    } else {
        Vec::new()
    };
    let pager = Pager::new(action, &q.params(), page, &mut rows);
    let page = LogPage {
        l: Layout::for_user(me, "Postback delivery log", action),
        staff,
        action,
        states: JOB_STATES.iter().map(|s| ((*s).to_owned(), (*s).to_owned())).collect(),
        q,
        errors,
        rows,
        pager,
        tests,
        why_none,
    };
    render(status, &page)
}

/// `GET /affiliate/postbacks/log`
pub async fn affiliate_log(
    state: web::Data<AppState>,
    me: AffiliateUser,
    q: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    let own = me.user.affiliate_id.ok_or(AppError::Forbidden)?;
    let mut q = q.into_inner();
    q.affiliate = String::new();
    q.adv_sub = String::new();
    log_page(&state, &me, Some(own), q).await
}

/// `GET /admin/postbacks/log`
pub async fn staff_log(
    state: web::Data<AppState>,
    me: Staff,
    q: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    let mut q = q.into_inner();
    q.adv_sub = String::new();
    log_page(&state, &me, None, q).await
}

/// A re-fire's form: the log (with its filters) it was pressed on, to go back to.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RefireForm {
    #[serde(default)]
    back: String,
}

async fn refire(
    state: &AppState,
    me: &CurrentUser,
    own: Option<AffiliateId>,
    job: i64,
    log: &str,
    back: &str,
) -> Result<HttpResponse, AppError> {
    let (tenant, now) = (me.tenant.id, state.clock.now());
    let found = state.db(move |c| Ok(delivery::refire(c, tenant, own, job, now)?)).await?;
    if !found {
        return Err(AppError::NotFound);
    }
    tracing::info!(tenant = %tenant, by = %me.user.id, job, "postback job re-fired");
    me.session.flash("success", format!("Job #{job} is queued again; the worker fires it within moments."));
    // Back to the log as it was filtered, at the job (a re-fire from the unfiltered log lost
    // the job among the others).
    let filtered = crate::pages::sign_in::safe_next(Some(back))
        .filter(|b| *b == log || b.strip_prefix(log).is_some_and(|rest| rest.starts_with('?')));
    Ok(see_other(&format!("{}#job-{job}", filtered.unwrap_or(log))))
}

/// `POST /affiliate/postbacks/log/{job}/refire`
pub async fn affiliate_refire(
    state: web::Data<AppState>,
    me: AffiliateUser,
    job: web::Path<i64>,
    CsrfForm(form): CsrfForm<RefireForm>,
) -> Result<HttpResponse, AppError> {
    let own = me.user.affiliate_id.ok_or(AppError::Forbidden)?;
    refire(&state, &me, Some(own), job.into_inner(), "/affiliate/postbacks/log", &form.back).await
}

/// `POST /admin/postbacks/log/{job}/refire`
pub async fn staff_refire(
    state: web::Data<AppState>,
    me: Staff,
    job: web::Path<i64>,
    CsrfForm(form): CsrfForm<RefireForm>,
) -> Result<HttpResponse, AppError> {
    refire(&state, &me, None, job.into_inner(), "/admin/postbacks/log", &form.back).await
}
