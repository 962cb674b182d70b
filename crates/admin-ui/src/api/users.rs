//! `/api/v1/me` and `/api/v1/users`.

use super::ApiBody;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_accounts::{NewPassword, NewUser, Role, Tenant, User};
use affnet_db::{FieldErrors, UserId};

use super::{Page, Pagination};
use crate::auth::ApiUser;
use crate::{ApiError, AppError, AppState};

#[derive(serde::Serialize)]
pub struct UserJson {
    id: UserId,
    email: String,
    name: String,
    role: Role,
    status: &'static str,
    created_at: String,
    last_login_at: Option<String>,
    advertiser_id: Option<affnet_db::AdvertiserId>,
    affiliate_id: Option<affnet_db::AffiliateId>,
}

impl From<User> for UserJson {
    fn from(u: User) -> Self {
        UserJson {
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role,
            status: u.status.as_str(),
            created_at: u.created_at.rfc3339(),
            last_login_at: u.last_login_at.map(|t| t.rfc3339()),
            advertiser_id: u.advertiser_id,
            affiliate_id: u.affiliate_id,
        }
    }
}

/// `GET /api/v1/me`: the key's user and network.
pub async fn me(state: web::Data<AppState>, me: ApiUser) -> Result<HttpResponse, ApiError> {
    let tenant_id = me.user.tenant_id;
    let tenant = state.db(move |c| Ok(Tenant::find(c, tenant_id)?)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "user": UserJson::from(me.user),
        "network": { "id": tenant.id, "slug": tenant.slug, "name": tenant.name },
    })))
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    role: Option<String>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    page: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    per_page: Option<i64>,
}

/// `GET /api/v1/users` (admins and managers)
pub async fn list(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    me.require(&[Role::Admin, Role::Manager])?;
    let q = q.read()?;
    let role = super::parse_param::<Role>(q.role.as_deref(), "role")?;
    let (limit, offset, page) = Pagination { page: q.page, per_page: q.per_page }.limit_offset()?;
    let tenant = me.user.tenant_id;
    let (users, total) =
        state.db(move |c| Ok((User::list(c, tenant, role, limit, offset)?, User::count(c, tenant, role)?))).await?;
    Ok(HttpResponse::Ok().json(Page {
        data: users.into_iter().map(UserJson::from).collect(),
        page,
        per_page: limit,
        total,
    }))
}

/// `GET /api/v1/users/{id}`: staff see any user of their network, others only themselves; a
/// user of another network is not found.
pub async fn get(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = UserId(id.into_inner());
    if !me.user.role.is_staff() && id != me.user.id {
        return Err(AppError::Forbidden.into());
    }
    let tenant = me.user.tenant_id;
    let user = state.db(move |c| Ok(User::find(c, tenant, id)?)).await?;
    Ok(HttpResponse::Ok().json(UserJson::from(user)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    #[serde(default)]
    name: String,
    role: String,
    password: String,
    /// Required for role `advertiser`, refused for the others.
    #[serde(default)]
    advertiser_id: Option<affnet_db::AdvertiserId>,
    /// Required for role `affiliate`, refused for the others.
    #[serde(default)]
    affiliate_id: Option<affnet_db::AffiliateId>,
}

/// `POST /api/v1/users` (admins): 201 with the user, or 422 with a field → message map.
pub async fn create(
    state: web::Data<AppState>,
    me: ApiUser,
    body: ApiBody<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    me.require(&[Role::Admin])?;
    let body = body.read()?;
    let role = body.role.parse::<Role>().map_err(|m| ApiError(AppError::Invalid(FieldErrors::single("role", m))))?;
    // A company for a role that has none is refused, not silently dropped.
    let mut misplaced = FieldErrors::default();
    if body.advertiser_id.is_some() && role != Role::Advertiser {
        misplaced.add("advertiser_id", "only advertiser users belong to an advertiser");
    }
    if body.affiliate_id.is_some() && role != Role::Affiliate {
        misplaced.add("affiliate_id", "only affiliate users belong to an affiliate company");
    }
    misplaced.into_result().map_err(|e| ApiError(AppError::Invalid(e)))?;
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let typed = body.password.clone();
    let password = state.blocking(move || NewPassword::hash(&typed)).await?;
    let user = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let new = NewUser {
            email: &body.email,
            name: &body.name,
            role,
            password: &password,
            advertiser_id: body.advertiser_id,
            affiliate_id: body.affiliate_id,
        };
        let user = User::create(c, tenant, &new, now)?;
        log.add(Entity::User, user.id, "create", crate::audit::user_created(&user));
        Ok(user)
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, user = %user.id, "user created through the API");
    Ok(HttpResponse::Created().json(UserJson::from(user)))
}
