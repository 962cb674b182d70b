//! The tracking pages over real HTTP, with sessions and CSRF, on both backends: affiliate
//! postbacks (create, preview, edit, disable, delete, refusals next to the field, test-fire
//! against a local receiver, other affiliates' ids not found), staff managing an affiliate's
//! postbacks, the transaction tracer, status changes (audited), the delivery log with re-fire,
//! the portals' conversion lists and the advertiser's CSV; other networks see nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use affnet_accounts::Role;
use affnet_db::schema::{conversion_status_changes, conversions, postback_jobs, postbacks};
use affnet_db::{AffiliateId, Backend, Clock};
use affnet_offers::{Offer, OfferInput};
use affnet_tracking::delivery::{Deliverer, DeliveryConfig};
use diesel::prelude::*;

use crate::support::{Browser, TestApp, PASSWORD};

const SEED: &str =
    "www.yourdomainname.com/track?&source={aff_sub}&clickid={aff_sub3}&amount={payout}&transaction_id={transaction_id}";
const SAMPLE_TID: &str = "0190a1b2c3d4e5f60718293a4b5c6d7e";

type Seen = Arc<Mutex<Vec<String>>>;

/// The `X-Affnet-Signature` of each request, in order.
type Signatures = Arc<Mutex<Vec<Option<String>>>>;

async fn receive(req: HttpRequest, seen: web::Data<Seen>, sigs: web::Data<Signatures>) -> HttpResponse {
    let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    seen.lock().unwrap().push(path);
    let sig = req.headers().get("x-affnet-signature").map(|v| v.to_str().unwrap().to_owned());
    sigs.lock().unwrap().push(sig);
    if req.path() == "/fail" {
        HttpResponse::InternalServerError().body("boom")
    } else {
        HttpResponse::Ok().body("OK got it")
    }
}

struct Receiver {
    base: String,
    seen: Seen,
    sigs: Signatures,
    handle: actix_web::dev::ServerHandle,
}

async fn receiver() -> Receiver {
    let seen: Seen = Arc::default();
    let sigs: Signatures = Arc::default();
    let data = web::Data::new(seen.clone());
    let sig_data = web::Data::new(sigs.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).app_data(sig_data.clone()).default_service(web::to(receive))
    })
    .workers(1)
    .shutdown_timeout(0)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Receiver { base, seen, sigs, handle }
}

/// A network with an advertiser user, an affiliate user, another affiliate user and an offer;
/// a second network with its own admin.
struct Fixture {
    app: TestApp,
    offer: Offer,
    aff: AffiliateId,
    other_aff: AffiliateId,
    http: reqwest::Client,
    rx: Receiver,
}

impl Fixture {
    /// The id of the conversion of transaction `tid`.
    fn conversion_of(&self, tid: &str) -> i64 {
        conversions::table
            .filter(conversions::click_id.eq(tid))
            .select(conversions::id)
            .first(&mut self.app.pool.get().unwrap())
            .unwrap()
    }

    async fn new(backend: Backend) -> Fixture {
        let app = TestApp::start(backend).await;
        let net = app.network("acme");
        app.network("other");
        let adv = app.user(&net.tenant, "adv@acme.test", Role::Advertiser).advertiser_id.unwrap();
        let aff = app.user(&net.tenant, "aff@acme.test", Role::Affiliate).affiliate_id.unwrap();
        let other_aff = app.user(&net.tenant, "aff2@acme.test", Role::Affiliate).affiliate_id.unwrap();
        let input = OfferInput::simple(adv, "Shop CPA", "https://shop.example/?t={transaction_id}", 250);
        let offer = Offer::create(&mut app.pool.get().unwrap(), net.tenant.id, &input, app.clock.now()).unwrap();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Fixture { app, offer, aff, other_aff, http, rx: receiver().await }
    }

    async fn browser(&self, slug: &str, email: &str) -> Browser {
        let b = self.app.browser();
        let res = b.sign_in(slug, email, PASSWORD).await;
        assert_eq!(res.status, 303, "sign-in of {email}: {}", res.body);
        b
    }

    /// (id, affiliate, url, enabled) of every postback, oldest first.
    fn postbacks(&self) -> Vec<(i64, AffiliateId, String, bool)> {
        postbacks::table
            .order(postbacks::id.asc())
            .select((postbacks::id, postbacks::affiliate_id, postbacks::url, postbacks::enabled))
            .load(&mut self.app.pool.get().unwrap())
            .unwrap()
    }

    fn jobs(&self) -> Vec<(i64, String)> {
        postback_jobs::table
            .order(postback_jobs::id.asc())
            .select((postback_jobs::id, postback_jobs::state))
            .load(&mut self.app.pool.get().unwrap())
            .unwrap()
    }

    /// A click with sub ids and its conversion; then the same conversion again (refused as a
    /// duplicate). Returns the transaction id.
    async fn convert(&self) -> String {
        let q = format!("/aff_c?offer_id={}&aff_id={}&aff_sub=fb&aff_sub3=c3", self.offer.id, self.aff);
        let res = self.http.get(self.app.url(&q)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 302);
        let tid = res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
        let lsr = format!("/aff_lsr?transaction_id={tid}&security_token={}&amount=10", self.offer.security_token);
        assert_eq!(self.http.get(self.app.url(&lsr)).send().await.unwrap().status().as_u16(), 200);
        assert_eq!(self.http.get(self.app.url(&lsr)).send().await.unwrap().status().as_u16(), 409);
        tid
    }

    /// A postback worker that may call the local receiver and gives up after one attempt.
    fn worker(&self) -> Deliverer {
        let config = DeliveryConfig {
            allow_private: true,
            max_attempts: 1,
            timeout: Duration::from_secs(2),
            ..Default::default()
        };
        Deliverer::new(self.app.pool.clone(), config, Arc::new(self.app.clock.clone())).unwrap()
    }

