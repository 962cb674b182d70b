//! `/api/v1`: bearer keys, roles, tenant isolation, validation errors as a field map.

use affnet_accounts::{ApiKey, Role};
use affnet_db::{Backend, Clock};
use serde_json::json;

use crate::support::{TestApp, PASSWORD};

async fn requests_without_a_valid_key_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let plain = reqwest::Client::new().get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(plain.status(), 401);
    // Every API answer, refusals too: never sniffed as another type, never cached.
    assert_eq!(plain.headers()["x-content-type-options"], "nosniff");
    assert_eq!(plain.headers()["cache-control"], "no-store");
    assert_eq!(plain.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = plain.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    let good = net.api_key.token.clone();
    let mut tampered = good.clone();
    tampered.replace_range(good.len() - 4.., "0000");
    for bad in ["nonsense", "afk_000000000000_000000000000000000000000000000000000000000000000", tampered.as_str()] {
        let res = app.api(bad).get("/api/v1/me").await;
        assert_eq!(res.status, 401, "{bad}");
    }
    // A session cookie is not an API credential.
    let b = app.browser();
    b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let res = b.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    app.stop().await;
}

async fn me_answers_with_the_keys_user_and_network(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let me = app.api(&net.api_key.token).get("/api/v1/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"]["email"], "admin@acme.test");
    assert_eq!(me.body["user"]["role"], "admin");
    assert_eq!(me.body["network"]["slug"], "acme");
    assert!(me.body["user"].get("password_hash").is_none());
    app.stop().await;
}

