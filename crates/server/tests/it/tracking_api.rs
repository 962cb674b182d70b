//! `/api/v1` over tracking: postbacks (CRUD, test-fire), the delivery log and re-fire,
//! conversions (per-role columns, audited status changes), clicks and the transaction tracer;
//! roles and tenants enforced, bad input refused by field.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use affnet_accounts::{ApiKey, Role, Tenant, User};
use affnet_db::schema::conversion_status_changes;
use affnet_db::{Backend, Clock};
use affnet_offers::{Offer, OfferInput, Rate};
use affnet_tracking::delivery::{Deliverer, DeliveryConfig};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::support::{Api, TestApp};

/// The paths (with query) a local receiver was called with.
type Seen = Arc<Mutex<Vec<String>>>;

async fn receive(req: HttpRequest, seen: web::Data<Seen>) -> HttpResponse {
    seen.lock().unwrap().push(req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default());
    if req.path() == "/fail" {
        HttpResponse::InternalServerError().body("boom")
    } else {
        HttpResponse::Ok().body("OK")
    }
}

struct Receiver {
    base: String,
    seen: Seen,
    handle: actix_web::dev::ServerHandle,
}

async fn receiver() -> Receiver {
    let seen: Seen = Arc::default();
    let data = web::Data::new(seen.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
        .workers(1)
        .shutdown_timeout(0)
        .listen(listener)
        .unwrap()
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Receiver { base, seen, handle }
}

fn key(app: &TestApp, tenant: &Tenant, user: &User) -> String {
    ApiKey::create(&mut app.pool.get().unwrap(), tenant.id, user.id, "", app.clock.now()).unwrap().token
}

/// A network with staff, two affiliate users, an advertiser user, and an active public offer
/// of that advertiser (payout 2.50, revenue 4.00).
pub struct Fixture {
    pub app: TestApp,
    pub tenant: Tenant,
    pub staff: Api,
    pub aff: Api,
    pub aff_id: i64,
    pub other: Api,
    pub other_id: i64,
    pub adv: Api,
    pub offer: Offer,
    pub http: reqwest::Client,
}

impl Fixture {
    pub async fn new(backend: Backend, slug: &str) -> Fixture {
        let app = TestApp::start(backend).await;
        let net = app.network(slug);
        let aff_user = app.user(&net.tenant, &format!("aff@{slug}.test"), Role::Affiliate);
        let other_user = app.user(&net.tenant, &format!("other@{slug}.test"), Role::Affiliate);
        let adv_user = app.user(&net.tenant, &format!("adv@{slug}.test"), Role::Advertiser);
        let mut input = OfferInput::simple(
            adv_user.advertiser_id.unwrap(),
            "Shop CPA",
            "https://shop.example/?t={transaction_id}",
            250,
        );
        input.revenue = Rate::flat(400);
        let offer = Offer::create(&mut app.pool.get().unwrap(), net.tenant.id, &input, app.clock.now()).unwrap();
        Fixture {
            staff: app.api(&net.api_key.token),
            aff: app.api(&key(&app, &net.tenant, &aff_user)),
            aff_id: aff_user.affiliate_id.unwrap().0,
            other: app.api(&key(&app, &net.tenant, &other_user)),
            other_id: other_user.affiliate_id.unwrap().0,
            adv: app.api(&key(&app, &net.tenant, &adv_user)),
            tenant: net.tenant,
            offer,
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            app,
        }
    }

    /// Clicks the tracking link of `aff` with sub ids; returns the transaction id.
    pub async fn click(&self, aff: i64, sub: &str) -> String {
        let q = format!("/aff_c?offer_id={}&aff_id={aff}&aff_sub={sub}&source=src", self.offer.id);
        let res = self.http.get(self.app.url(&q)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 302);
        res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned()
    }

    /// Calls the advertiser postback for `tid`; returns the HTTP status.
    pub async fn convert(&self, tid: &str) -> u16 {
        let q = format!("/aff_lsr?transaction_id={tid}&security_token={}&amount=10", self.offer.security_token);
        self.http.get(self.app.url(&q)).send().await.unwrap().status().as_u16()
    }

    fn worker(&self, max_attempts: i64) -> Deliverer {
        let config = DeliveryConfig {
            allow_private: true,
            timeout: Duration::from_secs(2),
            max_attempts,
            ..DeliveryConfig::default()
        };
        Deliverer::new(self.app.pool.clone(), config, Arc::new(self.app.clock.clone())).unwrap()
    }
}

fn field_keys(res: &crate::support::Json) -> Vec<String> {
    res.body["fields"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

fn ids(page: &Value) -> Vec<i64> {
    page["data"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect()
}

async fn postbacks_are_managed_by_their_affiliate_and_by_staff(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    // An affiliate's postback is its own: naming another affiliate is refused (it was ignored,
    // and the postback made the caller's without a word), its own id or none is taken.
    let url = "https://aff.example/pb?t={transaction_id}&p={payout}";
    let res = f.aff.post("/api/v1/postbacks", json!({"affiliate_id": f.other_id, "url": url})).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["affiliate_id".to_owned()]), "{}", res.body);
    assert_eq!(f.staff.get("/api/v1/postbacks").await.body["data"].as_array().unwrap().len(), 0);
    let res = f.aff.post("/api/v1/postbacks", json!({"affiliate_id": f.aff_id, "url": url})).await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.body["affiliate_id"], f.aff_id);
    assert_eq!(res.body["method"], "GET");
    assert_eq!(res.body["on_approved"], true);
    assert_eq!(res.body["enabled"], true);
    let own = res.body["id"].as_i64().unwrap();
    // Staff must name the affiliate.
    let res = f.staff.post("/api/v1/postbacks", json!({"url": "https://x.example/"})).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["affiliate_id".to_owned()]), "{}", res.body);
    let res = f
        .staff
        .post(
            "/api/v1/postbacks",
            json!({"affiliate_id": f.other_id, "offer_id": f.offer.id.0, "url": "https://other.example/pb",
                   "method": "POST", "body": "t={transaction_id}", "on_pending": true}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!((res.body["affiliate_id"].as_i64(), res.body["method"].as_str()), (Some(f.other_id), Some("POST")));
    let others = res.body["id"].as_i64().unwrap();

    // Lists: staff all (or one affiliate's), affiliates their own.
    assert_eq!(ids(&f.staff.get("/api/v1/postbacks").await.body), [others, own]);
    assert_eq!(ids(&f.staff.get(&format!("/api/v1/postbacks?affiliate_id={}", f.aff_id)).await.body), [own]);
    assert_eq!(ids(&f.aff.get("/api/v1/postbacks").await.body), [own]);
    assert_eq!(
        ids(&f.aff.get(&format!("/api/v1/postbacks?affiliate_id={}", f.other_id)).await.body),
        Vec::<i64>::new()
    );
    let res = f.staff.get("/api/v1/postbacks?affiliate_id=x").await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["affiliate_id".to_owned()]));

    // Edit own; another affiliate's is not found, and stays as it was.
    let res = f
        .aff
        .put(&format!("/api/v1/postbacks/{own}"), json!({"url": "https://aff.example/v2", "enabled": false}))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        (res.body["url"].as_str(), res.body["enabled"].as_bool()),
        (Some("https://aff.example/v2"), Some(false))
    );
    let before = f.staff.get(&format!("/api/v1/postbacks/{others}")).await.body;
    let path = format!("/api/v1/postbacks/{others}");
    assert_eq!(f.aff.get(&path).await.status, 404);
    assert_eq!(f.aff.put(&path, json!({"url": "https://evil.example/"})).await.status, 404);
    assert_eq!(f.aff.delete(&path).await.status, 404);
    assert_eq!(f.aff.post(&format!("{path}/test"), json!({})).await.status, 404);
    assert_eq!(f.staff.get(&path).await.body, before, "unchanged");
    // Staff edit any; the affiliate is kept.
    let res = f.staff.put(&path, json!({"affiliate_id": f.aff_id, "url": "https://other.example/v2"})).await;
    assert_eq!((res.status, res.body["affiliate_id"].as_i64()), (200, Some(f.other_id)), "{}", res.body);

    // Advertisers have no business here.
    assert_eq!(f.adv.get("/api/v1/postbacks").await.status, 403);
    assert_eq!(f.adv.post("/api/v1/postbacks", json!({"url": "https://x.example/"})).await.status, 403);
    assert_eq!(f.adv.get(&path).await.status, 403);
    assert_eq!(f.adv.put(&path, json!({"url": "https://x.example/"})).await.status, 403);
    assert_eq!(f.adv.delete(&path).await.status, 403);
    assert_eq!(f.adv.post(&format!("{path}/test"), json!({})).await.status, 403);
    assert_eq!(f.adv.get("/api/v1/postback-jobs").await.status, 403);
    assert_eq!(f.adv.get("/api/v1/clicks").await.status, 403);

    // Delete.
    assert_eq!(f.aff.delete(&format!("/api/v1/postbacks/{own}")).await.status, 204);
    assert_eq!(f.aff.get(&format!("/api/v1/postbacks/{own}")).await.status, 404);
    assert_eq!(f.staff.delete(&path).await.status, 204);
    assert_eq!(f.staff.get("/api/v1/postbacks").await.body["data"], json!([]));
    f.app.stop().await;
}

