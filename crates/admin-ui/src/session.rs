//! The sign-in session, kept in one signed and encrypted cookie (`HttpOnly`, `SameSite=Lax`),
//! so that application nodes stay stateless. The middleware loads it before the handler and
//! writes it back after, only when it changed.

use std::cell::RefCell;
use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, CookieJar, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use affnet_accounts::session::{SessionData, Staleness};
use affnet_db::{Micros, TenantId, UserId};

use crate::{AppError, AppState};

pub const COOKIE_NAME: &str = "affnet_session";
/// How often an unchanged session is re-written to move its idle deadline.
const TOUCH_EVERY: i64 = Micros::MINUTE;

struct Inner {
    data: SessionData,
    /// The browser holds this session already (it came in a valid cookie).
    persisted: bool,
    dirty: bool,
    /// The tenant of a session that arrived expired, so the page can offer its sign-in form.
    expired_tenant: Option<TenantId>,
}

/// The current request's session (cheap to clone, request-local).
#[derive(Clone)]
pub struct Session(Rc<RefCell<Inner>>);

impl Session {
    pub fn user(&self) -> Option<(UserId, TenantId)> {
        self.0.borrow().data.user
    }

    /// The CSRF token to embed in forms. A session the browser does not hold yet is saved with
    /// the response, so the token can be checked when the form comes back.
    pub fn csrf_token(&self) -> String {
        let mut inner = self.0.borrow_mut();
        if !inner.persisted {
            inner.dirty = true;
        }
        inner.data.csrf.clone()
    }

    /// The token a submitted form must match; `None` when the browser had no session.
    pub fn expected_csrf(&self) -> Option<String> {
        let inner = self.0.borrow();
        inner.persisted.then(|| inner.data.csrf.clone())
    }

    /// When the current session was signed in.
    pub fn issued_at(&self) -> Micros {
        self.0.borrow().data.issued_at
    }

    pub fn expired_tenant(&self) -> Option<TenantId> {
        self.0.borrow().expired_tenant
    }

    /// The session epoch its user had when it signed in ([`affnet_accounts::User::accepts_session`]).
    pub fn epoch(&self) -> i64 {
        self.0.borrow().data.epoch
    }

    /// Starts a fresh session for a user who just proved their password (`epoch`: the user's
    /// session epoch now).
    pub fn sign_in(&self, user: UserId, tenant: TenantId, epoch: i64, now: Micros) {
        let mut inner = self.0.borrow_mut();
        inner.data = SessionData::signed_in(user, tenant, epoch, now);
        inner.dirty = true;
    }

    /// Ends the session; the next form gets a new CSRF token too.
    pub fn sign_out(&self, now: Micros) {
        let mut inner = self.0.borrow_mut();
        inner.data = SessionData::anonymous(now);
        inner.dirty = true;
    }

    /// A message for the next page shown.
    pub fn flash(&self, kind: &str, message: impl Into<String>) {
        let mut inner = self.0.borrow_mut();
        inner.data.flash = Some((kind.to_owned(), message.into()));
        inner.dirty = true;
    }

    pub fn take_flash(&self) -> Option<(String, String)> {
        let mut inner = self.0.borrow_mut();
        let flash = inner.data.flash.take();
        if flash.is_some() {
            inner.dirty = true;
        }
        flash
    }
}

impl FromRequest for Session {
    type Error = AppError;
    type Future = Ready<Result<Session, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Session>()
                .cloned()
                .ok_or_else(|| AppError::Internal("session middleware is not installed on this route".into())),
        )
    }
}

fn read_cookie(req: &ServiceRequest, state: &AppState) -> Option<SessionData> {
    let raw = req.cookie(COOKIE_NAME)?;
    let mut jar = CookieJar::new();
    jar.add_original(raw.into_owned());
    let plain = jar.private(&state.web.cookie_key).get(COOKIE_NAME)?;
    serde_json::from_str(plain.value()).ok()
}

fn session_cookie(state: &AppState, data: &SessionData) -> Option<Cookie<'static>> {
    let value = serde_json::to_string(data).ok()?;
    let cookie = Cookie::build(COOKIE_NAME, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.web.secure_cookies)
        .finish();
    let mut jar = CookieJar::new();
    jar.private_mut(&state.web.cookie_key).add(cookie);
    jar.get(COOKIE_NAME).cloned()
}

/// Loads the session into the request, runs the handler, saves the session if it changed.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal("application state missing".into()))?;
    let now = state.clock.now();
    let inner = match read_cookie(&req, &state) {
        Some(data) if data.staleness(now) == Staleness::Fresh => {
            let touch = now.0 - data.seen_at.0 > TOUCH_EVERY;
            let mut data = data;
            if touch {
                data.seen_at = now;
            }
            Inner { data, persisted: true, dirty: touch, expired_tenant: None }
        }
        Some(stale) => Inner {
            expired_tenant: stale.user.map(|(_, t)| t),
            data: SessionData::anonymous(now),
            persisted: false,
            dirty: true,
        },
        None => Inner { data: SessionData::anonymous(now), persisted: false, dirty: false, expired_tenant: None },
    };
    let session = Session(Rc::new(RefCell::new(inner)));
    req.extensions_mut().insert(session.clone());
    let mut res = next.call(req).await?;
    let inner = session.0.borrow();
    if inner.dirty {
        if let Some(cookie) = session_cookie(&state, &inner.data) {
            res.response_mut().add_cookie(&cookie)?;
        }
    }
    Ok(res)
}
