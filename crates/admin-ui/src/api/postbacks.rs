//! `/api/v1/postbacks` and `/api/v1/postback-jobs`: the postbacks affiliates (or their
//! managers) save, test-fires, and the delivery log with re-fire. Staff see every affiliate's;
//! affiliate users only their own (another affiliate's is not found); advertiser users none (403).

use super::ApiBody;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_db::{AffiliateId, ConversionId, FieldErrors, GoalId, OfferId};
use affnet_offers::OffersError;
use affnet_tracking::delivery::AttemptResult;
use affnet_tracking::listing::{self, DeliveryAttempt, ListedJob, JOB_STATES};
use affnet_tracking::postback::{Postback, PostbackInput};

use super::{parse_id, staff_or_affiliate, ListingQuery, Page};
use crate::auth::ApiUser;
use crate::{ApiError, AppError, AppState};

#[derive(serde::Serialize)]
pub struct PostbackJson {
    id: i64,
    affiliate_id: AffiliateId,
    offer_id: Option<OfferId>,
    goal_id: Option<GoalId>,
    url: String,
    method: String,
    body: String,
    content_type: String,
    on_approved: bool,
    on_pending: bool,
    on_rejected: bool,
    on_status_change: bool,
    enabled: bool,
    created_at: String,
    updated_at: String,
}

impl From<Postback> for PostbackJson {
    fn from(p: Postback) -> Self {
        PostbackJson {
            id: p.id,
            affiliate_id: p.affiliate_id,
            offer_id: p.offer_id,
            goal_id: p.goal_id,
            url: p.url,
            method: p.method,
            body: p.body,
            content_type: p.content_type,
            on_approved: p.on_approved,
            on_pending: p.on_pending,
            on_rejected: p.on_rejected,
            on_status_change: p.on_status_change,
            enabled: p.enabled,
            created_at: p.created_at.rfc3339(),
            updated_at: p.updated_at.rfc3339(),
        }
    }
}

/// One HTTP call made for a postback (a delivery or a test-fire).
#[derive(serde::Serialize)]
pub struct DeliveryAttemptJson {
    id: i64,
    job_id: Option<i64>,
    postback_id: Option<i64>,
    affiliate_id: AffiliateId,
    method: String,
    url: String,
    status_code: Option<i64>,
    latency_ms: i64,
    response_excerpt: String,
    error: String,
    test: bool,
    created_at: String,
}

impl From<DeliveryAttempt> for DeliveryAttemptJson {
    fn from(a: DeliveryAttempt) -> Self {
        DeliveryAttemptJson {
            id: a.id,
            job_id: a.job_id,
            postback_id: a.postback_id,
            affiliate_id: a.affiliate_id,
            method: a.method,
            url: a.url,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            response_excerpt: a.response_excerpt,
            error: a.error,
            test: a.test,
            created_at: a.created_at.rfc3339(),
        }
    }
}

/// A postback job of the outbox, with its delivery attempts (oldest first).
#[derive(serde::Serialize)]
pub struct JobJson {
    id: i64,
    conversion_id: ConversionId,
    transaction_id: String,
    postback_id: Option<i64>,
    affiliate_id: AffiliateId,
    event: String,
    method: String,
    url: String,
    body: String,
    content_type: String,
    state: String,
    attempts: i64,
    next_attempt_at: String,
    last_error: String,
    created_at: String,
    updated_at: String,
    deliveries: Vec<DeliveryAttemptJson>,
}

impl JobJson {
    pub fn new(listed: ListedJob, attempts: &[DeliveryAttempt]) -> Self {
        let ListedJob { job: j, transaction_id } = listed;
        let deliveries =
            attempts.iter().filter(|a| a.job_id == Some(j.id)).cloned().map(DeliveryAttemptJson::from).collect();
        JobJson {
            id: j.id,
            conversion_id: j.conversion_id,
            transaction_id,
            postback_id: j.postback_id,
            affiliate_id: j.affiliate_id,
            event: j.event,
            method: j.method,
            url: j.url,
            body: j.body,
            content_type: j.content_type,
            state: j.state,
            attempts: j.attempts,
            next_attempt_at: j.next_attempt_at.rfc3339(),
            last_error: j.last_error,
            created_at: j.created_at.rfc3339(),
            updated_at: j.updated_at.rfc3339(),
            deliveries,
        }
    }
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    affiliate_id: Option<String>,
}

