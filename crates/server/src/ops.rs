//! Operations endpoints: liveness and readiness.

use actix_web::{web, HttpResponse};
use affnet_admin_ui::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// `GET /readyz`: the database answers (503 otherwise).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let backend = pool.backend().as_str();
    let checked = web::block(move || pool.ping().map_err(|e| e.to_string())).await;
    match checked.map_err(|e| e.to_string()).and_then(|r| r) {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": backend })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable", "database": backend }))
        }
    }
}

/// `GET /metrics`: Prometheus text format (process counters of this node).
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(format!(
        "# HELP affnet_build_info The running version.\n# TYPE affnet_build_info gauge\naffnet_build_info{{version=\"{}\"}} 1\n{}",
        env!("CARGO_PKG_VERSION"),
        affnet_tracking::metrics::render()
    ))
}
