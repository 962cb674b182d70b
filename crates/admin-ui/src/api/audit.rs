//! `GET /api/v1/audit` (network admins): the audit log as JSON, newest first, with the audit
//! page's filters.

use actix_web::{web, HttpResponse};
use affnet_accounts::audit::{self, Entry};
use affnet_accounts::Role;

use super::{Page, Pagination};
use crate::auth::ApiUser;
use crate::pages::audit::AuditQuery;
use crate::{ApiError, AppError, AppState};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListQuery {
    entity: String,
    actor: String,
    from: String,
    to: String,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    page: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    per_page: Option<i64>,
}

#[derive(serde::Serialize)]
struct AuditJson {
    id: i64,
    actor_user_id: Option<i64>,
    actor: String,
    entity: String,
    entity_id: String,
    action: String,
    summary: String,
    created_at: String,
}

impl From<Entry> for AuditJson {
    fn from(e: Entry) -> Self {
        AuditJson {
            id: e.id,
            actor_user_id: e.actor_user_id.map(|u| u.0),
            actor: e.actor_label,
            entity: e.entity,
            entity_id: e.entity_id,
            action: e.action,
            summary: e.summary,
            created_at: e.created_at.rfc3339(),
        }
    }
}

/// `GET /api/v1/audit?entity=&actor=&from=&to=&page=&per_page=` (admins).
pub async fn list(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    me.require(&[Role::Admin])?;
    let q = q.read()?;
    let query = AuditQuery { entity: q.entity, actor: q.actor, from: q.from, to: q.to, page: None };
    let (filter, errors) = query.filter();
    if !errors.is_empty() {
        return Err(ApiError(AppError::Invalid(errors)));
    }
    let (limit, offset, page) = Pagination { page: q.page, per_page: q.per_page }.limit_offset()?;
    let tenant = me.user.tenant_id;
    let (rows, total) = state
        .db(move |c| Ok((audit::list(c, tenant, &filter, limit, offset)?, audit::count(c, tenant, &filter)?)))
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        data: rows.into_iter().map(AuditJson::from).collect(),
        page,
        per_page: limit,
        total,
    }))
}