/// `GET /api/v1/postbacks?affiliate_id=`: staff all (or one affiliate's), affiliate users their
/// own; newest first.
pub async fn list(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let own = staff_or_affiliate(&me)?;
    let q = q.read()?;
    let asked = parse_id(q.affiliate_id.as_deref(), "affiliate_id")?.map(AffiliateId);
    let tenant = me.user.tenant_id;
    let rows = match (own, asked) {
        (Some(own), Some(a)) if own != a => Vec::new(),
        (own, asked) => {
            let scope = own.or(asked);
            state.db(move |c| Ok(Postback::list(c, tenant, scope)?)).await?
        }
    };
    let data: Vec<PostbackJson> = rows.into_iter().map(PostbackJson::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}

/// `GET /api/v1/postbacks/{id}`
pub async fn get(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let own = staff_or_affiliate(&me)?;
    let (tenant, id) = (me.user.tenant_id, id.into_inner());
    let pb = state.db(move |c| Ok(Postback::find(c, tenant, own, id)?)).await?;
    Ok(HttpResponse::Ok().json(PostbackJson::from(pb)))
}

/// `POST /api/v1/postbacks`: an affiliate user's postback is always its own (`affiliate_id` left
/// out or its own; another one is a 422: it was ignored, and the postback silently made the
/// caller's); staff must name the affiliate (422 on `affiliate_id` otherwise). 201 or 422.
pub async fn create(
    state: web::Data<AppState>,
    me: ApiUser,
    body: ApiBody<PostbackInput>,
) -> Result<HttpResponse, ApiError> {
    let own = staff_or_affiliate(&me)?;
    let mut input = body.read()?;
    let affiliate = match own {
        Some(a) if input.affiliate_id.is_some_and(|named| named != a) => {
            let message = format!("an affiliate's postbacks are its own: leave affiliate_id out (or give yours, {a})");
            return Err(AppError::Invalid(FieldErrors::single("affiliate_id", message)).into());
        }
        Some(a) => a,
        None => input.affiliate_id.ok_or_else(|| {
            ApiError(AppError::Invalid(FieldErrors::single("affiliate_id", "choose the affiliate of this postback")))
        })?,
    };
    input.affiliate_id = Some(affiliate);
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let pb = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let pb = Postback::create(c, tenant, affiliate, &input, now)?;
        log.add(Entity::Postback, pb.id, "create", crate::audit::postback_created(&pb));
        Ok(pb)
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, postback = pb.id, "postback created through the API");
    Ok(HttpResponse::Created().json(PostbackJson::from(pb)))
}

/// `PUT /api/v1/postbacks/{id}`: replaces the editable fields; the postback keeps its affiliate.
pub async fn update(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<PostbackInput>,
) -> Result<HttpResponse, ApiError> {
    let own = staff_or_affiliate(&me)?;
    save(state, me, own, id.into_inner(), super::Edit::Whole(body.read()?)).await
}

/// Saves a `PUT` or `PATCH` of a postback (`own`: the affiliate whose postbacks the caller may
/// change, or staff), read and written in one locked change.
async fn save(
    state: web::Data<AppState>,
    me: ApiUser,
    own: Option<AffiliateId>,
    id: i64,
    edit: super::Edit<PostbackInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let pb = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        super::locked_change(c, "postbacks", tenant, id, |c| {
            let before = Postback::find(c, tenant, own, id)?;
            let input = edit.input(PostbackJson::from(before.clone()), "PostbackInput")?;
            let pb = Postback::update(c, tenant, own, id, &input, now)?;
            log.add(Entity::Postback, pb.id, "update", crate::audit::postback_changes(&before, &pb));
            Ok(pb)
        })
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, postback = pb.id, "postback updated through the API");
    Ok(HttpResponse::Ok().json(PostbackJson::from(pb)))
}

/// `PATCH /api/v1/postbacks/{id}`: changes only the fields the body names ([`super::merge_patch`]),
/// then saves as the `PUT` does (same checks, audit and answer).
pub async fn patch(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<super::PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let own = staff_or_affiliate(&me)?;
    save(state, me, own, id.into_inner(), super::Edit::Patch(body.read()?)).await
}

/// `DELETE /api/v1/postbacks/{id}`: 204; its jobs and attempts stay in the log.
pub async fn delete(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let own = staff_or_affiliate(&me)?;
    let (tenant, id) = (me.user.tenant_id, id.into_inner());
    crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let pb = Postback::find(c, tenant, own, id)?;
        Postback::delete(c, tenant, own, id)?;
        log.add(Entity::Postback, id, "delete", crate::audit::postback_deleted(&pb));
        Ok(())
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, postback = id, "postback deleted through the API");
    Ok(HttpResponse::NoContent().finish())
}

/// The optional body of a test-fire.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFireInput {
    /// A conversion of the postback's affiliate to fill the macros from; a made-up one when
    /// absent.
    #[serde(default)]
    pub conversion_id: Option<i64>,
}

