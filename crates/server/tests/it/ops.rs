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
    // The site icon, where browsers ask for it (it was a 404 in every fresh browser's console).
    for path in ["/favicon.ico", "/static/favicon.svg"] {
        let icon = b.get(path).await;
        assert_eq!((icon.status, icon.headers["content-type"].to_str().unwrap()), (200, "image/svg+xml"), "{path}");
    }
    let login = b.get("/login").await;
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert!(login.headers["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    assert!(!login.body.contains("http://") && !login.body.contains("https://"), "no external assets");
    app.stop().await;
}

/// `HEAD` is answered like `GET` without a body (health checks use it; it was a 404), except on
/// the tracking endpoints, where a `GET` records something.
async fn head_is_answered_like_get(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // A path with an escape is routed decoded, and answered so (it was a 404).
    for path in
        ["/healthz", "/readyz", "/static/affnet.css", "/t/acme/login", "/api/v1/openapi.json", "/t/acme/%6Cogin"]
    {
        let res = client.head(app.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        assert_eq!(res.bytes().await.unwrap().len(), 0, "{path}: no body");
    }
    // The tracking endpoints keep their own: `HEAD /aff_c` answers as a click would without
    // recording one (here: no such offer), `HEAD /aff_lsr` is not a conversion call.
    let res = client.head(app.url("/aff_c?offer_id=1&aff_id=1")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = client.head(app.url("/aff_lsr?transaction_id=x")).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["allow"].to_str().unwrap()), (405, "GET, POST"));
    // Nor through an escaped path, which is routed decoded: no conversion call is stored.
    for path in ["/%61ff_lsr", "/%61FF_lsr", "/aff%5Flsr"] {
        let res = client.head(app.url(&format!("{path}?transaction_id=x"))).send().await.unwrap();
        assert_ne!(res.status(), 400, "{path}");
    }
    let attempts: i64 = {
        use diesel::prelude::*;
        affnet_db::schema::conversion_attempts::table.count().get_result(&mut app.pool.get().unwrap()).unwrap()
    };
    assert_eq!(attempts, 0);
    app.stop().await;
}

/// A request whose body stalls is answered and closed after the body deadline (10 s), like a
/// client slow to send its headers; before, the connection stayed open for good (enough of them
/// used up the server's file descriptors).
async fn a_stalled_request_body_is_cut_off(backend: Backend) {
    use std::io::{Read, Write};
    let app = TestApp::start(backend).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let started = std::time::Instant::now();
    let answers = actix_web::rt::task::spawn_blocking(move || {
        ["/aff_lsr", "/api/v1/advertisers", "/t/acme/login"]
            .map(|path| {
                let mut s = std::net::TcpStream::connect(&addr).unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
                let head = format!(
                    "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntransaction_id="
                );
                s.write_all(head.as_bytes()).unwrap();
                let mut answer = Vec::new();
                // Read until the server closes the connection.
                let _ = s.read_to_end(&mut answer);
                String::from_utf8_lossy(&answer).into_owned()
            })
            .to_vec()
    })
    .await
    .unwrap();
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(25), "cut off after the deadline, not held: {took:?}");
    for a in answers {
        assert!(a.starts_with("HTTP/1.1 4"), "a 4xx answer: {a}");
    }
    // A chunked body that stalls: answered, and the connection closed (it was kept open).
    let addr = app.base.trim_start_matches("http://").to_owned();
    let started = std::time::Instant::now();
    let answer = actix_web::rt::task::spawn_blocking(move || {
        ["/aff_lsr", "/api/v1/advertisers"].map(|path| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(40))).unwrap();
            let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ntrans\r\n");
            s.write_all(head.as_bytes()).unwrap();
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        })
    })
    .await
    .unwrap();
    // The conversion call times out (400); the API refuses the keyless call at once (401).
    assert!(answer[0].starts_with("HTTP/1.1 400"), "{}", answer[0]);
    assert!(answer[1].starts_with("HTTP/1.1 401"), "{}", answer[1]);
    assert!(started.elapsed() < std::time::Duration::from_secs(25), "closed: {:?}", started.elapsed());
    app.stop().await;
}

/// Link tokens (signup verification, password reset) never reach the log, even at `debug`,
/// where every request is logged (and a 5xx at the default level): the request line is cut after
/// the word (`/t/acme/reset/{token}`), whatever the method and however mangled the path. Before,
/// a live reset token was in the log.
async fn link_tokens_are_not_logged(backend: Backend) {
    use std::process::{Command, Stdio};
    let db = affnet_db::testing::TestDb::new(backend);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("affnet.log");
    let port = crate::support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_affnet"))
        .env("DATABASE_URL", &db.raw_url)
        .env("AFFNET_LISTEN", format!("127.0.0.1:{port}"))
        .env("AFFNET_WORKERS", "1")
        .env("AFFNET_LOG", "debug")
        .env("AFFNET_MAIL_DIR", dir.path().join("mail"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the server did not start");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let token = "5f0e3c1d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";
    for path in [format!("/t/acme/reset/{token}"), format!("/t/acme/verify/{token}")] {
        client.get(format!("{base}{path}")).send().await.unwrap();
        client.post(format!("{base}{path}")).form(&[("password", "x")]).send().await.unwrap();
        // No route answers it: logged all the same, as the route.
        client.put(format!("{base}{path}")).send().await.unwrap();
    }
    // Mangled (a mail client's doing): not routed, logged without the token all the same.
    for path in ["/t/acme/%72eset", "/t/acme//reset", "/T/acme/RESET", "//t/acme/./reset"] {
        client.get(format!("{base}{path}/{token}")).send().await.unwrap();
    }
    client.get(format!("{base}/t/acme/reset%2F{token}")).send().await.unwrap();
    client.get(format!("{base}/admin/offers/12345")).send().await.unwrap();
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(!written.contains(token), "{written}");
    assert!(written.contains("/t/acme/reset/{token}"), "the path is cut after the word: {written}");
    assert!(written.contains("/admin/offers/12345"), "other paths are logged as asked: {written}");
}

crate::on_both_backends!(
    health_readiness_and_assets,
    head_is_answered_like_get,
    a_stalled_request_body_is_cut_off,
    link_tokens_are_not_logged,
);
