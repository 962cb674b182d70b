//! `/api/v1` catalogue: advertisers, affiliates, offers, goals, access and payout overrides;
//! every bad input refused with its field and nothing changed; what each role may see; the
//! OpenAPI document against the routes and the server's required fields.

use affnet_accounts::{ApiKey, Role};
use affnet_db::{Backend, Clock};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Api, TestApp};

fn key(app: &TestApp, tenant: &affnet_accounts::Tenant, user: &affnet_accounts::User) -> String {
    ApiKey::create(&mut app.pool.get().unwrap(), tenant.id, user.id, "", app.clock.now()).unwrap().token
}

/// An offer body with every field of `OfferInput` set to a valid value.
fn full_offer(advertiser: i64) -> Value {
    json!({
        "advertiser_id": advertiser,
        "name": "Summer sale",
        "description": "Sell sunscreen",
        "offer_url": "https://shop.example/land?t={transaction_id}&s={aff_sub}",
        "preview_url": "https://shop.example/",
        "fallback_url": "https://shop.example/closed",
        "status": "active",
        "visibility": "public",
        "currency": "EUR",
        "payout": {"type": "cpa_flat", "flat": 250, "bps": 0},
        "revenue": {"type": "cpa_both", "flat": 100, "bps": 1250},
        "conversion_status": "pending",
        "min_click_age_secs": 5,
        "max_click_age_secs": 86400,
        "daily_cap": 100,
        "total_cap": 1000,
        "cap_unit": "conversions",
        "over_cap": "pending",
        "dedupe_adv_sub": false,
        "one_per_click": true,
        "require_token": true,
        "ip_allowlist": "10.0.0.0/8, 192.0.2.7",
    })
}

fn minimal_offer(advertiser: i64, name: &str, visibility: &str) -> Value {
    json!({
        "advertiser_id": advertiser,
        "name": name,
        "offer_url": "https://shop.example/?t={transaction_id}",
        "visibility": visibility,
        "payout": {"type": "cpa_flat", "flat": 300, "bps": 0},
        "revenue": {"type": "cpa_flat", "flat": 500, "bps": 0},
    })
}

fn ids(page: &Value) -> Vec<i64> {
    page["data"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect()
}

async fn snapshot(api: &Api, paths: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for p in paths {
        out.push(api.get(p).await.body);
    }
    out
}

/// A click of `affiliate` on `offer` (a public offer's JSON as staff see it) and its
/// conversion; returns the transaction id and the conversion id.
async fn click_and_convert(app: &TestApp, api: &Api, offer: &Value, affiliate: i64) -> (String, i64) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(app.url(&format!("/aff_c?offer_id={}&aff_id={affiliate}", offer["id"]))).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 302);
    let tid = res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
    let token = offer["security_token"].as_str().unwrap();
    let res = http.get(app.url(&format!("/aff_lsr?transaction_id={tid}&security_token={token}"))).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let conv =
        api.get(&format!("/api/v1/conversions?offer_id={}", offer["id"])).await.body["data"][0]["id"].as_i64().unwrap();
    (tid, conv)
}

