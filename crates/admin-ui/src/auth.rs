//! Who is asking: the signed-in user of a page (from the session) or the user behind an API key
//! (`Authorization: Bearer`), with their tenant. Role extractors make each route's role check
//! part of its signature.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use affnet_accounts::{ApiKey, Role, Tenant, User};
use affnet_db::TenantId;

use crate::session::Session;
use crate::{ApiError, AppError, AppState};

/// The signed-in user of a page, with their tenant. Everything a page does is scoped to
/// `tenant.id`.
pub struct CurrentUser {
    pub user: User,
    pub tenant: Tenant,
    pub session: Session,
}

impl CurrentUser {
    pub fn role(&self) -> Role {
        self.user.role
    }
}

pub fn state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| AppError::Internal("application state missing".into()))
}

/// The client's address: the peer, or the first `X-Forwarded-For` hop behind a trusted proxy.
pub fn client_ip(req: &HttpRequest, trust_proxy: bool) -> String {
    affnet_tracking::handlers::client_ip(req, trust_proxy)
}

/// The network whose own tracking domain the request came in on (its `Host`), if any. On such a
/// host only that network exists (DESIGN.md): another network's sign-in and signup pages are
/// unknown (404), and its sessions and API keys are not signed in (401), as its offers and
/// clicks are unknown to the tracking endpoints there.
pub async fn domain_tenant(req: &HttpRequest) -> Result<Option<TenantId>, AppError> {
    let Some(t) = req.app_data::<web::Data<affnet_tracking::handlers::Tracking>>() else { return Ok(None) };
    t.cache
        .host_tenant(&t.pool, affnet_tracking::handlers::host(req))
        .await
        .map_err(|e| AppError::Internal(format!("tracking domain lookup: {e}")))
}

/// The network of a public page (`/t/{slug}/…`): 404 if there is none, or if the request came
/// in on another network's tracking domain.
pub async fn tenant_by_slug(req: &HttpRequest, state: &AppState, slug: String) -> Result<Tenant, AppError> {
    let tenant = state.db(move |c| Tenant::find_by_slug(c, &slug)?.ok_or(AppError::NotFound)).await?;
    match domain_tenant(req).await? {
        Some(domain) if domain != tenant.id => Err(AppError::NotFound),
        _ => Ok(tenant),
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = Session::extract(req).into_inner();
        let state = state(req);
        // A page asked for by a signed-out browser (a bookmark, an expired session) is where the
        // sign-in goes on to.
        let next = (req.method() == actix_web::http::Method::GET)
            .then(|| req.uri().path_and_query().map(|p| p.as_str().to_owned()))
            .flatten()
            .filter(|p| crate::pages::sign_in::safe_next(Some(p)).is_some());
        let req = req.clone();
        Box::pin(async move {
            let (session, state) = (session?, state?);
            let Some((user_id, tenant_id)) = session.user() else {
                let expired = session.expired_tenant();
                let tenant_slug = match expired {
                    Some(t) => state.db(move |c| Ok(Tenant::find(c, t).ok().map(|t| t.slug))).await?,
                    None => None,
                };
                return Err(AppError::Unauthorized { tenant_slug, expired: expired.is_some(), next });
            };
            if domain_tenant(&req).await?.is_some_and(|domain| domain != tenant_id) {
                return Err(AppError::Unauthorized { tenant_slug: None, expired: false, next });
            }
            let found = state
                .db(move |c| {
                    let user = User::find(c, tenant_id, user_id).ok();
                    let tenant = Tenant::find(c, tenant_id).ok();
                    let works = match &user {
                        Some(u) => u.may_work(c)?,
                        None => false,
                    };
                    Ok(user.zip(tenant).map(|found| (found, works)))
                })
                .await?;
            match found {
                Some(((user, tenant), true)) if user.accepts_session(session.issued_at(), session.epoch()) => {
                    Ok(CurrentUser { user, tenant, session })
                }
                other => {
                    session.sign_out(state.clock.now());
                    Err(AppError::Unauthorized { tenant_slug: other.map(|((_, t), _)| t.slug), expired: false, next })
                }
            }
        })
    }
}

/// Declares an extractor that admits only some roles (403 for the others).
macro_rules! role_extractor {
    ($(#[$meta:meta])* $name:ident: $($role:path),+) => {
        $(#[$meta])*
        pub struct $name(pub CurrentUser);

        impl Deref for $name {
            type Target = CurrentUser;
            fn deref(&self) -> &CurrentUser {
                &self.0
            }
        }

        impl FromRequest for $name {
            type Error = AppError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                let me = CurrentUser::from_request(req, payload);
                Box::pin(async move {
                    let me = me.await?;
                    if [$($role),+].contains(&me.user.role) {
                        Ok($name(me))
                    } else {
                        Err(AppError::Forbidden)
                    }
                })
            }
        }
    };
}

role_extractor!(
    /// Network staff: admins and affiliate managers.
    Staff: Role::Admin, Role::Manager
);
role_extractor!(
    /// Network admins only (users, settings).
    NetworkAdmin: Role::Admin
);
role_extractor!(AffiliateUser: Role::Affiliate);
role_extractor!(AdvertiserUser: Role::Advertiser);

/// The user behind the API key of an `/api/v1` request, found by [`api_key`] before anything
/// else reads the request.
#[derive(Clone)]
pub struct ApiUser {
    pub user: User,
}

impl ApiUser {
    /// Refuses (403) unless the key's user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.user.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden.into())
        }
    }
}

/// The `/api/v1` middleware that authenticates the API key (`Authorization: Bearer <key>`, the
/// scheme in any case) first: without a valid key a request is answered `401`, whatever its
/// path, query or body hold (none of it is read), so a caller without a key learns nothing
/// about the API. The OpenAPI document needs no key.
pub async fn api_key<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if req.path() == "/api/v1/openapi.json" {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let token = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let unauthorized = || ApiError(AppError::Unauthorized { tenant_slug: None, expired: false, next: None });
    let found = match (token, state(req.request())) {
        (None, _) => Err(unauthorized()),
        (_, Err(e)) => Err(ApiError(e)),
        (Some(token), Ok(state)) => {
            let now = state.clock.now();
            match state.db(move |c| Ok(ApiKey::authenticate(c, &token, now)?)).await {
                Ok(Some(user)) => match domain_tenant(req.request()).await {
                    Ok(Some(domain)) if domain != user.tenant_id => Err(unauthorized()),
                    Ok(_) => Ok(ApiUser { user }),
                    Err(e) => Err(ApiError(e)),
                },
                Ok(None) => Err(unauthorized()),
                Err(e) => Err(ApiError(e)),
            }
        }
    };
    match found {
        Ok(user) => {
            req.extensions_mut().insert(user);
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
    }
}

impl FromRequest for ApiUser {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(req.extensions().get::<ApiUser>().cloned().ok_or(ApiError(AppError::Unauthorized {
            tenant_slug: None,
            expired: false,
            next: None,
        })))
    }
}
