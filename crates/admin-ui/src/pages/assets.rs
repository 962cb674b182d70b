//! Static assets, compiled into the binary so a release build serves them from anywhere.

use actix_web::HttpResponse;

const STYLESHEET: &str = include_str!("../../../../static/affnet.css");

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(STYLESHEET)
}

const ICON: &str = include_str!("../../../../static/favicon.svg");

/// The site icon, also at `/favicon.ico`, where browsers ask for it before reading any page.
pub async fn icon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(ICON)
}
