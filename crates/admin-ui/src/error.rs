//! One error type for the web layer, mapped to HTTP in one place: HTML pages for people
//! ([`AppError`]) and `{"error": code, "message": …}` JSON for the API ([`ApiError`]).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use affnet_accounts::AccountsError;
use affnet_db::{DbError, FieldErrors};
use askama::Template;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not signed in, or the session expired; carries the tenant slug when known, so the page
    /// can offer that network's sign-in form.
    #[error("sign in to continue")]
    /// `next`: the page asked for (a `GET`), to go on to after signing in.
    Unauthorized { tenant_slug: Option<String>, expired: bool, next: Option<String> },
    #[error("you do not have access to this page")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("the form has expired or did not come from this site; reload the page and try again")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error("please correct the highlighted fields: {0}")]
    Invalid(FieldErrors),
    #[error("too many attempts; try again in {0} seconds")]
    Throttled(i64),
    /// A body over the size limit (`413`).
    #[error("{0}")]
    TooLarge(String),
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized { expired: true, .. } => "session_expired",
            AppError::Unauthorized { .. } => "unauthorized",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Csrf => "csrf_token_invalid",
            AppError::BadRequest(_) => "bad_request",
            AppError::Invalid(_) => "validation_failed",
            AppError::Throttled(_) => "too_many_requests",
            AppError::TooLarge(_) => "payload_too_large",
            AppError::Internal(_) => "internal_error",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What a person may be told (internal causes are logged, never shown).
    fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "Something went wrong on our side. It has been logged; please try again.".into(),
            AppError::Unauthorized { expired: true, .. } => "Your session has expired. Please sign in again.".into(),
            other => {
                let s = other.to_string();
                let mut c = s.chars();
                c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
            }
        }
    }

    fn log(&self) {
        if let AppError::Internal(cause) = self {
            tracing::error!(%cause, "request failed");
        }
    }
}

impl From<AccountsError> for AppError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Invalid(f) => AppError::Invalid(f),
            AccountsError::NotFound => AppError::NotFound,
            AccountsError::BadCredentials => AppError::Unauthorized { tenant_slug: None, expired: false, next: None },
            AccountsError::Throttled { retry_after_secs } => AppError::Throttled(retry_after_secs),
            AccountsError::Disabled | AccountsError::Pending { .. } => AppError::Forbidden,
            AccountsError::Db(e) => e.into(),
        }
    }
}

impl From<affnet_offers::OffersError> for AppError {
    fn from(e: affnet_offers::OffersError) -> Self {
        match e {
            affnet_offers::OffersError::Invalid(f) => AppError::Invalid(f),
            affnet_offers::OffersError::NotFound => AppError::NotFound,
            affnet_offers::OffersError::Db(e) => e.into(),
        }
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => AppError::NotFound,
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::from(e).into()
    }
}

impl From<FieldErrors> for AppError {
    fn from(e: FieldErrors) -> Self {
        AppError::Invalid(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
    sign_in_url: Option<String>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let status = self.status();
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message: self.public_message(),
            sign_in_url: match self {
                AppError::Unauthorized { tenant_slug, next, .. } => {
                    let base = match tenant_slug {
                        Some(slug) => format!("/t/{slug}/login"),
                        None => "/login".to_owned(),
                    };
                    Some(match next {
                        Some(next) => format!("{base}?next={}", crate::pages::catalogue::percent_encode(next)),
                        None => base,
                    })
                }
                _ => None,
            },
        };
        let mut res = HttpResponse::build(status);
        if let AppError::Throttled(secs) = self {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        match page.render() {
            Ok(html) => res.content_type("text/html; charset=utf-8").body(html),
            Err(_) => res.content_type("text/plain; charset=utf-8").body(self.public_message()),
        }
    }
}

/// An [`AppError`] answered as JSON, for `/api/v1`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub AppError);

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        ApiError(e.into())
    }
}

impl From<affnet_offers::OffersError> for ApiError {
    fn from(e: affnet_offers::OffersError) -> Self {
        ApiError(e.into())
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        ApiError(e.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.log();
        // The pages' wording for sign-in and access speaks of pages; an API client has a key.
        let message = match &self.0 {
            AppError::Unauthorized { .. } => "no valid API key: send Authorization: Bearer <API key>".to_owned(),
            AppError::Forbidden => "this API key's role may not do this".to_owned(),
            other => other.public_message(),
        };
        let mut body = serde_json::json!({ "error": self.0.code(), "message": message });
        if let AppError::Invalid(fields) = &self.0 {
            body["fields"] = serde_json::to_value(fields).unwrap_or_default();
        }
        let mut res = HttpResponse::build(self.0.status());
        if let AppError::Throttled(secs) = &self.0 {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        if let AppError::Unauthorized { .. } = &self.0 {
            res.insert_header(("WWW-Authenticate", "Bearer"));
        }
        res.json(body)
    }
}