    async fn stop(self) {
        self.rx.handle.stop(false).await;
        self.app.stop().await;
    }
}

fn unescape(html: &str) -> String {
    html.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}

fn postback_form<'a>(url: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![("url", url), ("offer_id", ""), ("method", "GET"), ("on_approved", "on"), ("enabled", "on")];
    for (k, v) in extra {
        f.retain(|(name, _)| name != k);
        f.push((k, v));
    }
    f
}

async fn an_affiliate_manages_postbacks_through_the_page(backend: Backend) {
    let f = Fixture::new(backend).await;
    let b = f.browser("acme", "aff@acme.test").await;
    let page = b.get("/affiliate/postbacks").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("replaces the global one"), "the rule is explained");
    assert!(page.body.contains("{datetime}") && page.body.contains("YYYY-MM-DD HH:MM:SS"));
    assert!(page.body.contains("2.50"), "money format shown");
    // How deliveries are tried, from the worker's own settings (the defaults here).
    let words = unescape(&page.body);
    for said in [
        "We wait up to 10 seconds for your server's answer and follow up to 3 redirects",
        "tried again after 1 minute, then after twice as long each time, up to 1 day between tries, 10 attempts in all",
        "by default for approved conversions only",
        "count each conversion once",
    ] {
        assert!(words.contains(said), "{said:?} missing");
    }

    // The seed's line, as an affiliate pastes it.
    let res = b.submit("/affiliate/postbacks", "/affiliate/postbacks", &postback_form(SEED, &[])).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let saved = f.postbacks();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].1, f.aff);
    assert_eq!(saved[0].2, format!("http://{SEED}"));
    let id = saved[0].0.to_string();
    let list = unescape(&b.get("/affiliate/postbacks").await.body);
    assert!(
        list.contains(&format!(
            "GET http://www.yourdomainname.com/track?&source=sample_sub1&clickid=sample_sub3&amount=2.50&transaction_id={SAMPLE_TID}"
        )),
        "the preview expands the sample conversion:\n{list}"
    );

    // Edit.
    let edit_page = format!("/affiliate/postbacks/{id}");
    assert_eq!(b.get(&edit_page).await.status, 200);
    let edited = "https://t.example/pb?tid={transaction_id}&offer={offer_id}".to_owned();
    let oid = f.offer.id.to_string();
    let res = b.submit(&edit_page, &edit_page, &postback_form(&edited, &[("offer_id", &oid)])).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(f.postbacks()[0].2, edited);
    let list = unescape(&b.get("/affiliate/postbacks").await.body);
    assert!(list.contains(&format!("https://t.example/pb?tid={SAMPLE_TID}&offer={oid}")));
    assert!(list.contains("Standard: #"));
    // The preview pays what this affiliate earns: their payout override, not the offer's default.
    let input = affnet_offers::payout_override::OverrideInput {
        offer_id: f.offer.id,
        affiliate_id: f.aff,
        goal_id: None,
        payout: affnet_offers::Rate::flat(600),
    };
    affnet_offers::PayoutOverride::set(&mut f.app.pool.get().unwrap(), f.offer.tenant_id, &input, f.app.clock.now())
        .unwrap();
    let res = b.submit(&edit_page, &edit_page, &postback_form(SEED, &[("offer_id", &oid)])).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let list = unescape(&b.get("/affiliate/postbacks").await.body);
    assert!(list.contains("amount=6.00&"), "the override's payout in the preview:\n{list}");
    assert!(!list.contains("amount=2.50&"));

    // Disable, then delete.
    let res = b.submit("/affiliate/postbacks", &format!("{edit_page}/enabled"), &[("enabled", "false")]).await;
    assert_eq!(res.status, 303);
    assert!(!f.postbacks()[0].3);
    assert!(b.get("/affiliate/postbacks").await.body.contains("disabled"));
    let res = b.submit("/affiliate/postbacks", &format!("{edit_page}/delete"), &[]).await;
    assert_eq!(res.status, 303);
    assert!(f.postbacks().is_empty());

    // Refusals: 422, the message next to the URL field, nothing stored.
    let long = format!("https://t.example/?x={}", "a".repeat(4100));
    for (url, message) in [
        ("ftp://t.example/pb", "only http:// and https://"),
        ("https://t.example/pb?c={clickid}", "{clickid}"),
        (long.as_str(), "at most 4096"),
        ("https://t.example/pb?c={aff_sub", "unbalanced braces"),
    ] {
        let res = b.submit("/affiliate/postbacks", "/affiliate/postbacks", &postback_form(url, &[])).await;
        assert_eq!(res.status, 422, "{url}");
        let body = unescape(&res.body);
        let field = body.find("id=\"url\"").unwrap();
        let error = body[field..].find("field-error").expect("an error after the URL field") + field;
        assert!(body[error..].split("</p>").next().unwrap().contains(message), "{message} next to the field");
        assert!(f.postbacks().is_empty());
    }
    // An offer the affiliate cannot run (of another network) is refused too.
    let res =
        b.submit("/affiliate/postbacks", "/affiliate/postbacks", &postback_form(SEED, &[("offer_id", "999999")])).await;
    assert_eq!(res.status, 422);
    assert!(f.postbacks().is_empty());
    f.stop().await;
}

