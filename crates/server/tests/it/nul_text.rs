//! Text holding a NUL character (`%00`, `\u0000`) is refused with 400 on the API and the pages,
//! whatever reads it, and nothing is stored: PostgreSQL cannot store it (these requests were
//! 500s there) and SQLite stored it as sent.

use crate::support::{TestApp, PASSWORD};
use affnet_db::Backend;

async fn the_api_refuses_nul_in_paths_queries_and_bodies(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    for path in [
        "/api/v1/offers?search=%00",
        "/api/v1/affiliates?search=a%00b",
        "/api/v1/advertisers?search=%00",
        "/api/v1/clicks?sub=%00",
        "/api/v1/conversions?sub=%00",
        "/api/v1/trace/%00",
    ] {
        let res = api.get(path).await;
        assert_eq!(res.status, 400, "{path}: {}", res.body);
        assert_eq!(res.body["error"], "bad_request", "{path}");
        assert!(res.body["message"].as_str().unwrap().contains("NUL"), "{path}: {}", res.body);
    }
    for (path, body) in [
        ("/api/v1/advertisers", r#"{"name":"a\u0000b"}"#),
        ("/api/v1/affiliates", r#"{"name":"x","company":"\u0000"}"#),
    ] {
        let res = api.post_raw(path, body).await;
        assert_eq!(res.status, 400, "{path}: {}", res.body);
        assert_eq!(res.body["error"], "bad_request", "{path}");
    }
    // The same requests without NUL work: the guard hands the body on unchanged, and a
    // backslash that only looks like an escape is text.
    let adv = api.post_raw("/api/v1/advertisers", r#"{"name":"a\\u0000b"}"#).await;
    assert_eq!(adv.status, 201, "{}", adv.body);
    assert_eq!(adv.body["name"], "a\\u0000b");
    let list = api.get("/api/v1/advertisers?search=u0000").await;
    assert_eq!((list.status, list.body["total"].as_i64()), (200, Some(1)));
    let offers = api.get("/api/v1/offers?search=%0A").await;
    assert_eq!(offers.status, 200);
    app.stop().await;
}

async fn the_pages_refuse_nul_before_anything_reads_it(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let b = app.browser();
    for path in ["/t/%00/login", "/t/a%00/signup", "/t/acme/forgot?x=%00"] {
        let page = b.get(path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.body);
        assert!(page.body.contains("NUL"), "{path}");
    }
    // A form with NUL in a field (and a valid CSRF token): refused, nobody signed in.
    let token = b.get("/t/acme/login").await.csrf();
    let page = b
        .post("/t/acme/login", &[("csrf_token", &token), ("email", "admin@acme.test\0"), ("password", PASSWORD)])
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(b.get("/admin").await.status, 401, "not signed in");
    // Without it the same form signs in.
    let page = b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(b.get("/admin").await.status, 200);
    // Signed in, an admin's form with NUL changes nothing.
    let before = app.users_of(&net.tenant).len();
    let token = b.get("/admin/users").await.csrf();
    let page = b
        .post(
            "/admin/users",
            &[
                ("csrf_token", &token),
                ("email", "new@acme.test"),
                ("name", "New\0"),
                ("role", "manager"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(app.users_of(&net.tenant).len(), before);
    app.stop().await;
}

crate::on_both_backends!(
    the_api_refuses_nul_in_paths_queries_and_bodies,
    the_pages_refuse_nul_before_anything_reads_it
);
