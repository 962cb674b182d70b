//! The server-rendered pages, behind the session middleware and security headers.

pub mod api_keys;
pub mod assets;
pub mod audit;
pub mod catalogue;
pub mod home;
pub mod password;
pub mod reports;
pub mod sign_in;
pub mod signup;
pub mod tracking;
pub mod users;

use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::web;

use crate::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/affnet.css", web::get().to(assets::stylesheet))
        .route("/static/favicon.svg", web::get().to(assets::icon))
        .route("/favicon.ico", web::get().to(assets::icon));
    cfg.service(
        web::scope("")
            .wrap(from_fn(crate::session::middleware))
            .wrap(from_fn(crate::nul_guard::pages))
            .wrap(
                DefaultHeaders::new()
                    .add(("X-Frame-Options", "DENY"))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "same-origin"))
                    .add(("Cache-Control", "no-store"))
                    .add((
                        "Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                    )),
            )
            .route("/", web::get().to(home::root))
            .route("/login", web::get().to(sign_in::find_network))
            .route("/t/{slug}/login", web::get().to(sign_in::form))
            .route("/t/{slug}/login", web::post().to(sign_in::submit))
            .route("/t/{slug}/signup", web::get().to(signup::affiliate_form))
            .route("/t/{slug}/signup", web::post().to(signup::affiliate_submit))
            .route("/t/{slug}/signup/advertiser", web::get().to(signup::advertiser_form))
            .route("/t/{slug}/signup/advertiser", web::post().to(signup::advertiser_submit))
            .route("/t/{slug}/verify/{token}", web::get().to(signup::verify_form))
            .route("/t/{slug}/verify/{token}", web::post().to(signup::verify))
            .route("/t/{slug}/forgot", web::get().to(signup::forgot_form))
            .route("/t/{slug}/forgot", web::post().to(signup::forgot_submit))
            .route("/t/{slug}/reset/{token}", web::get().to(signup::reset_form))
            .route("/t/{slug}/reset/{token}", web::post().to(signup::reset_submit))
            .route("/logout", web::post().to(sign_in::sign_out))
            .route("/admin", web::get().to(home::staff))
            .route("/affiliate", web::get().to(home::affiliate))
            .route("/advertiser", web::get().to(home::advertiser))
            .route("/admin/users", web::get().to(users::list))
            .route("/admin/users", web::post().to(users::create))
            .route("/admin/users/{id}", web::get().to(users::show))
            .route("/admin/signup-settings", web::post().to(users::signup_settings))
            .route("/admin/timezone", web::post().to(users::set_timezone))
            .route("/admin/users/{id}/status", web::post().to(users::set_status))
            .route("/admin/users/{id}/edit", web::post().to(users::edit))
            .route("/admin/users/{id}/reset", web::post().to(users::send_reset))
            .route("/admin/audit", web::get().to(audit::list))
            .configure(catalogue::configure)
            .configure(tracking::configure)
            .configure(reports::configure)
            .route("/account/api-keys", web::get().to(api_keys::list))
            .route("/account/api-keys", web::post().to(api_keys::create))
            .route("/account/api-keys/{id}/revoke", web::post().to(api_keys::revoke))
            .route("/account/password", web::get().to(password::form))
            .route("/account/password", web::post().to(password::change))
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound)
}