async fn test_fires_reach_the_receiver_and_other_affiliates_get_404(backend: Backend) {
    let f = Fixture::new(backend).await;
    let b = f.browser("acme", "aff@acme.test").await;
    let url = format!("{}/pb?t={{transaction_id}}&p={{payout}}&s={{aff_sub}}", f.rx.base);
    // The create form previews the typed postback before saving it (the preview came only
    // after saving, on another page), and saves nothing.
    let res = b.submit("/affiliate/postbacks", "/affiliate/postbacks", &postback_form(&url, &[("preview", "1")])).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let body = unescape(&res.body);
    assert!(body.contains("Preview, not saved yet"), "{body}");
    assert!(body.contains(&format!("GET {}/pb?t={SAMPLE_TID}&p=2.50&s=sample_sub1", f.rx.base)), "{body}");
    assert!(body.contains(&format!("value=\"{url}\"")), "the typed URL is kept");
    assert!(f.postbacks().is_empty(), "nothing saved");
    let res = b
        .submit(
            "/affiliate/postbacks",
            "/affiliate/postbacks",
            &postback_form("https://x.example/?c={clickid}", &[("preview", "1")]),
        )
        .await;
    assert_eq!(res.status, 422);
    assert!(crate::support::shows_field_error(&res.body, "unknown macro: {clickid}"), "{}", res.body);
    assert!(f.postbacks().is_empty());
    let res = b.submit("/affiliate/postbacks", "/affiliate/postbacks", &postback_form(&url, &[])).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let id = f.postbacks()[0].0;
    let res = b.submit("/affiliate/postbacks", &format!("/affiliate/postbacks/{id}/test"), &[]).await;
    assert_eq!(res.status, 200);
    let body = unescape(&res.body);
    assert!(body.contains("Status: <strong>200</strong>"), "{body}");
    assert!(body.contains("OK got it"), "the response excerpt is shown");
    assert!(body.contains(&format!("/pb?t={SAMPLE_TID}&p=2.50&s=sample_sub1")));
    assert_eq!(f.rx.seen.lock().unwrap().clone(), [format!("/pb?t={SAMPLE_TID}&p=2.50&s=sample_sub1")]);
    // The postback's own page test-fires it too, and answers there.
    let edit = format!("/affiliate/postbacks/{id}");
    let res = b.submit(&edit, &format!("/affiliate/postbacks/{id}/test"), &[("back", "edit")]).await;
    assert_eq!(res.status, 200);
    let body = unescape(&res.body);
    assert!(body.contains(&format!("Edit postback #{id}")) && body.contains("Status: <strong>200</strong>"), "{body}");
    assert_eq!(f.rx.seen.lock().unwrap().len(), 2);
    // The edit form previews the edited postback before saving it (the page previewed the saved
    // URL only), and saves nothing; a refused edit is refused as saving would.
    let edited = format!("{}/pb2?t={{transaction_id}}", f.rx.base);
    let res = b.submit(&edit, &edit, &postback_form(&edited, &[("preview", "1")])).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let body = unescape(&res.body);
    assert!(body.contains("Preview, not saved yet"), "{body}");
    assert!(body.contains(&format!("GET {}/pb2?t={SAMPLE_TID}", f.rx.base)), "{body}");
    assert!(body.contains(&format!("value=\"{edited}\"")), "the typed URL is kept");
    assert_eq!(f.postbacks(), [(id, f.aff, url.clone(), true)], "nothing saved");
    let res = b.submit(&edit, &edit, &postback_form("https://x.example/?c={clickid}", &[("preview", "1")])).await;
    assert_eq!(res.status, 422);
    assert!(crate::support::shows_field_error(&res.body, "unknown macro: {clickid}"), "{}", res.body);
    assert_eq!(f.postbacks(), [(id, f.aff, url.clone(), true)]);
    // The delivery log shows the test-fire (it said "logged as a test" and no page showed it).
    let log = unescape(&b.get("/affiliate/postbacks/log").await.body);
    assert!(log.contains("Latest test-fires"), "{log}");
    assert_eq!(log.matches("<tr class=\"test-fire\">").count(), 2, "both test-fires");
    assert!(log.contains(&format!("/pb?t={SAMPLE_TID}&p=2.50&s=sample_sub1")));

    // Another affiliate: not found for every action, and nothing changed.
    let other = f.browser("acme", "aff2@acme.test").await;
    assert_eq!(other.get(&format!("/affiliate/postbacks/{id}")).await.status, 404);
    let res = other
        .submit(
            "/affiliate/postbacks",
            &format!("/affiliate/postbacks/{id}"),
            &postback_form("https://evil.example/", &[]),
        )
        .await;
    assert_eq!(res.status, 404);
    let res = other
        .submit("/affiliate/postbacks", &format!("/affiliate/postbacks/{id}/enabled"), &[("enabled", "false")])
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(other.submit("/affiliate/postbacks", &format!("/affiliate/postbacks/{id}/test"), &[]).await.status, 404);
    assert_eq!(
        other.submit("/affiliate/postbacks", &format!("/affiliate/postbacks/{id}/delete"), &[]).await.status,
        404
    );
    assert_eq!(f.postbacks(), [(id, f.aff, url.clone(), true)]);
    assert_eq!(f.rx.seen.lock().unwrap().len(), 2, "the two test-fires of its owner only");
    assert!(!other.get("/affiliate/postbacks").await.body.contains(&f.rx.base));
    assert!(!other.get("/affiliate/postbacks/log").await.body.contains(&f.rx.base), "nor its test-fires");
    // Without the CSRF token: refused.
    assert_eq!(b.post(&format!("/affiliate/postbacks/{id}/delete"), &[]).await.status, 403);

    // Staff manage the affiliate's postbacks.
    let admin = f.browser("acme", "admin@acme.test").await;
    let base = format!("/admin/affiliates/{}/postbacks", f.aff);
    let page = admin.get(&base).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&f.rx.base));
    let res = admin.submit(&base, &base, &postback_form("https://mgr.example/pb?t={transaction_id}", &[])).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let created = f.postbacks();
    assert_eq!(created.len(), 2);
    assert_eq!(created[1].1, f.aff, "created for the affiliate of the page");
    let second = created[1].0;
    let res = admin.submit(&base, &format!("{base}/{second}/enabled"), &[("enabled", "false")]).await;
    assert_eq!(res.status, 303);
    assert!(!f.postbacks()[1].3);
    // Under another affiliate's page, the id is not found.
    let wrong = format!("/admin/affiliates/{}/postbacks/{second}/delete", f.other_aff);
    assert_eq!(admin.submit(&base, &wrong, &[]).await.status, 404);
    let res = admin.submit(&base, &format!("{base}/{second}/delete"), &[]).await;
    assert_eq!(res.status, 303);
    assert_eq!(f.postbacks().len(), 1);
    // The affiliate cannot open staff pages; another network's admin finds nothing.
    assert_eq!(b.get(&base).await.status, 403);
    let stranger = f.browser("other", "admin@other.test").await;
    assert_eq!(stranger.get(&base).await.status, 404);
    assert_eq!(stranger.get(&format!("{base}/{id}")).await.status, 404);
    f.stop().await;
}

