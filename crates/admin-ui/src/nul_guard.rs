//! Text holding a NUL character is refused with `400`, on the pages and the API alike, before
//! any handler reads it. PostgreSQL cannot store NUL in a text column (the query failed: a 500),
//! and SQLite would store it as sent, so the two backends would disagree. Looked for in the raw
//! path and query (`%00`) and in JSON (`\u0000`) and form (`%00`) bodies; a body over the limit
//! is refused with `413`. The pages are answered here; on the API a refused body is answered by
//! the handler when it reads it, after the key and the role. The tracking endpoints check their
//! own parameters (control characters are refused there).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage};

use crate::{ApiError, AppError};

const REFUSED: &str = "text may not contain NUL characters (%00, \\u0000)";

/// The guard for the pages (an error page).
pub async fn pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    guard(req, next, Body::Refused, |e| e.into()).await
}

/// The guard for `/api/v1` (the API's JSON error). A body it refuses is refused by the
/// handler, when it reads the body after the key and the role ([`RefusedBody`]): a caller
/// without the role gets its `403` whatever the body holds.
pub async fn api(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    guard(req, next, Body::Deferred, |e| ApiError(e).into()).await
}

/// What becomes of a body the guard refuses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Answered here.
    Refused,
    /// Handed on empty, with the refusal in [`RefusedBody`] for the handler to answer.
    Deferred,
}

/// Why the guard refused a request's body, for the handler that reads it (the API's
/// [`crate::api::ApiBody`]).
#[derive(Clone, Debug)]
pub enum RefusedBody {
    TooLarge(String),
    BadRequest(String),
}

impl RefusedBody {
    pub fn error(&self) -> AppError {
        match self {
            RefusedBody::TooLarge(m) => AppError::TooLarge(m.clone()),
            RefusedBody::BadRequest(m) => AppError::BadRequest(m.clone()),
        }
    }
}

async fn guard<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
    body_refusal: Body,
    refuse: impl Fn(AppError) -> actix_web::Error,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let uri = req.uri();
    if has_nul_escape(uri.path().as_bytes()) || uri.query().is_some_and(|q| has_nul_escape(q.as_bytes())) {
        return Ok(req.error_response(refuse(AppError::BadRequest(REFUSED.to_owned()))).map_into_right_body());
    }
    if let Some(body_kind) = body_kind(&req) {
        // Read the body (the same limit as the API's JSON: 256 KiB; a larger one is refused
        // here with 413), look, and hand it on unchanged.
        let (http, payload) = req.parts_mut();
        let refused = match web::Bytes::from_request(http, payload).await {
            Ok(body) => {
                let nul = match body_kind {
                    BodyKind::Json => json_has_nul(&body),
                    BodyKind::Form => has_nul_escape(&body),
                };
                req.set_payload(body.into());
                nul.then(|| RefusedBody::BadRequest(REFUSED.to_owned()))
            }
            Err(e) if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
                Some(RefusedBody::TooLarge(format!("the body is larger than {} KiB", crate::api::BODY_LIMIT / 1024)))
            }
            Err(e) => Some(RefusedBody::BadRequest(format!("the body could not be read: {e}"))),
        };
        if let Some(refused) = refused {
            if body_refusal == Body::Refused {
                return Ok(req.error_response(refuse(refused.error())).map_into_right_body());
            }
            req.set_payload(web::Bytes::new().into());
            req.extensions_mut().insert(refused);
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

#[derive(Clone, Copy)]
enum BodyKind {
    Json,
    Form,
}

/// The kind of text body a request carries, for the methods that have one.
fn body_kind(req: &ServiceRequest) -> Option<BodyKind> {
    if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
        return None;
    }
    let ct = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?.to_ascii_lowercase();
    if ct.starts_with("application/json") || ct.contains("+json") {
        Some(BodyKind::Json)
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        Some(BodyKind::Form)
    } else {
        None
    }
}

/// A NUL byte, or its URL escape `%00`, in a raw path, query or form body.
fn has_nul_escape(raw: &[u8]) -> bool {
    raw.contains(&0) || raw.windows(3).any(|w| w == b"%00")
}

/// A NUL byte, or the JSON escape `\u0000` (not `\\u0000`, an escaped backslash followed by
/// the text `u0000`).
fn json_has_nul(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            0 => return true,
            b'\\' => {
                if body.get(i + 1) == Some(&b'u') && body.get(i + 2..i + 6) == Some(b"0000".as_slice()) {
                    return true;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nul_however_it_is_written_and_only_then() {
        for (raw, nul) in [
            (&b"a=1&b=%00"[..], true),
            (b"name=a%00b", true),
            (b"a\0b", true),
            (b"name=a%2500b", false),
            (b"name=%0", false),
            (b"/t/acme/login", false),
        ] {
            assert_eq!(has_nul_escape(raw), nul, "{}", String::from_utf8_lossy(raw));
        }
        for (body, nul) in [
            (r#"{"name":"a\u0000b"}"#, true),
            (r#"{"name":"\\\u0000"}"#, true),
            (r#"{"name":"a\\u0000b"}"#, false),
            (r#"{"name":"a\u00001"}"#, true),
            (r#"{"name":"a\u0001"}"#, false),
            (r#"{"name":"trailing \"#, false),
            (r#"{"name":"plain"}"#, false),
        ] {
            assert_eq!(json_has_nul(body.as_bytes()), nul, "{body}");
        }
    }
}
