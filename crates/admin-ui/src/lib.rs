//! affnet's web layer for people and integrations: the signed-in session (encrypted cookie),
//! CSRF-checked forms, the role-checked pages of the three portals (network staff, affiliates,
//! advertisers), and the JSON API handlers. Handlers parse and authorize, call one domain
//! function off the async executor, and render; business rules live in the domain crates.
//!
//! It must not hold business rules, nor resolve a tenant from anything but the session, the API
//! key, or the `/t/{slug}` prefix of the public sign-in pages.

pub mod api;
pub mod audit;
pub mod auth;
pub mod csrf;
pub mod error;
pub mod layout;
pub mod nul_guard;
pub mod pages;
pub mod session;
pub mod state;

pub use error::{ApiError, AppError};
pub use state::{AppState, WebConfig};

use actix_web::web;

/// Registers every page and API route (the tracking endpoints are registered by the tracking
/// crate, outside the session middleware).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(actix_web::middleware::from_fn(nul_guard::api))
            // The key first: without one nothing else is read (401).
            .wrap(actix_web::middleware::from_fn(auth::api_key))
            // Answers hold a network's data: never sniffed as another type, never cached.
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Cache-Control", "no-store")),
            )
            .configure(api::configure),
    );
    pages::configure(cfg);
}