async fn bad_postback_inputs_are_refused_by_field(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let long = format!("https://x.example/?q={}", "a".repeat(4100));
    let cases: Vec<(Value, &str, Option<&str>)> = vec![
        (json!({"url": "ftp://x"}), "url", None),
        (json!({"url": "https://x.example/?c={clickid}"}), "url", Some("{clickid}")),
        (json!({"url": long}), "url", None),
        (json!({"url": "https://x.example/", "method": "PUT"}), "method", None),
        (json!({"url": "https://x.example/", "body": "a=1"}), "body", None),
        (json!({"url": "https://x.example/", "method": "POST", "content_type": "text/xml"}), "content_type", None),
        (json!({"url": "https://x.example/", "on_approved": false}), "on_approved", None),
        (json!({"url": "https://x.example/", "offer_id": 999_999}), "offer_id", None),
        (json!({"url": "https://x.example/", "goal_id": 999_999}), "goal_id", None),
    ];
    for (body, field, mention) in cases {
        let res = f.aff.post("/api/v1/postbacks", body.clone()).await;
        assert_eq!((res.status, field_keys(&res)), (422, vec![field.to_owned()]), "{body}: {}", res.body);
        if let Some(m) = mention {
            assert!(res.body["fields"][field].as_str().unwrap().contains(m), "{}", res.body);
        }
    }
    let res = f.staff.post("/api/v1/postbacks", json!({"affiliate_id": 999_999, "url": "https://x.example/"})).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["affiliate_id".to_owned()]));
    // Unknown fields and malformed JSON: 400; a missing url: 422 on it.
    let res = f.aff.post("/api/v1/postbacks", json!({"url": "https://x.example/", "secret": "x"})).await;
    assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")));
    let res = f.aff.post("/api/v1/postbacks", json!({})).await;
    assert_eq!((res.status, res.body["fields"]["url"].as_str()), (422, Some("this field is required")));
    assert_eq!(f.aff.post_raw("/api/v1/postbacks", "{").await.status, 400);
    assert_eq!(f.staff.get("/api/v1/postbacks").await.body["data"], json!([]), "nothing saved");
    // Bad parameters of the lists: 422 on the parameter.
    for (path, field) in [
        ("/api/v1/conversions?from=yesterday", "from"),
        ("/api/v1/conversions?to=2024-13-01", "to"),
        ("/api/v1/conversions?offer_id=abc", "offer_id"),
        ("/api/v1/conversions?status=won", "status"),
        ("/api/v1/clicks?affiliate_id=-1", "affiliate_id"),
        ("/api/v1/postback-jobs?state=lost", "state"),
        ("/api/v1/postback-jobs?from=2024-01-01T00:00", "from"),
    ] {
        let res = f.staff.get(path).await;
        assert_eq!((res.status, field_keys(&res)), (422, vec![field.to_owned()]), "{path}: {}", res.body);
    }
    let res = f.staff.post("/api/v1/postbacks/1/test", json!({"conversion": 1})).await;
    assert_eq!(res.status, 400, "unknown test-fire field");
    f.app.stop().await;
}