fn field_keys(res: &crate::support::Json) -> Vec<String> {
    res.body["fields"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

async fn staff_build_the_catalogue_through_the_api(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let now = app.clock.now().rfc3339();

    // Advertisers: create, list, search, update.
    let adv = api
        .post(
            "/api/v1/advertisers",
            json!({"name": " Shop Inc ", "contact_name": "Ann", "contact_email": "Ann@Shop.example"}),
        )
        .await;
    assert_eq!(adv.status, 201, "{}", adv.body);
    assert_eq!(
        adv.body,
        json!({"id": adv.body["id"], "name": "Shop Inc", "contact_name": "Ann", "contact_email": "ann@shop.example",
               "status": "active", "notes": "", "created_at": now, "updated_at": now})
    );
    let adv_id = adv.body["id"].as_i64().unwrap();
    assert_eq!(api.post("/api/v1/advertisers", json!({"name": "Other"})).await.status, 201);
    let list = api.get("/api/v1/advertisers?per_page=1").await;
    assert_eq!((list.status, list.body["total"].clone(), list.body["per_page"].clone()), (200, json!(2), json!(1)));
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(ids(&api.get("/api/v1/advertisers?search=shop").await.body), vec![adv_id]);
    assert_eq!(api.get("/api/v1/advertisers?status=inactive").await.body["total"], 0);
    assert_eq!(api.get("/api/v1/advertisers?status=gone").await.status, 422);
    let upd = api
        .put(&format!("/api/v1/advertisers/{adv_id}"), json!({"name": "Shop GmbH", "status": "inactive", "notes": "n"}))
        .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    let got = api.get(&format!("/api/v1/advertisers/{adv_id}")).await;
    assert_eq!((got.body["name"].as_str(), got.body["status"].as_str()), (Some("Shop GmbH"), Some("inactive")));
    assert_eq!(got.body["contact_email"], "", "PUT replaces the whole record");
    assert_eq!(api.get("/api/v1/advertisers?status=inactive").await.body["total"], 1);

    // Affiliates: create pending, approve.
    let aff = api.post("/api/v1/affiliates", json!({"name": "Traffic Co", "contact_email": "t@traffic.example"})).await;
    assert_eq!(aff.status, 201, "{}", aff.body);
    assert_eq!(aff.body["status"], "pending");
    assert_eq!(aff.body["manager_user_id"], Value::Null);
    let aff_id = aff.body["id"].as_i64().unwrap();
    assert_eq!(api.get("/api/v1/affiliates?status=pending").await.body["total"], 1);
    let approved = api.post(&format!("/api/v1/affiliates/{aff_id}/status"), json!({"status": "active"})).await;
    assert_eq!((approved.status, approved.body["status"].as_str()), (200, Some("active")));
    let bad_status = api.post(&format!("/api/v1/affiliates/{aff_id}/status"), json!({"status": "royal"})).await;
    assert_eq!(bad_status.status, 422);
    assert_eq!(bad_status.body["fields"]["status"], "'royal' is not one of: pending, active, suspended, rejected");
    let mgr = app.user(&net.tenant, "mgr@acme.test", Role::Manager);
    let edited = api
        .put(
            &format!("/api/v1/affiliates/{aff_id}"),
            json!({"name": "Traffic Co", "status": "active", "manager_user_id": mgr.id.0, "notes": "good"}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(
        (edited.body["manager_user_id"].as_i64(), edited.body["notes"].as_str()),
        (Some(mgr.id.0), Some("good"))
    );
    assert_eq!(api.get(&format!("/api/v1/affiliates/{aff_id}")).await.body["status"], "active");

    // Offers: create with every field, edit, rotate the token.
    let created = api.post("/api/v1/offers", full_offer(adv_id)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let offer_id = created.body["id"].as_i64().unwrap();
    let token = created.body["security_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        created.body,
        json!({
            "id": offer_id, "advertiser_id": adv_id, "name": "Summer sale", "description": "Sell sunscreen",
            "offer_url": "https://shop.example/land?t={transaction_id}&s={aff_sub}",
            "preview_url": "https://shop.example/", "fallback_url": "https://shop.example/closed",
            "status": "active", "visibility": "public", "currency": "EUR",
            "payout": {"type": "cpa_flat", "flat": 250, "bps": 0},
            "revenue": {"type": "cpa_both", "flat": 100, "bps": 1250},
            "conversion_status": "pending", "min_click_age_secs": 5, "max_click_age_secs": 86400,
            "daily_cap": 100, "total_cap": 1000, "cap_unit": "conversions", "over_cap": "pending",
            "dedupe_adv_sub": false, "one_per_click": true, "require_token": true, "security_token": token,
            "ip_allowlist": created.body["ip_allowlist"], "created_at": now, "updated_at": now,
        })
    );
    let minimal = api
        .post("/api/v1/offers", json!({"advertiser_id": adv_id, "name": "Plain", "offer_url": "www.plain.example/x"}))
        .await;
    assert_eq!(minimal.status, 201, "{}", minimal.body);
    assert_eq!(minimal.body["offer_url"], "https://www.plain.example/x");
    assert_eq!(minimal.body["payout"], json!({"type": "cpa_flat", "flat": 0, "bps": 0}));
    assert_eq!(minimal.body["max_click_age_secs"], 2_592_000);
    assert_eq!((minimal.body["currency"].as_str(), minimal.body["visibility"].as_str()), (Some("USD"), Some("public")));

    app.clock.advance(1_000_000);
    let mut edit = full_offer(adv_id);
    edit["name"] = json!("Summer sale v2");
    edit["payout"] = json!({"type": "cpa_percent", "flat": 0, "bps": 1500});
    let edited = api.put(&format!("/api/v1/offers/{offer_id}"), edit).await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(edited.body["security_token"], token.as_str(), "editing keeps the token");
    assert_eq!(edited.body["updated_at"], app.clock.now().rfc3339());
    assert_eq!(edited.body["created_at"], now);
    let got = api.get(&format!("/api/v1/offers/{offer_id}")).await;
    assert_eq!(got.body["name"], "Summer sale v2");
    assert_eq!(got.body["payout"], json!({"type": "cpa_percent", "flat": 0, "bps": 1500}));
    let rotated = api.post(&format!("/api/v1/offers/{offer_id}/rotate-token"), json!({})).await;
    assert_eq!(rotated.status, 200);
    let new_token = rotated.body["security_token"].as_str().unwrap();
    assert_ne!(new_token, token);
    assert_eq!(api.get(&format!("/api/v1/offers/{offer_id}")).await.body["security_token"], new_token);
    let listed = api.get(&format!("/api/v1/offers?advertiser_id={adv_id}&search=Summer")).await;
    assert_eq!((listed.body["total"].as_i64(), ids(&listed.body)), (Some(1), vec![offer_id]));
    assert_eq!(api.get("/api/v1/offers").await.body["total"], 2);
    assert_eq!(api.get(&format!("/api/v1/offers?search={offer_id}")).await.body["total"], 1);
    assert_eq!(api.get("/api/v1/offers?visibility=private").await.body["total"], 0);

    // Goals.
    let goal = api
        .post(
            &format!("/api/v1/offers/{offer_id}/goals"),
            json!({"name": "Deposit", "payout": {"type": "cpa_flat", "flat": 1000, "bps": 0}, "allow_multiple": true}),
        )
        .await;
    assert_eq!(goal.status, 201, "{}", goal.body);
    let goal_id = goal.body["id"].as_i64().unwrap();
    assert_eq!(
        goal.body,
        json!({"id": goal_id, "offer_id": offer_id, "name": "Deposit", "status": "active",
               "payout": {"type": "cpa_flat", "flat": 1000, "bps": 0}, "revenue": {"type": "cpa_flat", "flat": 0, "bps": 0},
               "allow_multiple": true, "created_at": app.clock.now().rfc3339(), "updated_at": app.clock.now().rfc3339()})
    );
    let g2 = api
        .put(
            &format!("/api/v1/goals/{goal_id}"),
            json!({"name": "First deposit", "status": "paused", "payout": {"type": "cpa_flat", "flat": 1200, "bps": 0}}),
        )
        .await;
    assert_eq!(g2.status, 200, "{}", g2.body);
    let goals = api.get(&format!("/api/v1/offers/{offer_id}/goals")).await;
    assert_eq!(goals.status, 200);
    assert_eq!(goals.body["data"][0]["name"], "First deposit");
    assert_eq!(goals.body["data"][0]["allow_multiple"], false);
    assert_eq!(api.get(&format!("/api/v1/goals/{goal_id}")).await.body["payout"]["flat"], 1200);

    // Payout overrides: set, replace, list, delete.
    let body =
        json!({"offer_id": offer_id, "affiliate_id": aff_id, "payout": {"type": "cpa_flat", "flat": 400, "bps": 0}});
    let set = api.post("/api/v1/payout-overrides", body.clone()).await;
    assert_eq!(set.status, 201, "{}", set.body);
    assert_eq!(set.body["goal_id"], Value::Null);
    let override_id = set.body["id"].as_i64().unwrap();
    let mut again = body.clone();
    again["payout"]["flat"] = json!(450);
    let replaced = api.post("/api/v1/payout-overrides", again).await;
    assert_eq!((replaced.status, replaced.body["id"].as_i64()), (200, Some(override_id)));
    assert_eq!(replaced.body["payout"], json!({"type": "cpa_flat", "flat": 450, "bps": 0}));
    let goal_override = api
        .post(
            "/api/v1/payout-overrides",
            json!({"offer_id": offer_id, "affiliate_id": aff_id, "goal_id": goal_id, "payout": {"type": "cpa_flat", "flat": 1500, "bps": 0}}),
        )
        .await;
    assert_eq!(goal_override.status, 201);
    let overrides = api.get(&format!("/api/v1/payout-overrides?offer_id={offer_id}&affiliate_id={aff_id}")).await;
    assert_eq!(overrides.body["total"], 2);
    assert_eq!(api.delete(&format!("/api/v1/payout-overrides/{override_id}")).await.status, 204);
    assert_eq!(api.delete(&format!("/api/v1/payout-overrides/{override_id}")).await.status, 404);
    assert_eq!(api.get("/api/v1/payout-overrides").await.body["total"], 1);
    app.stop().await;
}

async fn bad_offer_values_are_refused_by_field_and_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let adv = app.advertiser(&net.tenant, "Shop").id.0;
    let created = api.post("/api/v1/offers", full_offer(adv)).await;
    assert_eq!(created.status, 201);
    let offer_id = created.body["id"].as_i64().unwrap();
    let path = format!("/api/v1/offers/{offer_id}");
    let before = api.get(&path).await.body;
    app.clock.advance(1_000_000);

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "payout",
            json!({"type": "cpa_flat", "flat": -1, "bps": 0}),
            "payout_flat",
            "must be between 0 and 1,000,000.00",
        ),
        (
            "payout",
            json!({"type": "cpa_flat", "flat": 100_000_001, "bps": 0}),
            "payout_flat",
            "must be between 0 and 1,000,000.00",
        ),
        (
            "payout",
            json!({"type": "cpa_percent", "flat": 0, "bps": 10_001}),
            "payout_bps",
            "a percentage must be between 0 and 100 %",
        ),
        (
            "revenue",
            json!({"type": "cpa_flat", "flat": -1, "bps": 0}),
            "revenue_flat",
            "must be between 0 and 1,000,000.00",
        ),
        (
            "revenue",
            json!({"type": "cpa_both", "flat": 0, "bps": 10_001}),
            "revenue_bps",
            "a percentage must be between 0 and 100 %",
        ),
        ("offer_url", json!("ftp://x"), "offer_url", "only http:// and https:// URLs are allowed"),
        (
            "offer_url",
            json!("https://"),
            "offer_url",
            "the URL needs a host name, e.g. https://www.example.com/landing",
        ),
        ("offer_url", json!("https://shop.example/?c={clickid}"), "offer_url", "unknown macro: {clickid}"),
        ("fallback_url", json!("https://shop.example/?p={payout}"), "fallback_url", "unknown macro: {payout}"),
        ("offer_url", json!(""), "offer_url", "this field is required"),
        ("ip_allowlist", json!("10.0.0.0/33"), "ip_allowlist", "'10.0.0.0/33': the prefix length must be 0 to 32"),
        (
            "min_click_age_secs",
            json!(90_000),
            "min_click_age_secs",
            "the minimum click age cannot be above the maximum",
        ),
        ("max_click_age_secs", json!(0), "max_click_age_secs", "must be between 1 second and 366 days"),
        ("daily_cap", json!(0), "daily_cap", "a cap must be a positive number (leave empty for no cap)"),
        ("visibility", json!("secret"), "visibility", "'secret' is not one of: public, approval_required, private"),
        ("currency", json!("EURO"), "currency", ""),
        // Sent empty: not taken for USD (offers probe).
        ("currency", json!(""), "currency", "choose a currency: an ISO 4217 code such as USD or EUR"),
        // A name that shows nothing, or reorders the text shown after it (offers probe).
        ("name", json!("\u{202e}\u{200b}"), "name", affnet_db::validation::ONE_LINE),
        ("name", json!("\u{200b}\u{feff}"), "name", affnet_db::validation::ONE_LINE),
        ("name", json!("Shop \u{202e}lanigiro"), "name", affnet_db::validation::ONE_LINE),
        ("conversion_status", json!("rejected"), "conversion_status", "new conversions can be approved or pending"),
        ("name", json!("  "), "name", "this field is required"),
        ("advertiser_id", json!(987_654), "advertiser_id", "choose an advertiser of this network"),
    ];
    for (field, value, key, message) in cases {
        let mut body = full_offer(adv);
        body[field] = value.clone();
        for (label, res) in
            [("create", api.post("/api/v1/offers", body.clone()).await), ("update", api.put(&path, body).await)]
        {
            assert_eq!(res.status, 422, "{label} {field}={value}: {}", res.body);
            assert_eq!(res.body["error"], "validation_failed");
            assert_eq!(field_keys(&res), vec![key.to_owned()], "{label} {field}={value}");
            if !message.is_empty() {
                assert_eq!(res.body["fields"][key], message, "{label} {field}={value}");
            }
        }
    }
    // Several bad fields at once: each named.
    let mut many = full_offer(adv);
    many["payout"] = json!({"type": "cpa_flat", "flat": -1, "bps": 10_001});
    many["offer_url"] = json!("ftp://x");
    let res = api.put(&path, many).await;
    assert_eq!(field_keys(&res), vec!["offer_url", "payout_bps", "payout_flat"]);

    // A field of the wrong type, or missing, is a 422 naming it (nested fields as the
    // validation names them: `payout_flat`).
    let mut typed = full_offer(adv);
    typed["payout"] = json!({"type": "cpa_flat", "flat": "2.50", "bps": 0});
    let mut kind = full_offer(adv);
    kind["payout"]["type"] = json!("cpm");
    let mut advertiser = full_offer(adv);
    advertiser["advertiser_id"] = json!(adv.to_string());
    let mut unnamed = full_offer(adv);
    unnamed.as_object_mut().unwrap().remove("name");
    let mut payout_list = full_offer(adv);
    payout_list["payout"] = json!("2.50");
    for (body, key, message) in [
        (typed, "payout_flat", "invalid type: string \"2.50\", expected i64"),
        (kind, "payout_type", "'cpm' is not one of: cpa_flat, cpa_percent, cpa_both"),
        (advertiser, "advertiser_id", &*format!("invalid type: string \"{adv}\", expected i64")),
        (unnamed, "name", "this field is required"),
        (payout_list, "payout", "invalid type: string \"2.50\", expected struct Rate"),
    ] {
        for res in [api.post("/api/v1/offers", body.clone()).await, api.put(&path, body).await] {
            assert_eq!((res.status, res.body["error"].as_str()), (422, Some("validation_failed")), "{}", res.body);
            assert_eq!(field_keys(&res), vec![key.to_owned()], "{}", res.body);
            assert_eq!(res.body["fields"][key], message, "{}", res.body);
        }
    }

    // Malformed JSON, another shape than an object or an unknown field is a 400 naming the
    // problem.
    let mut unknown = full_offer(adv);
    unknown["payot"] = json!(1);
    let res = api.put(&path, unknown).await;
    assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")));
    assert!(res.body["message"].as_str().unwrap().contains("unknown field `payot`"), "{}", res.body);
    let mut unknown_inner = full_offer(adv);
    unknown_inner["payout"]["percent"] = json!(1);
    let res = api.put(&path, unknown_inner).await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body["message"].as_str().unwrap().contains("unknown field `percent`"), "{}", res.body);
    // A field named twice is refused, not read as its last value.
    let twice = format!(
        "{{\"advertiser_id\": {adv}, \"name\": \"D\", \"offer_url\": \"https://shop.example/\", \"currency\": \"USD\", \"currency\": \"JPY\"}}"
    );
    let res = api.post_raw("/api/v1/offers", &twice).await;
    assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")), "{}", res.body);
    assert!(res.body["message"].as_str().unwrap().contains("duplicate field `currency`"), "{}", res.body);
    for shape in [json!([1, 2]), json!("offer"), json!(null)] {
        let res = api.put(&path, shape).await;
        assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")), "{}", res.body);
    }
    let res = api.post_raw("/api/v1/offers", "{\"name\": ").await;
    assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")));
    assert_eq!(api.post_raw(&format!("/api/v1/offers/{offer_id}/goals"), "[1,").await.status, 400);
    // A JSON body without its Content-Type is said so (actix said "Content type error").
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/offers"))
        .bearer_auth(&net.api_key.token)
        .body(format!("{{\"advertiser_id\": {adv}, \"name\": \"E\", \"offer_url\": \"https://shop.example/\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("Content-Type: application/json"), "{body}");

    // Nothing changed, nothing created.
    assert_eq!(api.get(&path).await.body, before);
    assert_eq!(api.get("/api/v1/offers").await.body["total"], 1);
    app.stop().await;
}

async fn bad_values_for_the_other_resources_are_refused_by_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let adv = api.post("/api/v1/advertisers", json!({"name": "Shop"})).await.body["id"].as_i64().unwrap();
    let aff = api.post("/api/v1/affiliates", json!({"name": "Traffic"})).await.body["id"].as_i64().unwrap();
    let offer = api.post("/api/v1/offers", minimal_offer(adv, "O", "public")).await.body["id"].as_i64().unwrap();
    let goal = api
        .post(
            &format!("/api/v1/offers/{offer}/goals"),
            json!({"name": "G", "payout": {"type": "cpa_flat", "flat": 1, "bps": 0}}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let other_offer = api.post("/api/v1/offers", minimal_offer(adv, "P", "public")).await.body["id"].as_i64().unwrap();
    let other_goal = api
        .post(
            &format!("/api/v1/offers/{other_offer}/goals"),
            json!({"name": "G2", "payout": {"type": "cpa_flat", "flat": 1, "bps": 0}}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let watched = [
        format!("/api/v1/advertisers/{adv}"),
        format!("/api/v1/affiliates/{aff}"),
        format!("/api/v1/goals/{goal}"),
        "/api/v1/payout-overrides".to_owned(),
        "/api/v1/offer-access".to_owned(),
    ];
    let before = snapshot(&api, &watched).await;
    let rate = |flat: i64, bps: i64| json!({"type": "cpa_both", "flat": flat, "bps": bps});
    let cases: Vec<(Method, String, Value, &str, &str)> = vec![
        (Method::PUT, format!("/api/v1/advertisers/{adv}"), json!({"name": ""}), "name", "this field is required"),
        (
            Method::PUT,
            format!("/api/v1/advertisers/{adv}"),
            json!({"name": "S", "contact_email": "nope"}),
            "contact_email",
            "enter an email address such as name@example.com",
        ),
        (
            Method::POST,
            "/api/v1/advertisers".to_owned(),
            json!({"name": "S", "status": "paused"}),
            "status",
            "'paused' is not one of: active, inactive",
        ),
        (
            Method::PUT,
            format!("/api/v1/affiliates/{aff}"),
            json!({"name": "T", "manager_user_id": net.admin.id.0}),
            "manager_user_id",
            "choose a user of role manager in this network",
        ),
        (
            Method::POST,
            "/api/v1/affiliates".to_owned(),
            json!({"name": "x".repeat(201)}),
            "name",
            "use at most 200 characters",
        ),
        (
            Method::PUT,
            format!("/api/v1/goals/{goal}"),
            json!({"name": "G", "payout": rate(-1, 0)}),
            "payout_flat",
            "must be between 0 and 1,000,000.00",
        ),
        (
            Method::PUT,
            format!("/api/v1/goals/{goal}"),
            json!({"name": "G", "payout": rate(0, 0), "revenue": rate(100_000_001, 0)}),
            "revenue_flat",
            "must be between 0 and 1,000,000.00",
        ),
        (
            Method::POST,
            format!("/api/v1/offers/{offer}/goals"),
            json!({"name": "G", "payout": rate(0, 10_001)}),
            "payout_bps",
            "a percentage must be between 0 and 100 %",
        ),
        (
            Method::POST,
            "/api/v1/payout-overrides".to_owned(),
            json!({"offer_id": offer, "affiliate_id": aff, "payout": rate(-1, 0)}),
            "payout_flat",
            "must be between 0 and 1,000,000.00",
        ),
        (
            Method::POST,
            "/api/v1/payout-overrides".to_owned(),
            json!({"offer_id": offer, "affiliate_id": aff, "goal_id": other_goal, "payout": rate(1, 0)}),
            "goal_id",
            "choose a goal of this offer",
        ),
        (
            Method::POST,
            "/api/v1/payout-overrides".to_owned(),
            json!({"offer_id": 999_999, "affiliate_id": aff, "payout": rate(1, 0)}),
            "offer_id",
            "choose an offer of this network",
        ),
        (
            Method::POST,
            "/api/v1/offer-access/decide".to_owned(),
            json!({"offer_id": offer, "affiliate_id": aff, "status": "pending"}),
            "status",
            "a decision is approved or rejected",
        ),
        (
            Method::POST,
            "/api/v1/offer-access/decide".to_owned(),
            json!({"offer_id": offer, "affiliate_id": aff, "status": "maybe"}),
            "status",
            "'maybe' is not one of: pending, approved, rejected",
        ),
    ];
    for (method, path, body, key, message) in cases {
        let res = api.send(method.clone(), &path, Some(body.clone())).await;
        assert_eq!(res.status, 422, "{method} {path} {body}: {}", res.body);
        assert_eq!(field_keys(&res), vec![key.to_owned()], "{method} {path} {body}");
        assert_eq!(res.body["fields"][key], message, "{method} {path} {body}");
    }
    let unknown = api.post("/api/v1/affiliates", json!({"name": "T", "email": "t@t.example"})).await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.body["message"].as_str().unwrap().contains("unknown field `email`"), "{}", unknown.body);
    let missing = api.post(&format!("/api/v1/offers/{offer}/goals"), json!({"name": "G"})).await;
    assert_eq!((missing.status, field_keys(&missing)), (422, vec!["payout".to_owned()]), "{}", missing.body);
    assert_eq!(missing.body["fields"]["payout"], "this field is required");
    assert_eq!(api.get("/api/v1/affiliates?per_page=500").await.status, 422);
    assert_eq!(api.get("/api/v1/affiliates?per_page=&page=").await.status, 200);
    assert_eq!(api.get("/api/v1/offers?advertiser_id=&page=").await.status, 200);

    assert_eq!(snapshot(&api, &watched).await, before);
    assert_eq!(api.get("/api/v1/advertisers").await.body["total"], 1);
    assert_eq!(api.get("/api/v1/affiliates").await.body["total"], 1);
    assert_eq!(api.get(&format!("/api/v1/offers/{offer}/goals")).await.body["data"].as_array().unwrap().len(), 1);
    app.stop().await;
}

/// An affiliate reads what it earns: its own payout where the network set one for it (for the
/// offer, for a goal), as its offer page shows and its conversions are paid; staff and other
/// affiliates read the offer's and the goals' own payouts. Before, the API showed every
/// affiliate the offer's payout.
async fn affiliates_read_their_own_payout_through_the_api(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let staff = app.api(&net.api_key.token);
    let adv = app.advertiser(&net.tenant, "Shop").id.0;
    let user = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let other_user = app.user(&net.tenant, "other@acme.test", Role::Affiliate);
    let (aff, other) = (app.api(&key(&app, &net.tenant, &user)), app.api(&key(&app, &net.tenant, &other_user)));
    let offer = staff.post("/api/v1/offers", minimal_offer(adv, "O", "public")).await.body["id"].as_i64().unwrap();
    let second = staff.post("/api/v1/offers", minimal_offer(adv, "P", "public")).await.body["id"].as_i64().unwrap();
    let flat = |cents: i64| json!({"type": "cpa_flat", "flat": cents, "bps": 0});
    let mut goals = Vec::new();
    for (name, cents) in [("Lead", 7), ("Sale", 9)] {
        let res =
            staff.post(&format!("/api/v1/offers/{offer}/goals"), json!({"name": name, "payout": flat(cents)})).await;
        goals.push(res.body["id"].as_i64().unwrap());
    }
    let company = user.affiliate_id.unwrap().0;
    for (goal, payout) in [(None, json!({"type": "cpa_both", "flat": 450, "bps": 500})), (Some(goals[0]), flat(777))] {
        let body = json!({"offer_id": offer, "affiliate_id": company, "goal_id": goal, "payout": payout});
        assert_eq!(staff.post("/api/v1/payout-overrides", body).await.status, 201);
    }
    /// The payouts `api`'s user reads: each listed offer's, the offer's, its goals', its first goal's.
    async fn payouts(
        api: &crate::support::Api,
        offer: i64,
        goal: i64,
    ) -> (Vec<(i64, Value)>, Value, Vec<Value>, Value) {
        let listed = api.get("/api/v1/offers").await.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["id"].as_i64().unwrap(), o["payout"].clone()))
            .collect();
        let one = api.get(&format!("/api/v1/offers/{offer}")).await.body["payout"].clone();
        let goal_list = api.get(&format!("/api/v1/offers/{offer}/goals")).await.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["payout"].clone())
            .collect();
        let goal_one = api.get(&format!("/api/v1/goals/{goal}")).await.body["payout"].clone();
        (listed, one, goal_list, goal_one)
    }
    // The offer-wide override prices the offer; the goal override its goal; the other goal
    // keeps its own price (as a conversion is paid: payout::resolve).
    let own = json!({"type": "cpa_both", "flat": 450, "bps": 500});
    assert_eq!(
        payouts(&aff, offer, goals[0]).await,
        (vec![(second, flat(300)), (offer, own.clone())], own, vec![flat(777), flat(9)], flat(777))
    );
    for api in [&other, &staff] {
        assert_eq!(
            payouts(api, offer, goals[0]).await,
            (vec![(second, flat(300)), (offer, flat(300))], flat(300), vec![flat(7), flat(9)], flat(7))
        );
    }
    app.stop().await;
}

async fn affiliates_see_only_offers_they_may_run_or_apply_to(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let staff = app.api(&net.api_key.token);
    let adv = app.advertiser(&net.tenant, "Shop").id.0;
    let user = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let my_company = user.affiliate_id.unwrap().0;
    let other_user = app.user(&net.tenant, "other@acme.test", Role::Affiliate);
    let other_company = other_user.affiliate_id.unwrap().0;
    let aff = app.api(&key(&app, &net.tenant, &user));
    let other = app.api(&key(&app, &net.tenant, &other_user));

    let create = |name: &'static str, visibility: &'static str| {
        let staff = &staff;
        async move { staff.post("/api/v1/offers", minimal_offer(adv, name, visibility)).await.body["id"].as_i64().unwrap() }
    };
    let public = create("Public", "public").await;
    let gated = create("Gated", "approval_required").await;
    let private = create("Private", "private").await;
    let mut paused_body = minimal_offer(adv, "Paused", "public");
    paused_body["status"] = json!("paused");
    let paused = staff.post("/api/v1/offers", paused_body).await.body["id"].as_i64().unwrap();
    let goal = staff
        .post(
            &format!("/api/v1/offers/{private}/goals"),
            json!({"name": "G", "payout": {"type": "cpa_flat", "flat": 7, "bps": 0}}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();

    // The list: public and approval-required, never the private or paused offer.
    let list = aff.get("/api/v1/offers").await;
    assert_eq!(list.status, 200);
    assert_eq!((list.body["total"].as_i64(), ids(&list.body)), (Some(2), vec![gated, public]));
    let public_json = aff.get(&format!("/api/v1/offers/{public}")).await;
    assert_eq!(public_json.status, 200);
    assert_eq!(
        public_json.body,
        json!({
            "id": public, "name": "Public", "description": "", "preview_url": "", "status": "active",
            "visibility": "public", "currency": "USD", "payout": {"type": "cpa_flat", "flat": 300, "bps": 0},
            "min_click_age_secs": 0, "max_click_age_secs": 2_592_000, "daily_cap": null, "total_cap": null,
            "cap_unit": "conversions", "access": null, "can_run": true,
            "tracking_url": format!("{}/aff_c?offer_id={public}&aff_id={my_company}", app.base),
            "created_at": app.clock.now().rfc3339(), "updated_at": app.clock.now().rfc3339(),
        }),
        "no token, no revenue, no advertiser URL"
    );
    for hidden in [private, paused] {
        let res = aff.get(&format!("/api/v1/offers/{hidden}")).await;
        assert_eq!((res.status, res.body["error"].as_str()), (404, Some("not_found")), "offer {hidden}");
        assert_eq!(aff.get(&format!("/api/v1/offers/{hidden}/goals")).await.status, 404);
    }
    assert_eq!(aff.get(&format!("/api/v1/goals/{goal}")).await.status, 404);
    assert_eq!(aff.post(&format!("/api/v1/offers/{private}/apply"), json!({})).await.status, 404);
    assert_eq!(aff.post(&format!("/api/v1/offers/{paused}/apply"), json!({})).await.status, 404);

    // Apply to the gated offer, the network approves.
    let gated_json = aff.get(&format!("/api/v1/offers/{gated}")).await.body;
    assert_eq!((gated_json["can_run"].as_bool(), gated_json["tracking_url"].clone()), (Some(false), Value::Null));
    let applied = aff.post(&format!("/api/v1/offers/{gated}/apply"), json!({"message": "email list of 50k"})).await;
    assert_eq!(applied.status, 201, "{}", applied.body);
    assert_eq!(
        (applied.body["status"].as_str(), applied.body["message"].as_str(), applied.body["affiliate_id"].as_i64()),
        (Some("pending"), Some("email list of 50k"), Some(my_company))
    );
    let twice = aff.post(&format!("/api/v1/offers/{gated}/apply"), json!({})).await;
    assert_eq!(
        (twice.status, twice.body["fields"]["offer_id"].as_str()),
        (422, Some("you already applied (status: pending)"))
    );
    let on_public = aff.post(&format!("/api/v1/offers/{public}/apply"), json!({})).await;
    assert_eq!(on_public.body["fields"]["offer_id"], "this offer is public: no application is needed");
    assert_eq!(aff.post(&format!("/api/v1/offers/{gated}/apply"), json!({"msg": "x"})).await.status, 400);
    assert_eq!(staff.post(&format!("/api/v1/offers/{gated}/apply"), json!({})).await.status, 403);
    assert_eq!(aff.get(&format!("/api/v1/offers/{gated}")).await.body["access"], "pending");

    let pending = staff.get(&format!("/api/v1/offer-access?status=pending&offer_id={gated}")).await;
    assert_eq!((pending.status, pending.body["total"].as_i64()), (200, Some(1)));
    let decided = staff
        .post(
            "/api/v1/offer-access/decide",
            json!({"offer_id": gated, "affiliate_id": my_company, "status": "approved", "note": "welcome"}),
        )
        .await;
    assert_eq!(decided.status, 200, "{}", decided.body);
    assert_eq!(
        (decided.body["status"].as_str(), decided.body["note"].as_str(), decided.body["decided_by"].as_i64()),
        (Some("approved"), Some("welcome"), Some(net.admin.id.0))
    );
    assert_eq!(decided.body["decided_at"], app.clock.now().rfc3339());
    let gated_json = aff.get(&format!("/api/v1/offers/{gated}")).await.body;
    assert_eq!((gated_json["access"].as_str(), gated_json["can_run"].as_bool()), (Some("approved"), Some(true)));
    assert_eq!(gated_json["tracking_url"], format!("{}/aff_c?offer_id={gated}&aff_id={my_company}", app.base));

    // Assigning the private offer makes it visible to this affiliate only.
    let assigned = staff
        .post(
            "/api/v1/offer-access/decide",
            json!({"offer_id": private, "affiliate_id": my_company, "status": "approved"}),
        )
        .await;
    assert_eq!(assigned.status, 200);
    assert_eq!(aff.get(&format!("/api/v1/offers/{private}")).await.body["can_run"], true);
    assert_eq!(aff.get(&format!("/api/v1/offers/{private}/goals")).await.body["data"][0], {
        let g = aff.get(&format!("/api/v1/goals/{goal}")).await.body;
        assert!(g.get("revenue").is_none(), "{g}");
        assert_eq!(g["payout"]["flat"], 7);
        g
    });
    assert_eq!(aff.get("/api/v1/offers").await.body["total"], 3);
    assert_eq!(other.get(&format!("/api/v1/offers/{private}")).await.status, 404);
    assert_eq!(ids(&other.get("/api/v1/offers").await.body), vec![gated, public]);
    // Rejected from a public offer: gone from its list.
    staff
        .post(
            "/api/v1/offer-access/decide",
            json!({"offer_id": public, "affiliate_id": other_company, "status": "rejected"}),
        )
        .await;
    assert_eq!(ids(&other.get("/api/v1/offers").await.body), vec![gated]);
    assert_eq!(other.get(&format!("/api/v1/offers/{public}")).await.status, 404);

    // Access rows: an affiliate sees its own only.
    let mine = aff.get("/api/v1/offer-access").await;
    assert_eq!(mine.body["total"], 2);
    assert!(mine.body["data"].as_array().unwrap().iter().all(|r| r["affiliate_id"] == my_company));
    assert_eq!(aff.get(&format!("/api/v1/offer-access?affiliate_id={other_company}")).await.body["total"], 0);
    assert_eq!(staff.get("/api/v1/offer-access").await.body["total"], 3);
    assert_eq!(
        aff.post(
            "/api/v1/offer-access/decide",
            json!({"offer_id": private, "affiliate_id": other_company, "status": "approved"})
        )
        .await
        .status,
        403
    );

    // Companies: its own only.
    let own = aff.get(&format!("/api/v1/affiliates/{my_company}")).await;
    assert_eq!((own.status, own.body["name"].as_str()), (200, Some("aff@acme.test")));
    assert!(own.body.get("notes").is_none());
    let foreign = aff.get(&format!("/api/v1/affiliates/{other_company}")).await;
    assert_eq!((foreign.status, foreign.body["error"].as_str()), (404, Some("not_found")));
    assert_eq!(aff.get("/api/v1/affiliates").await.status, 403);
    assert_eq!(aff.get(&format!("/api/v1/advertisers/{adv}")).await.status, 404);

    // Writes are forbidden, and change nothing.
    let before = staff.get(&format!("/api/v1/offers/{public}")).await.body;
    let res = aff.post("/api/v1/offers", minimal_offer(adv, "Mine", "public")).await;
    assert_eq!((res.status, res.body["error"].as_str()), (403, Some("forbidden")));
    assert_eq!(aff.put(&format!("/api/v1/offers/{public}"), minimal_offer(adv, "Hacked", "public")).await.status, 403);
    assert_eq!(aff.post(&format!("/api/v1/offers/{public}/rotate-token"), json!({})).await.status, 403);
    assert_eq!(
        aff.post(&format!("/api/v1/affiliates/{my_company}/status"), json!({"status": "active"})).await.status,
        403
    );
    assert_eq!(
        aff.post(
            "/api/v1/payout-overrides",
            json!({"offer_id": public, "affiliate_id": my_company, "payout": {"type": "cpa_flat", "flat": 9999, "bps": 0}})
        )
        .await
        .status,
        403
    );
    assert_eq!(aff.get("/api/v1/payout-overrides").await.status, 403);
    assert_eq!(
        aff.post(
            &format!("/api/v1/offers/{public}/goals"),
            json!({"name": "G", "payout": {"type": "cpa_flat", "flat": 1, "bps": 0}})
        )
        .await
        .status,
        403
    );
    assert_eq!(staff.get(&format!("/api/v1/offers/{public}")).await.body, before);
    assert_eq!(staff.get("/api/v1/offers").await.body["total"], 4);
    app.stop().await;
}

async fn advertisers_read_their_own_offers_only(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let staff = app.api(&net.api_key.token);
    let user = app.user(&net.tenant, "adv@acme.test", Role::Advertiser);
    let mine = user.advertiser_id.unwrap().0;
    let theirs = app.advertiser(&net.tenant, "Competitor").id.0;
    let adv = app.api(&key(&app, &net.tenant, &user));
    let my_offer = staff.post("/api/v1/offers", minimal_offer(mine, "Mine", "private")).await.body;
    let my_id = my_offer["id"].as_i64().unwrap();
    let their_id =
        staff.post("/api/v1/offers", minimal_offer(theirs, "Theirs", "public")).await.body["id"].as_i64().unwrap();
    let goal = staff
        .post(
            &format!("/api/v1/offers/{my_id}/goals"),
            json!({"name": "G", "payout": {"type": "cpa_flat", "flat": 7, "bps": 0}}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();

    let list = adv.get("/api/v1/offers").await;
    assert_eq!((list.status, list.body["total"].as_i64(), ids(&list.body)), (200, Some(1), vec![my_id]));
    assert_eq!(adv.get(&format!("/api/v1/offers?advertiser_id={theirs}")).await.body["total"], 0);
    let got = adv.get(&format!("/api/v1/offers/{my_id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["security_token"], my_offer["security_token"]);
    assert_eq!(got.body["revenue"], json!({"type": "cpa_flat", "flat": 500, "bps": 0}));
    assert!(got.body.get("payout").is_none(), "the affiliate payout is the network's business");
    let g = adv.get(&format!("/api/v1/goals/{goal}")).await;
    assert_eq!(g.status, 200);
    assert!(g.body.get("payout").is_none());
    assert_eq!(adv.get(&format!("/api/v1/offers/{their_id}")).await.status, 404);
    assert_eq!(adv.get(&format!("/api/v1/offers/{their_id}/goals")).await.status, 404);
    // Its own company, without the network's internal notes about it (staff see them).
    let notes = json!({"name": "Mine", "notes": "slow payer, watch the caps"});
    assert_eq!(staff.put(&format!("/api/v1/advertisers/{mine}"), notes).await.status, 200);
    let own = adv.get(&format!("/api/v1/advertisers/{mine}")).await;
    assert_eq!((own.status, own.body["name"].as_str()), (200, Some("Mine")));
    assert!(own.body.get("notes").is_none(), "{}", own.body);
    let staff_view = staff.get(&format!("/api/v1/advertisers/{mine}")).await;
    assert_eq!(staff_view.body["notes"], "slow payer, watch the caps");
    assert_eq!(adv.get(&format!("/api/v1/advertisers/{theirs}")).await.status, 404);
    assert_eq!(adv.get("/api/v1/advertisers").await.status, 403);
    assert_eq!(adv.get("/api/v1/offer-access").await.status, 403);

    let before = staff.get(&format!("/api/v1/offers/{my_id}")).await.body;
    let mut edit = minimal_offer(mine, "Renamed", "public");
    edit["payout"] = json!({"type": "cpa_flat", "flat": 1, "bps": 0});
    let res = adv.put(&format!("/api/v1/offers/{my_id}"), edit).await;
    assert_eq!((res.status, res.body["error"].as_str()), (403, Some("forbidden")));
    assert_eq!(adv.post("/api/v1/offers", minimal_offer(mine, "New", "public")).await.status, 403);
    assert_eq!(adv.post(&format!("/api/v1/offers/{my_id}/rotate-token"), json!({})).await.status, 403);
    assert_eq!(
        adv.put(
            &format!("/api/v1/goals/{goal}"),
            json!({"name": "X", "payout": {"type": "cpa_flat", "flat": 1, "bps": 0}})
        )
        .await
        .status,
        403
    );
    assert_eq!(adv.put(&format!("/api/v1/advertisers/{mine}"), json!({"name": "X"})).await.status, 403);
    assert_eq!(staff.get(&format!("/api/v1/offers/{my_id}")).await.body, before);
    assert_eq!(staff.get("/api/v1/offers").await.body["total"], 2);
    app.stop().await;
}

async fn another_networks_ids_are_not_found(backend: Backend) {
    let app = TestApp::start(backend).await;
    let acme = app.network("acme");
    let globex = app.network("globex");
    let mine = app.api(&acme.api_key.token);
    let foreign = app.api(&globex.api_key.token);
    let adv = foreign.post("/api/v1/advertisers", json!({"name": "G shop"})).await.body["id"].as_i64().unwrap();
    let aff = foreign.post("/api/v1/affiliates", json!({"name": "G traffic"})).await.body["id"].as_i64().unwrap();
    let offer =
        foreign.post("/api/v1/offers", minimal_offer(adv, "G offer", "public")).await.body["id"].as_i64().unwrap();
    let goal = foreign
        .post(
            &format!("/api/v1/offers/{offer}/goals"),
            json!({"name": "G", "payout": {"type": "cpa_flat", "flat": 1, "bps": 0}}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let over = foreign
        .post(
            "/api/v1/payout-overrides",
            json!({"offer_id": offer, "affiliate_id": aff, "payout": {"type": "cpa_flat", "flat": 1, "bps": 0}}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let rate = json!({"type": "cpa_flat", "flat": 1, "bps": 0});
    let requests: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/advertisers/{adv}"), None),
        (Method::PUT, format!("/api/v1/advertisers/{adv}"), Some(json!({"name": "Mine now"}))),
        (Method::GET, format!("/api/v1/affiliates/{aff}"), None),
        (Method::PUT, format!("/api/v1/affiliates/{aff}"), Some(json!({"name": "Mine now"}))),
        (Method::POST, format!("/api/v1/affiliates/{aff}/status"), Some(json!({"status": "suspended"}))),
        (Method::GET, format!("/api/v1/offers/{offer}"), None),
        (Method::POST, format!("/api/v1/offers/{offer}/rotate-token"), None),
        (Method::GET, format!("/api/v1/offers/{offer}/goals"), None),
        (Method::POST, format!("/api/v1/offers/{offer}/goals"), Some(json!({"name": "X", "payout": rate}))),
        (Method::GET, format!("/api/v1/goals/{goal}"), None),
        (Method::PUT, format!("/api/v1/goals/{goal}"), Some(json!({"name": "X", "payout": rate}))),
        (Method::DELETE, format!("/api/v1/payout-overrides/{over}"), None),
        (
            Method::POST,
            "/api/v1/offer-access/decide".to_owned(),
            Some(json!({"offer_id": offer, "affiliate_id": aff, "status": "approved"})),
        ),
    ];
    for (method, path, body) in requests {
        let res = mine.send(method.clone(), &path, body).await;
        assert_eq!((res.status, res.body["error"].as_str()), (404, Some("not_found")), "{method} {path}");
    }
    // An offer of this network pointing at the other network's advertiser is refused.
    let mut put = minimal_offer(adv, "Mine", "public");
    let res = mine.post("/api/v1/offers", put.clone()).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["advertiser_id".to_owned()]));
    let my_adv = mine.post("/api/v1/advertisers", json!({"name": "A shop"})).await.body["id"].as_i64().unwrap();
    put["advertiser_id"] = json!(my_adv);
    assert_eq!(mine.put(&format!("/api/v1/offers/{offer}"), put).await.status, 404);
    let res =
        mine.post("/api/v1/payout-overrides", json!({"offer_id": offer, "affiliate_id": aff, "payout": rate})).await;
    assert_eq!(field_keys(&res), vec!["affiliate_id", "offer_id"]);
    for list in ["/api/v1/offers", "/api/v1/affiliates", "/api/v1/payout-overrides", "/api/v1/offer-access"] {
        assert_eq!(mine.get(list).await.body["total"], 0, "{list}");
    }
    assert_eq!(mine.get("/api/v1/advertisers").await.body["total"], 1);

    // Unchanged on the other side.
    let theirs = foreign.get(&format!("/api/v1/offers/{offer}")).await.body;
    assert_eq!(theirs["name"], "G offer");
    assert_eq!(foreign.get(&format!("/api/v1/affiliates/{aff}")).await.body["status"], "pending");
    assert_eq!(foreign.get("/api/v1/payout-overrides").await.body["total"], 1);
    assert_eq!(foreign.get(&format!("/api/v1/goals/{goal}")).await.body["name"], "G");
    app.stop().await;
}

/// Every operation the document lists is served: with ids that exist, none answers the API's
/// 404 for an unknown route (nor a 405).
async fn every_documented_route_is_served(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let doc = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(doc.status(), 200, "the document needs no key");
    let doc: Value = doc.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"],
        json!({"type": "http", "scheme": "bearer", "description": "A personal API key (afk_…); the scheme name is case-insensitive. Without a valid key every path but this document answers 401, whatever the request holds."})
    );
    let api = app.api(&net.api_key.token);
    let adv = api.post("/api/v1/advertisers", json!({"name": "Shop"})).await.body["id"].as_i64().unwrap();
    let aff = api.post("/api/v1/affiliates", json!({"name": "Traffic"})).await.body["id"].as_i64().unwrap();
    let offer =
        api.post("/api/v1/offers", minimal_offer(adv, "O", "approval_required")).await.body["id"].as_i64().unwrap();
    let goal = api
        .post(
            &format!("/api/v1/offers/{offer}/goals"),
            json!({"name": "G", "payout": {"type": "cpa_flat", "flat": 1, "bps": 0}}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let over = api
        .post(
            "/api/v1/payout-overrides",
            json!({"offer_id": offer, "affiliate_id": aff, "payout": {"type": "cpa_flat", "flat": 1, "bps": 0}}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    // Tracking: an active affiliate's click and conversion on a public offer, its postbacks
    // (one to keep, one to delete) and the postback job.
    let runner = api.post("/api/v1/affiliates", json!({"name": "Runner", "status": "active"})).await.body["id"]
        .as_i64()
        .unwrap();
    let public = api.post("/api/v1/offers", minimal_offer(adv, "P", "public")).await.body;
    let postback = |url: &'static str| {
        let api = &api;
        async move {
            api.post("/api/v1/postbacks", json!({"affiliate_id": runner, "url": url})).await.body["id"]
                .as_i64()
                .unwrap()
        }
    };
    let (pb, pb_deleted) = (postback("http://127.0.0.1:9/pb").await, postback("http://127.0.0.1:9/gone").await);
    let (tid, conv) = click_and_convert(&app, &api, &public, runner).await;
    let job = api.get("/api/v1/postback-jobs").await.body["data"][0]["id"].as_i64().unwrap();
    let id_for = |path: &str, method: &str| -> String {
        if path.contains("{transaction_id}") {
            return tid.clone();
        }
        let id = match path.split('/').nth(1).unwrap() {
            "users" => net.admin.id.0,
            "advertisers" => adv,
            "affiliates" => aff,
            "offers" => offer,
            "goals" => goal,
            "payout-overrides" => over,
            "postbacks" if method == "delete" => pb_deleted,
            "postbacks" => pb,
            "postback-jobs" => job,
            "conversions" => conv,
            other => panic!("no id for {other}"),
        };
        id.to_string()
    };
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
            let url = match path.find('{') {
                Some(at) => {
                    let end = path[at..].find('}').unwrap() + at + 1;
                    format!("/api/v1{}{}{}", &path[..at], id_for(path, method), &path[end..])
                }
                None => format!("/api/v1{path}"),
            };
            let method: Method = method.to_uppercase().parse().unwrap();
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let res = api.send(method.clone(), &url, body).await;
            assert!(res.status != 404 && res.status != 405, "{method} {url} answered {}: {}", res.status, res.body);
            documented.push(format!("{method} {path}"));
        }
    }
    documented.sort();
    let mut expected: Vec<String> = [
        "GET /me",
        "GET /openapi.json",
        "GET /audit",
        "GET /reports",
        "GET /users",
        "POST /users",
        "GET /users/{id}",
        "GET /advertisers",
        "POST /advertisers",
        "GET /advertisers/{id}",
        "PUT /advertisers/{id}",
        "PATCH /advertisers/{id}",
        "GET /affiliates",
        "POST /affiliates",
        "GET /affiliates/{id}",
        "PUT /affiliates/{id}",
        "PATCH /affiliates/{id}",
        "POST /affiliates/{id}/status",
        "GET /offers",
        "POST /offers",
        "GET /offers/{id}",
        "PUT /offers/{id}",
        "PATCH /offers/{id}",
        "POST /offers/{id}/rotate-token",
        "GET /offers/{id}/goals",
        "POST /offers/{id}/goals",
        "POST /offers/{id}/apply",
        "GET /goals/{id}",
        "PUT /goals/{id}",
        "PATCH /goals/{id}",
        "GET /offer-access",
        "POST /offer-access/decide",
        "GET /payout-overrides",
        "POST /payout-overrides",
        "DELETE /payout-overrides/{id}",
        "GET /postbacks",
        "POST /postbacks",
        "GET /postbacks/{id}",
        "PUT /postbacks/{id}",
        "PATCH /postbacks/{id}",
        "DELETE /postbacks/{id}",
        "POST /postbacks/{id}/test",
        "GET /postback-jobs",
        "POST /postback-jobs/{id}/refire",
        "GET /conversions",
        "GET /conversions/{id}",
        "POST /conversions/{id}/status",
        "GET /clicks",
        "GET /trace/{transaction_id}",
        "GET /conversion-calls",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    expected.sort();
    assert_eq!(documented, expected, "every route of the API is documented");
    // An undocumented method on a documented path is a 405; an undocumented path the API's
    // not-found.
    let res = api.send(Method::DELETE, &format!("/api/v1/offers/{offer}"), None).await;
    assert_eq!((res.status, res.body["error"].as_str()), (405, Some("method_not_allowed")));
    let res = api.send(Method::GET, &format!("/api/v1/offers/{offer}/nothing"), None).await;
    assert_eq!((res.status, res.body["error"].as_str()), (404, Some("not_found")));
    app.stop().await;
}

/// The document's `required` lists are what the server insists on: the required fields alone
/// are accepted, dropping any one of them is refused naming it, and a body with every documented
/// property is accepted (so none is unknown to the server).
async fn documented_request_schemas_match_the_server(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let doc = api.get("/api/v1/openapi.json").await.body;
    let schemas = &doc["components"]["schemas"];
    let adv = api.post("/api/v1/advertisers", json!({"name": "Shop"})).await.body["id"].as_i64().unwrap();
    let aff = api.post("/api/v1/affiliates", json!({"name": "Traffic"})).await.body["id"].as_i64().unwrap();
    let offer = api.post("/api/v1/offers", minimal_offer(adv, "O", "public")).await.body["id"].as_i64().unwrap();
    let goal = api
        .post(
            &format!("/api/v1/offers/{offer}/goals"),
            json!({"name": "G", "payout": {"type": "cpa_flat", "flat": 1, "bps": 0}}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let rate = json!({"type": "cpa_both", "flat": 1, "bps": 2});
    let mgr = app.user(&net.tenant, "mgr@acme.test", Role::Manager);
    let aff_user = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let aff_api = app.api(&key(&app, &net.tenant, &aff_user));
    let aff_id = aff_user.affiliate_id.unwrap().0;
    let pb =
        aff_api.post("/api/v1/postbacks", json!({"url": "http://127.0.0.1:9/pb"})).await.body["id"].as_i64().unwrap();
    let offer_json = api.get(&format!("/api/v1/offers/{offer}")).await.body;
    let (_, conv) = click_and_convert(&app, &api, &offer_json, aff_id).await;
    let full_postback = json!({
        "affiliate_id": aff_id, "offer_id": offer, "goal_id": goal, "url": "http://127.0.0.1:9/pb?t={transaction_id}",
        "method": "POST", "body": "{\"p\":\"{payout}\"}", "content_type": "application/json",
        "on_approved": true, "on_pending": true, "on_rejected": false, "on_status_change": true, "enabled": true,
    });
    // Affiliate users' requests: (schema, method, path, a body with every property)
    let affiliate_cases: Vec<(&str, Method, String, Value)> = vec![
        ("PostbackInput", Method::POST, "/api/v1/postbacks".into(), full_postback.clone()),
        ("PostbackInput", Method::PUT, format!("/api/v1/postbacks/{pb}"), full_postback),
        ("TestFireInput", Method::POST, format!("/api/v1/postbacks/{pb}/test"), json!({"conversion_id": conv})),
    ];
    // (schema, method, path, a body with every property)
    let cases: Vec<(&str, Method, String, Value)> = vec![
        (
            "ConversionStatusInput",
            Method::POST,
            format!("/api/v1/conversions/{conv}/status"),
            json!({"status": "rejected", "note": "chargeback"}),
        ),
        ("OfferInput", Method::POST, "/api/v1/offers".into(), full_offer(adv)),
        // The offer has a conversion: it keeps its currency (USD, the default).
        ("OfferInput", Method::PUT, format!("/api/v1/offers/{offer}"), {
            let mut body = full_offer(adv);
            body["currency"] = json!("USD");
            body
        }),
        (
            "AffiliateInput",
            Method::POST,
            "/api/v1/affiliates".into(),
            json!({"name": "A", "contact_email": "a@a.example", "status": "active", "manager_user_id": mgr.id.0, "notes": "n"}),
        ),
        (
            "AffiliateInput",
            Method::PUT,
            format!("/api/v1/affiliates/{aff}"),
            json!({"name": "A", "contact_email": "a@a.example", "status": "active", "manager_user_id": null, "notes": "n"}),
        ),
        (
            "AdvertiserInput",
            Method::POST,
            "/api/v1/advertisers".into(),
            json!({"name": "A", "contact_name": "C", "contact_email": "c@a.example", "status": "active", "notes": "n"}),
        ),
        (
            "GoalInput",
            Method::POST,
            format!("/api/v1/offers/{offer}/goals"),
            json!({"name": "G", "status": "paused", "payout": rate, "revenue": rate, "allow_multiple": true}),
        ),
        (
            "GoalInput",
            Method::PUT,
            format!("/api/v1/goals/{goal}"),
            json!({"name": "G", "status": "paused", "payout": rate, "revenue": rate, "allow_multiple": true}),
        ),
        (
            "PayoutOverrideInput",
            Method::POST,
            "/api/v1/payout-overrides".into(),
            json!({"offer_id": offer, "affiliate_id": aff, "goal_id": goal, "payout": rate}),
        ),
        (
            "DecisionInput",
            Method::POST,
            "/api/v1/offer-access/decide".into(),
            json!({"offer_id": offer, "affiliate_id": aff, "status": "approved", "note": "ok"}),
        ),
        ("AffiliateStatusInput", Method::POST, format!("/api/v1/affiliates/{aff}/status"), json!({"status": "active"})),
        (
            "UserInput",
            Method::POST,
            "/api/v1/users".into(),
            json!({"email": "u@acme.test", "name": "U", "role": "advertiser", "password": "correct horse battery", "advertiser_id": adv, "affiliate_id": null}),
        ),
    ];
    let cases = cases
        .into_iter()
        .map(|c| (&api, c))
        .chain(affiliate_cases.into_iter().map(|c| (&aff_api, c)))
        .collect::<Vec<_>>();
    for (api, (name, method, path, full)) in cases {
        let schema = &schemas[name];
        let mut documented: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        let mut sent: Vec<&str> = full.as_object().unwrap().keys().map(String::as_str).collect();
        documented.sort_unstable();
        sent.sort_unstable();
        assert_eq!(sent, documented, "{name}: the test body sets every documented property");
        let res = api.send(method.clone(), &path, Some(full.clone())).await;
        assert!((200..300).contains(&res.status), "{name} {method} {path} full body: {} {}", res.status, res.body);

        let required: Vec<&str> =
            schema["required"].as_array().map(|r| r.iter().map(|v| v.as_str().unwrap()).collect()).unwrap_or_default();
        let minimal: serde_json::Map<String, Value> = full
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| required.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if name == "UserInput" {
            let mut m = Value::Object(minimal.clone());
            m["email"] = json!("v@acme.test");
            m["role"] = json!("manager");
            let res = api.send(method.clone(), &path, Some(m)).await;
            assert_eq!(res.status, 201, "{name} required fields only: {}", res.body);
        } else {
            let res = api.send(method.clone(), &path, Some(Value::Object(minimal.clone()))).await;
            assert!(
                (200..300).contains(&res.status),
                "{name} {method} {path} required only: {} {}",
                res.status,
                res.body
            );
        }
        for field in &required {
            let mut body = minimal.clone();
            body.remove(*field);
            let res = api.send(method.clone(), &path, Some(Value::Object(body))).await;
            assert_eq!(res.status, 422, "{name} {method} {path} without {field}: {}", res.body);
            assert_eq!(res.body["fields"][*field], "this field is required", "{name} without {field}: {}", res.body);
        }
        let mut extra = full.clone();
        extra["not_documented"] = json!(1);
        let res = api.send(method.clone(), &path, Some(extra)).await;
        assert_eq!(res.status, 400, "{name}: additionalProperties false");
    }
    // The rate's own required fields.
    assert_eq!(schemas["Rate"]["required"], json!(["type", "flat", "bps"]));
    let res = api
        .post(&format!("/api/v1/offers/{offer}/goals"), json!({"name": "G", "payout": {"type": "cpa_flat", "flat": 1}}))
        .await;
    assert_eq!((res.status, res.body["fields"]["payout_bps"].as_str()), (422, Some("this field is required")));
    app.stop().await;
}

async fn search_ignores_case_on_both_backends(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let adv = api.post("/api/v1/advertisers", json!({"name": "ACME Shop", "contact_name": "Zoë"})).await.body["id"]
        .as_i64()
        .unwrap();
    api.post("/api/v1/affiliates", json!({"name": "Traffic", "contact_email": "Team@Traffic.example"})).await;
    api.post("/api/v1/offers", minimal_offer(adv, "Summer SALE", "public")).await;
    for (path, total) in [
        ("/api/v1/advertisers?search=acme%20shop", 1),
        ("/api/v1/advertisers?search=ZOë", 1),
        ("/api/v1/affiliates?search=TEAM@traffic", 1),
        ("/api/v1/offers?search=summer%20sale", 1),
        ("/api/v1/offers?search=SUMMER", 1),
        ("/api/v1/offers?search=winter", 0),
        // LIKE's wildcards are read literally: nothing here holds a `%` or an `_`.
        ("/api/v1/advertisers?search=%25", 0),
        ("/api/v1/advertisers?search=_", 0),
        ("/api/v1/offers?search=S_mmer", 0),
        ("/api/v1/affiliates?search=%5C", 0),
    ] {
        let res = api.get(path).await;
        assert_eq!((res.status, res.body["total"].as_i64()), (200, Some(total)), "{path}");
        assert_eq!(res.body["data"].as_array().unwrap().len(), usize::try_from(total).unwrap(), "{path}");
    }
    api.post("/api/v1/advertisers", json!({"name": "100% Deals_Shop"})).await;
    for (path, total) in [("/api/v1/advertisers?search=100%25", 1), ("/api/v1/advertisers?search=s_s", 1)] {
        assert_eq!(api.get(path).await.body["total"].as_i64(), Some(total), "{path}");
    }
    app.stop().await;
}

/// The key comes first: without a valid one, every request is a 401 whatever its path or body
/// (the body is not read); with a key of the wrong role, a 403 whatever its body. Before, the
/// answer depended on which extractor finished first (a bad body often won with 400, a bad path
/// id with 404).
async fn the_key_and_the_role_are_checked_before_the_request_is_read(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let aff = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let aff_api = app.api(&key(&app, &net.tenant, &aff));
    let nobody = app.api(&format!("afk_0123456789ab_{}", "0".repeat(48)));
    for _ in 0..10 {
        for (path, body) in [("/api/v1/advertisers", "{}"), ("/api/v1/offers", "{not json"), ("/api/v1/offers/abc", "")]
        {
            let res = nobody.post_raw(path, body).await;
            assert_eq!((res.status, res.body["error"].as_str()), (401, Some("unauthorized")), "{path} {body}");
        }
        assert_eq!(nobody.get("/api/v1/offers/abc").await.status, 401);
        let res = aff_api.post_raw("/api/v1/offers", "{}").await;
        assert_eq!((res.status, res.body["error"].as_str()), (403, Some("forbidden")));
        assert_eq!(aff_api.post_raw("/api/v1/advertisers", "{not json").await.status, 403);
    }
    // Whatever the body holds: one over 256 KiB or with a NUL character is the wrong role's
    // 403 (it was a 413 or a 400), and no key's 401.
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    for body in [big.as_str(), r#"{"name": "a\u0000b"}"#] {
        for path in ["/api/v1/advertisers", "/api/v1/users"] {
            let res = aff_api.post_raw(path, body).await;
            assert_eq!((res.status, res.body["error"].as_str()), (403, Some("forbidden")), "{path}");
            assert_eq!(nobody.post_raw(path, body).await.status, 401, "{path}");
        }
    }
    // A documented path with a method it does not answer: 405 with the methods it does.
    let api = app.api(&net.api_key.token);
    for (method, path, allow) in [
        (Method::PUT, "/api/v1/me", "GET"),
        (Method::DELETE, "/api/v1/offers", "GET, POST"),
        (Method::POST, "/api/v1/offers/7", "GET, PATCH, PUT"),
        (Method::GET, "/api/v1/offers/7/rotate-token", "POST"),
    ] {
        let res = reqwest::Client::new()
            .request(method.clone(), app.url(path))
            .bearer_auth(&net.api_key.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed");
    }
    // The document itself is a documented path (it was a 404).
    let res = reqwest::Client::new().post(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["allow"].to_str().unwrap()), (405, "GET"));
    // Every error code the API answers is in the document's Error schema.
    let document = api.get("/api/v1/openapi.json").await.body;
    let codes = &document["components"]["schemas"]["Error"]["properties"]["error"]["enum"];
    for code in ["unauthorized", "forbidden", "not_found", "method_not_allowed", "bad_request", "payload_too_large"] {
        assert!(codes.as_array().unwrap().contains(&json!(code)), "{code}: {codes}");
    }
    assert_eq!(api.get("/api/v1/nothing/here").await.status, 404);
    assert_eq!(api.get("/api/v1/offers/7/").await.status, 404, "a trailing slash is another path");
    // The scheme name is case-insensitive (RFC 7235).
    let res = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .header("Authorization", format!("bearer {}", net.api_key.token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A body over 256 KiB: 413, as JSON like every API error.
    let api = app.api(&net.api_key.token);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    let res = api.post_raw("/api/v1/advertisers", &big).await;
    assert_eq!((res.status, res.body["error"].as_str()), (413, Some("payload_too_large")), "{}", res.body);
    let res = api.post_raw("/api/v1/advertisers", r#"{"name": "a\u0000b"}"#).await;
    assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")), "{}", res.body);
    // Half a surrogate pair is not text: said so, not in the parser's words ("unexpected end of
    // hex escape").
    for body in [r#"{"name": "a\ud800b"}"#, r#"{"name": "\udc00"}"#, r#"{"name": "\ud800\u0041"}"#] {
        let res = api.post_raw("/api/v1/advertisers", body).await;
        let said = res.body["fields"]["name"].as_str().unwrap_or_default();
        assert_eq!(res.status, 422, "{body}: {}", res.body);
        assert_eq!(said, "not text: a \\u escape that is half of a UTF-16 surrogate pair", "{body}");
    }
    // Only that message is put in other words: a field named like it is still unknown.
    let res = api.post("/api/v1/advertisers", json!({"name": "A", "surrogate_id": 1})).await;
    assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")), "{}", res.body);
    assert!(res.body["message"].as_str().unwrap().contains("unknown field `surrogate_id`"), "{}", res.body);
    assert_eq!(api.get("/api/v1/advertisers").await.body["total"], 0, "nothing was created");
    app.stop().await;
}

/// Offers take ISO 4217 currencies only, `http(s)` URLs only (`mailto:` was stored as
/// `https://mailto:…`) with the host written out (`https://{aff_sub}/` let a link choose where it
/// redirects), names on one line (a CR/LF forged log lines; U+2028 and U+2029 break lines too),
/// and no unknown field inside a payout or revenue rule.
async fn offers_refuse_made_up_currencies_other_schemes_and_unknown_rate_fields(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let adv = app.advertiser(&net.tenant, "Shop").id.0;
    for (field, value, key, message) in [
        ("currency", json!("ZZZ"), "currency", "currency must be an ISO 4217 currency code such as USD or EUR"),
        ("currency", json!("XAU"), "currency", "currency must be an ISO 4217 currency code such as USD or EUR"),
        ("offer_url", json!("mailto:someone@example.com"), "offer_url", "only http:// and https:// URLs are allowed"),
        ("offer_url", json!("vbscript:msgbox(1)"), "offer_url", "only http:// and https:// URLs are allowed"),
        ("preview_url", json!("tel:+15550100"), "preview_url", "only http:// and https:// URLs are allowed"),
        (
            "offer_url",
            json!("https://{aff_sub}/landing?t={transaction_id}"),
            "offer_url",
            "the host name must be written out: a macro cannot be in the host",
        ),
        ("name", json!("Crlf offer\r\nBcc: evil@evil.example"), "name", affnet_db::validation::ONE_LINE),
    ] {
        let mut body = minimal_offer(adv, "Bad", "public");
        body[field] = value;
        let res = api.post("/api/v1/offers", body).await;
        assert_eq!(res.status, 422, "{field}: {}", res.body);
        assert_eq!(res.body["fields"][key], message, "{field}");
    }
    let mut body = minimal_offer(adv, "Bad", "public");
    body["payout"]["x"] = json!(1);
    let res = api.post("/api/v1/offers", body).await;
    assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")), "{}", res.body);
    assert_eq!(api.get("/api/v1/offers").await.body["total"], 0, "nothing was created");
    for (path, body) in [
        ("/api/v1/advertisers", json!({"name": "Ads\nX-Inj: 1"})),
        ("/api/v1/affiliates", json!({"name": "Media\u{85}Two"})),
        // Unicode's line and paragraph separators are line breaks too.
        ("/api/v1/advertisers", json!({"name": "Ads\u{2028}Two"})),
        ("/api/v1/affiliates", json!({"name": "Media\u{2029}Two"})),
    ] {
        let res = api.post(path, body).await;
        assert_eq!(
            (res.status, res.body["fields"]["name"].as_str()),
            (422, Some(affnet_db::validation::ONE_LINE)),
            "{path}"
        );
    }
    let mut body = minimal_offer(adv, "Yen", "public");
    body["currency"] = json!("jpy");
    let res = api.post("/api/v1/offers", body).await;
    assert_eq!((res.status, res.body["currency"].as_str()), (201, Some("JPY")), "{}", res.body);
    app.stop().await;
}

/// `PATCH` changes only the fields it names: every other field keeps its value (a `PUT` with the
/// same partial body resets them to their defaults). Invalid values and unknown fields are
/// refused as in a `PUT`, changing nothing; an affiliate patches its own postbacks only.
async fn patch_changes_only_the_fields_it_names(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let adv = api
        .post(
            "/api/v1/advertisers",
            json!({"name": "Shop", "contact_name": "Zoë", "status": "inactive", "notes": "vip"}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let mgr = app.user(&net.tenant, "mgr@acme.test", Role::Manager);
    let aff = api
        .post(
            "/api/v1/affiliates",
            json!({"name": "Media", "status": "active", "manager_user_id": mgr.id.0, "notes": "n"}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let offer = api.post("/api/v1/offers", full_offer(adv)).await.body["id"].as_i64().unwrap();
    let goal = api
        .post(
            &format!("/api/v1/offers/{offer}/goals"),
            json!({"name": "Lead", "payout": {"type": "cpa_flat", "flat": 150, "bps": 0}, "allow_multiple": true}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let aff_user = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let aff_api = app.api(&key(&app, &net.tenant, &aff_user));
    let pb = aff_api
        .post("/api/v1/postbacks", json!({"url": "http://127.0.0.1:9/pb?t={transaction_id}", "on_pending": true}))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    for (caller, path, field, value) in [
        (&api, format!("/api/v1/advertisers/{adv}"), "name", json!("Shop Ltd")),
        (&api, format!("/api/v1/affiliates/{aff}"), "name", json!("Media Two")),
        (&api, format!("/api/v1/offers/{offer}"), "daily_cap", json!(7)),
        (&api, format!("/api/v1/offers/{offer}"), "payout", json!({"type": "cpa_flat", "flat": 300, "bps": 0})),
        (&api, format!("/api/v1/goals/{goal}"), "name", json!("Signup")),
        (&aff_api, format!("/api/v1/postbacks/{pb}"), "enabled", json!(false)),
    ] {
        let before = caller.get(&path).await.body;
        app.clock.advance(1_000_000);
        let res = caller.send(Method::PATCH, &path, Some(json!({ field: value }))).await;
        assert_eq!(res.status, 200, "{path} {field}: {}", res.body);
        let after = caller.get(&path).await.body;
        assert_eq!(after[field], value, "{path}");
        for (k, v) in before.as_object().unwrap() {
            if k != field && k != "updated_at" {
                assert_eq!(&after[k], v, "{path}: {k} kept");
            }
        }
    }
    // Refused like a PUT, nothing changed.
    let path = format!("/api/v1/offers/{offer}");
    let before = api.get(&path).await.body;
    let res = api.send(Method::PATCH, &path, Some(json!({"currency": "ZZZ"}))).await;
    assert_eq!((res.status, res.body["fields"]["currency"].is_string()), (422, true), "{}", res.body);
    let res = api.send(Method::PATCH, &path, Some(json!({"colour": "red"}))).await;
    assert_eq!(res.status, 400, "{}", res.body);
    let res = api.send(Method::PATCH, &path, Some(json!(["name"]))).await;
    assert_eq!(res.status, 400, "{}", res.body);
    // A field named twice is refused, as in a PUT, not read as its last value; in a nested
    // object too.
    let res = api.send_raw(Method::PATCH, &path, r#"{"name": "A", "name": "B"}"#).await;
    assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")), "{}", res.body);
    assert!(res.body["message"].as_str().unwrap().contains("duplicate field `name`"), "{}", res.body);
    let twice_inside = r#"{"payout": {"type": "cpa_flat", "flat": 100, "flat": 900, "bps": 0}}"#;
    let res = api.send_raw(Method::PATCH, &path, twice_inside).await;
    let mut whole = full_offer(adv);
    whole["payout"] = json!({"type": "cpa_flat", "flat": 100, "bps": 0});
    let put_twice_inside = whole.to_string().replacen("\"flat\":100", "\"flat\":100,\"flat\":900", 1);
    let put = api.send_raw(Method::PUT, &path, &put_twice_inside).await;
    assert!(put.body.to_string().contains("duplicate field `flat`"), "{}", put.body);
    assert_eq!((res.status, &res.body), (put.status, &put.body), "as a PUT answers");
    assert_eq!(api.get(&path).await.body, before);
    // Roles and networks: an affiliate cannot patch an offer, another network finds nothing.
    assert_eq!(aff_api.send(Method::PATCH, &path, Some(json!({"name": "x"}))).await.status, 403);
    let other = app.network("other");
    let stranger = app.api(&other.api_key.token);
    assert_eq!(stranger.send(Method::PATCH, &path, Some(json!({"name": "x"}))).await.status, 404);
    let other_aff = app.user(&net.tenant, "aff2@acme.test", Role::Affiliate);
    let other_aff_api = app.api(&key(&app, &net.tenant, &other_aff));
    let res =
        other_aff_api.send(Method::PATCH, &format!("/api/v1/postbacks/{pb}"), Some(json!({"enabled": true}))).await;
    assert_eq!(res.status, 404);
    assert_eq!(api.get(&path).await.body, before);
    app.stop().await;
}

/// Sends one `PATCH` of `path` per body, all at once.
async fn patch_at_once(api: &crate::support::Api, path: &str, bodies: &[Value]) -> Vec<crate::support::Json> {
    send_at_once(api, Method::PATCH, path, bodies).await
}

async fn send_at_once(
    api: &crate::support::Api,
    method: Method,
    path: &str,
    bodies: &[Value],
) -> Vec<crate::support::Json> {
    let tasks: Vec<_> = bodies
        .iter()
        .map(|b| {
            let (api, path, b, method) = (api.clone(), path.to_owned(), b.clone(), method.clone());
            actix_web::rt::spawn(async move { api.send(method, &path, Some(b)).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

/// `PATCH`es of one resource sent at once each keep the others' fields: the base a `PATCH` is
/// merged over is read in the transaction that saves it, the row locked. (The base was read
/// before: of three `PATCH`es at once, naming the name, the payout and the description, the
/// last one saved undid the others, in every round, on both backends.)
async fn patches_sent_at_once_each_keep_the_others_fields(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let adv = api.post("/api/v1/advertisers", json!({"name": "Shop"})).await.body["id"].as_i64().unwrap();
    let offer = api.post("/api/v1/offers", full_offer(adv)).await.body["id"].as_i64().unwrap();
    let path = format!("/api/v1/offers/{offer}");
    for round in 0..8_i64 {
        let bodies = [
            json!({"name": format!("name {round}")}),
            json!({"payout": {"type": "cpa_flat", "flat": 100 + round, "bps": 0}}),
            json!({"description": format!("description {round}")}),
            json!({"daily_cap": 10 + round}),
        ];
        let answers = patch_at_once(&api, &path, &bodies).await;
        assert!(answers.iter().all(|a| a.status == 200), "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<_>>());
        let now = api.get(&path).await.body;
        assert_eq!(
            (&now["name"], &now["payout"]["flat"], &now["description"], &now["daily_cap"]),
            (
                &json!(format!("name {round}")),
                &json!(100 + round),
                &json!(format!("description {round}")),
                &json!(10 + round)
            ),
            "round {round}"
        );
    }
    // The other resources the same way, two fields at once.
    let aff =
        api.post("/api/v1/affiliates", json!({"name": "Media", "status": "active"})).await.body["id"].as_i64().unwrap();
    for (path, a, b) in [
        (format!("/api/v1/advertisers/{adv}"), json!({"name": "Shop Ltd"}), json!({"notes": "vip"})),
        (format!("/api/v1/affiliates/{aff}"), json!({"name": "Media Two"}), json!({"notes": "top"})),
    ] {
        for _ in 0..4 {
            let answers = patch_at_once(&api, &path, &[a.clone(), b.clone()]).await;
            assert_eq!((answers[0].status, answers[1].status), (200, 200));
            let now = api.get(&path).await.body;
            for field in [&a, &b] {
                let (k, v) = field.as_object().unwrap().iter().next().unwrap();
                assert_eq!(&now[k], v, "{path}");
            }
        }
    }
    app.stop().await;
}

/// Creations of one row sent at once never fail with a 500: the ones that lose the race to
/// the row's unique key are answered as if sent after the winner (reports of the offers probe:
/// a double-clicked *Apply*, concurrent override upserts and access decisions hit the unique
/// key and answered 500, on both backends).
async fn creations_sent_at_once_are_answered_as_one_after_the_other(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let staff = app.api(&net.api_key.token);
    let adv = app.advertiser(&net.tenant, "Shop").id.0;
    let user = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let aff_id = user.affiliate_id.unwrap().0;
    let aff = app.api(&key(&app, &net.tenant, &user));
    for round in 0..4 {
        let gated =
            staff.post("/api/v1/offers", minimal_offer(adv, &format!("Gated {round}"), "approval_required")).await;
        let gated = gated.body["id"].as_i64().unwrap();
        let private = staff.post("/api/v1/offers", minimal_offer(adv, &format!("Private {round}"), "private")).await;
        let private = private.body["id"].as_i64().unwrap();

        let answers =
            send_at_once(&aff, Method::POST, &format!("/api/v1/offers/{gated}/apply"), &vec![json!({}); 8]).await;
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        statuses.sort();
        assert_eq!(
            statuses,
            [201, 422, 422, 422, 422, 422, 422, 422],
            "{:?}",
            answers.iter().map(|a| &a.body).collect::<Vec<_>>()
        );
        assert!(answers.iter().filter(|a| a.status == 422).all(|a| a.body.to_string().contains("you already applied")));

        let bodies: Vec<Value> = (0..8)
            .map(|i| json!({"offer_id": gated, "affiliate_id": aff_id, "payout": {"type": "cpa_flat", "flat": 100 + i, "bps": 0}}))
            .collect();
        let answers = send_at_once(&staff, Method::POST, "/api/v1/payout-overrides", &bodies).await;
        assert!(
            answers.iter().all(|a| a.status == 200 || a.status == 201),
            "{:?}",
            answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>()
        );
        let listed = staff.get(&format!("/api/v1/payout-overrides?offer_id={gated}&affiliate_id={aff_id}")).await;
        assert_eq!(listed.body["total"], 1, "{}", listed.body);

        let decision = json!({"offer_id": private, "affiliate_id": aff_id, "status": "approved"});
        let answers = send_at_once(&staff, Method::POST, "/api/v1/offer-access/decide", &vec![decision; 8]).await;
        assert!(
            answers.iter().all(|a| a.status == 200 || a.status == 201),
            "{:?}",
            answers.iter().map(|a| (a.status, &a.body)).collect::<Vec<_>>()
        );
        let listed = staff.get(&format!("/api/v1/offer-access?offer_id={private}")).await;
        assert_eq!(listed.body["total"], 1, "{}", listed.body);
    }
    app.stop().await;
}

/// A list's query parameter of the wrong form is a 422 naming it on every listing (the same
/// `offer_id=abc` was a 422 on `/conversions` and a 400 on `/offer-access`), checked after the
/// role, as a body is.
async fn bad_list_parameters_are_refused_by_name_on_every_listing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let aff = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let aff_api = app.api(&key(&app, &net.tenant, &aff));
    for (path, field) in [
        ("/api/v1/offers?advertiser_id=abc", "advertiser_id"),
        ("/api/v1/offer-access?offer_id=abc", "offer_id"),
        ("/api/v1/offer-access?affiliate_id=1.5", "affiliate_id"),
        ("/api/v1/payout-overrides?affiliate_id=x", "affiliate_id"),
        ("/api/v1/conversions?offer_id=abc", "offer_id"),
        ("/api/v1/clicks?affiliate_id=abc", "affiliate_id"),
        ("/api/v1/postback-jobs?offer_id=abc", "offer_id"),
        ("/api/v1/postbacks?affiliate_id=abc", "affiliate_id"),
        ("/api/v1/users?page=x", "page"),
        ("/api/v1/advertisers?per_page=ten", "per_page"),
        ("/api/v1/affiliates?page=0", "page"),
        ("/api/v1/audit?page=-", "page"),
        ("/api/v1/conversions?page=two", "page"),
    ] {
        let res = api.get(path).await;
        assert_eq!((res.status, res.body["error"].as_str()), (422, Some("validation_failed")), "{path}: {}", res.body);
        assert_eq!(field_keys(&res), vec![field.to_owned()], "{path}");
    }
    // Bytes that are not UTF-8 text are unreadable input, never read with U+FFFD in their place
    // (`role=%FF` was "unknown role '\u{fffd}'"); a malformed escape is the text sent.
    for path in [
        "/api/v1/users?role=%FF",
        "/api/v1/users?role=caf%E9",
        "/api/v1/offers?search=%C3",
        "/api/v1/conversions?%FF=1",
        "/api/v1/reports?group_by=offer&offer_id=%80",
    ] {
        let res = api.get(path).await;
        assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")), "{path}: {}", res.body);
        assert!(res.body["message"].as_str().unwrap().contains("not UTF-8"), "{path}: {}", res.body);
    }
    let res = api.get("/api/v1/users?role=%ZZ").await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["role".to_owned()]));
    assert!(res.body["fields"]["role"].as_str().unwrap().contains("'%ZZ'"), "{}", res.body);
    // Blank is absent, as a form sends an empty field.
    for path in
        ["/api/v1/offers?advertiser_id=", "/api/v1/offer-access?offer_id=&page=", "/api/v1/conversions?offer_id="]
    {
        assert_eq!(api.get(path).await.status, 200, "{path}");
    }
    // The role comes first.
    for path in ["/api/v1/advertisers?page=x", "/api/v1/payout-overrides?offer_id=x", "/api/v1/users?page=x"] {
        assert_eq!(aff_api.get(path).await.status, 403, "{path}");
    }
    app.stop().await;
}

/// An offer's history stays as recorded: once it has clicks it keeps its advertiser, once it has
/// conversions it keeps its currency (the rollups hold its money in the currency's minor units
/// and are read under the offer's current advertiser). Before, `{"currency": "JPY"}` turned
/// 3.50 USD of history into 350 JPY, and moving the offer moved its figures to the new
/// advertiser's reports while its conversions stayed with the old one.
async fn an_offer_with_history_keeps_its_advertiser_and_currency(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    let adv = app.advertiser(&net.tenant, "Shop").id.0;
    let other_adv = app.advertiser(&net.tenant, "Other shop").id.0;
    let aff = app.user(&net.tenant, "aff@acme.test", Role::Affiliate).affiliate_id.unwrap().0;
    let offer = api.post("/api/v1/offers", minimal_offer(adv, "History", "public")).await.body;
    let path = format!("/api/v1/offers/{}", offer["id"]);

    // No traffic yet: both may change (and change back).
    for body in
        [json!({"advertiser_id": other_adv, "currency": "EUR"}), json!({"advertiser_id": adv, "currency": "USD"})]
    {
        let res = api.send(Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(res.status, 200, "{body}: {}", res.body);
    }

    // A click: the advertiser stays, the currency may still change (no money recorded).
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(app.url(&format!("/aff_c?offer_id={}&aff_id={aff}", offer["id"]))).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 302);
    let res = api.send(Method::PATCH, &path, Some(json!({"advertiser_id": other_adv}))).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["advertiser_id".to_owned()]), "{}", res.body);
    assert_eq!(
        res.body["fields"]["advertiser_id"],
        "this offer has clicks: its history belongs to its advertiser; create a new offer for another advertiser"
    );
    let res = api.send(Method::PATCH, &path, Some(json!({"currency": "EUR"}))).await;
    assert_eq!((res.status, res.body["currency"].as_str()), (200, Some("EUR")), "{}", res.body);
    let res = api.send(Method::PATCH, &path, Some(json!({"currency": "USD"}))).await;
    assert_eq!(res.status, 200);

    // A conversion: the currency stays too; other fields still change.
    let offer = api.get(&path).await.body;
    click_and_convert(&app, &api, &offer, aff).await;
    let before = api.get(&path).await.body;
    let mut both = minimal_offer(other_adv, "History", "public");
    both["currency"] = json!("JPY");
    let res = api.put(&path, both).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["advertiser_id".to_owned(), "currency".to_owned()]));
    assert_eq!(
        res.body["fields"]["currency"],
        "this offer has conversions recorded in USD: its currency cannot change; create a new offer for another currency"
    );
    assert_eq!(api.get(&path).await.body, before);
    let res = api.send(Method::PATCH, &path, Some(json!({"name": "History, renamed", "currency": "USD"}))).await;
    assert_eq!((res.status, res.body["name"].as_str()), (200, Some("History, renamed")), "{}", res.body);
    // Another offer of the network is not held by this one's history.
    let fresh = api.post("/api/v1/offers", minimal_offer(adv, "Fresh", "public")).await.body;
    let res = api
        .send(
            Method::PATCH,
            &format!("/api/v1/offers/{}", fresh["id"]),
            Some(json!({"advertiser_id": other_adv, "currency": "JPY"})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    app.stop().await;
}

crate::on_both_backends!(
    affiliates_read_their_own_payout_through_the_api,
    an_offer_with_history_keeps_its_advertiser_and_currency,
    bad_list_parameters_are_refused_by_name_on_every_listing,
    search_ignores_case_on_both_backends,
    staff_build_the_catalogue_through_the_api,
    bad_offer_values_are_refused_by_field_and_change_nothing,
    bad_values_for_the_other_resources_are_refused_by_field,
    affiliates_see_only_offers_they_may_run_or_apply_to,
    advertisers_read_their_own_offers_only,
    another_networks_ids_are_not_found,
    every_documented_route_is_served,
    documented_request_schemas_match_the_server,
    the_key_and_the_role_are_checked_before_the_request_is_read,
    offers_refuse_made_up_currencies_other_schemes_and_unknown_rate_fields,
    patch_changes_only_the_fields_it_names,
    patches_sent_at_once_each_keep_the_others_fields,
    creations_sent_at_once_are_answered_as_one_after_the_other,
);
