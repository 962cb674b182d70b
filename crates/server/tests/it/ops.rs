//! Health, readiness, static assets, security headers.

use affnet_db::Backend;

use crate::support::TestApp;

async fn health_readiness_and_assets(backend: Backend) {
    let app = TestApp::start(backend).await;
    let b = app.browser();
    let health = b.get("/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let ready = b.get("/readyz").await;
    assert_eq!(ready.status, 200);
    let ready: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], backend.as_str());
    let metrics = b.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert_eq!(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    assert!(metrics.body.contains("# TYPE affnet_clicks_recorded_total counter"), "{}", metrics.body);
    assert!(metrics.body.contains(&format!("affnet_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
    let css = b.get("/static/affnet.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert!(css.body.contains(".sidenav"));
    let login = b.get("/login").await;
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert!(login.headers["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    assert!(!login.body.contains("http://") && !login.body.contains("https://"), "no external assets");
    app.stop().await;
}

crate::on_both_backends!(health_readiness_and_assets);