/// A postback may name only an offer its affiliate can run (the pages' rule, now the API's
/// too): a private offer the affiliate was not given gets the same 422 as an id that does not
/// exist, so its name cannot be learnt through `{offer_name}` nor its id told apart.
async fn a_postback_names_only_offers_its_affiliate_can_run(backend: Backend) {
    use affnet_db::AffiliateId;
    use affnet_offers::{AccessStatus, Decision, OfferAccess};
    let f = Fixture::new(backend, "acme").await;
    let mut input =
        OfferInput::simple(f.offer.advertiser_id, "Secret launch", "https://shop.example/?t={transaction_id}", 100);
    input.visibility = Some("private".into());
    let private = Offer::create(&mut f.app.pool.get().unwrap(), f.tenant.id, &input, f.app.clock.now()).unwrap();
    let refused = "choose all offers or an offer this affiliate can run";
    for id in [private.id.0, 999_999] {
        let res = f
            .aff
            .post("/api/v1/postbacks", json!({"offer_id": id, "url": "https://aff.example/?o={offer_name}"}))
            .await;
        assert_eq!((res.status, field_keys(&res)), (422, vec!["offer_id".to_owned()]), "{}", res.body);
        assert_eq!(res.body["fields"]["offer_id"], refused);
    }
    let res = f
        .staff
        .post(
            "/api/v1/postbacks",
            json!({"affiliate_id": f.aff_id, "offer_id": private.id.0, "url": "https://x.example/"}),
        )
        .await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["offer_id".to_owned()]), "{}", res.body);
    assert_eq!(f.staff.get("/api/v1/postbacks").await.body["data"], json!([]), "nothing saved");

    // Once the offer is assigned to the affiliate, it can be named.
    let admin = f.app.users_of(&f.tenant).into_iter().find(|u| u.role == Role::Admin).unwrap();
    let decide = |status| {
        let mut c = f.app.pool.get().unwrap();
        let d = Decision { status, note: "", by: admin.id };
        OfferAccess::decide(&mut c, f.tenant.id, private.id, AffiliateId(f.aff_id), &d, f.app.clock.now()).unwrap();
    };
    decide(AccessStatus::Approved);
    let res = f
        .aff
        .post("/api/v1/postbacks", json!({"offer_id": private.id.0, "url": "https://aff.example/?o={offer_name}"}))
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let pb = res.body["id"].as_i64().unwrap();
    // Taken back: the postback keeps its offer and can still be edited (switched off), but no
    // postback can be pointed at that offer anew.
    decide(AccessStatus::Rejected);
    let res = f
        .aff
        .put(
            &format!("/api/v1/postbacks/{pb}"),
            json!({"offer_id": private.id.0, "url": "https://aff.example/v2", "enabled": false}),
        )
        .await;
    assert_eq!((res.status, res.body["enabled"].as_bool()), (200, Some(false)), "{}", res.body);
    let res = f.aff.post("/api/v1/postbacks", json!({"offer_id": private.id.0, "url": "https://x.example/"})).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["offer_id".to_owned()]), "{}", res.body);
    f.app.stop().await;
}

async fn a_test_fire_reaches_the_receiver(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let rx = receiver().await;
    let url = format!("{}/pb?t={{transaction_id}}&s={{aff_sub}}&p={{payout}}", rx.base);
    let pb = f.aff.post("/api/v1/postbacks", json!({"url": url})).await.body["id"].as_i64().unwrap();
    // A made-up sample conversion, with no body at all.
    let res = f
        .aff
        .client
        .post(f.app.url(&format!("/api/v1/postbacks/{pb}/test")))
        .bearer_auth(&f.aff.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.unwrap();
    let sample = "/pb?t=0190a1b2c3d4e5f60718293a4b5c6d7e&s=sample_sub1&p=2.50";
    assert_eq!(body["method"], "GET");
    assert_eq!(body["url"], format!("{}{sample}", rx.base));
    assert_eq!(body["body"], "");
    assert_eq!(body["result"]["status_code"], 200);
    assert_eq!(body["result"]["response_excerpt"], "OK");
    assert_eq!(body["result"]["error"], "");
    assert!(body["result"]["latency_ms"].as_i64().is_some());
    assert_eq!(rx.seen.lock().unwrap().clone(), [sample.to_owned()]);

    // A real conversion of the affiliate.
    let tid = f.click(f.aff_id, "real").await;
    assert_eq!(f.convert(&tid).await, 200);
    let conv = f.aff.get("/api/v1/conversions").await.body["data"][0]["id"].as_i64().unwrap();
    let res = f.staff.post(&format!("/api/v1/postbacks/{pb}/test"), json!({"conversion_id": conv})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["url"], format!("{}/pb?t={tid}&s=real&p=2.50", rx.base));
    // Another affiliate's conversion cannot fill the macros.
    let tid2 = f.click(f.other_id, "x").await;
    assert_eq!(f.convert(&tid2).await, 200);
    let conv2 = f.other.get("/api/v1/conversions").await.body["data"][0]["id"].as_i64().unwrap();
    let res = f.aff.post(&format!("/api/v1/postbacks/{pb}/test"), json!({"conversion_id": conv2})).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["conversion_id".to_owned()]));
    assert_eq!(rx.seen.lock().unwrap().len(), 2);
    // The test attempts are in no job: the delivery log holds the real job only.
    let log = f.aff.get("/api/v1/postback-jobs").await.body;
    assert_eq!(log["total"], 1, "{log}");
    assert_eq!(log["data"][0]["state"], "queued");
    rx.handle.stop(false).await;
    f.app.stop().await;
}

