//! The actix application: operations endpoints and the tracking endpoints at the root (outside
//! the session middleware, so clicks never pay for cookies), then the pages and the API.

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpServer};
use affnet_admin_ui::AppState;
use affnet_tracking::Tracking;

use crate::ops;

/// Every route of the application.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics));
    affnet_tracking::configure(cfg);
    affnet_admin_ui::configure(cfg);
}

/// Logs each request (method, path without query, status, latency); failures louder.
async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let res = next.call(req).await?;
    let status = res.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    // The method and path are read from the answered request, and only when the line is written.
    // A path carrying a link token (signup verification, password reset) is logged as its
    // route: the token would let anyone reading the log use the link.
    let request = res.request();
    let method = request.method();
    let redacted = without_link_token(request.match_info().as_str(), request.path());
    let path = redacted.as_deref().unwrap_or(request.path());
    if status >= 500 {
        tracing::warn!(%method, %path, status, micros, "request");
    } else {
        tracing::debug!(%method, %path, status, micros, "request");
    }
    Ok(res)
}

/// A path that may carry a link token (signup verification, password reset: `/t/{slug}/verify/…`,
/// `/t/{slug}/reset/…`, also mangled, e.g. by a mail client: `//reset/`, `RESET`, `reset%2F…`),
/// cut after the word, for the log (`/t/acme/reset/{token}`); `None` for any other path,
/// including one that ends with the word (`/admin/users/7/reset` carries no token). `routed` is
/// the path routing read (escapes of plain characters decoded), `raw` the one asked.
fn without_link_token(routed: &str, raw: &str) -> Option<String> {
    for path in [routed, raw] {
        let lower = path.to_ascii_lowercase();
        for word in ["verify", "reset"] {
            if let Some(at) = lower.find(word) {
                if path[at + word.len()..].trim_matches('/').is_empty() {
                    continue;
                }
                return Some(format!("{}/{{token}}", &path[..at + word.len()]));
            }
        }
    }
    None
}

/// `HEAD` is answered as `GET` without the body (HTTP requires it; load balancers' health checks
/// use it): the request is routed as a `GET`, and the connection, which knows the request was a
/// `HEAD`, sends the headers only. Not on the tracking endpoints, where a `GET` records a click or
/// a conversion: they answer `HEAD` themselves (`/aff_c` as a click would, recording nothing;
/// the conversion endpoints `405`).
async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == actix_web::http::Method::HEAD && !is_tracking_path(req.path()) {
        req.head_mut().method = actix_web::http::Method::GET;
    }
    next.call(req).await
}

/// Whether `path` may reach a tracking endpoint (`/aff_…`), read as the router reads it:
/// decoded (`/%61ff_lsr` is `/aff_lsr`), and here also without regard to case or repeated
/// slashes, so that no spelling of a tracking path is ever turned into a `GET`.
fn is_tracking_path(path: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    decoded.trim_start_matches('/').get(..4).is_some_and(|start| start.eq_ignore_ascii_case("aff_"))
}

/// The HTTP server on `listener`, not yet awaited.
pub fn http_server(
    state: AppState,
    tracking: Tracking,
    listener: TcpListener,
    workers: usize,
    shutdown_timeout: u64,
) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let tracking = web::Data::new(tracking);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(tracking.clone())
            .wrap(from_fn(crate::body_deadline::body_deadline))
            .wrap(from_fn(head_as_get))
            .wrap(from_fn(log_requests))
            .configure(routes)
    })
    .workers(workers)
    .shutdown_timeout(shutdown_timeout)
    // Signals are the binary's (`crate::stop`): the workers stop with the server, within the
    // same timeout.
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::without_link_token;

    #[test]
    fn link_tokens_are_cut_from_logged_paths_and_nothing_else() {
        for (path, logged) in [
            ("/t/acme/reset/abc123", Some("/t/acme/reset/{token}")),
            ("/t/acme/verify/abc123", Some("/t/acme/verify/{token}")),
            ("/t/acme//RESET/abc", Some("/t/acme//RESET/{token}")),
            ("/t/acme/reset%2Fabc", Some("/t/acme/reset/{token}")),
            ("/admin/users/7/reset", None),
            ("/admin/users/7/reset/", None),
            ("/admin/offers", None),
        ] {
            assert_eq!(without_link_token(path, path).as_deref(), logged, "{path}");
        }
    }
}
