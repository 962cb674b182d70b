//! `/api/v1/affiliates`: the network's affiliate companies (staff; an affiliate user may read its
//! own company).

use super::ApiBody;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_db::{AffiliateId, UserId};
use affnet_offers::{Affiliate, AffiliateInput, AffiliateStatus};

use super::{parse_param, require_staff, Page, Pagination, Viewer};
use crate::auth::ApiUser;
use crate::{ApiError, AppError, AppState};

#[derive(serde::Serialize)]
pub struct AffiliateJson {
    id: AffiliateId,
    name: String,
    contact_email: String,
    status: AffiliateStatus,
    manager_user_id: Option<UserId>,
    /// The network's internal notes: staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
    created_at: String,
    updated_at: String,
}

impl AffiliateJson {
    fn new(a: Affiliate, viewer: Viewer) -> Self {
        AffiliateJson {
            id: a.id,
            name: a.name,
            contact_email: a.contact_email,
            status: a.status,
            manager_user_id: a.manager_user_id,
            notes: (viewer == Viewer::Staff).then_some(a.notes),
            created_at: a.created_at.rfc3339(),
            updated_at: a.updated_at.rfc3339(),
        }
    }
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    search: Option<String>,
    status: Option<String>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    page: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    per_page: Option<i64>,
}

/// `GET /api/v1/affiliates?search=&status=&page=&per_page=` (staff)
pub async fn list(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let q = q.read()?;
    let status = parse_param::<AffiliateStatus>(q.status.as_deref(), "status")?;
    let (limit, offset, page) = Pagination { page: q.page, per_page: q.per_page }.limit_offset()?;
    let tenant = me.user.tenant_id;
    let search = q.search;
    let (rows, total) = state
        .db(move |c| {
            let s = search.as_deref();
            Ok((Affiliate::list(c, tenant, s, status, limit, offset)?, Affiliate::count(c, tenant, s, status)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        data: rows.into_iter().map(|a| AffiliateJson::new(a, Viewer::Staff)).collect(),
        page,
        per_page: limit,
        total,
    }))
}

/// `GET /api/v1/affiliates/{id}`: staff, or a user of that affiliate; anything else is not found.
pub async fn get(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = AffiliateId(id.into_inner());
    let viewer = Viewer::of(&me)?;
    match viewer {
        Viewer::Staff => {}
        Viewer::Affiliate(own) if own == id => {}
        Viewer::Affiliate(_) | Viewer::Advertiser(_) => return Err(AppError::NotFound.into()),
    }
    let tenant = me.user.tenant_id;
    let a = state.db(move |c| Ok(Affiliate::find(c, tenant, id)?)).await?;
    Ok(HttpResponse::Ok().json(AffiliateJson::new(a, viewer)))
}

/// `POST /api/v1/affiliates` (staff): 201 with the affiliate, or 422 with a field map.
pub async fn create(
    state: web::Data<AppState>,
    me: ApiUser,
    body: ApiBody<AffiliateInput>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let input = body.read()?;
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let a = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let a = Affiliate::create(c, tenant, &input, now)?;
        log.add(Entity::Affiliate, a.id, "create", crate::audit::affiliate_created(&a));
        Ok(a)
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, affiliate = %a.id, "affiliate created through the API");
    Ok(HttpResponse::Created().json(AffiliateJson::new(a, Viewer::Staff)))
}

/// `PUT /api/v1/affiliates/{id}` (staff): replaces the editable fields (the whole body).
pub async fn update(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<AffiliateInput>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    save(state, me, AffiliateId(id.into_inner()), super::Edit::Whole(body.read()?)).await
}

/// `PATCH /api/v1/affiliates/{id}`: changes only the fields the body names ([`super::merge_patch`]),
/// then saves as the `PUT` does (same checks, audit and answer).
pub async fn patch(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<super::PatchBody>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    save(state, me, AffiliateId(id.into_inner()), super::Edit::Patch(body.read()?)).await
}

/// Saves a `PUT` or `PATCH`, read and written in one locked change.
async fn save(
    state: web::Data<AppState>,
    me: ApiUser,
    id: AffiliateId,
    edit: super::Edit<AffiliateInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let a = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        super::locked_change(c, "affiliates", tenant, id.0, |c| {
            let before = Affiliate::find(c, tenant, id)?;
            let input = edit.input(AffiliateJson::new(before.clone(), Viewer::Staff), "AffiliateInput")?;
            let a = Affiliate::update(c, tenant, id, &input, now)?;
            log.add(Entity::Affiliate, a.id, "update", crate::audit::affiliate_changes(&before, &a));
            Ok(a)
        })
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, affiliate = %a.id, "affiliate updated through the API");
    Ok(HttpResponse::Ok().json(AffiliateJson::new(a, Viewer::Staff)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// `pending`, `active`, `suspended` or `rejected`.
    status: String,
}

/// `POST /api/v1/affiliates/{id}/status` (staff): approves, suspends or rejects an affiliate.
pub async fn set_status(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let body = body.read()?;
    let id = AffiliateId(id.into_inner());
    let status = match parse_param::<AffiliateStatus>(Some(&body.status), "status")? {
        Some(s) => s,
        None => {
            return Err(ApiError(AppError::Invalid(affnet_db::FieldErrors::single("status", "this field is required"))))
        }
    };
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    // As on the pages: approving or rejecting decides the company's pending signups (emailed),
    // suspending or rejecting ends its people's sessions.
    let (a, decided, network) = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let before = Affiliate::find(c, tenant, id)?;
        let a = Affiliate::set_status(c, tenant, id, status, now)?;
        let decided = affnet_accounts::signup::affiliate_status_changed(c, tenant, id, status.as_str(), now)?;
        let network = affnet_accounts::Tenant::find(c, tenant)?;
        log.add(Entity::Affiliate, a.id, "status", crate::audit::affiliate_changes(&before, &a));
        crate::pages::signup::log_company_decision(log, &a, &decided);
        Ok((a, decided, network))
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, affiliate = %a.id, status = %status, signups = decided.len(), "affiliate status set through the API");
    crate::pages::signup::announce_company_decision(&state, &network, &a, decided).await;
    Ok(HttpResponse::Ok().json(AffiliateJson::new(a, Viewer::Staff)))
}