/// A test-fire's optional body is read as every API body is: an object of known fields, a wrong
/// value a 422 naming it, a NUL, an array or another content type a 400, a body too large a 413
/// in the API's error format; and nothing is fired. (Read by hand, `[1]` fired conversion 1 and
/// an unknown field or a NUL fired a made-up sample.)
async fn a_test_fire_body_is_read_as_every_api_body(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let rx = receiver().await;
    let url = format!("{}/pb?t={{transaction_id}}", rx.base);
    let pb = f.aff.post("/api/v1/postbacks", json!({"url": url})).await.body["id"].as_i64().unwrap();
    let path = format!("/api/v1/postbacks/{pb}/test");
    let tid = f.click(f.aff_id, "real").await;
    assert_eq!(f.convert(&tid).await, 200);
    for (body, status) in [
        ("[1]", 400),
        ("[]", 400),
        ("{\"conversion_id\":1,\"note\":\"x\"}", 400),
        ("{\"conversion_id\":1,\"note\":\"\\u0000\"}", 400),
        ("{\"conversion_id\":1}\u{0}", 400),
        ("{\"conversion_id\":\"x\"}", 422),
    ] {
        let res = f.aff.post_raw(&path, body).await;
        assert_eq!(res.status, status, "{body:?}: {}", res.body);
        assert!(res.body["error"].is_string(), "{body:?}: {}", res.body);
        if status == 422 {
            assert_eq!(field_keys(&res), ["conversion_id"]);
        }
    }
    let big = format!("{{\"conversion_id\":1,\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    let res = f.aff.post_raw(&path, &big).await;
    assert_eq!((res.status, res.body["error"].as_str()), (413, Some("payload_too_large")), "{}", res.body);
    let res = f
        .aff
        .client
        .post(f.app.url(&path))
        .bearer_auth(&f.aff.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(rx.seen.lock().unwrap().is_empty(), "nothing fired: {:?}", rx.seen.lock().unwrap());
    // `{}` and no body at all fire the sample.
    assert_eq!(f.aff.post(&path, json!({})).await.status, 200);
    assert_eq!(rx.seen.lock().unwrap().len(), 1);
    rx.handle.stop(false).await;
    f.app.stop().await;
}

/// The API's sample test-fire is made on an offer the affiliate can run, with the payout the
/// affiliate earns there, as on the pages. (It took the network's newest offer, even a private
/// one the affiliate may not see: its name, id, payout and currency were sent and answered; and
/// it showed the offer's payout, not the affiliate's override.)
async fn an_api_test_fire_samples_an_offer_the_affiliate_runs_at_its_payout(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let rx = receiver().await;
    affnet_offers::PayoutOverride::set(
        &mut f.app.pool.get().unwrap(),
        f.tenant.id,
        &affnet_offers::OverrideInput {
            offer_id: f.offer.id,
            affiliate_id: affnet_db::AffiliateId(f.aff_id),
            goal_id: None,
            payout: Rate::flat(1234),
        },
        f.app.clock.now(),
    )
    .unwrap();
    let mut secret = OfferInput::simple(
        f.offer.advertiser_id,
        "Secret launch",
        "https://secret.example/?t={transaction_id}",
        98_765,
    );
    secret.visibility = Some("private".into());
    let secret = Offer::create(&mut f.app.pool.get().unwrap(), f.tenant.id, &secret, f.app.clock.now()).unwrap();
    let url = format!("{}/pb?o={{offer_id}}&n={{offer_name}}&p={{payout}}", rx.base);
    let pb = f.aff.post("/api/v1/postbacks", json!({"url": url})).await.body["id"].as_i64().unwrap();
    for (who, payout) in [(&f.aff, "12.34"), (&f.staff, "12.34")] {
        let res = who.post(&format!("/api/v1/postbacks/{pb}/test"), json!({})).await;
        assert_eq!(res.status, 200, "{}", res.body);
        let expected = format!("/pb?o={}&n=Shop%20CPA&p={payout}", f.offer.id);
        assert_eq!(res.body["url"], format!("{}{expected}", rx.base), "not #{} {}", secret.id, secret.name);
    }
    assert!(rx.seen.lock().unwrap().iter().all(|p| !p.contains("Secret")));
    rx.handle.stop(false).await;
    f.app.stop().await;
}

/// A goal's postback test-fires a conversion of that goal, at the goal's payout (it sent the
/// offer's payout and an empty `{goal_id}`); a standard postback whose offer the affiliate can no
/// longer run (made private, renamed) test-fires nothing and names nothing, on the API and the
/// page.
async fn test_fires_follow_the_postbacks_goal_and_the_affiliates_access(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let rx = receiver().await;
    let goal = affnet_offers::Goal::create(
        &mut f.app.pool.get().unwrap(),
        f.tenant.id,
        f.offer.id,
        &affnet_offers::GoalInput {
            name: "Deposit".into(),
            status: None,
            payout: Rate::flat(4000),
            revenue: Rate::ZERO,
            allow_multiple: false,
        },
        f.app.clock.now(),
    )
    .unwrap();
    let url = format!("{}/pb?p={{payout}}&g={{goal_id}}&n={{offer_name}}", rx.base);
    let body = json!({"url": url, "offer_id": f.offer.id.0, "goal_id": goal.id.0});
    let pb = f.aff.post("/api/v1/postbacks", body).await.body["id"].as_i64().unwrap();
    let res = f.aff.post(&format!("/api/v1/postbacks/{pb}/test"), json!({})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["url"], format!("{}/pb?p=40.00&g={}&n=Shop%20CPA", rx.base, goal.id));

    // The offer is made private (and renamed); the affiliate is not assigned to it.
    let mut input = OfferInput::simple(f.offer.advertiser_id, "Secret launch", &f.offer.offer_url, 250);
    input.visibility = Some("private".into());
    Offer::update(&mut f.app.pool.get().unwrap(), f.tenant.id, f.offer.id, &input, f.app.clock.now()).unwrap();
    let res = f.aff.post(&format!("/api/v1/postbacks/{pb}/test"), json!({})).await;
    assert_eq!(res.status, 422, "{}", res.body);
    assert!(!res.body.to_string().contains("Secret"), "{}", res.body);
    let aff_user = f.app.users_of(&f.tenant).into_iter().find(|u| u.email == "aff@acme.test").unwrap();
    let b = f.app.browser();
    b.sign_in("acme", &aff_user.email, crate::support::PASSWORD).await;
    let page = b.get("/affiliate/postbacks").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Secret launch"), "{}", page.body);
    assert!(page.body.contains("no longer available to this affiliate"), "{}", page.body);
    assert_eq!(rx.seen.lock().unwrap().len(), 1, "only the first test-fire was sent");
    rx.handle.stop(false).await;
    f.app.stop().await;
}

async fn conversions_show_each_role_its_own_columns(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let mine = f.click(f.aff_id, "mine").await;
    let theirs = f.click(f.other_id, "theirs").await;
    assert_eq!(f.convert(&mine).await, 200);
    f.app.clock.advance(1_000_000);
    assert_eq!(f.convert(&theirs).await, 200);

    let all = f.staff.get("/api/v1/conversions").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["total"], 2);
    let row = &all.body["data"][1];
    assert_eq!(row["transaction_id"], mine.as_str());
    assert_eq!((row["payout"].as_i64(), row["revenue"].as_i64()), (Some(250), Some(400)));
    assert_eq!((row["aff_sub"].as_str(), row["source"].as_str()), (Some("mine"), Some("src")));
    assert_eq!(row["sale_amount"], 1000);
    assert_eq!(row["status"], "approved");

    let own = f.aff.get("/api/v1/conversions").await.body;
    assert_eq!(own["total"], 1);
    let row = &own["data"][0];
    assert_eq!(row["transaction_id"], mine.as_str());
    assert_eq!(row["payout"], 250);
    assert!(row.get("revenue").is_none(), "affiliates never see revenue: {row}");
    assert_eq!(row["aff_sub"], "mine");
    for more in ["aff_sub3", "aff_sub4", "aff_sub5", "aff_click_id"] {
        assert_eq!(row[more], "", "every sub id of the click: {row}");
    }
    let id_mine = row["id"].as_i64().unwrap();
    let id_theirs = all.body["data"][0]["id"].as_i64().unwrap();
    assert_eq!(f.aff.get(&format!("/api/v1/conversions/{id_theirs}")).await.status, 404);
    assert_eq!(f.aff.get(&format!("/api/v1/conversions?affiliate_id={}", f.other_id)).await.body["total"], 0);

    let adv = f.adv.get("/api/v1/conversions").await.body;
    assert_eq!(adv["total"], 2);
    for row in adv["data"].as_array().unwrap() {
        assert_eq!(row["revenue"], 400);
        for hidden in ["payout", "aff_sub", "aff_sub2", "aff_sub3", "aff_sub5", "source", "aff_click_id"] {
            assert!(row.get(hidden).is_none(), "advertisers never see {hidden}: {row}");
        }
    }
    assert_eq!(f.adv.get("/api/v1/conversions?sub=mine").await.status, 422);

    // Filters.
    assert_eq!(ids(&f.staff.get("/api/v1/conversions?sub=mine").await.body), [id_mine]);
    assert_eq!(ids(&f.staff.get(&format!("/api/v1/conversions?affiliate_id={}", f.other_id)).await.body), [id_theirs]);
    assert_eq!(f.staff.get("/api/v1/conversions?status=pending").await.body["total"], 0);
    assert_eq!(f.staff.get("/api/v1/conversions?from=2999-01-01").await.body["total"], 0);
    assert_eq!(f.staff.get("/api/v1/conversions?to=2000-01-01T00:00:00Z").await.body["total"], 0);
    let today = &f.app.clock.now().rfc3339()[..10];
    assert_eq!(f.staff.get(&format!("/api/v1/conversions?from={today}&to={today}")).await.body["total"], 2);
    let page = f.staff.get("/api/v1/conversions?per_page=1&page=2").await.body;
    assert_eq!((ids(&page), page["total"].as_i64()), (vec![id_mine], Some(2)));
    // Clicks: staff all, affiliates their own.
    assert_eq!(f.staff.get("/api/v1/clicks").await.body["total"], 2);
    let clicks = f.aff.get("/api/v1/clicks").await.body;
    assert_eq!(clicks["total"], 1);
    assert_eq!(clicks["data"][0]["transaction_id"], mine.as_str());
    assert_eq!(clicks["data"][0]["aff_sub"], "mine");
    assert_eq!(f.staff.get("/api/v1/clicks?sub=theirs").await.body["data"][0]["transaction_id"], theirs.as_str());
    // An affiliate filtering by advertiser is refused by name (the filter was dropped, and the
    // unfiltered rows read as filtered).
    for list in ["/api/v1/clicks", "/api/v1/conversions"] {
        let res = f.aff.get(&format!("{list}?advertiser_id=1")).await;
        assert_eq!((res.status, field_keys(&res)), (422, vec!["advertiser_id".to_owned()]), "{list}");
    }

    // A status change: staff only, audited, reflected.
    let path = format!("/api/v1/conversions/{id_mine}/status");
    assert_eq!(f.aff.post(&path, json!({"status": "rejected"})).await.status, 403);
    assert_eq!(f.adv.post(&path, json!({"status": "rejected"})).await.status, 403);
    let res = f.staff.post(&path, json!({"status": "refunded"})).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["status".to_owned()]));
    assert_eq!(f.staff.post(&path, json!({"status": "rejected", "why": "x"})).await.status, 400);
    let res = f.staff.post(&path, json!({"status": "rejected", "note": "chargeback"})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["status"], "rejected");
    assert_eq!(f.aff.get(&format!("/api/v1/conversions/{id_mine}")).await.body["status"], "rejected");
    assert_eq!(f.staff.get("/api/v1/conversions?status=rejected").await.body["total"], 1);
    let audit: Vec<(String, String, String, Option<i64>)> = conversion_status_changes::table
        .filter(conversion_status_changes::tenant_id.eq(f.tenant.id))
        .select((
            conversion_status_changes::from_status,
            conversion_status_changes::to_status,
            conversion_status_changes::note,
            conversion_status_changes::changed_by,
        ))
        .load(&mut f.app.pool.get().unwrap())
        .unwrap();
    let admin = f.app.users_of(&f.tenant).into_iter().find(|u| u.role == Role::Admin).unwrap();
    assert_eq!(audit, [("approved".into(), "rejected".into(), "chargeback".into(), Some(admin.id.0))]);
    f.app.stop().await;
}