async fn tracer_status_changes_delivery_log_and_exports(backend: Backend) {
    let f = Fixture::new(backend).await;
    let aff = f.browser("acme", "aff@acme.test").await;
    let url = format!("{}/fail?t={{transaction_id}}", f.rx.base);
    let res = aff.submit("/affiliate/postbacks", "/affiliate/postbacks", &postback_form(&url, &[])).await;
    assert_eq!(res.status, 303);
    let tid = f.convert().await;

    // The tracer: the click, the accepted and the refused calls, the conversion, the job.
    let admin = f.browser("acme", "admin@acme.test").await;
    let trace = admin.get(&format!("/admin/tracer?transaction_id={tid}")).await;
    assert_eq!(trace.status, 200);
    assert!(trace.body.contains(&tid));
    assert!(trace.body.contains("Shop CPA"));
    assert!(trace.body.contains("duplicate_conversion"), "the refused call and its reason");
    assert!(trace.body.contains("accepted"));
    assert!(trace.body.contains("security_token=***"), "the raw query is shown with the token masked");
    assert!(!trace.body.contains(&f.offer.security_token));
    assert!(trace.body.contains("Job #"), "{}", trace.body);
    let unknown = admin.get("/admin/tracer?transaction_id=0190a1b2c3d4e5f60718293a4b5c6d7f").await;
    assert!(unknown.body.contains("no click with this transaction id in this network"));
    let stranger = f.browser("other", "admin@other.test").await;
    let foreign = stranger.get(&format!("/admin/tracer?transaction_id={tid}")).await;
    assert_eq!(foreign.status, 200);
    assert!(foreign.body.contains("no click with this transaction id in this network"));
    assert!(!foreign.body.contains("duplicate_conversion"));

    // Lists.
    let list = admin.get(&format!("/admin/conversions?offer={}&sub=fb", f.offer.id)).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains(&tid));
    // Affiliates are named where staff scan, as offers are (it said "#1").
    assert!(list.body.contains(&format!("#{} aff@acme.test</a>", f.aff)), "{}", list.body);
    assert!(admin.get("/admin/clicks").await.body.contains(&format!("#{} aff@acme.test</a>", f.aff)));
    // The tracer answers to the lists' name for the id too (it showed its empty form).
    let by_list_name = admin.get(&format!("/admin/tracer?transaction={}", tid.to_uppercase())).await;
    assert!(by_list_name.body.contains("Shop CPA") && by_list_name.body.contains("Job #"), "{}", by_list_name.body);
    assert!(!admin.get("/admin/conversions?sub=nothing").await.body.contains(&tid));
    assert_eq!(admin.get("/admin/conversions?from=yesterday").await.status, 422);
    let clicks = admin.get(&format!("/admin/clicks?affiliate={}", f.aff)).await;
    assert!(clicks.body.contains(&tid));
    assert!(!admin.get(&format!("/admin/clicks?affiliate={}", f.other_aff)).await.body.contains(&tid));
    assert!(!stranger.get("/admin/conversions").await.body.contains(&tid));
    assert!(!stranger.get("/admin/clicks").await.body.contains(&tid));
    let mine = aff.get("/affiliate/conversions?status=approved").await;
    assert!(mine.body.contains(&tid) && mine.body.contains("2.50 USD"));
    assert!(mine.body.contains("<th>aff_sub3</th>") && mine.body.contains("<td>c3</td>"), "every sub id is shown");
    let other = f.browser("acme", "aff2@acme.test").await;
    assert!(!other.get("/affiliate/conversions").await.body.contains(&tid));

    // The advertiser's list and CSV: their conversion, what they pay, never the payout.
    let adv = f.browser("acme", "adv@acme.test").await;
    let page = adv.get("/advertiser/conversions").await;
    assert!(page.body.contains(&tid));
    assert!(!page.body.to_lowercase().contains("payout"));
    let csv = adv.get("/advertiser/conversions.csv?status=approved").await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert!(csv.body.starts_with("conversion_id,created_at_utc,offer_id,offer_name,"));
    assert!(csv.body.contains(&tid));
    assert!(!csv.body.to_lowercase().contains("payout"));
    assert!(!adv.get("/advertiser/conversions.csv?status=rejected").await.body.contains(&tid));

    // A status change through the page: rejected, audited.
    let conv: i64 = conversions::table.select(conversions::id).first(&mut f.app.pool.get().unwrap()).unwrap();
    let res = admin
        .submit(
            "/admin/conversions",
            &format!("/admin/conversions/{conv}/status"),
            &[("status", "rejected"), ("note", "fraud check")],
        )
        .await;
    assert_eq!(res.status, 303);
    let status: String = conversions::table.select(conversions::status).first(&mut f.app.pool.get().unwrap()).unwrap();
    assert_eq!(status, "rejected");
    let audit: Vec<(String, String, String)> = conversion_status_changes::table
        .select((
            conversion_status_changes::from_status,
            conversion_status_changes::to_status,
            conversion_status_changes::note,
        ))
        .load(&mut f.app.pool.get().unwrap())
        .unwrap();
    assert_eq!(audit, [("approved".to_owned(), "rejected".to_owned(), "fraud check".to_owned())]);
    assert!(adv.get("/advertiser/conversions.csv?status=rejected").await.body.contains(&tid));
    // A rejected conversion's money is shown struck through as not counted, as the reports count
    // it (it read "You pay 4.00 USD" next to a report saying 0.00).
    for (b, path) in
        [(&adv, "/advertiser/conversions"), (&admin, "/admin/conversions"), (&aff, "/affiliate/conversions")]
    {
        let page = b.get(path).await;
        assert!(page.body.contains("not counted</span>"), "{path}: {}", page.body);
    }
    let trace = admin.get(&format!("/admin/tracer?transaction_id={tid}")).await;
    assert!(trace.body.contains("Status changes") && trace.body.contains("fraud check"), "the audit trail");
    // Another network's admin cannot change it; affiliates may not at all.
    let res = stranger
        .submit("/admin/conversions", &format!("/admin/conversions/{conv}/status"), &[("status", "approved")])
        .await;
    assert_eq!(res.status, 404);
    let res = aff
        .submit("/affiliate/conversions", &format!("/admin/conversions/{conv}/status"), &[("status", "approved")])
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(audit.len(), 1);
    // Changed on the list, the page goes back to the list with its filters (it went to the
    // tracer); a `back` that is not the list is not followed.
    let path = format!("/admin/conversions/{conv}/status");
    for (back, expected) in [
        ("/admin/conversions?status=rejected".to_owned(), "/admin/conversions?status=rejected".to_owned()),
        ("https://evil.example/".to_owned(), format!("/admin/tracer?transaction_id={tid}")),
        ("/admin/users".to_owned(), format!("/admin/tracer?transaction_id={tid}")),
    ] {
        let res = admin.submit("/admin/conversions", &path, &[("status", "rejected"), ("back", &back)]).await;
        assert_eq!(res.location.as_deref(), Some(expected.as_str()), "{back}");
    }
    assert!(admin.get("/admin/conversions").await.body.contains(r#"name="back" value="/admin/conversions?""#));

    // Delivery: the receiver fails, the job is failed; the log shows it; re-fire requeues.
    let worker = f.worker();
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let jobs = f.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].1, "failed");
    let job = jobs[0].0;
    let log = admin.get("/admin/postbacks/log?status=failed").await;
    assert_eq!(log.status, 200);
    assert!(log.body.contains(&format!("Job #{job}")));
    assert!(log.body.contains("HTTP 500") && log.body.contains("boom"));
    assert!(!admin.get("/admin/postbacks/log?status=delivered").await.body.contains(&format!("Job #{job}")));
    let own_log = aff.get("/affiliate/postbacks/log").await;
    assert!(own_log.body.contains(&format!("Job #{job}")));
    assert!(!other.get("/affiliate/postbacks/log").await.body.contains(&format!("Job #{job}")));
    assert!(!stranger.get("/admin/postbacks/log").await.body.contains(&format!("Job #{job}")));
    // Refire: not by another affiliate or network, yes by the owner.
    let path = format!("/affiliate/postbacks/log/{job}/refire");
    assert_eq!(other.submit("/affiliate/postbacks/log", &path, &[]).await.status, 404);
    let foreign = format!("/admin/postbacks/log/{job}/refire");
    assert_eq!(stranger.submit("/admin/postbacks/log", &foreign, &[]).await.status, 404);
    assert_eq!(f.jobs()[0].1, "failed");
    assert_eq!(aff.submit("/affiliate/postbacks/log", &path, &[]).await.status, 303);
    assert_eq!(f.jobs()[0].1, "queued");
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(f.jobs()[0].1, "failed");
    // The log and the tracer count the job's attempts alike (the tracer said 1, the round's).
    let counted = "2 attempt(s) (1 since it was last re-fired)";
    assert!(admin.get("/admin/postbacks/log").await.body.contains(counted));
    assert!(admin.get(&format!("/admin/tracer?transaction_id={tid}")).await.body.contains(counted));
    assert_eq!(admin.submit("/admin/postbacks/log", &foreign, &[]).await.status, 303);
    assert_eq!(f.jobs()[0].1, "queued");
    assert_eq!(f.rx.seen.lock().unwrap().len(), 2);
    f.stop().await;
}

