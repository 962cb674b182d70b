//! A user's own API keys: create (the token is shown once), list, revoke.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_accounts::ApiKey;
use affnet_db::ApiKeyId;
use askama::Template;

use crate::auth::CurrentUser;
use crate::csrf::{CsrfForm, NoFields};
use crate::layout::{render, see_other, Layout};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "account/api_keys.html")]
struct ApiKeysPage {
    l: Layout,
    keys: Vec<ApiKey>,
    new_token: Option<String>,
    public_url: String,
}

async fn page(
    state: &AppState,
    me: &CurrentUser,
    new_token: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let (tenant, user) = (me.tenant.id, me.user.id);
    let keys = state.db(move |c| Ok(ApiKey::list_for_user(c, tenant, user)?)).await?;
    let page = ApiKeysPage {
        l: Layout::for_user(me, "API keys", "/account/api-keys"),
        keys,
        new_token,
        public_url: state.web.public_url.clone(),
    };
    render(status, &page)
}

/// `GET /account/api-keys`
pub async fn list(state: web::Data<AppState>, me: CurrentUser) -> Result<HttpResponse, AppError> {
    page(&state, &me, None, StatusCode::OK).await
}

#[derive(serde::Deserialize)]
pub struct NewKeyForm {
    #[serde(default)]
    label: String,
}

/// `POST /account/api-keys`: answers the page itself (not a redirect), so the token is never
/// stored anywhere but in this one response.
pub async fn create(
    state: web::Data<AppState>,
    me: CurrentUser,
    CsrfForm(form): CsrfForm<NewKeyForm>,
) -> Result<HttpResponse, AppError> {
    let (tenant, user, now) = (me.tenant.id, me.user.id, state.clock.now());
    let email = me.user.email.clone();
    let created = crate::audit::by_user(&state, &me.user, move |c, log| {
        let created = ApiKey::create(c, tenant, user, &form.label, now)?;
        let summary = format!("\"{}\" ({}…) for {email}", created.key.label, created.key.prefix);
        log.add(Entity::ApiKey, created.key.id, "create", summary);
        Ok(created)
    })
    .await?;
    tracing::info!(tenant = %me.tenant.slug, user = %user, key = %created.key.prefix, "API key created");
    page(&state, &me, Some(created.token), StatusCode::CREATED).await
}

/// `POST /account/api-keys/{id}/revoke`: only one's own keys.
pub async fn revoke(
    state: web::Data<AppState>,
    me: CurrentUser,
    id: web::Path<i64>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (tenant, user, id, now) = (me.tenant.id, me.user.id, ApiKeyId(id.into_inner()), state.clock.now());
    let email = me.user.email.clone();
    crate::audit::by_user(&state, &me.user, move |c, log| {
        ApiKey::revoke(c, tenant, user, id, now)?;
        log.add(Entity::ApiKey, id, "revoke", format!("key #{id} of {email}"));
        Ok(())
    })
    .await?;
    tracing::info!(tenant = %me.tenant.slug, user = %user, key = %id, "API key revoked");
    me.session.flash("success", "The key is revoked: requests using it are now refused.");
    Ok(see_other("/account/api-keys"))
}