async fn the_tracer_shows_refusals_and_failed_jobs_can_be_refired(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let rx = receiver().await;
    f.aff.post("/api/v1/postbacks", json!({"url": format!("{}/fail?t={{transaction_id}}", rx.base)})).await;
    let tid = f.click(f.aff_id, "s").await;
    assert_eq!(f.convert(&tid).await, 200);
    assert_eq!(f.convert(&tid).await, 409, "a duplicate is refused");
    assert_eq!(f.worker(1).run_once().await.unwrap(), 1);

    let trace = f.staff.get(&format!("/api/v1/trace/{}", tid.to_uppercase())).await;
    assert_eq!(trace.status, 200, "{}", trace.body);
    let t = &trace.body;
    assert_eq!(t["transaction_id"], tid.as_str());
    assert_eq!(t["click"]["transaction_id"], tid.as_str());
    assert_eq!(t["click"]["aff_sub"], "s");
    let outcomes: Vec<(&str, &str)> = t["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["outcome"].as_str().unwrap(), a["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(outcomes, [("accepted", ""), ("refused", "duplicate_conversion")]);
    assert_eq!(t["conversions"].as_array().unwrap().len(), 1);
    assert_eq!(t["jobs"][0]["state"], "failed");
    assert_eq!(t["jobs"][0]["deliveries"][0]["status_code"], 500);
    assert_eq!(t["deliveries"][0]["error"], "HTTP 500");
    assert_eq!(f.aff.get(&format!("/api/v1/trace/{tid}")).await.status, 403, "staff only");
    assert_eq!(f.staff.get("/api/v1/trace/0190a1b2c3d4e5f60718293a4b5c6d7e").await.status, 404);

    // The delivery log, then a re-fire.
    let log = f.aff.get("/api/v1/postback-jobs?state=failed").await.body;
    assert_eq!(log["total"], 1, "{log}");
    let job = &log["data"][0];
    assert_eq!((job["attempts"].as_i64(), job["last_error"].as_str()), (Some(1), Some("HTTP 500")));
    assert_eq!(job["deliveries"].as_array().unwrap().len(), 1);
    let job = job["id"].as_i64().unwrap();
    assert_eq!(f.aff.get("/api/v1/postback-jobs?state=delivered").await.body["total"], 0);
    assert_eq!(f.aff.get(&format!("/api/v1/postback-jobs?offer_id={}", f.offer.id)).await.body["total"], 1);
    assert_eq!(f.other.get("/api/v1/postback-jobs").await.body["total"], 0);
    assert_eq!(f.other.post(&format!("/api/v1/postback-jobs/{job}/refire"), json!({})).await.status, 404);
    assert_eq!(f.staff.post("/api/v1/postback-jobs/999999/refire", json!({})).await.status, 404);
    let res = f.aff.post(&format!("/api/v1/postback-jobs/{job}/refire"), json!({})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!((res.body["state"].as_str(), res.body["attempts"].as_i64()), (Some("queued"), Some(0)));
    assert_eq!(f.worker(1).run_once().await.unwrap(), 1);
    assert_eq!(rx.seen.lock().unwrap().len(), 2);
    let log = f.staff.get("/api/v1/postback-jobs").await.body;
    assert_eq!(log["data"][0]["deliveries"].as_array().unwrap().len(), 2);
    rx.handle.stop(false).await;
    f.app.stop().await;
}

async fn another_networks_tracking_is_not_found(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let pb = f.aff.post("/api/v1/postbacks", json!({"url": "http://127.0.0.1:9/x"})).await.body["id"].as_i64().unwrap();
    let tid = f.click(f.aff_id, "s").await;
    assert_eq!(f.convert(&tid).await, 200);
    let conv = f.staff.get("/api/v1/conversions").await.body["data"][0]["id"].as_i64().unwrap();
    let job = f.staff.get("/api/v1/postback-jobs").await.body["data"][0]["id"].as_i64().unwrap();

    let globex = f.app.network("globex");
    let foreign = f.app.api(&globex.api_key.token);
    for path in
        [format!("/api/v1/postbacks/{pb}"), format!("/api/v1/conversions/{conv}"), format!("/api/v1/trace/{tid}")]
    {
        assert_eq!(foreign.get(&path).await.status, 404, "{path}");
    }
    assert_eq!(foreign.put(&format!("/api/v1/postbacks/{pb}"), json!({"url": "https://x.example/"})).await.status, 404);
    assert_eq!(foreign.post(&format!("/api/v1/postbacks/{pb}/test"), json!({})).await.status, 404);
    assert_eq!(foreign.delete(&format!("/api/v1/postbacks/{pb}")).await.status, 404);
    assert_eq!(foreign.post(&format!("/api/v1/postback-jobs/{job}/refire"), json!({})).await.status, 404);
    let res = foreign.post(&format!("/api/v1/conversions/{conv}/status"), json!({"status": "rejected"})).await;
    assert_eq!(res.status, 404);
    // Staff of the other network cannot attach a postback to this network's affiliate.
    let res = foreign.post("/api/v1/postbacks", json!({"affiliate_id": f.aff_id, "url": "https://x.example/"})).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["affiliate_id".to_owned()]));
    for list in ["/api/v1/postbacks", "/api/v1/conversions", "/api/v1/clicks", "/api/v1/postback-jobs"] {
        let body = foreign.get(list).await.body;
        assert_eq!(body["data"], json!([]), "{list}: {body}");
    }
    assert_eq!(f.staff.get(&format!("/api/v1/conversions/{conv}")).await.body["status"], "approved", "unchanged");
    assert_eq!(f.staff.get(&format!("/api/v1/postbacks/{pb}")).await.status, 200);
    f.app.stop().await;
}