async fn an_affiliate_turns_signing_on_and_off_and_deliveries_are_signed(backend: Backend) {
    let f = Fixture::new(backend).await;
    let b = f.browser("acme", "aff@acme.test").await;
    let page = b.get("/affiliate/postbacks").await;
    assert!(page.body.contains("Postbacks are not signed."));
    let res = b.submit("/affiliate/postbacks", "/affiliate/postbacks/secret", &[("action", "generate")]).await;
    assert_eq!(res.status, 303);
    let secret: String = affnet_db::schema::affiliates::table
        .filter(affnet_db::schema::affiliates::id.eq(f.aff))
        .select(affnet_db::schema::affiliates::postback_secret)
        .first(&mut f.app.pool.get().unwrap())
        .unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() == 6 + 48, "{secret}");
    let page = b.get("/affiliate/postbacks").await;
    assert!(page.body.contains(&secret));
    // The other affiliate neither sees nor changes it.
    let other = f.browser("acme", "aff2@acme.test").await;
    assert!(!other.get("/affiliate/postbacks").await.body.contains(&secret));
    let bad = b.submit("/affiliate/postbacks", "/affiliate/postbacks/secret", &[("action", "steal")]).await;
    assert_eq!(bad.status, 400);
    // A delivery carries the signature of the URL it calls.
    let url = format!("{}/pb?t={{transaction_id}}", f.rx.base);
    let res = b
        .submit(
            "/affiliate/postbacks",
            "/affiliate/postbacks",
            &[("url", url.as_str()), ("on_approved", "on"), ("enabled", "on")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let tid = f.convert().await;
    let worker = f.worker();
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let sent = format!("{}/pb?t={tid}", f.rx.base);
    let unix = affnet_db::Clock::now(&f.app.clock).unix_seconds();
    let expected = affnet_tracking::delivery::signature(&secret, unix, &sent, "");
    assert_eq!(*f.rx.seen.lock().unwrap(), [format!("/pb?t={tid}")]);
    assert_eq!(*f.rx.sigs.lock().unwrap(), [Some(expected)]);
    // Removed: no more signatures.
    let res = b.submit("/affiliate/postbacks", "/affiliate/postbacks/secret", &[("action", "remove")]).await;
    assert_eq!(res.status, 303);
    assert!(b.get("/affiliate/postbacks").await.body.contains("Postbacks are not signed."));
    f.stop().await;
}

/// Refused conversion calls are found without knowing their transaction id: staff list the
/// network's calls with their reasons (filtered by outcome), an advertiser the calls that named
/// their own offers; a call for an unknown transaction that named an offer shows in the tracer
/// too. Before, a refused call was visible only in the tracer, and only with a click.
async fn refused_conversion_calls_are_listed_with_their_reasons(backend: Backend) {
    let f = Fixture::new(backend).await;
    let tid = f.convert().await;
    // A second advertiser's offer in the same network, and a call for it.
    let tenant = f.offer.tenant_id;
    let other_adv = {
        let input = affnet_offers::AdvertiserInput { name: "Other Ads".into(), ..Default::default() };
        affnet_offers::Advertiser::create(&mut f.app.pool.get().unwrap(), tenant, &input, f.app.clock.now()).unwrap().id
    };
    let input = OfferInput::simple(other_adv, "Other CPA", "https://other.example/?t={transaction_id}", 100);
    let other_offer = Offer::create(&mut f.app.pool.get().unwrap(), tenant, &input, f.app.clock.now()).unwrap();
    let unknown = "0190a1b2c3d4e5f60718293a4b5c6d7f";
    for q in [
        format!("/aff_lsr?transaction_id={unknown}&offer_id={}&security_token={}", f.offer.id, f.offer.security_token),
        format!("/aff_lsr?transaction_id={tid}&security_token=wrong"),
        format!(
            "/aff_lsr?transaction_id={unknown}&offer_id={}&security_token={}",
            other_offer.id, other_offer.security_token
        ),
        // Naming an offer without its token places nothing in the network's log (anyone could
        // fill it otherwise).
        format!("/aff_lsr?transaction_id={unknown}&offer_id={}&security_token=x", other_offer.id),
        // A malformed call naming the offer with its token is the network's too: the
        // advertiser's macro left empty or unfilled is the commonest mistake.
        format!("/aff_lsr?transaction_id=&offer_id={}&security_token={}", f.offer.id, f.offer.security_token),
        format!(
            "/aff_lsr?transaction_id=%7Btransaction_id%7D&offer_id={}&security_token={}",
            f.offer.id, f.offer.security_token
        ),
        format!("/aff_lsr?transaction_id=&offer_id={}&security_token=x", f.offer.id),
    ] {
        let status = f.http.get(f.app.url(&q)).send().await.unwrap().status().as_u16();
        assert!(status >= 400, "{q}: {status}");
    }

    let admin = f.browser("acme", "admin@acme.test").await;
    let all = admin.get("/admin/conversion-calls").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body.matches("<tr class=\"call\">").count(), 7, "{}", all.body);
    for reason in [
        "duplicate_conversion",
        "unknown_transaction",
        "invalid_security_token",
        "missing_transaction_id",
        "invalid_transaction_id",
    ] {
        assert!(all.body.contains(reason), "{reason}");
    }
    assert!(!all.body.contains(&f.offer.security_token), "the token is masked");
    let refused = admin.get("/admin/conversion-calls?status=unknown_transaction").await;
    assert_eq!(refused.body.matches("<tr class=\"call\">").count(), 2);
    assert!(refused.body.contains(unknown));
    let accepted = admin.get("/admin/conversion-calls?status=accepted").await;
    assert_eq!(accepted.body.matches("<tr class=\"call\">").count(), 1);
    let by_offer = admin.get(&format!("/admin/conversion-calls?offer={}", other_offer.id)).await;
    assert_eq!(by_offer.body.matches("<tr class=\"call\">").count(), 1);
    assert_eq!(admin.get("/admin/conversion-calls?status=nonsense").await.status, 422);
    // The tracer shows the calls of a transaction id we have no click for.
    let trace = admin.get(&format!("/admin/tracer?transaction_id={unknown}")).await;
    assert!(trace.body.contains("no click with this transaction id in this network"));
    assert!(trace.body.contains("unknown_transaction"), "{}", trace.body);

    // The advertiser sees the calls naming their offer only.
    let adv = f.browser("acme", "adv@acme.test").await;
    let theirs = adv.get("/advertiser/conversion-calls").await;
    assert_eq!(theirs.status, 200);
    assert_eq!(theirs.body.matches("<tr class=\"call\">").count(), 6, "{}", theirs.body);
    let malformed = adv.get("/advertiser/conversion-calls?status=invalid_transaction_id").await;
    assert_eq!(malformed.body.matches("<tr class=\"call\">").count(), 1, "{}", malformed.body);
    assert!(malformed.body.contains("{transaction_id}"), "{}", malformed.body);
    assert!(!theirs.body.contains("Other CPA"));
    assert_eq!(adv.get("/admin/conversion-calls").await.status, 403);
    let aff = f.browser("acme", "aff@acme.test").await;
    assert_eq!(aff.get("/advertiser/conversion-calls").await.status, 403);
    // Another network sees none of them.
    let stranger = f.browser("other", "admin@other.test").await;
    let foreign = stranger.get("/admin/conversion-calls").await;
    assert_eq!(foreign.status, 200);
    assert_eq!(foreign.body.matches("<tr class=\"call\">").count(), 0);
    f.stop().await;
}