#[derive(serde::Serialize)]
struct TestFireJson {
    method: String,
    url: String,
    body: String,
    result: AttemptResult,
}

/// `POST /api/v1/postbacks/{id}/test` with an optional `{"conversion_id": N}`: fires the
/// postback once now (stored as a test attempt; the outbox is untouched) and answers with the
/// request made and what came back.
pub async fn test_fire(
    state: web::Data<AppState>,
    tracking: web::Data<affnet_tracking::Tracking>,
    me: ApiUser,
    id: web::Path<i64>,
    body: super::OptionalApiBody<TestFireInput>,
) -> Result<HttpResponse, ApiError> {
    let own = staff_or_affiliate(&me)?;
    let input = body.read()?.unwrap_or_default();
    let (tenant, now, id) = (me.user.tenant_id, state.clock.now(), id.into_inner());
    let conversion = input.conversion_id.map(ConversionId);
    let (postback, out) = state
        .db(move |c| {
            Postback::find(c, tenant, own, id)?;
            affnet_tracking::delivery::test_fire_request(c, tenant, own, id, conversion, now).map_err(|e| match e {
                OffersError::NotFound if conversion.is_some() => AppError::Invalid(FieldErrors::single(
                    "conversion_id",
                    "choose a conversion of this postback's affiliate",
                )),
                OffersError::NotFound => AppError::Invalid(FieldErrors::single(
                    "conversion_id",
                    "the affiliate can run no offer to make a sample conversion on; name a conversion",
                )),
                other => other.into(),
            })
        })
        .await?;
    let fired = affnet_tracking::delivery::test_fire(
        &state.pool,
        &tracking.postback_client,
        tracking.postback_config.allow_private,
        tenant,
        &postback,
        out,
        now,
    )
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, postback = postback.id, "postback test-fired through the API");
    Ok(HttpResponse::Ok().json(TestFireJson {
        method: fired.method,
        url: fired.url,
        body: fired.body,
        result: fired.result,
    }))
}

/// `GET /api/v1/postback-jobs?state=&offer_id=&affiliate_id=&from=&to=&transaction_id=&conversion_id=&adv_sub=&page=&per_page=`: the
/// delivery log, newest first, each job with its attempts.
pub async fn jobs(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListingQuery>,
) -> Result<HttpResponse, ApiError> {
    let own = staff_or_affiliate(&me)?;
    let q = q.read()?;
    q.refuse("postback jobs", &["status", "sub", "advertiser_id"])?;
    let (limit, offset, page) = q.limit_offset()?;
    let mut filter = q.filter()?;
    if let Some(s) = q.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        if !JOB_STATES.contains(&s) {
            let msg = format!("'{s}' is not one of: {}", JOB_STATES.join(", "));
            return Err(AppError::Invalid(FieldErrors::single("state", msg)).into());
        }
        filter.status = Some(s.to_owned());
    }
    if let Some(own) = own {
        if filter.affiliate.is_some_and(|a| a != own) {
            return Ok(HttpResponse::Ok().json(Page::<JobJson> { data: Vec::new(), page, per_page: limit, total: 0 }));
        }
        filter.affiliate = Some(own);
    }
    let tenant = me.user.tenant_id;
    let (rows, attempts, total) = state
        .db(move |c| {
            let rows = listing::jobs(c, tenant, &filter, limit, offset)?;
            let ids: Vec<i64> = rows.iter().map(|j| j.job.id).collect();
            let attempts = listing::attempts_of_jobs(c, tenant, &ids)?;
            Ok((rows, attempts, listing::count_jobs(c, tenant, &filter)?))
        })
        .await?;
    let data = rows.into_iter().map(|j| JobJson::new(j, &attempts)).collect();
    Ok(HttpResponse::Ok().json(Page::<JobJson> { data, page, per_page: limit, total }))
}

/// `POST /api/v1/postback-jobs/{id}/refire`: puts the job back in the queue, due now (a job
/// being sent keeps its state). Answers with the job.
pub async fn refire(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let own = staff_or_affiliate(&me)?;
    let (tenant, now, id) = (me.user.tenant_id, state.clock.now(), id.into_inner());
    let (job, attempts) = state
        .db(move |c| {
            if !affnet_tracking::delivery::refire(c, tenant, own, id, now)? {
                return Err(AppError::NotFound);
            }
            let job = listing::job(c, tenant, own, id)?;
            let attempts = listing::attempts_of_jobs(c, tenant, &[id])?;
            Ok((job, attempts))
        })
        .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, job = id, "postback job re-fired through the API");
    Ok(HttpResponse::Ok().json(JobJson::new(job, &attempts)))
}