/// The keys of `value` are the documented properties of `schema`, and include its required ones.
fn matches_schema(doc: &Value, schema: &str, value: &Value) {
    let s = &doc["components"]["schemas"][schema];
    let documented: Vec<&String> = s["properties"].as_object().unwrap().keys().collect();
    let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
    for k in &keys {
        assert!(documented.contains(k), "{schema}: {k} is not documented");
        // A value of a documented word list is one of its words.
        if let (Some(words), Some(v)) = (s["properties"][k.as_str()]["enum"].as_array(), value[k.as_str()].as_str()) {
            assert!(words.iter().any(|w| w == v), "{schema}: {k} = {v:?} is not one of {words:?}");
        }
    }
    for r in s["required"].as_array().unwrap() {
        assert!(keys.iter().any(|k| *k == r.as_str().unwrap()), "{schema}: {r} missing from {value}");
    }
}

async fn answers_have_the_documented_fields(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let doc = f.staff.get("/api/v1/openapi.json").await.body;
    let pb = f.aff.post("/api/v1/postbacks", json!({"url": "http://127.0.0.1:9/x"})).await.body;
    matches_schema(&doc, "Postback", &pb);
    let tid = f.click(f.aff_id, "s").await;
    assert_eq!(f.convert(&tid).await, 200);
    assert_eq!(f.convert(&tid).await, 409);
    assert_eq!(f.worker(1).run_once().await.unwrap(), 1);
    let fired = f.aff.post(&format!("/api/v1/postbacks/{}/test", pb["id"]), json!({})).await.body;
    matches_schema(&doc, "TestFire", &fired);
    matches_schema(&doc, "AttemptResult", &fired["result"]);
    for api in [&f.staff, &f.aff, &f.adv] {
        let row = api.get("/api/v1/conversions").await.body["data"][0].clone();
        matches_schema(&doc, "Conversion", &row);
    }
    matches_schema(&doc, "Click", &f.aff.get("/api/v1/clicks").await.body["data"][0]);
    let job = f.aff.get("/api/v1/postback-jobs").await.body["data"][0].clone();
    matches_schema(&doc, "PostbackJob", &job);
    matches_schema(&doc, "DeliveryAttempt", &job["deliveries"][0]);
    let trace = f.staff.get(&format!("/api/v1/trace/{tid}")).await.body;
    matches_schema(&doc, "Trace", &trace);
    matches_schema(&doc, "Click", &trace["click"]);
    matches_schema(&doc, "ConversionAttempt", &trace["attempts"][1]);
    matches_schema(&doc, "Conversion", &trace["conversions"][0]);
    f.app.stop().await;
}

/// Concurrent status changes of one conversion (API and retries racing) take turns: the
/// first-approval postback is enqueued once, however the changes interleave, and the audit log
/// holds exactly the changes made. Before, on PostgreSQL a change read the history before the
/// row's lock, so an approved → pending change committed in between let a second "first
/// approval" fire; and the handlers audited a change whenever the status they read before
/// differed, whether or not it was theirs.
async fn concurrent_status_changes_fire_the_first_approval_once_and_audit_each_change(backend: Backend) {
    use affnet_db::schema::{audit_log, postback_jobs};
    let f = Fixture::new(backend, "acme").await;
    let mut input =
        OfferInput::simple(f.offer.advertiser_id, "Review CPA", "https://shop.example/?t={transaction_id}", 250);
    input.conversion_status = Some("pending".into());
    let offer = Offer::create(&mut f.app.pool.get().unwrap(), f.tenant.id, &input, f.app.clock.now()).unwrap();
    let res = f.aff.post("/api/v1/postbacks", json!({"url": "http://127.0.0.1:9/pb?t={transaction_id}"})).await;
    assert_eq!(res.status, 201, "{}", res.body);
    for round in 0..3 {
        let q = format!("/aff_c?offer_id={}&aff_id={}", offer.id, f.aff_id);
        let res = f.http.get(f.app.url(&q)).send().await.unwrap();
        let tid = res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
        let lsr = format!("/aff_lsr?transaction_id={tid}&security_token={}", offer.security_token);
        assert_eq!(f.http.get(f.app.url(&lsr)).send().await.unwrap().status(), 200);
        let conv = f.staff.get(&format!("/api/v1/conversions?offer_id={}", offer.id)).await.body["data"][0]["id"]
            .as_i64()
            .unwrap();
        let path = format!("/api/v1/conversions/{conv}/status");
        let statuses = ["approved", "pending", "rejected", "approved", "pending"];
        let calls: Vec<_> = (0..40)
            .map(|i| {
                let (api, path) = (f.staff.clone(), path.clone());
                let body = json!({"status": statuses[(i + round) % statuses.len()]});
                actix_web::rt::spawn(async move { api.post(&path, body).await })
            })
            .collect();
        for call in calls {
            let res = call.await.unwrap();
            assert_eq!(res.status, 200, "{}", res.body);
        }
        let mut c = f.app.pool.get().unwrap();
        let changes: i64 = conversion_status_changes::table
            .filter(conversion_status_changes::conversion_id.eq(conv))
            .count()
            .get_result(&mut c)
            .unwrap();
        let approvals: i64 = conversion_status_changes::table
            .filter(conversion_status_changes::conversion_id.eq(conv))
            .filter(conversion_status_changes::to_status.eq("approved"))
            .count()
            .get_result(&mut c)
            .unwrap();
        let jobs: i64 =
            postback_jobs::table.filter(postback_jobs::conversion_id.eq(conv)).count().get_result(&mut c).unwrap();
        assert!(approvals >= 1, "round {round}: some call approved it");
        assert_eq!(jobs, 1, "round {round}: the first approval fired once ({changes} changes, {approvals} approvals)");
        let audited: i64 = audit_log::table
            .filter(audit_log::entity.eq("conversion"))
            .filter(audit_log::entity_id.eq(conv.to_string()))
            .count()
            .get_result(&mut c)
            .unwrap();
        assert_eq!(audited, changes, "round {round}: one audit entry per change made");
    }
    f.app.stop().await;
}