/// Every list finds one transaction by its id (any case): an affiliate's delivery log and
/// conversions, the staff's delivery log, clicks and conversions, an advertiser's conversion
/// calls (the id as the call sent it, a malformed one too); a conversion's postbacks by its id.
/// The delivery log names each job's transaction, linked to its conversions (affiliate) or its
/// trace (staff), and the affiliate's conversions link to their postbacks.
async fn one_transaction_is_found_by_its_id_in_every_list(backend: Backend) {
    let f = Fixture::new(backend).await;
    let aff = f.browser("acme", "aff@acme.test").await;
    let url = format!("{}/ok?t={{transaction_id}}", f.rx.base);
    let res = aff.submit("/affiliate/postbacks", "/affiliate/postbacks", &postback_form(&url, &[])).await;
    assert_eq!(res.status, 303);
    let (first, second) = (f.convert().await, f.convert().await);
    let (c1, c2) = (f.conversion_of(&first), f.conversion_of(&second));
    let jobs = |html: &str| html.matches("class=\"card job\"").count();

    let log = aff.get(&format!("/affiliate/postbacks/log?transaction={}", first.to_uppercase())).await;
    assert_eq!(log.status, 200);
    assert_eq!(jobs(&log.body), 1, "{}", log.body);
    assert!(log.body.contains(&format!("Conversion #{c1} of transaction")), "{}", log.body);
    assert!(log.body.contains(&format!("href=\"/affiliate/conversions?transaction={first}\"")));
    assert!(!log.body.contains(&second));
    let by_conversion = aff.get(&format!("/affiliate/postbacks/log?conversion={c2}")).await;
    assert_eq!(jobs(&by_conversion.body), 1);
    assert!(by_conversion.body.contains(&second) && !by_conversion.body.contains(&first));
    for (q, message) in [
        ("transaction=abc", "enter a transaction id: 32 hexadecimal characters"),
        ("conversion=x", "enter a conversion id (a number)"),
    ] {
        let bad = aff.get(&format!("/affiliate/postbacks/log?{q}")).await;
        assert_eq!(bad.status, 422, "{q}");
        assert!(bad.body.contains(message), "{q}: {}", bad.body);
        assert_eq!(jobs(&bad.body), 0);
    }
    let listed = aff.get(&format!("/affiliate/conversions?transaction={second}")).await;
    assert_eq!(listed.status, 200);
    assert!(listed.body.contains(&second) && !listed.body.contains(&first));
    assert!(listed.body.contains(&format!("href=\"/affiliate/postbacks/log?conversion={c2}\"")));
    assert_eq!(aff.get("/affiliate/conversions?transaction=zz").await.status, 422);
    // Another affiliate of the network finds nothing of it.
    let other = f.browser("acme", "aff2@acme.test").await;
    let theirs = other.get(&format!("/affiliate/postbacks/log?transaction={first}")).await;
    assert_eq!((theirs.status, jobs(&theirs.body)), (200, 0));
    assert_eq!(jobs(&other.get(&format!("/affiliate/postbacks/log?conversion={c1}")).await.body), 0);

    let admin = f.browser("acme", "admin@acme.test").await;
    let staff_log = admin.get(&format!("/admin/postbacks/log?transaction={second}")).await;
    assert_eq!(jobs(&staff_log.body), 1);
    assert!(staff_log.body.contains(&format!("href=\"/admin/tracer?transaction_id={second}\"")));
    let clicks = admin.get(&format!("/admin/clicks?transaction={first}")).await;
    assert_eq!(clicks.status, 200);
    assert!(clicks.body.contains(&first) && !clicks.body.contains(&second));
    assert_eq!(admin.get("/admin/clicks?transaction=123").await.status, 422);
    let staff_conversions = admin.get(&format!("/admin/conversions?transaction={second}")).await;
    assert!(staff_conversions.body.contains(&second) && !staff_conversions.body.contains(&first));

    // The advertiser finds its calls by the id they sent, malformed or not.
    let lsr =
        format!("/aff_lsr?transaction_id=order-77&offer_id={}&security_token={}", f.offer.id, f.offer.security_token);
    assert_eq!(f.http.get(f.app.url(&lsr)).send().await.unwrap().status().as_u16(), 400);
    let adv = f.browser("acme", "adv@acme.test").await;
    let calls = |html: &str| html.matches("<tr class=\"call\">").count();
    let malformed = adv.get("/advertiser/conversion-calls?transaction=order-77").await;
    assert_eq!((malformed.status, calls(&malformed.body)), (200, 1), "{}", malformed.body);
    assert!(malformed.body.contains("invalid_transaction_id"));
    let of_first = adv.get(&format!("/advertiser/conversion-calls?transaction={}", first.to_uppercase())).await;
    assert_eq!(calls(&of_first.body), 2, "accepted, then refused as a duplicate");
    f.stop().await;
}

