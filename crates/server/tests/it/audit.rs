//! The audit log over real HTTP (session + CSRF), on both backends: an admin's offer payout
//! edit, conversion status change and new user are listed with actor and summary, newest first
//! and filterable; managers and affiliates are refused; another network's entries never show.

use affnet_accounts::{ApiKey, Role};
use affnet_db::schema::{api_keys, audit_log, conversions, offers, payout_overrides, postbacks, users};
use affnet_db::{Backend, Clock};
use diesel::prelude::*;

use crate::support::{Browser, TestApp, PASSWORD};

fn unescape(html: &str) -> String {
    html.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

fn offer_form(advertiser: &str, payout: &str) -> Vec<(&'static str, String)> {
    [
        ("advertiser_id", advertiser),
        ("name", "Audit Shop"),
        ("description", ""),
        ("offer_url", "https://shop.example/land?t={transaction_id}"),
        ("preview_url", ""),
        ("fallback_url", ""),
        ("status", "active"),
        ("visibility", "public"),
        ("currency", "USD"),
        ("payout_type", "cpa_flat"),
        ("payout_flat", payout),
        ("payout_percent", ""),
        ("revenue_type", "cpa_flat"),
        ("revenue_flat", "4"),
        ("revenue_percent", ""),
        ("conversion_status", "approved"),
        ("min_window", "0"),
        ("min_window_unit", "hours"),
        ("max_window", "30"),
        ("max_window_unit", "days"),
        ("daily_cap", ""),
        ("total_cap", ""),
        ("cap_unit", "conversions"),
        ("over_cap", "reject"),
        ("require_token", "on"),
        ("ip_allowlist", ""),
    ]
    .iter()
    .map(|(k, v)| (*k, (*v).to_owned()))
    .collect()
}

fn refs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn signed_in(app: &TestApp, slug: &str, email: &str) -> Browser {
    let b = app.browser();
    let res = b.sign_in(slug, email, PASSWORD).await;
    assert_eq!(res.status, 303, "sign-in of {email}: {}", res.body);
    b
}

async fn admins_see_who_changed_what(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let other = app.network("other");
    let adv = app.advertiser(&net.tenant, "Shop Inc").id.to_string();
    let aff = app.user(&net.tenant, "aff@acme.test", Role::Affiliate).affiliate_id.unwrap();
    app.user(&net.tenant, "mgr@acme.test", Role::Manager);
    let admin = signed_in(&app, "acme", "admin@acme.test").await;

    // An offer created, then its payout and status edited.
    let form = offer_form(&adv, "2.50");
    let res = admin.submit("/admin/offers/new", "/admin/offers", &refs(&form)).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let path = res.location.unwrap();
    let offer_id = path.rsplit('/').next().unwrap().to_owned();
    let mut form = offer_form(&adv, "3.00");
    form.retain(|(k, _)| *k != "status");
    form.push(("status", "paused".to_owned()));
    let res = admin.submit(&path, &path, &refs(&form)).await;
    assert_eq!(res.status, 303, "{}", res.body);

    // Back to active, then a click and a conversion whose status the admin changes.
    let res = admin.submit(&path, &path, &refs(&offer_form(&adv, "3.00"))).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let token: String = offers::table
        .filter(offers::id.eq(offer_id.parse::<i64>().unwrap()))
        .select(offers::security_token)
        .first(&mut app.pool.get().unwrap())
        .unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(app.url(&format!("/aff_c?offer_id={offer_id}&aff_id={aff}"))).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 302);
    let tid = res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
    let lsr = format!("/aff_lsr?transaction_id={tid}&security_token={token}&amount=10");
    assert_eq!(http.get(app.url(&lsr)).send().await.unwrap().status().as_u16(), 200);
    let conv: i64 = conversions::table.select(conversions::id).first(&mut app.pool.get().unwrap()).unwrap();
    let res = admin
        .submit(
            "/admin/conversions",
            &format!("/admin/conversions/{conv}/status"),
            &[("status", "rejected"), ("note", "fraud check")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);

    // A user created.
    let res = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", "new@acme.test"), ("name", "New"), ("role", "manager"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);

    // The other network's admin makes a change of their own.
    let stranger = signed_in(&app, "other", "admin@other.test").await;
    let res = stranger
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", "secret@other.test"), ("name", ""), ("role", "manager"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);

    // The page lists each change with its actor and summary, newest first.
    let page = admin.get("/admin/audit").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = unescape(&page.body);
    assert!(body.contains("href=\"/admin/audit\""), "nav entry for admins");
    assert!(body.contains("admin@acme.test"), "actor shown:\n{body}");
    assert!(body.contains("payout 2.50 USD → 3.00 USD"), "payout change in words:\n{body}");
    assert!(body.contains("status active → paused"), "status change in words:\n{body}");
    assert!(body.contains("\"Audit Shop\": payout 2.50 USD"), "offer creation:\n{body}");
    assert!(body.contains(&format!("transaction {tid}: status approved → rejected (note: fraud check)")), "{body}");
    assert!(body.contains(&format!("Conversion #{conv}")));
    assert!(body.contains("new@acme.test created as"), "{body}");
    assert!(!body.contains("secret@other.test"), "another network's entries never show");
    let user_at = body.find("new@acme.test created as").unwrap();
    let conv_at = body.find("approved → rejected").unwrap();
    let offer_at = body.find("\"Audit Shop\": payout").unwrap();
    assert!(user_at < conv_at && conv_at < offer_at, "newest first");

    // Filters: by kind, and by a date range that excludes everything.
    let users = unescape(&admin.get("/admin/audit?entity=user").await.body);
    assert!(users.contains("new@acme.test created as") && !users.contains("approved → rejected"));
    let none = admin.get("/admin/audit?from=2000-01-01&to=2000-01-02").await;
    assert_eq!(none.status, 200);
    assert!(none.body.contains("No changes match."));
    assert_eq!(admin.get("/admin/audit?entity=nope").await.status, 422);
    assert_eq!(admin.get("/admin/audit?from=yesterday").await.status, 422);

    // The other network sees only its own entry.
    let theirs = unescape(&stranger.get("/admin/audit").await.body);
    assert!(theirs.contains("secret@other.test created as"));
    assert!(!theirs.contains("Audit Shop") && !theirs.contains("new@acme.test"));
    let counts: Vec<(i64, i64)> = audit_log::table
        .group_by(audit_log::tenant_id)
        .select((audit_log::tenant_id, diesel::dsl::count_star()))
        .order(audit_log::tenant_id.asc())
        .load(&mut app.pool.get().unwrap())
        .unwrap();
    assert_eq!(counts, vec![(net.tenant.id.0, 5), (other.tenant.id.0, 1)]);

    // Managers and affiliates are refused; anonymous visitors are sent to sign in.
    for email in ["mgr@acme.test", "aff@acme.test"] {
        let b = signed_in(&app, "acme", email).await;
        assert_eq!(b.get("/admin/audit").await.status, 403, "{email}");
        assert!(!b
            .get(if email.starts_with("mgr") { "/admin" } else { "/affiliate" })
            .await
            .body
            .contains("/admin/audit"));
    }
    assert_ne!(app.browser().get("/admin/audit").await.status, 200);
    app.stop().await;
}

/// The id at the end of a JSON body's `id`.
fn id_of(v: &serde_json::Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

async fn payouts_postbacks_users_and_the_api_are_audited(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let adv = app.advertiser(&net.tenant, "Shop Inc").id.0;
    let aff_user = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let aff = aff_user.affiliate_id.unwrap().0;
    let pending = app.user(&net.tenant, "pending@acme.test", Role::Affiliate);
    diesel::update(users::table.filter(users::id.eq(pending.id.0)))
        .set(users::status.eq("pending"))
        .execute(&mut app.pool.get().unwrap())
        .unwrap();
    // A signup's company waits with its user; approving the user approves it.
    diesel::update(affnet_db::schema::affiliates::table.find(pending.affiliate_id.unwrap().0))
        .set(affnet_db::schema::affiliates::status.eq("pending"))
        .execute(&mut app.pool.get().unwrap())
        .unwrap();
    let api = app.api(&net.api_key.token);
    let admin = signed_in(&app, "acme", "admin@acme.test").await;

    // Through the API: an offer created and its payout raised.
    let mut body = serde_json::json!({
        "advertiser_id": adv,
        "name": "API offer",
        "offer_url": "https://shop.example/?t={transaction_id}",
        "visibility": "public",
        "payout": {"type": "cpa_flat", "flat": 300, "bps": 0},
        "revenue": {"type": "cpa_flat", "flat": 500, "bps": 0},
    });
    let res = api.post("/api/v1/offers", body.clone()).await;
    assert_eq!(res.status, 201, "{}", res.body);
    let offer = id_of(&res.body);
    body["payout"]["flat"] = serde_json::json!(350);
    assert_eq!(api.put(&format!("/api/v1/offers/{offer}"), body).await.status, 200);

    // Goals and access decisions through the API are audited on the offer, in words.
    let res = api
        .post(
            &format!("/api/v1/offers/{offer}/goals"),
            serde_json::json!({"name": "Deposit", "payout": {"type": "cpa_flat", "flat": 125, "bps": 0}}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let res = api
        .post(
            "/api/v1/offer-access/decide",
            serde_json::json!({"offer_id": offer, "affiliate_id": aff, "status": "rejected", "note": ""}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let goal_and_access: Vec<(String, String)> = audit_log::table
        .filter(audit_log::action.eq_any(["goal_create", "access"]))
        .order(audit_log::id.asc())
        .select((audit_log::action, audit_log::summary))
        .load(&mut app.pool.get().unwrap())
        .unwrap();
    assert_eq!(goal_and_access.len(), 2, "{goal_and_access:?}");
    assert!(goal_and_access[0].1.contains("Deposit") && goal_and_access[0].1.contains("1.25"), "{goal_and_access:?}");
    assert_eq!(goal_and_access[1].1, format!("access of affiliate #{aff}: rejected"));

    // Payout overrides: set and deleted on the page, set through the API.
    let offer_page = format!("/admin/offers/{offer}");
    let aff_s = aff.to_string();
    let res = admin
        .submit(
            &offer_page,
            &format!("{offer_page}/overrides"),
            &[("affiliate_id", &aff_s), ("goal_id", ""), ("payout_type", "cpa_flat"), ("payout_flat", "5")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let ovr: i64 = payout_overrides::table.select(payout_overrides::id).first(&mut app.pool.get().unwrap()).unwrap();
    let res = admin.submit(&offer_page, &format!("/admin/overrides/{ovr}/delete"), &[]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let res = api
        .post(
            "/api/v1/payout-overrides",
            serde_json::json!({"offer_id": offer, "affiliate_id": aff, "payout": {"type": "cpa_flat", "flat": 400, "bps": 0}}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);

    // Postbacks: created, disabled and deleted on the staff page; created through the API.
    let pbs = format!("/admin/affiliates/{aff}/postbacks");
    let form = [
        ("url", "https://aff.example/pb?t={transaction_id}"),
        ("offer_id", ""),
        ("method", "GET"),
        ("on_approved", "on"),
        ("enabled", "on"),
    ];
    let res = admin.submit(&pbs, &pbs, &form).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let pb: i64 = postbacks::table.select(postbacks::id).first(&mut app.pool.get().unwrap()).unwrap();
    let res = admin.submit(&pbs, &format!("{pbs}/{pb}/enabled"), &[("enabled", "false")]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let res = admin.submit(&pbs, &format!("{pbs}/{pb}/delete"), &[]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let res =
        api.post("/api/v1/postbacks", serde_json::json!({"affiliate_id": aff, "url": "https://api.example/pb"})).await;
    assert_eq!(res.status, 201, "{}", res.body);

    // Users: one disabled, a pending signup approved, one created through the API.
    let res =
        admin.submit("/admin/users", &format!("/admin/users/{}/status", aff_user.id), &[("status", "disabled")]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let res =
        admin.submit("/admin/users", &format!("/admin/users/{}/status", pending.id), &[("status", "active")]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let res = api
        .post(
            "/api/v1/users",
            serde_json::json!({"email": "api-made@acme.test", "name": "", "role": "manager", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);

    let body = unescape(&admin.get("/admin/audit").await.body);
    for expected in [
        "<admin@acme.test> (API key)",
        "\"API offer\": payout 3.00 USD",
        "payout 3.00 USD → 3.50 USD",
        &format!("offer #{offer}, affiliate #{aff}: payout offer default → 5.00 USD"),
        &format!("offer #{offer}, affiliate #{aff}: payout 5.00 USD → offer default"),
        &format!("offer #{offer}, affiliate #{aff}: payout offer default → 4.00 USD"),
        &format!("affiliate #{aff}: GET https://aff.example/pb?t={{transaction_id}} for all offers, on approved"),
        &format!("affiliate #{aff}: enabled yes → no"),
        &format!("affiliate #{aff}: GET https://aff.example/pb?t={{transaction_id}} deleted"),
        &format!("affiliate #{aff}: GET https://api.example/pb"),
        "aff@acme.test: status active → disabled",
        "pending@acme.test: status pending → active",
        "approve signup",
        "api-made@acme.test created as",
    ] {
        assert!(body.contains(expected), "{expected:?} missing from:\n{body}");
    }
    let postbacks_only = unescape(&admin.get("/admin/audit?entity=postback").await.body);
    assert_eq!(postbacks_only.matches("class=\"audit-entry\"").count(), 4, "{postbacks_only}");
    // The signup's company, approved with its user, is said on the company.
    let companies = unescape(&admin.get("/admin/audit?entity=affiliate").await.body);
    assert_eq!(companies.matches("class=\"audit-entry\"").count(), 1, "{companies}");
    assert!(companies.contains("status pending → active"), "{companies}");
    let by_admin = admin.get(&format!("/admin/audit?actor={}", net.admin.id)).await;
    assert_eq!(
        unescape(&by_admin.body).matches("class=\"audit-entry\"").count(),
        15,
        "7 through the API and 8 on the pages"
    );
    app.stop().await;
}

/// Advertiser and affiliate companies (page and API), API keys and the network's settings are in
/// the log too, with what changed in words.
async fn companies_api_keys_and_network_settings_are_audited(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let admin = signed_in(&app, "acme", "admin@acme.test").await;

    let res = api.post("/api/v1/advertisers", serde_json::json!({"name": "Audit Ads", "status": "active"})).await;
    assert_eq!(res.status, 201, "{}", res.body);
    let adv = id_of(&res.body);
    let res = api
        .put(&format!("/api/v1/advertisers/{adv}"), serde_json::json!({"name": "Audit Ads Ltd", "status": "active"}))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = api.post("/api/v1/affiliates", serde_json::json!({"name": "Audit Media", "status": "pending"})).await;
    assert_eq!(res.status, 201, "{}", res.body);
    let aff = id_of(&res.body);
    let res = api.post(&format!("/api/v1/affiliates/{aff}/status"), serde_json::json!({"status": "active"})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let page = format!("/admin/affiliates/{aff}");
    assert_eq!(admin.submit(&page, &format!("{page}/status"), &[("status", "suspended")]).await.status, 303);

    let res = admin.submit("/account/api-keys", "/account/api-keys", &[("label", "CI key")]).await;
    assert_eq!(res.status, 201, "{}", res.body);
    let (key, prefix): (i64, String) = api_keys::table
        .filter(api_keys::label.eq("CI key"))
        .select((api_keys::id, api_keys::prefix))
        .first(&mut app.pool.get().unwrap())
        .unwrap();
    let res = admin.submit("/account/api-keys", &format!("/account/api-keys/{key}/revoke"), &[]).await;
    assert_eq!(res.status, 303, "{}", res.body);

    assert_eq!(admin.submit("/admin/users", "/admin/signup-settings", &[("auto_approve", "on")]).await.status, 303);
    assert_eq!(admin.submit("/admin/users", "/admin/timezone", &[("timezone", "Europe/Berlin")]).await.status, 303);

    let rows: Vec<(String, String, String, String, String)> = audit_log::table
        .filter(audit_log::entity.eq_any(["advertiser", "affiliate", "api_key", "network"]))
        .order(audit_log::id.asc())
        .select((
            audit_log::actor_label,
            audit_log::entity,
            audit_log::entity_id,
            audit_log::action,
            audit_log::summary,
        ))
        .load(&mut app.pool.get().unwrap())
        .unwrap();
    let by_api = "admin <admin@acme.test> (API key)".to_owned();
    let by_page = "admin <admin@acme.test>".to_owned();
    let row = |actor: &String, entity: &str, id: String, action: &str, summary: String| {
        (actor.clone(), entity.to_owned(), id, action.to_owned(), summary)
    };
    assert_eq!(
        rows,
        [
            row(&by_api, "advertiser", adv.to_string(), "create", "\"Audit Ads\": status active".into()),
            row(&by_api, "advertiser", adv.to_string(), "update", "name Audit Ads → Audit Ads Ltd".into()),
            row(&by_api, "affiliate", aff.to_string(), "create", "\"Audit Media\": status pending".into()),
            row(&by_api, "affiliate", aff.to_string(), "status", "status pending → active".into()),
            row(&by_page, "affiliate", aff.to_string(), "status", "status active → suspended".into()),
            row(&by_page, "api_key", key.to_string(), "create", format!("\"CI key\" ({prefix}…) for admin@acme.test")),
            row(&by_page, "api_key", key.to_string(), "revoke", format!("key #{key} of admin@acme.test")),
            row(&by_page, "network", "acme".into(), "signup settings", "auto-approve off → on".into()),
            row(&by_page, "network", "acme".into(), "time zone", "time zone UTC → Europe/Berlin".into()),
        ]
    );
    // The page filters by the new kinds like the others.
    let keys = unescape(&admin.get("/admin/audit?entity=api_key").await.body);
    assert!(keys.contains("API key #") && keys.contains("CI key") && !keys.contains("Audit Media"), "{keys}");

    // The same log through the API (admins), newest first, with the page's filters and paging.
    let res = api.get("/api/v1/audit?entity=affiliate&per_page=2").await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!((res.body["total"].as_i64(), res.body["per_page"].as_i64()), (Some(3), Some(2)));
    let data = res.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["summary"], "status active → suspended");
    assert_eq!(data[0]["actor"], by_page.as_str());
    assert_eq!(data[1]["summary"], "status pending → active");
    assert_eq!(data[0]["entity"], "affiliate");
    assert_eq!(data[0]["entity_id"], aff.to_string());
    assert!(data[0]["created_at"].as_str().unwrap().ends_with('Z'));
    let page2 = api.get("/api/v1/audit?entity=affiliate&per_page=2&page=2").await;
    assert_eq!(page2.body["data"][0]["action"], "create");
    assert_eq!(api.get("/api/v1/audit?entity=nope").await.status, 422);
    assert_eq!(api.get("/api/v1/audit?from=27-11-2026").await.status, 422);
    // Another network's log never shows; a manager's key is refused.
    let other = app.network("other");
    let other_api = app.api(&other.api_key.token);
    assert_eq!(other_api.get("/api/v1/audit").await.body["total"].as_i64(), Some(0));
    let mgr = app.user(&net.tenant, "mgr@acme.test", Role::Manager);
    let key = ApiKey::create(&mut app.pool.get().unwrap(), net.tenant.id, mgr.id, "", app.clock.now()).unwrap();
    assert_eq!(app.api(&key.token).get("/api/v1/audit").await.status, 403);
    app.stop().await;
}

/// Makes every audit entry fail to be written, as a change's transaction would see a crash
/// between the change and its entry.
fn refuse_audit_entries(app: &TestApp, backend: Backend) {
    use diesel::connection::SimpleConnection;
    let sql = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit refused'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION audit_refused() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$ \
             LANGUAGE plpgsql; CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log FOR EACH ROW \
             EXECUTE FUNCTION audit_refused();"
        }
    };
    app.pool.get().unwrap().batch_execute(sql).unwrap();
}

/// A change and its audit entry commit together: when the entry cannot be written, the change
/// is undone and the request fails (500), on the pages and the API alike. (They were two
/// transactions: a kill -9 between them left changes nobody could account for.)
async fn a_change_whose_audit_entry_cannot_be_written_is_undone(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let adv = app.advertiser(&net.tenant, "Shop Inc").id.0;
    let aff_user = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let aff = aff_user.affiliate_id.unwrap().0;
    let api = app.api(&net.api_key.token);
    let admin = signed_in(&app, "acme", "admin@acme.test").await;
    let body = serde_json::json!({
        "advertiser_id": adv,
        "name": "Kept offer",
        "offer_url": "https://shop.example/?t={transaction_id}",
        "visibility": "public",
        "payout": {"type": "cpa_flat", "flat": 300, "bps": 0},
        "revenue": {"type": "cpa_flat", "flat": 500, "bps": 0},
    });
    let res = api.post("/api/v1/offers", body.clone()).await;
    assert_eq!(res.status, 201, "{}", res.body);
    let offer = id_of(&res.body);
    let count = |table: &str| -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let q = format!("SELECT COUNT(*) AS n FROM {table}");
        diesel::sql_query(q).get_result::<N>(&mut app.pool.get().unwrap()).unwrap().n
    };
    let payout = || -> i64 {
        offers::table.find(offer).select(offers::payout_flat).first(&mut app.pool.get().unwrap()).unwrap()
    };
    let before = ["offers", "users", "postbacks", "api_keys", "payout_overrides", "audit_log"].map(count);
    refuse_audit_entries(&app, backend);

    // The API: a PATCH, a create, a postback and an override.
    let patch = serde_json::json!({"payout": {"type": "cpa_flat", "flat": 999, "bps": 0}});
    let res = api.send(reqwest::Method::PATCH, &format!("/api/v1/offers/{offer}"), Some(patch)).await;
    assert_eq!(res.status, 500, "{}", res.body);
    assert_eq!(api.post("/api/v1/offers", body).await.status, 500);
    let pb = serde_json::json!({"affiliate_id": aff, "url": "https://aff.example/pb?t={transaction_id}"});
    assert_eq!(api.post("/api/v1/postbacks", pb).await.status, 500);
    let ovr = serde_json::json!({"offer_id": offer, "affiliate_id": aff, "payout": {"type": "cpa_flat", "flat": 1, "bps": 0}});
    assert_eq!(api.post("/api/v1/payout-overrides", ovr).await.status, 500);

    // The pages: an offer edit, a new user, a new API key, a password change.
    let path = format!("/admin/offers/{offer}");
    let res = admin.submit(&path, &path, &refs(&offer_form(&adv.to_string(), "9.99"))).await;
    assert_eq!(res.status, 500, "{}", res.body);
    let user = [("email", "new@acme.test"), ("name", "New"), ("role", "manager"), ("password", PASSWORD)];
    assert_eq!(admin.submit("/admin/users", "/admin/users", &user).await.status, 500);
    assert_eq!(admin.submit("/account/api-keys", "/account/api-keys", &[("label", "CI")]).await.status, 500);
    let change =
        [("current_password", PASSWORD), ("new_password", "a brand new pw"), ("confirm_password", "a brand new pw")];
    assert_eq!(admin.submit("/account/password", "/account/password", &change).await.status, 500);

    assert_eq!(payout(), 300, "the PATCH and the page edit are undone");
    assert_eq!(["offers", "users", "postbacks", "api_keys", "payout_overrides", "audit_log"].map(count), before);
    assert_eq!(app.browser().sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303, "the password is kept");
    app.stop().await;
}

crate::on_both_backends!(
    admins_see_who_changed_what,
    payouts_postbacks_users_and_the_api_are_audited,
    companies_api_keys_and_network_settings_are_audited,
    a_change_whose_audit_entry_cannot_be_written_is_undone
);