/// `GET /api/v1/conversion-calls` lists every call of the conversion endpoint, newest first,
/// accepted or refused with its reason, as the calls pages do: staff all of the network's, an
/// advertiser those naming its offers, an affiliate nothing (403); `status` filters by outcome
/// or reason. (Refused calls were readable only through the staff tracer, by transaction id.)
async fn the_conversion_calls_log_is_readable_through_the_api(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let tid = f.click(f.aff_id, "s").await;
    assert_eq!(f.convert(&tid).await, 200);
    assert_eq!(f.convert(&tid).await, 409);
    let wrong = format!("/aff_lsr?transaction_id={tid}&security_token=nope");
    assert_eq!(f.http.get(f.app.url(&wrong)).send().await.unwrap().status().as_u16(), 403);

    let all = f.staff.get("/api/v1/conversion-calls").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["total"], 3);
    let reasons: Vec<&str> =
        all.body["data"].as_array().unwrap().iter().map(|a| a["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["invalid_security_token", "duplicate_conversion", ""], "newest first");
    let first = &all.body["data"][0];
    assert_eq!((first["transaction_id"].as_str(), first["outcome"].as_str()), (Some(tid.as_str()), Some("refused")));
    assert!(!first["raw_query"].as_str().unwrap().contains("nope"), "the token is masked: {first}");

    let refused = f.staff.get("/api/v1/conversion-calls?status=duplicate_conversion").await;
    assert_eq!(refused.body["total"], 1);
    let accepted = f.adv.get("/api/v1/conversion-calls?status=accepted").await;
    assert_eq!((accepted.status, &accepted.body["total"]), (200, &json!(1)), "{}", accepted.body);
    assert_eq!(f.adv.get("/api/v1/conversion-calls").await.body["total"], 3, "the advertiser's own offer");
    assert_eq!(f.aff.get("/api/v1/conversion-calls").await.status, 403);
    let res = f.staff.get("/api/v1/conversion-calls?status=lost").await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["status".to_owned()]));
    // A parameter it does not take is refused, never ignored (all calls would come back as if
    // filtered).
    for q in ["affiliate_id=1", "reason=cap_reached", "offer=1", "sub=x"] {
        assert_eq!(f.staff.get(&format!("/api/v1/conversion-calls?{q}")).await.status, 400, "{q}");
    }
    let res = f.adv.get("/api/v1/conversion-calls?advertiser_id=999").await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["advertiser_id".to_owned()]));

    // Another advertiser of the network sees none of these calls.
    let other_adv = f.app.user(&f.tenant, "adv2@acme.test", Role::Advertiser);
    let other = f.app.api(&key(&f.app, &f.tenant, &other_adv));
    assert_eq!(other.get("/api/v1/conversion-calls").await.body["total"], 0);
    f.app.stop().await;
}

