//! CSRF protection: every form of a session carries its token in a `csrf_token` field, and every
//! form handler takes a [`CsrfForm`], which refuses a body without the matching token before
//! the handler runs. A POST handler cannot read a form without this check.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use affnet_accounts::token::constant_time_eq;
use serde::de::DeserializeOwned;

use crate::session::Session;
use crate::AppError;

pub const FIELD: &str = "csrf_token";
/// Largest form body accepted.
const LIMIT: usize = 64 * 1024;

/// A url-encoded form whose CSRF token matched the session's.
pub struct CsrfForm<T>(pub T);

/// Whether every name and value of a URL-encoded form is UTF-8 once its `%XX` escapes are
/// decoded. A form decoder would read other bytes as U+FFFD: text stored changed, and distinct
/// passwords read as one.
fn form_is_utf8(body: &[u8]) -> bool {
    body.split(|b| matches!(b, b'&' | b'=')).all(|part| {
        let decoded: Vec<u8> = percent_encoding::percent_decode(part).collect();
        std::str::from_utf8(&decoded).is_ok()
    })
}

/// For forms that carry nothing but their token (sign-out, revoke…).
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = Session::extract(req).into_inner();
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let session = session?;
            let bytes = body.await.map_err(|_| AppError::BadRequest("the form could not be read".into()))?;
            if bytes.len() > LIMIT {
                return Err(AppError::BadRequest("the form is too large".into()));
            }
            if !form_is_utf8(&bytes) {
                return Err(AppError::BadRequest("the form holds text that is not UTF-8".into()));
            }
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| AppError::BadRequest("the form could not be read".into()))?;
            let sent = pairs.iter().find(|(k, _)| k == FIELD).map(|(_, v)| v.as_str());
            match (sent, session.expected_csrf()) {
                (Some(sent), Some(expected)) if constant_time_eq(sent, &expected) => {}
                _ => return Err(AppError::Csrf),
            }
            serde_urlencoded::from_bytes(&bytes)
                .map(CsrfForm)
                .map_err(|e| AppError::BadRequest(format!("the form could not be read: {e}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::form_is_utf8;

    #[test]
    fn forms_must_decode_to_utf8() {
        for (body, ok) in [
            (&b"a=1&b=caf%C3%A9+au+lait"[..], true),
            (b"name=%E2%82%AC&x=", true),
            (b"name=caf\xc3\xa9", true),
            (b"name=%FF", false),
            (b"name=Jo%C0%80", false),
            (b"%FE=1", false),
            (b"name=\xff", false),
            (b"name=%ED%A0%80", false),
            (b"name=100%", true),
        ] {
            assert_eq!(form_is_utf8(body), ok, "{}", String::from_utf8_lossy(body));
        }
    }
}