async fn users_are_listed_by_page_within_the_network_only(backend: Backend) {
    let app = TestApp::start(backend).await;
    let acme = app.network("acme");
    let globex = app.network("globex");
    for i in 0..3 {
        app.user(&acme.tenant, &format!("aff{i}@acme.test"), Role::Affiliate);
    }
    let foreign = app.user(&globex.tenant, "aff@globex.test", Role::Affiliate);
    let api = app.api(&acme.api_key.token);
    let page1 = api.get("/api/v1/users?per_page=2").await;
    assert_eq!(page1.status, 200);
    assert_eq!(page1.body["total"], 4);
    assert_eq!(page1.body["data"].as_array().unwrap().len(), 2);
    let page2 = api.get("/api/v1/users?per_page=2&page=2").await;
    assert_eq!(page2.body["data"].as_array().unwrap().len(), 2);
    let all: Vec<&str> = [&page1, &page2]
        .iter()
        .flat_map(|p| p.body["data"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()))
        .collect();
    assert!(!all.contains(&"aff@globex.test"));
    let affiliates = api.get("/api/v1/users?role=affiliate").await;
    assert_eq!(affiliates.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(affiliates.body["total"], 3, "the total counts the role asked for");
    assert_eq!(api.get("/api/v1/users?role=admin").await.body["total"], 1);
    // Blank parameters, as a form sends empty fields, mean "not given".
    let blank = api.get("/api/v1/users?role=&page=&per_page=").await;
    assert_eq!((blank.status, blank.body["total"].clone(), blank.body["per_page"].clone()), (200, json!(4), json!(50)));
    let zero = api.get("/api/v1/users?per_page=0&page=0").await;
    assert_eq!((zero.status, zero.body["error"].as_str()), (422, Some("validation_failed")));
    assert!(zero.body["fields"]["per_page"].is_string() && zero.body["fields"]["page"].is_string(), "{}", zero.body);
    let unreadable = api.get("/api/v1/users?page=x").await;
    assert_eq!(
        (unreadable.status, unreadable.body["fields"]["page"].as_str()),
        (422, Some("\"x\" is not a whole number"))
    );
    assert_eq!(api.get("/api/v1/users?role=root").await.status, 422);

    let cross = api.get(&format!("/api/v1/users/{}", foreign.id)).await;
    assert_eq!(cross.status, 404);
    assert_eq!(cross.body["error"], "not_found");
    assert_eq!(api.get(&format!("/api/v1/users/{}", acme.admin.id)).await.status, 200);
    assert_eq!(api.get("/api/v1/users/abc").await.status, 404);
    assert_eq!(api.get("/api/v1/nothing-here").await.body["error"], "not_found");
    app.stop().await;
}

async fn roles_are_enforced_on_the_api(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let aff = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let mgr = app.user(&net.tenant, "mgr@acme.test", Role::Manager);
    let (aff_key, mgr_key) = {
        let mut c = app.pool.get().unwrap();
        let now = app.clock.now();
        (
            ApiKey::create(&mut c, net.tenant.id, aff.id, "", now).unwrap(),
            ApiKey::create(&mut c, net.tenant.id, mgr.id, "", now).unwrap(),
        )
    };
    let aff_api = app.api(&aff_key.token);
    assert_eq!(aff_api.get("/api/v1/users").await.status, 403);
    assert_eq!(aff_api.get(&format!("/api/v1/users/{}", net.admin.id)).await.status, 403);
    assert_eq!(aff_api.get(&format!("/api/v1/users/{}", aff.id)).await.status, 200);
    let new_user = json!({"email": "x@acme.test", "role": "admin", "password": PASSWORD});
    assert_eq!(aff_api.post("/api/v1/users", new_user.clone()).await.status, 403);
    let mgr_api = app.api(&mgr_key.token);
    assert_eq!(mgr_api.get("/api/v1/users").await.status, 200);
    assert_eq!(mgr_api.post("/api/v1/users", new_user).await.status, 403, "managers do not create users");
    assert_eq!(app.users_of(&net.tenant).len(), 3);
    app.stop().await;
}

async fn creating_a_user_validates_every_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let advertiser = app.advertiser(&net.tenant, "Shop").id;
    let other = app.network("globex");
    let foreign_advertiser = app.advertiser(&other.tenant, "Foreign shop").id;
    let foreign = api
        .post(
            "/api/v1/users",
            json!({"email": "f@acme.test", "role": "advertiser", "password": PASSWORD, "advertiser_id": foreign_advertiser}),
        )
        .await;
    assert_eq!(foreign.status, 422);
    assert_eq!(
        foreign.body["fields"]["advertiser_id"],
        "an advertiser user belongs to an advertiser company of this network"
    );
    let created = api
        .post(
            "/api/v1/users",
            json!({"email": "New@Acme.test", "name": "New", "role": "advertiser", "password": PASSWORD, "advertiser_id": advertiser}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["email"], "new@acme.test");
    assert_eq!(created.body["role"], "advertiser");
    assert_eq!(created.body["advertiser_id"], advertiser.0);

    let bad = api.post("/api/v1/users", json!({"email": "nope", "role": "advertiser", "password": "short"})).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["error"], "validation_failed");
    assert_eq!(bad.body["fields"]["email"], "enter an email address such as name@example.com");
    assert_eq!(bad.body["fields"]["password"], "use at least 10 characters");
    let dup =
        api.post("/api/v1/users", json!({"email": "new@acme.test", "role": "manager", "password": PASSWORD})).await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.body["fields"]["email"], "a user with this email already exists in this network");
    // A company for a role that has none is refused, not dropped (999999 names nothing).
    for (role, field) in [("manager", "advertiser_id"), ("admin", "affiliate_id"), ("affiliate", "advertiser_id")] {
        let body = json!({"email": "c@acme.test", "role": role, "password": PASSWORD, field: 999_999});
        let res = api.post("/api/v1/users", body).await;
        assert_eq!(res.status, 422, "{role} {field}: {}", res.body);
        assert!(res.body["fields"][field].is_string(), "{role} {field}: {}", res.body);
    }
    let role = api.post("/api/v1/users", json!({"email": "r@acme.test", "role": "owner", "password": PASSWORD})).await;
    assert_eq!(role.status, 422);
    assert!(role.body["fields"]["role"].as_str().unwrap().contains("unknown role"));
    let raw = reqwest::Client::new()
        .post(app.url("/api/v1/users"))
        .bearer_auth(&net.api_key.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert_eq!(raw.json::<serde_json::Value>().await.unwrap()["error"], "bad_request");
    assert_eq!(app.users_of(&net.tenant).len(), 2);
    app.stop().await;
}

async fn a_disabled_users_keys_stop_working(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let aff = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let key = ApiKey::create(&mut app.pool.get().unwrap(), net.tenant.id, aff.id, "", app.clock.now()).unwrap();
    assert_eq!(app.api(&key.token).get("/api/v1/me").await.status, 200);
    affnet_accounts::User::set_status(
        &mut app.pool.get().unwrap(),
        net.tenant.id,
        aff.id,
        affnet_accounts::UserStatus::Disabled,
    )
    .unwrap();
    assert_eq!(app.api(&key.token).get("/api/v1/me").await.status, 401);
    app.stop().await;
}

crate::on_both_backends!(
    requests_without_a_valid_key_are_refused,
    me_answers_with_the_keys_user_and_network,
    users_are_listed_by_page_within_the_network_only,
    roles_are_enforced_on_the_api,
    creating_a_user_validates_every_field,
    a_disabled_users_keys_stop_working,
);