/// The lists take a transaction id (any case) and the conversions and the delivery log a
/// conversion id; the conversion calls match the id as the call sent it. A malformed id is a 422
/// naming the parameter; each job names its transaction.
async fn lists_find_one_transaction_by_its_id(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let rx = receiver().await;
    f.aff.post("/api/v1/postbacks", json!({"url": format!("{}/ok?t={{transaction_id}}", rx.base)})).await;
    let (first, second) = (f.click(f.aff_id, "a").await, f.click(f.aff_id, "b").await);
    assert_eq!(f.convert(&first).await, 200);
    assert_eq!(f.convert(&second).await, 200);
    let upper = first.to_uppercase();

    let jobs = f.aff.get(&format!("/api/v1/postback-jobs?transaction_id={upper}")).await;
    assert_eq!((jobs.status, &jobs.body["total"]), (200, &json!(1)), "{}", jobs.body);
    assert_eq!(jobs.body["data"][0]["transaction_id"], first.as_str());
    let c1 = jobs.body["data"][0]["conversion_id"].as_i64().unwrap();
    let all = f.staff.get("/api/v1/postback-jobs").await.body;
    let c2 = all["data"].as_array().unwrap().iter().find(|j| j["transaction_id"] == second.as_str()).unwrap()
        ["conversion_id"]
        .as_i64()
        .unwrap();
    let by_conversion = f.staff.get(&format!("/api/v1/postback-jobs?conversion_id={c2}")).await.body;
    assert_eq!((&by_conversion["total"], &by_conversion["data"][0]["transaction_id"]), (&json!(1), &json!(second)));
    assert_eq!(f.other.get(&format!("/api/v1/postback-jobs?transaction_id={first}")).await.body["total"], 0);

    let conversions = f.aff.get(&format!("/api/v1/conversions?transaction_id={upper}")).await.body;
    assert_eq!((&conversions["total"], &conversions["data"][0]["id"]), (&json!(1), &json!(c1)));
    let by_id = f.adv.get(&format!("/api/v1/conversions?conversion_id={c2}")).await.body;
    assert_eq!((&by_id["total"], &by_id["data"][0]["transaction_id"]), (&json!(1), &json!(second)));
    let clicks = f.staff.get(&format!("/api/v1/clicks?transaction_id={second}")).await.body;
    assert_eq!((&clicks["total"], &clicks["data"][0]["transaction_id"]), (&json!(1), &json!(second)));
    // Clicks take no conversion id: a parameter the list does not take is a 400, as documented
    // (it was a 422, as if the value were wrong).
    for value in [c2.to_string(), "-1".to_owned()] {
        let res = f.staff.get(&format!("/api/v1/clicks?conversion_id={value}")).await;
        assert_eq!((res.status, &res.body["error"]), (400, &json!("bad_request")), "{value}");
        assert!(res.body["message"].as_str().unwrap().contains("take no `conversion_id` parameter"), "{}", res.body);
    }
    for path in ["/api/v1/postback-jobs", "/api/v1/conversions", "/api/v1/clicks"] {
        let res = f.staff.get(&format!("{path}?transaction_id=abc")).await;
        assert_eq!((res.status, field_keys(&res)), (422, vec!["transaction_id".to_owned()]), "{path}");
        assert!(res.body["fields"]["transaction_id"].as_str().unwrap().contains("32 hexadecimal characters"));
    }
    for path in ["/api/v1/postback-jobs", "/api/v1/conversions"] {
        let res = f.staff.get(&format!("{path}?conversion_id=-1")).await;
        assert_eq!((res.status, field_keys(&res)), (422, vec!["conversion_id".to_owned()]), "{path}");
    }

    // The advertiser's order id.
    let third = f.click(f.aff_id, "c").await;
    let lsr = format!("/aff_lsr?transaction_id={third}&security_token={}&adv_sub=ORD-9", f.offer.security_token);
    assert_eq!(f.http.get(f.app.url(&lsr)).send().await.unwrap().status().as_u16(), 200);
    let by_order = f.adv.get("/api/v1/conversions?adv_sub=ORD-9").await.body;
    assert_eq!((&by_order["total"], &by_order["data"][0]["transaction_id"]), (&json!(1), &json!(third)));
    assert_eq!(f.aff.get("/api/v1/postback-jobs?adv_sub=ORD-9").await.body["total"], 1);
    assert_eq!(f.staff.get("/api/v1/conversions?adv_sub=ORD-0").await.body["total"], 0);
    // A parameter a list does not take is refused, never ignored (`transaction=` listed every
    // job, as if filtered).
    for q in [
        format!("/api/v1/postback-jobs?transaction={first}"),
        "/api/v1/postback-jobs?sub=a".to_owned(),
        "/api/v1/postback-jobs?status=approved".to_owned(),
        "/api/v1/conversions?state=failed".to_owned(),
        "/api/v1/conversions?order=ORD-9".to_owned(),
        "/api/v1/clicks?status=approved".to_owned(),
        "/api/v1/clicks?adv_sub=ORD-9".to_owned(),
    ] {
        let res = f.staff.get(&q).await;
        assert_eq!((res.status, res.body["error"].as_str()), (400, Some("bad_request")), "{q}: {}", res.body);
    }

    let lsr =
        format!("/aff_lsr?transaction_id=order-77&offer_id={}&security_token={}", f.offer.id, f.offer.security_token);
    assert_eq!(f.http.get(f.app.url(&lsr)).send().await.unwrap().status().as_u16(), 400);
    let calls = f.adv.get("/api/v1/conversion-calls?transaction_id=order-77").await.body;
    assert_eq!((&calls["total"], &calls["data"][0]["reason"]), (&json!(1), &json!("invalid_transaction_id")));
    // A valid id is found in any case; a malformed one as sent, though the log keeps only its
    // first 100 bytes.
    assert_eq!(f.staff.get(&format!("/api/v1/conversion-calls?transaction_id={upper}")).await.body["total"], 1);
    let long = format!("order-{}", "7".repeat(150));
    let lsr =
        format!("/aff_lsr?transaction_id={long}&offer_id={}&security_token={}", f.offer.id, f.offer.security_token);
    assert_eq!(f.http.get(f.app.url(&lsr)).send().await.unwrap().status().as_u16(), 400);
    let calls = f.adv.get(&format!("/api/v1/conversion-calls?transaction_id={long}")).await.body;
    assert_eq!((&calls["total"], &calls["data"][0]["transaction_id"]), (&json!(1), &json!(long[..100])));
    let long = "x".repeat(501);
    let res = f.staff.get(&format!("/api/v1/conversion-calls?transaction_id={long}")).await;
    assert_eq!((res.status, field_keys(&res)), (422, vec!["transaction_id".to_owned()]));
    rx.handle.stop(false).await;
    f.app.stop().await;
}

/// Swapped dates are refused, naming `to`, on every list that takes a range, as the reports do
/// (they answered an empty list: a script concluded nothing had happened).
async fn swapped_dates_are_refused_not_listed_as_empty(backend: Backend) {
    let f = Fixture::new(backend, "acme").await;
    let tid = f.click(f.aff_id, "s").await;
    assert_eq!(f.convert(&tid).await, 200);
    for path in ["/api/v1/conversions", "/api/v1/clicks", "/api/v1/postback-jobs", "/api/v1/audit"] {
        let res = f.staff.get(&format!("{path}?from=2026-11-28&to=2026-11-26")).await;
        assert_eq!((res.status, field_keys(&res)), (422, vec!["to".to_owned()]), "{path}: {}", res.body);
        let res = f.staff.get(&format!("{path}?from=2026-11-28T10:00:00Z&to=2026-11-28T09:00:00Z")).await;
        assert_eq!(res.status, 422, "{path}: {}", res.body);
        let res = f.staff.get(&format!("{path}?from=2020-01-01&to=2020-01-01")).await;
        assert_eq!(res.status, 200, "{path}: one day is a range: {}", res.body);
    }
    let admin = f.app.browser();
    assert_eq!(admin.sign_in("acme", "admin@acme.test", crate::support::PASSWORD).await.status, 303);
    for path in ["/admin/conversions", "/admin/clicks", "/admin/audit", "/admin/postbacks/log"] {
        let page = admin.get(&format!("{path}?from=2026-11-28&to=2026-11-26")).await;
        assert_eq!(page.status, 422, "{path}");
        assert!(page.body.contains("the end date comes before the start date"), "{path}: {}", page.body);
    }
    f.app.stop().await;
}

crate::on_both_backends!(
    lists_find_one_transaction_by_its_id,
    swapped_dates_are_refused_not_listed_as_empty,
    the_conversion_calls_log_is_readable_through_the_api,
    a_postback_names_only_offers_its_affiliate_can_run,
    answers_have_the_documented_fields,
    postbacks_are_managed_by_their_affiliate_and_by_staff,
    bad_postback_inputs_are_refused_by_field,
    a_test_fire_reaches_the_receiver,
    a_test_fire_body_is_read_as_every_api_body,
    an_api_test_fire_samples_an_offer_the_affiliate_runs_at_its_payout,
    test_fires_follow_the_postbacks_goal_and_the_affiliates_access,
    conversions_show_each_role_its_own_columns,
    the_tracer_shows_refusals_and_failed_jobs_can_be_refired,
    another_networks_tracking_is_not_found,
    concurrent_status_changes_fire_the_first_approval_once_and_audit_each_change,
);