/// A click on the fixture's offer by its affiliate; its transaction id.
async fn click_of(f: &Fixture) -> String {
    let q = format!("/aff_c?offer_id={}&aff_id={}", f.offer.id, f.aff);
    let res = f.http.get(f.app.url(&q)).send().await.unwrap();
    res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned()
}

/// The advertiser's call for `tid` with `extra` parameters; its status.
async fn convert_with(f: &Fixture, tid: String, extra: &str) -> u16 {
    let lsr = format!("/aff_lsr?transaction_id={tid}&security_token={}{extra}", f.offer.security_token);
    f.http.get(f.app.url(&lsr)).send().await.unwrap().status().as_u16()
}

/// "My postback never came": the pages say why, where people look. The affiliate's delivery log
/// (filtered to the transaction or conversion) and the staff's tracer name the reason a
/// conversion fired none (no postback saved; a pending conversion and postbacks that fire for
/// approved ones); the affiliate's conversions say whether a click without conversion was
/// recorded; the dashboard tells of failing postbacks; a re-fire goes back to the log as it was
/// filtered, at the job; the calls log names the conversion that holds a duplicate order id.
async fn a_missing_postback_is_explained_where_people_look(backend: Backend) {
    let f = Fixture::new(backend).await;
    let aff = f.browser("acme", "aff@acme.test").await;
    let admin = f.browser("acme", "admin@acme.test").await;
    let click = || click_of(&f);
    let convert = |tid: String, extra: &'static str| convert_with(&f, tid, extra);

    // No postback saved.
    let first = click().await;
    assert_eq!(convert(first.clone(), "&adv_sub=ORD-1").await, 200);
    let c1 = f.conversion_of(&first);
    let log = aff.get(&format!("/affiliate/postbacks/log?transaction={first}")).await;
    assert!(
        log.body
            .contains(&format!("Conversion #{c1} (approved): no postback fired, because you have no postback saved.")),
        "{}",
        log.body
    );
    let trace = admin.get(&format!("/admin/tracer?transaction_id={first}")).await;
    assert!(trace.body.contains("because the affiliate has no postback saved"), "{}", trace.body);

    // A pending conversion, and a postback that fires for approved ones.
    let url = format!("{}/fail?t={{transaction_id}}", f.rx.base);
    assert_eq!(aff.submit("/affiliate/postbacks", "/affiliate/postbacks", &postback_form(&url, &[])).await.status, 303);
    let pb: i64 = postbacks::table.select(postbacks::id).first(&mut f.app.pool.get().unwrap()).unwrap();
    let pending = click().await;
    assert_eq!(convert(pending.clone(), "&status=pending").await, 200);
    let c2 = f.conversion_of(&pending);
    let mismatched = aff.get(&format!("/affiliate/postbacks/log?transaction={first}&conversion={c2}")).await;
    assert!(mismatched.body.contains("No postback jobs match."), "{}", mismatched.body);
    let log = aff.get(&format!("/affiliate/postbacks/log?conversion={c2}")).await;
    let said = format!("Conversion #{c2} (pending): no postback fired, because your postback #{pb} does not fire for pending conversions");
    assert!(log.body.contains(&said), "{}", log.body);
    assert!(admin
        .get(&format!("/admin/tracer?transaction_id={pending}"))
        .await
        .body
        .contains("does not fire for pending conversions"));

    // A click without conversion: recorded, said so; another's id is not the affiliate's.
    let bare = click().await;
    let listed = aff.get(&format!("/affiliate/conversions?transaction={bare}")).await;
    assert!(listed.body.contains(&format!("The click {bare} was recorded at")), "{}", listed.body);
    let other = f.browser("acme", "aff2@acme.test").await;
    let theirs = other.get(&format!("/affiliate/conversions?transaction={bare}")).await;
    assert!(theirs.body.contains(&format!("No click of yours has the transaction id {bare}.")), "{}", theirs.body);
    let log = aff.get(&format!("/affiliate/postbacks/log?transaction={bare}")).await;
    assert!(log.body.contains("No conversion is recorded for this transaction, so no postback is due"), "{}", log.body);

    // A failing postback: the dashboard says so; a re-fire goes back to the filtered log.
    let failing = click().await;
    assert_eq!(convert(failing.clone(), "&adv_sub=ORD-4").await, 200);
    let worker = f.worker();
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let home = aff.get("/affiliate").await.body;
    assert!(home.contains("<strong>1</strong> postback failed</a>"), "{home}");
    assert!(!other.get("/affiliate").await.body.contains("Postbacks failing"));
    let job = f.jobs()[0].0;
    let filtered = format!("/affiliate/postbacks/log?transaction={failing}");
    assert!(aff.get(&filtered).await.body.contains(&format!(r#"name="back" value="{filtered}""#)));
    let path = format!("/affiliate/postbacks/log/{job}/refire");
    for (back, to) in [
        (filtered.clone(), format!("{filtered}#job-{job}")),
        ("//evil.example/x".to_owned(), format!("/affiliate/postbacks/log#job-{job}")),
        ("/admin/users".to_owned(), format!("/affiliate/postbacks/log#job-{job}")),
    ] {
        let res = aff.submit(&filtered, &path, &[("back", &back)]).await;
        assert_eq!((res.status, res.location.as_deref()), (303, Some(to.as_str())), "{back}");
    }

    // A duplicate order id: the calls log names the conversion that holds it; the caller's
    // answer does not.
    let again = click().await;
    let lsr = format!("/aff_lsr?transaction_id={again}&security_token={}&adv_sub=ORD-1", f.offer.security_token);
    let answer = f.http.get(f.app.url(&lsr)).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 409);
    assert!(!answer.text().await.unwrap().contains(&first));
    let calls = admin.get("/admin/conversion-calls?status=duplicate_adv_sub").await;
    assert!(calls.body.contains(&format!("(conversion #{c1}, transaction {first})")), "{}", calls.body);
    // The advertiser finds its order id.
    let adv = f.browser("acme", "adv@acme.test").await;
    let found = adv.get("/advertiser/conversions?adv_sub=ORD-1").await;
    assert!(found.body.contains(&first) && !found.body.contains(&failing), "{}", found.body);
    assert!(admin.get("/admin/conversions?adv_sub=ORD-4").await.body.contains(&failing));
    f.stop().await;
}

crate::on_both_backends!(
    an_affiliate_turns_signing_on_and_off_and_deliveries_are_signed,
    an_affiliate_manages_postbacks_through_the_page,
    test_fires_reach_the_receiver_and_other_affiliates_get_404,
    tracer_status_changes_delivery_log_and_exports,
    refused_conversion_calls_are_listed_with_their_reasons,
    one_transaction_is_found_by_its_id_in_every_list,
    a_missing_postback_is_explained_where_people_look,
);
