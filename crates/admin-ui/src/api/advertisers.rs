//! `/api/v1/advertisers`: the network's advertiser companies (staff; an advertiser user may read
//! its own company).

use super::ApiBody;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_db::AdvertiserId;
use affnet_offers::{Advertiser, AdvertiserInput, AdvertiserStatus};

use super::{parse_param, require_staff, Page, Pagination, Viewer};
use crate::auth::ApiUser;
use crate::{ApiError, AppError, AppState};

#[derive(serde::Serialize)]
pub struct AdvertiserJson {
    id: AdvertiserId,
    name: String,
    contact_name: String,
    contact_email: String,
    status: AdvertiserStatus,
    /// The network's internal notes: staff only (never shown to the advertiser's own users).
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
    created_at: String,
    updated_at: String,
}

impl AdvertiserJson {
    /// The advertiser as `viewer` may see it.
    fn new(a: Advertiser, viewer: Viewer) -> Self {
        AdvertiserJson {
            id: a.id,
            name: a.name,
            contact_name: a.contact_name,
            contact_email: a.contact_email,
            status: a.status,
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

/// `GET /api/v1/advertisers?search=&status=&page=&per_page=` (staff)
pub async fn list(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let q = q.read()?;
    let status = parse_param::<AdvertiserStatus>(q.status.as_deref(), "status")?;
    let (limit, offset, page) = Pagination { page: q.page, per_page: q.per_page }.limit_offset()?;
    let tenant = me.user.tenant_id;
    let search = q.search;
    let (rows, total) = state
        .db(move |c| {
            let s = search.as_deref();
            Ok((Advertiser::list(c, tenant, s, status, limit, offset)?, Advertiser::count(c, tenant, s, status)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        data: rows.into_iter().map(|a| AdvertiserJson::new(a, Viewer::Staff)).collect(),
        page,
        per_page: limit,
        total,
    }))
}

/// `GET /api/v1/advertisers/{id}`: staff, or a user of that advertiser; anything else is not
/// found.
pub async fn get(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = AdvertiserId(id.into_inner());
    let viewer = Viewer::of(&me)?;
    match viewer {
        Viewer::Staff => {}
        Viewer::Advertiser(own) if own == id => {}
        Viewer::Advertiser(_) | Viewer::Affiliate(_) => return Err(AppError::NotFound.into()),
    }
    let tenant = me.user.tenant_id;
    let a = state.db(move |c| Ok(Advertiser::find(c, tenant, id)?)).await?;
    Ok(HttpResponse::Ok().json(AdvertiserJson::new(a, viewer)))
}

/// `POST /api/v1/advertisers` (staff): 201 with the advertiser, or 422 with a field map.
pub async fn create(
    state: web::Data<AppState>,
    me: ApiUser,
    body: ApiBody<AdvertiserInput>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let input = body.read()?;
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let a = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let a = Advertiser::create(c, tenant, &input, now)?;
        log.add(Entity::Advertiser, a.id, "create", crate::audit::advertiser_created(&a));
        Ok(a)
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, advertiser = %a.id, "advertiser created through the API");
    Ok(HttpResponse::Created().json(AdvertiserJson::new(a, Viewer::Staff)))
}

/// `PUT /api/v1/advertisers/{id}` (staff): replaces the editable fields (the whole body, as for
/// create).
pub async fn update(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<AdvertiserInput>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    save(state, me, AdvertiserId(id.into_inner()), super::Edit::Whole(body.read()?)).await
}

/// `PATCH /api/v1/advertisers/{id}`: changes only the fields the body names ([`super::merge_patch`]),
/// then saves as the `PUT` does (same checks, audit and answer).
pub async fn patch(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<super::PatchBody>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    save(state, me, AdvertiserId(id.into_inner()), super::Edit::Patch(body.read()?)).await
}

/// Saves a `PUT` or `PATCH`, read and written in one locked change.
async fn save(
    state: web::Data<AppState>,
    me: ApiUser,
    id: AdvertiserId,
    edit: super::Edit<AdvertiserInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let a = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        super::locked_change(c, "advertisers", tenant, id.0, |c| {
            let before = Advertiser::find(c, tenant, id)?;
            let input = edit.input(AdvertiserJson::new(before.clone(), Viewer::Staff), "AdvertiserInput")?;
            let a = Advertiser::update(c, tenant, id, &input, now)?;
            log.add(Entity::Advertiser, a.id, "update", crate::audit::advertiser_changes(&before, &a));
            Ok(a)
        })
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, advertiser = %a.id, "advertiser updated through the API");
    Ok(HttpResponse::Ok().json(AdvertiserJson::new(a, Viewer::Staff)))
}
