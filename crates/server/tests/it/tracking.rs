//! The public tracking contract (DESIGN.md): clicks on `/aff_c`, conversions on `/aff_lsr` and
//! `/aff_goal`, over real HTTP, on both backends; every refusal stored with its reason and
//! nothing else changed.

use affnet_db::schema::{
    click_rejections, clicks, conversion_attempts, conversions, postback_jobs, postbacks, stats_daily, stats_hourly,
};
use affnet_db::{AffiliateId, Backend, Clock, Micros, OfferId};
use affnet_offers::{Affiliate, AffiliateInput, Offer, OfferInput};
use diesel::prelude::*;

use crate::support::TestApp;

/// A network with an advertiser, an active affiliate and an active public offer.
struct Fixture {
    app: TestApp,
    tenant: affnet_db::TenantId,
    offer: Offer,
    aff: AffiliateId,
    http: reqwest::Client,
}

const LANDING: &str =
    "https://shop.example/land?tid={transaction_id}&s={aff_sub}&s2={aff_sub2}&a={aff_id}&o={offer_id}";

impl Fixture {
    async fn new(backend: Backend) -> Fixture {
        Fixture::with_offer(backend, |_| {}).await
    }

    async fn with_offer(backend: Backend, edit: impl FnOnce(&mut OfferInput)) -> Fixture {
        let app = TestApp::start(backend).await;
        let net = app.network("acme");
        let adv = app.advertiser(&net.tenant, "Shop");
        let aff = app.affiliate(&net.tenant, "Media One").id;
        let mut input = OfferInput::simple(adv.id, "Shop CPA", LANDING, 250);
        edit(&mut input);
        let offer = Offer::create(&mut app.pool.get().unwrap(), net.tenant.id, &input, app.clock.now()).unwrap();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Fixture { tenant: net.tenant.id, app, offer, aff, http }
    }

    async fn get(&self, path_and_query: &str) -> (u16, String, Option<String>) {
        let res = self.http.get(self.app.url(path_and_query)).send().await.unwrap();
        let status = res.status().as_u16();
        let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        (status, res.text().await.unwrap(), location)
    }

    /// Clicks the tracking link; returns the transaction id from the redirect.
    async fn click(&self) -> String {
        let (status, body, location) =
            self.get(&format!("/aff_c?offer_id={}&aff_id={}&aff_sub=a", self.offer.id, self.aff)).await;
        assert_eq!(status, 302, "{body}");
        let location = location.unwrap();
        location.split("tid=").nth(1).unwrap().split('&').next().unwrap().to_owned()
    }

    fn lsr(&self, tid: &str, extra: &str) -> String {
        format!("/aff_lsr?transaction_id={tid}&security_token={}{extra}", self.offer.security_token)
    }

    /// An enabled GET postback of the fixture's affiliate for approved conversions (`offer`:
    /// standard, or global when `None`).
    fn insert_postback(&self, offer: Option<OfferId>, url: &str, on_status_change: bool) {
        let now = self.app.clock.now();
        self.count(|c| {
            diesel::insert_into(postbacks::table)
                .values((
                    postbacks::tenant_id.eq(self.tenant),
                    postbacks::affiliate_id.eq(self.aff),
                    postbacks::offer_id.eq(offer),
                    postbacks::url.eq(url),
                    postbacks::method.eq("GET"),
                    postbacks::on_approved.eq(true),
                    postbacks::on_pending.eq(false),
                    postbacks::on_rejected.eq(false),
                    postbacks::on_status_change.eq(on_status_change),
                    postbacks::enabled.eq(true),
                    postbacks::created_at.eq(now),
                    postbacks::updated_at.eq(now),
                ))
                .execute(c)
        });
    }

    fn count<T>(&self, f: impl FnOnce(&mut affnet_db::DbConn) -> QueryResult<T>) -> T {
        f(&mut self.app.pool.get().unwrap()).unwrap()
    }

    fn clicks(&self) -> i64 {
        self.count(|c| clicks::table.count().get_result(c))
    }

    fn conversions(&self) -> i64 {
        self.count(|c| conversions::table.count().get_result(c))
    }

    /// (clicks, rejected clicks, approved, pending, payout) over the tenant's rollups; the daily
    /// rollups must say the same as the hourly ones.
    fn rollup(&self) -> (i64, i64, i64, i64, i64) {
        let sum = |rows: Vec<(i64, i64, i64, i64, i64)>| {
            rows.into_iter().fold((0, 0, 0, 0, 0), |a, r| (a.0 + r.0, a.1 + r.1, a.2 + r.2, a.3 + r.3, a.4 + r.4))
        };
        let hourly = sum(self.count(|c| {
            stats_hourly::table
                .filter(stats_hourly::tenant_id.eq(self.tenant))
                .select((
                    stats_hourly::clicks,
                    stats_hourly::rejected_clicks,
                    stats_hourly::approved,
                    stats_hourly::pending,
                    stats_hourly::payout,
                ))
                .load(c)
        }));
        let daily = sum(self.count(|c| {
            stats_daily::table
                .filter(stats_daily::tenant_id.eq(self.tenant))
                .select((
                    stats_daily::clicks,
                    stats_daily::rejected_clicks,
                    stats_daily::approved,
                    stats_daily::pending,
                    stats_daily::payout,
                ))
                .load(c)
        }));
        assert_eq!(daily, hourly, "stats_daily disagrees with stats_hourly");
        hourly
    }

    /// (outcome, reason) of every stored conversion attempt, oldest first.
    fn attempts(&self) -> Vec<(String, String)> {
        self.count(|c| {
            conversion_attempts::table
                .order(conversion_attempts::id.asc())
                .select((conversion_attempts::outcome, conversion_attempts::reason))
                .load(c)
        })
    }

    fn edit_offer(&self, edit: impl FnOnce(&mut OfferInput)) {
        let o = &self.offer;
        let mut input = OfferInput::simple(o.advertiser_id, &o.name, &o.offer_url, o.payout_flat);
        input.status = Some(o.status.to_string());
        edit(&mut input);
        Offer::update(&mut self.app.pool.get().unwrap(), self.tenant, o.id, &input, self.app.clock.now()).unwrap();
    }
}

async fn a_click_is_recorded_then_redirected_with_macros_encoded(backend: Backend) {
    let f = Fixture::new(backend).await;
    let q = format!(
        "/aff_c?offer_id={}&aff_id={}&aff_sub=a%20b%26c&sub2=x%2Fy&source=fb&aff_click_id=ext-1",
        f.offer.id, f.aff
    );
    let res = f
        .http
        .get(f.app.url(&q))
        .header("user-agent", "TestBrowser/1.0")
        .header("referer", "https://pub.example/p")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 302);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let tid = location.split("tid=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    assert_eq!(tid.len(), 32);
    assert!(tid.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(
        location,
        format!("https://shop.example/land?tid={tid}&s=a%20b%26c&s2=x%2Fy&a={}&o={}", f.aff, f.offer.id)
    );
    let row: affnet_tracking::click::Click =
        f.count(|c| clicks::table.find(&tid).select(affnet_tracking::click::Click::as_select()).first(c));
    assert_eq!((row.offer_id, row.affiliate_id, row.tenant_id), (f.offer.id, f.aff, f.tenant));
    assert_eq!((row.aff_sub.as_str(), row.aff_sub2.as_str(), row.source.as_str()), ("a b&c", "x/y", "fb"));
    assert_eq!(row.aff_click_id, "ext-1");
    assert_eq!(row.ip, "127.0.0.1");
    assert_eq!(row.user_agent, "TestBrowser/1.0");
    assert_eq!(row.referrer, "https://pub.example/p");
    assert_eq!(row.created_at, f.app.clock.now());
    // The id's 48-bit prefix is the click time in milliseconds.
    assert_eq!(i64::from_str_radix(&tid[..12], 16).unwrap(), f.app.clock.now().unix_millis());
    assert_eq!(f.rollup(), (1, 0, 0, 0, 0));
    // Counted for Prometheus (the counters are per process, shared by parallel tests: at least 1).
    let metrics = f.get("/metrics").await.1;
    let recorded: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("affnet_clicks_recorded_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(recorded >= 1, "{metrics}");
    f.app.stop().await;
}

async fn bad_clicks_get_a_clear_answer_and_record_nothing(backend: Backend) {
    let f = Fixture::new(backend).await;
    let long = "x".repeat(501);
    let (o, a) = (f.offer.id, f.aff);
    for (query, status, text) in [
        (format!("offer_id=abc&aff_id={a}"), 400, "offer_id must be a positive whole number"),
        (format!("offer_id={o}"), 400, "aff_id is required"),
        (format!("offer_id={o}&aff_id=-4"), 400, "aff_id must be a positive whole number"),
        (format!("offer_id={o}&aff_id={a}&aff_sub={long}"), 400, "aff_sub may be at most 500 characters"),
        (format!("offer_id={o}&aff_id={a}&sub5={long}"), 400, "aff_sub5 may be at most 500 characters"),
        (format!("offer_id={o}&aff_id={a}&aff_sub=x&sub1={long}"), 400, "aff_sub may be at most 500 characters"),
        (format!("offer_id={o}&aff_id={a}&source={}%20", "s".repeat(500)), 400, "source may be at most 500"),
        (format!("offer_id={o}&aff_id={a}&aff_sub=x%00y"), 400, "aff_sub contains a control character"),
        // Not UTF-8 once decoded (Latin-1 `é`, a lone `%FF`): refused, never stored with the
        // bytes replaced (two different sub ids would become one).
        (format!("offer_id={o}&aff_id={a}&aff_sub=caf%E9"), 400, "aff_sub is not UTF-8 text"),
        (format!("offer_id={o}&aff_id={a}&sub2=%FF%FE"), 400, "sub2 is not UTF-8 text"),
        (format!("offer_id=999999&aff_id={a}"), 404, "This link does not lead to an offer."),
        (format!("offer_id={o}&aff_id=999999"), 403, "This tracking link is not active for this offer."),
    ] {
        let (s, body, _) = f.get(&format!("/aff_c?{query}")).await;
        assert_eq!(s, status, "{query}: {body}");
        assert!(body.contains(text), "{query}: {body}");
    }
    assert_eq!(f.clicks(), 0);
    assert_eq!(f.rollup(), (0, 0, 0, 0, 0));
    // 500 characters exactly is fine.
    let ok = "y".repeat(500);
    assert_eq!(f.get(&format!("/aff_c?offer_id={o}&aff_id={a}&aff_sub={ok}")).await.0, 302);
    assert_eq!(f.clicks(), 1);
    // Parameters we do not know are ignored, whatever they hold: a publisher's own never costs
    // a click.
    let (s, _, loc) = f.get(&format!("/aff_c?offer_id={o}&aff_id={a}&utm_term=a%0Ab&x%00=1&aff_sub=kept")).await;
    assert_eq!(s, 302);
    assert!(loc.unwrap().contains("s=kept"));
    assert_eq!(f.clicks(), 2);
    f.app.stop().await;
}

/// Link checkers and previews (mail scanners, chat unfurlers) send `HEAD`: it gets the answer a
/// click would (the redirect, or the same error), with nothing recorded, so no transaction id.
async fn a_head_request_is_answered_like_a_click_and_records_nothing(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (o, a) = (f.offer.id, f.aff);
    let head = |q: String| {
        let req = f.http.head(f.app.url(&format!("/aff_c?{q}")));
        async move {
            let res = req.send().await.unwrap();
            let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
            (res.status().as_u16(), location)
        }
    };
    let (s, location) = head(format!("offer_id={o}&aff_id={a}&aff_sub=x%20y")).await;
    assert_eq!(s, 302);
    assert_eq!(location.unwrap(), format!("https://shop.example/land?tid=&s=x%20y&s2=&a={a}&o={o}"));
    assert_eq!(head(format!("offer_id={o}")).await.0, 400);
    assert_eq!(head(format!("offer_id=999999&aff_id={a}")).await.0, 404);
    f.edit_offer(|i| i.status = Some("paused".into()));
    assert_eq!(head(format!("offer_id={o}&aff_id={a}")).await.0, 404);
    assert_eq!(f.clicks(), 0);
    assert_eq!(f.count(|c| click_rejections::table.count().get_result::<i64>(c)), 0);
    assert_eq!(f.rollup(), (0, 0, 0, 0, 0));
    // The same link followed with GET is tracked.
    f.edit_offer(|i| i.status = Some("active".into()));
    assert_eq!(f.get(&format!("/aff_c?offer_id={o}&aff_id={a}")).await.0, 302);
    assert_eq!((f.clicks(), f.rollup()), (1, (1, 0, 0, 0, 0)));
    f.app.stop().await;
}

/// A method the endpoint does not answer gets `405` with the methods it does (`Allow`), and
/// nothing is recorded.
/// Other methods get `405` with the allowed ones. On the conversion endpoints the answer is in
/// the endpoint's format (`success=false; err_msg=method_not_allowed;`, or JSON) and the call is
/// stored like every refusal, so an advertiser sending `PUT` sees why nothing counted (it was a
/// plain-text 405, stored nowhere); a `HEAD` (link checkers) or `OPTIONS` (preflight) is no
/// call and is not stored.
async fn other_methods_get_405_with_the_allowed_ones(backend: Backend) {
    let f = Fixture::new(backend).await;
    let tid = f.click().await;
    let link = format!("/aff_c?offer_id={}&aff_id={}", f.offer.id, f.aff);
    for method in [reqwest::Method::POST, reqwest::Method::PUT] {
        let res = f.http.request(method.clone(), f.app.url(&link)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 405, "{method}");
        assert_eq!(res.headers()["allow"], "GET, HEAD", "{method}");
    }
    let lsr = f.lsr(&tid, "");
    let goal = format!("/aff_goal?a=lsr&goal_id=1&transaction_id={tid}");
    for (method, path, json) in [
        (reqwest::Method::DELETE, lsr.as_str(), false),
        (reqwest::Method::PATCH, goal.as_str(), false),
        (reqwest::Method::OPTIONS, lsr.as_str(), false),
        (reqwest::Method::PUT, lsr.as_str(), true),
        (reqwest::Method::HEAD, lsr.as_str(), false),
    ] {
        let mut req = f.http.request(method.clone(), f.app.url(path));
        if json {
            req = req.header("accept", "application/json");
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 405, "{method} {path}");
        assert_eq!(res.headers()["allow"], "GET, POST", "{method} {path}");
        let body = res.text().await.unwrap();
        if method == reqwest::Method::HEAD {
            assert_eq!(body, "");
        } else if json {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!((v["success"].as_bool(), v["err_msg"].as_str()), (Some(false), Some("method_not_allowed")));
        } else {
            assert_eq!(body, "success=false; err_msg=method_not_allowed;", "{method} {path}");
        }
    }
    let refused = ("refused".to_owned(), "method_not_allowed".to_owned());
    assert_eq!((f.clicks(), f.conversions()), (1, 0));
    assert_eq!(f.attempts(), vec![refused; 3], "each call stored with its reason");
    let trace = affnet_tracking::listing::trace(&mut f.app.pool.get().unwrap(), f.tenant, &tid).unwrap();
    let methods: Vec<&str> = trace.attempts.iter().map(|a| a.method.as_str()).collect();
    assert_eq!(methods, ["DELETE", "PATCH", "PUT"], "on the click's tracer; HEAD and OPTIONS are no calls");
    f.app.stop().await;
}

/// A conversion call's body over 256 KiB, or one that does not arrive whole, is refused in the
/// endpoint's format and stored with its reason (it was a plain-text `413`, stored nowhere).
/// `Accept` is read as HTTP defines it (any case, `q=0` means not JSON). Repeated parameters:
/// the first non-empty value counts, as on `/aff_c`. `a=LSR` is `a=lsr`.
async fn conversion_calls_refused_before_their_parameters_are_answered_and_stored_too(backend: Backend) {
    let f = Fixture::new(backend).await;
    let tid = f.click().await;
    let big = format!("adv_sub=x&pad={}", "a".repeat(300_000));
    for json in [false, true] {
        let mut req = f
            .http
            .post(f.app.url(&f.lsr(&tid, "&amount=5")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone());
        if json {
            req = req.header("accept", "application/json");
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 413);
        let body = res.text().await.unwrap();
        if json {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["err_msg"], "body_too_large", "{body}");
        } else {
            assert_eq!(body, "success=false; err_msg=body_too_large;");
        }
    }
    assert_eq!(f.attempts(), vec![("refused".to_owned(), "body_too_large".to_owned()); 2]);
    assert_eq!(f.conversions(), 0);
    // Broken chunked framing: answered at once, in the endpoint's format, and not stored.
    let addr = f.app.base.trim_start_matches("http://").to_owned();
    let raw = actix_web::rt::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        s.write_all(
            b"POST /aff_lsr?transaction_id=x HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n",
        )
        .unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap();
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(raw.ends_with("success=false; err_msg=invalid_body;"), "{raw}");
    assert_eq!(f.attempts().len(), 2, "not stored");

    // Accept, as HTTP reads it.
    for (accept, json) in [
        ("Application/JSON", true),
        ("text/plain, application/json;q=0", false),
        ("application/json;q=0.5, text/plain;q=0.9", false),
        ("text/html, application/json", true),
        ("*/*", false),
    ] {
        let res = f
            .http
            .get(f.app.url("/aff_lsr?transaction_id=00000000000000000000000000000000"))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        let body = res.text().await.unwrap();
        assert_eq!(body.starts_with('{'), json, "{accept}: {body}");
    }

    // The first non-empty value: `amount=&amount=2.50` is 2.50.
    let (s, body, _) = f.get(&f.lsr(&tid, "&amount=&amount=2.50")).await;
    assert_eq!((s, body.as_str()), (200, "success=true;"));
    let amount: Option<i64> = f.count(|c| conversions::table.select(conversions::sale_amount).first(c));
    assert_eq!(amount, Some(250));
    // `a=LSR` on /aff_goal is the same action as `a=lsr` (the goal is unknown here: 404).
    let (s, body, _) = f
        .get(&format!("/aff_goal?a=LSR&goal_id=999&transaction_id={tid}&security_token={}", f.offer.security_token))
        .await;
    assert_eq!((s, body.as_str()), (404, "success=false; err_msg=unknown_goal;"));
    f.app.stop().await;
}

async fn refused_clicks_go_to_the_fallback_or_an_error_page_and_are_counted(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (o, a) = (f.offer.id, f.aff);
    // A paused offer without fallback: 404 page; with one: 302 there (macros expanded).
    f.edit_offer(|i| i.status = Some("paused".into()));
    let (s, body, _) = f.get(&format!("/aff_c?offer_id={o}&aff_id={a}")).await;
    assert_eq!((s, body.contains("This offer is not running")), (404, true));
    f.edit_offer(|i| {
        i.status = Some("paused".into());
        i.fallback_url = "https://fallback.example/?a={aff_id}&s={aff_sub}".into();
    });
    let (s, _, location) = f.get(&format!("/aff_c?offer_id={o}&aff_id={a}&aff_sub=q%20r")).await;
    assert_eq!(s, 302);
    assert_eq!(location.unwrap(), format!("https://fallback.example/?a={a}&s=q%20r"));
    // A pending affiliate: 403 (the fallback, once the offer is active again, is not used for
    // unknown offers but is for refused affiliates).
    f.edit_offer(|i| i.status = Some("active".into()));
    let pending = Affiliate::create(
        &mut f.app.pool.get().unwrap(),
        f.tenant,
        &AffiliateInput { name: "Newcomer".into(), ..Default::default() },
        f.app.clock.now(),
    )
    .unwrap();
    let (s, body, _) = f.get(&format!("/aff_c?offer_id={o}&aff_id={}", pending.id)).await;
    assert_eq!(s, 403, "{body}");
    // Approval required: refused until approved, then tracked (the cache sees the change at once).
    f.edit_offer(|i| i.visibility = Some("approval_required".into()));
    assert_eq!(f.get(&format!("/aff_c?offer_id={o}&aff_id={a}")).await.0, 403);
    let decision =
        affnet_offers::Decision { status: affnet_offers::AccessStatus::Approved, note: "", by: affnet_db::UserId(1) };
    affnet_offers::OfferAccess::decide(&mut f.app.pool.get().unwrap(), f.tenant, o, a, &decision, f.app.clock.now())
        .unwrap();
    assert_eq!(f.get(&format!("/aff_c?offer_id={o}&aff_id={a}")).await.0, 302);
    assert_eq!(f.clicks(), 1);
    let reasons: Vec<String> =
        f.count(|c| click_rejections::table.order(click_rejections::id.asc()).select(click_rejections::reason).load(c));
    assert_eq!(reasons, ["offer_not_active", "offer_not_active", "affiliate_not_active", "affiliate_not_approved"]);
    assert_eq!(f.rollup(), (1, 4, 0, 0, 0));
    f.app.stop().await;
}

/// An order id still holding the advertiser's placeholder (`adv_sub={order_id}`) is refused
/// like an unfilled `{transaction_id}`: recorded, it made every later conversion of the offer a
/// `duplicate_adv_sub`.
async fn an_order_id_left_as_a_placeholder_is_refused(backend: Backend) {
    let f = Fixture::new(backend).await;
    for placeholder in ["{order_id}", "%7Border_id%7D", "{adv_sub}", " {ORDER} "] {
        let tid = f.click().await;
        let (s, body, _) =
            f.get(&f.lsr(&tid, &format!("&amount=10&adv_sub={}", placeholder.replace(' ', "%20")))).await;
        assert_eq!((s, body.as_str()), (400, "success=false; err_msg=invalid_adv_sub;"), "{placeholder}");
    }
    assert_eq!(f.conversions(), 0);
    // Braces inside a real order id are the advertiser's business.
    let tid = f.click().await;
    assert_eq!(f.get(&f.lsr(&tid, "&adv_sub=ORD-%7B7%7D")).await.0, 200);
    f.app.stop().await;
}

async fn a_conversion_is_recorded_once_with_its_payout(backend: Backend) {
    let f = Fixture::new(backend).await;
    let tid = f.click().await;
    let (s, body, _) = f.get(&f.lsr(&tid, "&amount=12.50&adv_sub=order-1")).await;
    assert_eq!((s, body.as_str()), (200, "success=true;"));
    let conv: affnet_tracking::conversion::Conversion =
        f.count(|c| conversions::table.select(affnet_tracking::conversion::Conversion::as_select()).first(c));
    assert_eq!((conv.click_id.as_str(), conv.offer_id, conv.affiliate_id), (tid.as_str(), f.offer.id, f.aff));
    assert_eq!((conv.payout, conv.sale_amount, conv.adv_sub.as_str()), (250, Some(1250), "order-1"));
    assert_eq!(conv.status.as_str(), "approved");
    assert_eq!(f.rollup(), (1, 0, 1, 0, 250));
    // The same click again: a duplicate, refused and stored, nothing else changes.
    let (s, body, _) = f.get(&f.lsr(&tid, "&amount=12.50&adv_sub=order-2")).await;
    assert_eq!((s, body.as_str()), (409, "success=false; err_msg=duplicate_conversion;"));
    // The same call again (the click converted, the order id too): the click's reason, on both
    // backends (each database named the order id's key or the click's, whichever it checked
    // first: SQLite said duplicate_adv_sub, PostgreSQL duplicate_conversion).
    let (s, body, _) = f.get(&f.lsr(&tid, "&amount=12.50&adv_sub=order-1")).await;
    assert_eq!((s, body.as_str()), (409, "success=false; err_msg=duplicate_conversion;"));
    // The same order id on another click: refused too.
    let tid2 = f.click().await;
    let (s, body, _) = f.get(&f.lsr(&tid2, "&adv_sub=order-1")).await;
    assert_eq!((s, body.as_str()), (409, "success=false; err_msg=duplicate_adv_sub;"));
    // JSON on request.
    let res = f
        .http
        .get(f.app.url(&f.lsr(&tid2, "&adv_sub=order-3")))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!((v["success"].as_bool(), v["status"].as_str()), (Some(true), Some("approved")));
    assert_eq!(v["transaction_id"], tid2);
    assert_eq!(f.conversions(), 2);
    assert_eq!(f.rollup(), (2, 0, 2, 0, 500));
    let attempts = f.attempts();
    assert_eq!(
        attempts.iter().map(|(o, r)| format!("{o}:{r}")).collect::<Vec<_>>(),
        [
            "accepted:",
            "refused:duplicate_conversion",
            "refused:duplicate_conversion",
            "refused:duplicate_adv_sub",
            "accepted:"
        ]
    );
    let raw: String = f.count(|c| conversion_attempts::table.select(conversion_attempts::raw_query).first(c));
    assert!(raw.contains("security_token=***") && !raw.contains(&f.offer.security_token), "{raw}");
    f.app.stop().await;
}

async fn bad_conversions_are_refused_with_a_stored_reason_and_change_nothing(backend: Backend) {
    let f = Fixture::new(backend).await;
    let tid = f.click().await;
    let token = f.offer.security_token.clone();
    let big = "s".repeat(10_240);
    let cases: Vec<(String, u16, &str)> = vec![
        ("/aff_lsr".into(), 400, "missing_transaction_id"),
        ("/aff_lsr?transaction_id=zzz".into(), 400, "invalid_transaction_id"),
        (format!("/aff_lsr?transaction_id={}&security_token={token}", "0".repeat(32)), 404, "unknown_transaction"),
        (format!("/aff_lsr?transaction_id={tid}"), 403, "invalid_security_token"),
        (format!("/aff_lsr?transaction_id={tid}&security_token=nope"), 403, "invalid_security_token"),
        (f.lsr(&tid, "&amount=-1"), 400, "invalid_amount"),
        (f.lsr(&tid, "&amount=1e400"), 400, "invalid_amount"),
        (f.lsr(&tid, "&amount=12,50"), 400, "invalid_amount"),
        (f.lsr(&tid, "&amount=1.2.3"), 400, "invalid_amount"),
        (f.lsr(&tid, "&status=paid"), 400, "invalid_status"),
        (f.lsr(&tid, &format!("&adv_sub={big}")), 400, "invalid_adv_sub"),
        (f.lsr(&tid, "&offer_id=987654"), 400, "offer_mismatch"),
        // Without the token nothing about the offer is told, not even that the transaction is
        // of another offer (it was `offer_mismatch`).
        (format!("/aff_lsr?transaction_id={tid}&offer_id=987654&security_token=nope"), 403, "invalid_security_token"),
        (f.lsr(&tid, "&goal_id=987654"), 404, "unknown_goal"),
        (f.lsr(&tid, "&goal_id=x"), 400, "invalid_goal_id"),
        (f.lsr(&tid, "&adv_sub=a%00b"), 400, "invalid_parameter"),
        // Two order ids that are not UTF-8: each refused as such, never read as the same
        // replaced text (the second was a false `duplicate_adv_sub`).
        (f.lsr(&tid, "&adv_sub=caf%E9"), 400, "invalid_parameter"),
        (f.lsr(&tid, "&adv_sub=caf%E8"), 400, "invalid_parameter"),
        (format!("/aff_goal?a=lsr&transaction_id={tid}&security_token={token}"), 400, "missing_goal_id"),
        (format!("/aff_goal?a=cpc&goal_id=1&transaction_id={tid}&security_token={token}"), 400, "invalid_action"),
    ];
    for (path, status, reason) in &cases {
        let (s, body, _) = f.get(path).await;
        assert_eq!(s, *status, "{path}: {body}");
        assert_eq!(body, format!("success=false; err_msg={reason};"), "{path}");
    }
    assert_eq!(f.conversions(), 0);
    assert_eq!(f.rollup(), (1, 0, 0, 0, 0));
    let attempts = f.attempts();
    assert_eq!(attempts.len(), cases.len());
    for ((outcome, reason), (path, _, expected)) in attempts.iter().zip(&cases) {
        assert_eq!((outcome.as_str(), reason.as_str()), ("refused", *expected), "{path}");
    }
    // JSON refusals carry the same reason.
    let res =
        f.http.get(f.app.url("/aff_lsr?transaction_id=zzz")).header("accept", "application/json").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!((v["success"].as_bool(), v["err_msg"].as_str()), (Some(false), Some("invalid_transaction_id")));
    // Still convertible afterwards (the id in capitals is the same click): nothing was
    // half-recorded. A parameter we do not read is ignored, whatever it holds.
    assert_eq!(f.get(&f.lsr(&tid.to_ascii_uppercase(), "&amount=1&note=x%0Ay")).await.0, 200);
    let last: String = f.count(|c| {
        conversion_attempts::table
            .order(conversion_attempts::id.desc())
            .select(conversion_attempts::transaction_id)
            .first(c)
    });
    assert_eq!(last, tid, "attempts store the normalised id, so the tracer finds them");
    f.app.stop().await;
}

async fn another_networks_click_cannot_be_converted_with_this_networks_token(backend: Backend) {
    let f = Fixture::new(backend).await;
    let other = f.app.network("globex");
    let adv = f.app.advertiser(&other.tenant, "Globex shop");
    let aff = f.app.affiliate(&other.tenant, "Globex aff");
    let input = OfferInput::simple(adv.id, "Globex offer", "https://globex.example/?t={transaction_id}", 100);
    let theirs = Offer::create(&mut f.app.pool.get().unwrap(), other.tenant.id, &input, f.app.clock.now()).unwrap();
    let (s, _, loc) = f.get(&format!("/aff_c?offer_id={}&aff_id={}", theirs.id, aff.id)).await;
    assert_eq!(s, 302);
    let their_tid = loc.unwrap().split("t=").nth(1).unwrap().to_owned();
    // Our affiliate on their offer: not allowed (ids of another network are unknown here).
    assert_eq!(f.get(&format!("/aff_c?offer_id={}&aff_id={}", theirs.id, f.aff)).await.0, 403);
    let (s, body, _) = f.get(&f.lsr(&their_tid, "")).await;
    assert_eq!((s, body.as_str()), (403, "success=false; err_msg=invalid_security_token;"));
    assert_eq!(f.conversions(), 0);
    f.app.stop().await;
}

/// An offer that does not require the security token converts without one, and ignores a token
/// sent anyway, right or wrong (HasOffers: the token is checked only where it is required).
async fn an_offer_without_a_required_token_ignores_the_token(backend: Backend) {
    let f = Fixture::with_offer(backend, |o| o.require_token = false).await;
    let bare = f.click().await;
    let (s, body, _) = f.get(&format!("/aff_lsr?transaction_id={bare}")).await;
    assert_eq!((s, body.as_str()), (200, "success=true;"));
    let stale = f.click().await;
    let (s, body, _) = f.get(&format!("/aff_lsr?transaction_id={stale}&security_token=stale")).await;
    assert_eq!((s, body.as_str()), (200, "success=true;"));
    let good = f.click().await;
    assert_eq!(f.get(&f.lsr(&good, "")).await.0, 200);
    assert_eq!(f.conversions(), 3);
    f.app.stop().await;
}

async fn attribution_window_and_ip_allow_list_are_enforced(backend: Backend) {
    let f = Fixture::with_offer(backend, |i| {
        i.min_click_age_secs = 60;
        i.max_click_age_secs = 3600;
        i.ip_allowlist = "10.0.0.0/8".into();
    })
    .await;
    let tid = f.click().await;
    let (s, body, _) = f.get(&f.lsr(&tid, "")).await;
    assert_eq!((s, body.as_str()), (403, "success=false; err_msg=ip_not_allowed;"));
    f.edit_offer(|i| {
        i.min_click_age_secs = 60;
        i.max_click_age_secs = 3600;
        i.ip_allowlist = "10.0.0.0/8, 127.0.0.0/8".into();
    });
    let (s, body, _) = f.get(&f.lsr(&tid, "")).await;
    assert_eq!((s, body.as_str()), (422, "success=false; err_msg=too_early;"));
    f.app.clock.advance(61_000_000);
    let late = f.click().await;
    assert_eq!(f.get(&f.lsr(&tid, "")).await.0, 200);
    f.app.clock.advance(3_600_000_001);
    let (s, body, _) = f.get(&f.lsr(&late, "")).await;
    assert_eq!((s, body.as_str()), (422, "success=false; err_msg=outside_attribution_window;"));
    assert_eq!(f.conversions(), 1);
    f.app.stop().await;
}

/// A conversion handled by a node whose clock is a few seconds behind the click's node (a
/// negative click age) counts when the offer sets no minimum click age (it was refused as
/// `too_early`: "a conversion counts 0 s after the click at the earliest").
async fn a_clock_behind_the_clicks_does_not_refuse_a_conversion(backend: Backend) {
    let f = Fixture::new(backend).await;
    let tid = f.click().await;
    f.app.clock.advance(-3_000_000);
    let (s, body, _) = f.get(&f.lsr(&tid, "")).await;
    assert_eq!((s, body.as_str()), (200, "success=true;"));
    assert_eq!(f.conversions(), 1);
    f.app.stop().await;
}

async fn payouts_follow_type_goal_and_affiliate_override(backend: Backend) {
    use affnet_offers::{Goal, GoalInput, OverrideInput, PayoutOverride, PayoutType, Rate};
    let f = Fixture::with_offer(backend, |i| {
        i.payout = Rate { kind: PayoutType::CpaPercent, flat: 0, bps: 1000 };
        i.revenue = Rate { kind: PayoutType::CpaBoth, flat: 100, bps: 500 };
    })
    .await;
    let mut conn = f.app.pool.get().unwrap();
    let now = f.app.clock.now();
    let deposit = GoalInput {
        name: "Deposit".into(),
        status: None,
        payout: Rate::flat(300),
        revenue: Rate::flat(400),
        allow_multiple: true,
    };
    let goal = Goal::create(&mut conn, f.tenant, f.offer.id, &deposit, now).unwrap();
    drop(conn);
    let tid = f.click().await;
    assert_eq!(f.get(&f.lsr(&tid, "&amount=12.50")).await.0, 200);
    let goal_url = |adv_sub: &str| {
        format!(
            "/aff_goal?a=lsr&goal_id={}&transaction_id={tid}&security_token={}&adv_sub={adv_sub}",
            goal.id, f.offer.security_token
        )
    };
    assert_eq!(f.get(&goal_url("d1")).await.0, 200);
    assert_eq!(f.get(&goal_url("d2")).await.0, 200, "the goal may convert more than once per click");
    let input =
        OverrideInput { offer_id: f.offer.id, affiliate_id: f.aff, goal_id: Some(goal.id), payout: Rate::flat(333) };
    PayoutOverride::set(&mut f.app.pool.get().unwrap(), f.tenant, &input, now).unwrap();
    assert_eq!(f.get(&goal_url("d3")).await.0, 200);
    let rows: Vec<(i64, i64)> = f.count(|c| {
        conversions::table.order(conversions::id.asc()).select((conversions::payout, conversions::revenue)).load(c)
    });
    assert_eq!(rows, [(125, 100 + 63), (300, 400), (300, 400), (333, 400)]);
    f.app.stop().await;
}

/// A sale amount with more decimals than the currency has (`19.995` USD, from an advertiser's
/// tax or currency arithmetic) is rounded half-up to the currency's minor unit: the conversion
/// counts, as HasOffers and Everflow count it, instead of being lost to a refusal.
async fn an_amount_with_more_decimals_than_the_currency_is_rounded(backend: Backend) {
    use affnet_offers::{PayoutType, Rate};
    let f =
        Fixture::with_offer(backend, |i| i.payout = Rate { kind: PayoutType::CpaPercent, flat: 0, bps: 1000 }).await;
    for amount in ["19.995", "12.3449999", "0.004"] {
        let tid = f.click().await;
        let (s, body, _) = f.get(&f.lsr(&tid, &format!("&amount={amount}"))).await;
        assert_eq!((s, body.as_str()), (200, "success=true;"), "{amount}");
    }
    let rows: Vec<(Option<i64>, i64)> = f.count(|c| {
        conversions::table.order(conversions::id.asc()).select((conversions::sale_amount, conversions::payout)).load(c)
    });
    assert_eq!(rows, [(Some(2000), 200), (Some(1234), 123), (Some(0), 0)]);
    f.app.stop().await;
}

async fn caps_refuse_or_hold_conversions_over_the_limit(backend: Backend) {
    let f = Fixture::with_offer(backend, |i| i.daily_cap = Some(1)).await;
    let (t1, t2) = (f.click().await, f.click().await);
    assert_eq!(f.get(&f.lsr(&t1, "")).await.0, 200);
    let (s, body, _) = f.get(&f.lsr(&t2, "")).await;
    assert_eq!((s, body.as_str()), (409, "success=false; err_msg=cap_reached;"));
    f.edit_offer(|i| {
        i.daily_cap = Some(1);
        i.over_cap = Some("pending".into());
    });
    let res = f.http.get(f.app.url(&f.lsr(&t2, ""))).header("accept", "application/json").send().await.unwrap();
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["status"], "pending");
    assert_eq!(f.rollup(), (2, 0, 1, 1, 250));
    f.app.stop().await;
}

/// A paused offer is told only to a caller holding its token: without it the call is refused
/// for the token (it answered `offer_inactive`, telling anyone holding a transaction id).
async fn a_paused_offer_is_told_only_to_the_token_holder(backend: Backend) {
    let f = Fixture::new(backend).await;
    let tid = f.click().await;
    f.edit_offer(|i| i.status = Some("paused".into()));
    let wrong = format!("/aff_lsr?transaction_id={tid}&security_token=nope");
    assert_eq!(f.get(&wrong).await, (403, "success=false; err_msg=invalid_security_token;".into(), None));
    assert_eq!(f.get(&f.lsr(&tid, "")).await, (422, "success=false; err_msg=offer_inactive;".into(), None));
    f.app.stop().await;
}

/// On a full capped offer, a retry of a conversion already recorded is answered as the duplicate
/// it is (it got `cap_reached`, so the advertiser read a counted order as not counted), and a
/// daily cap starts again at the network's midnight, as its reports' days do (it counted UTC
/// days: a network at -10:00 was refused 10 hours into its new day).
async fn a_full_cap_answers_retries_as_duplicates_and_counts_network_days(backend: Backend) {
    let f = Fixture::with_offer(backend, |i| i.daily_cap = Some(1)).await;
    diesel::update(affnet_db::schema::tenants::table.find(f.tenant))
        .set(affnet_db::schema::tenants::timezone.eq("-10:00"))
        .execute(&mut f.app.pool.get().unwrap())
        .unwrap();
    // 2026-11-27 09:30 UTC is 23:30 of the network's 26th.
    f.app.clock.set(Micros(1_795_771_800 * Micros::SECOND));
    let (t1, t2, t3) = (f.click().await, f.click().await, f.click().await);
    let order = "&adv_sub=CD-1";
    assert_eq!(f.get(&f.lsr(&t1, order)).await.1, "success=true;");
    assert_eq!(f.get(&f.lsr(&t1, order)).await, (409, "success=false; err_msg=duplicate_conversion;".into(), None));
    assert_eq!(f.get(&f.lsr(&t2, order)).await, (409, "success=false; err_msg=duplicate_adv_sub;".into(), None));
    assert_eq!(f.get(&f.lsr(&t2, "")).await, (409, "success=false; err_msg=cap_reached;".into(), None));
    // 2026-11-27 10:00:30 UTC: the same UTC day, but 00:00:30 of the network's 27th.
    f.app.clock.set(Micros(1_795_773_630 * Micros::SECOND));
    assert_eq!(f.get(&f.lsr(&t2, "")).await.1, "success=true;", "a new network day");
    assert_eq!(f.get(&f.lsr(&t3, "")).await, (409, "success=false; err_msg=cap_reached;".into(), None));
    assert_eq!(f.conversions(), 2);
    f.app.stop().await;
}

async fn parallel_conversions_of_one_click_record_exactly_one(backend: Backend) {
    let f = Fixture::new(backend).await;
    let tid = f.click().await;
    let url = f.app.url(&f.lsr(&tid, "&amount=5"));
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (client, url) = (f.http.clone(), url.clone());
            actix_web::rt::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 39, "{statuses:?}");
    assert_eq!(f.conversions(), 1);
    assert_eq!(f.rollup(), (1, 0, 1, 0, 250));
    assert_eq!(f.attempts().len(), 40);
    f.app.stop().await;
}

async fn post_bodies_and_status_changes_are_handled(backend: Backend) {
    let f = Fixture::new(backend).await;
    let tid = f.click().await;
    let res = f
        .http
        .post(f.app.url("/aff_lsr"))
        .form(&[
            ("transaction_id", tid.as_str()),
            ("security_token", &f.offer.security_token),
            ("status", "pending"),
            ("amount", "3"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(f.rollup(), (1, 0, 0, 1, 0));
    let id: affnet_db::ConversionId = f.count(|c| conversions::table.select(conversions::id).first(c));
    let mut conn = f.app.pool.get().unwrap();
    let changed = affnet_tracking::conversion::Conversion::set_status(
        &mut conn,
        f.tenant,
        id,
        affnet_offers::ConversionStatus::Approved,
        "checked the order",
        None,
        f.app.clock.now(),
    )
    .unwrap();
    assert_eq!(changed.status.as_str(), "approved");
    assert_eq!(f.rollup(), (1, 0, 1, 0, 250));
    f.app.stop().await;
}

/// A form body that is not UTF-8 cannot be read: refused with `invalid_body`, converting
/// nothing, and stored like every refusal, under the click it names, so the tracer shows it.
async fn an_unreadable_form_body_is_refused_and_stored(backend: Backend) {
    let f = Fixture::new(backend).await;
    let tid = f.click().await;
    let body = [format!("transaction_id={tid}&security_token=s3cret&adv_sub=").into_bytes(), vec![0xff, 0xfe]].concat();
    let res = f
        .http
        .post(f.app.url("/aff_lsr"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(res.text().await.unwrap(), "success=false; err_msg=invalid_body;");
    assert_eq!(f.conversions(), 0);
    assert_eq!(f.attempts(), [("refused".to_owned(), "invalid_body".to_owned())]);
    let (tenant, stored_tid, raw): (Option<i64>, String, String) = f.count(|c| {
        conversion_attempts::table
            .select((
                conversion_attempts::tenant_id,
                conversion_attempts::transaction_id,
                conversion_attempts::raw_query,
            ))
            .first(c)
    });
    assert_eq!((tenant, stored_tid.as_str()), (Some(f.tenant.0), tid.as_str()));
    assert!(raw.contains("security_token=***") && !raw.contains("s3cret"), "{raw}");
    // Any malformed call naming a real click is stored under the click's network.
    let upper = tid.to_uppercase();
    assert_eq!(f.get(&f.lsr(&upper, "&status=maybe")).await.0, 400);
    let stored: Vec<(Option<i64>, String, String)> = f.count(|c| {
        conversion_attempts::table
            .order(conversion_attempts::id.asc())
            .select((conversion_attempts::tenant_id, conversion_attempts::transaction_id, conversion_attempts::reason))
            .load(c)
    });
    assert_eq!(stored[1], (Some(f.tenant.0), tid.clone(), "invalid_status".to_owned()));
    // The same call readable converts.
    assert_eq!(f.get(&f.lsr(&tid, "")).await.0, 200);
    f.app.stop().await;
}

async fn postback_jobs_are_enqueued_with_the_conversion(backend: Backend) {
    let f = Fixture::new(backend).await;
    let seed = "https://www.yourdomainname.com/track?&source={aff_sub}&clickid={aff_sub3}&amount={payout}&transaction_id={transaction_id}";
    let now = f.app.clock.now();
    f.insert_postback(None, seed, false);
    let (s, _, loc) =
        f.get(&format!("/aff_c?offer_id={}&aff_id={}&aff_sub=fb%20ads&aff_sub3=c3", f.offer.id, f.aff)).await;
    assert_eq!(s, 302);
    let tid = loc.unwrap().split("tid=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    assert_eq!(f.get(&f.lsr(&tid, "")).await.0, 200);
    let urls: Vec<String> =
        f.count(|c| postback_jobs::table.order(postback_jobs::id.asc()).select(postback_jobs::url).load(c));
    assert_eq!(
        urls,
        [format!("https://www.yourdomainname.com/track?&source=fb%20ads&clickid=c3&amount=2.50&transaction_id={tid}")]
    );
    // A standard postback for the offer replaces the global one.
    f.insert_postback(Some(f.offer.id), "https://std.example/pb?t={transaction_id}&p={payout}&st={status}", true);
    let tid2 = f.click().await;
    assert_eq!(f.get(&f.lsr(&tid2, "&status=pending")).await.0, 200);
    let jobs: i64 = f.count(|c| postback_jobs::table.count().get_result(c));
    assert_eq!(jobs, 1, "pending conversions fire nothing by default");
    let id: affnet_db::ConversionId =
        f.count(|c| conversions::table.filter(conversions::click_id.eq(&tid2)).select(conversions::id).first(c));
    affnet_tracking::conversion::Conversion::set_status(
        &mut f.app.pool.get().unwrap(),
        f.tenant,
        id,
        affnet_offers::ConversionStatus::Approved,
        "",
        None,
        Micros(now.0 + 1),
    )
    .unwrap();
    let urls: Vec<String> =
        f.count(|c| postback_jobs::table.order(postback_jobs::id.asc()).select(postback_jobs::url).load(c));
    assert_eq!(urls.len(), 2);
    assert_eq!(urls[1], format!("https://std.example/pb?t={tid2}&p=2.50&st=approved"));
    f.app.stop().await;
}

async fn a_pending_conversion_fires_the_approved_postback_when_first_approved(backend: Backend) {
    let f = Fixture::new(backend).await;
    let now = f.app.clock.now();
    // A global postback with the defaults: approved conversions, no status changes.
    f.insert_postback(None, "https://g.example/pb?t={transaction_id}&st={status}", false);
    let tid = f.click().await;
    assert_eq!(f.get(&f.lsr(&tid, "&status=pending")).await.0, 200);
    let jobs = || -> Vec<(String, String)> {
        f.count(|c| {
            postback_jobs::table
                .order(postback_jobs::id.asc())
                .select((postback_jobs::event, postback_jobs::url))
                .load(c)
        })
    };
    assert_eq!(jobs(), [], "a pending conversion fires nothing by default");
    let id: affnet_db::ConversionId = f.count(|c| conversions::table.select(conversions::id).first(c));
    let (pool, tenant) = (f.app.pool.clone(), f.tenant);
    let set = |to: affnet_offers::ConversionStatus, at: i64| {
        affnet_tracking::conversion::Conversion::set_status(
            &mut pool.get().unwrap(),
            tenant,
            id,
            to,
            "",
            None,
            Micros(now.0 + at),
        )
        .unwrap()
    };
    use affnet_offers::ConversionStatus::{Approved, Rejected};
    // Approved by several people at once (a double click, a retried API call): one change.
    let barrier = std::sync::Barrier::new(6);
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                barrier.wait();
                assert_eq!(set(Approved, 1).status, Approved);
            });
        }
    });
    let fired = [("status_change".to_owned(), format!("https://g.example/pb?t={tid}&st=approved"))];
    assert_eq!(jobs(), fired, "its first approval fires the approved postback, once");
    let changes: i64 = f.count(|c| affnet_db::schema::conversion_status_changes::table.count().get_result(c));
    assert_eq!(changes, 1);
    assert_eq!(f.rollup(), (1, 0, 1, 0, 250), "the rollups moved once");
    // Later changes fire only postbacks that ask for status changes: a reversal and a second
    // approval tell this one nothing new.
    set(Rejected, 2);
    set(Approved, 3);
    assert_eq!(jobs(), fired);
    f.app.stop().await;
}

/// "Fire on status changes" (README, the postback form, the OpenAPI document): such a postback
/// fires on every later change of the conversion, whatever statuses it fires for on creation.
async fn a_postback_on_status_changes_fires_on_every_later_change(backend: Backend) {
    let f = Fixture::new(backend).await;
    let now = f.app.clock.now();
    // Approved conversions on creation (the default), plus every later change.
    f.insert_postback(None, "https://g.example/pb?t={transaction_id}&st={status}", true);
    let tid = f.click().await;
    assert_eq!(f.get(&f.lsr(&tid, "")).await.0, 200);
    let id: affnet_db::ConversionId = f.count(|c| conversions::table.select(conversions::id).first(c));
    use affnet_offers::ConversionStatus::{Approved, Pending, Rejected};
    for (at, to) in [(1, Rejected), (2, Pending), (3, Approved)] {
        affnet_tracking::conversion::Conversion::set_status(
            &mut f.app.pool.get().unwrap(),
            f.tenant,
            id,
            to,
            "",
            None,
            Micros(now.0 + at),
        )
        .unwrap();
    }
    let jobs: Vec<(String, String)> = f.count(|c| {
        postback_jobs::table.order(postback_jobs::id.asc()).select((postback_jobs::event, postback_jobs::url)).load(c)
    });
    let job = |event: &str, status: &str| (event.to_owned(), format!("https://g.example/pb?t={tid}&st={status}"));
    assert_eq!(
        jobs,
        [
            job("conversion", "approved"),
            job("status_change", "rejected"),
            job("status_change", "pending"),
            job("status_change", "approved"),
        ]
    );
    f.app.stop().await;
}

/// A call naming no click of ours is stored with its reason either way; with the offer and its
/// security token it is stored for that offer's network, whose tracer then shows it.
async fn an_unknown_transaction_with_the_offer_and_its_token_is_shown_to_that_network(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (o, token) = (f.offer.id, f.offer.security_token.clone());
    let unknown = "0123456789abcdef0123456789abcdef";
    for (query, status) in [
        (format!("transaction_id={unknown}&offer_id={o}&security_token={token}&amount=5"), 404),
        (format!("transaction_id={unknown}&offer_id={o}&security_token=guess"), 404),
        (format!("transaction_id={unknown}&offer_id={o}"), 404),
        (format!("transaction_id={unknown}&security_token={token}"), 404),
    ] {
        let (s, body, _) = f.get(&format!("/aff_lsr?{query}")).await;
        assert_eq!((s, body.as_str()), (status, "success=false; err_msg=unknown_transaction;"), "{query}");
    }
    assert_eq!(f.attempts().len(), 4, "every call is stored");
    let trace = affnet_tracking::listing::trace(&mut f.app.pool.get().unwrap(), f.tenant, unknown).unwrap();
    assert!(trace.click.is_none());
    let seen: Vec<(&str, &str, Option<OfferId>)> =
        trace.attempts.iter().map(|a| (a.outcome.as_str(), a.reason.as_str(), a.offer_id)).collect();
    assert_eq!(seen, [("refused", "unknown_transaction", Some(o))], "only the call with the offer's token");
    assert_eq!(
        trace.attempts[0].raw_query,
        format!("transaction_id={unknown}&offer_id={o}&security_token=***&amount=5"),
        "stored with its token masked"
    );
    assert_eq!(f.conversions(), 0);
    f.app.stop().await;
}

/// Migration 13 keys clicks by the first 64 bits of their transaction id. Clicks recorded
/// before it (and an id of the old layout, 80 random bits) still convert, list with their
/// conversions, change status and trace; new clicks get keys above every stored one.
async fn clicks_recorded_before_sequence_keys_still_convert_list_and_trace(backend: Backend) {
    let f = Fixture::new(backend).await;
    let before = f.click().await;
    let legacy = "0190a1b2c3d4e5f60718293a4b5c6d7e";
    {
        let mut conn = f.app.pool.get().unwrap();
        while affnet_db::migrate::revert_last(&mut conn).unwrap() != "20261130000013" {}
        let now = f.app.clock.now().0;
        diesel::sql_query(format!(
            "INSERT INTO clicks (id, tenant_id, offer_id, affiliate_id, advertiser_id, aff_sub, created_at) \
             VALUES ('{legacy}', {}, {}, {}, {}, 'old', {now})",
            f.tenant.0, f.offer.id.0, f.aff.0, f.offer.advertiser_id.0
        ))
        .execute(&mut conn)
        .unwrap();
        let ran = affnet_db::migrate::run_pending(&mut conn).unwrap();
        assert_eq!(ran[0], "20261130000013");
    }
    let seqs: Vec<i64> = f.count(|c| clicks::table.order(clicks::created_at.asc()).select(clicks::seq).load(c));
    assert_eq!(seqs.len(), 2);
    assert!(seqs.iter().all(|s| *s < 0), "clicks recorded before keys have negative ones: {seqs:?}");
    for tid in [before.as_str(), legacy] {
        let (s, body, _) = f.get(&f.lsr(tid, "&amount=5")).await;
        assert_eq!((s, body.as_str()), (200, "success=true;"), "{tid}");
    }
    let after = f.click().await;
    let seq: i64 = f.count(|c| clicks::table.filter(clicks::id.eq(&after)).select(clicks::seq).first(c));
    assert_eq!(
        affnet_tracking::TransactionId::parse(&after).unwrap().seq(),
        seq,
        "a new click's key is read from its id"
    );
    assert_eq!(f.get(&f.lsr(&after, "&amount=5")).await.0, 200);
    assert_eq!(f.get(&f.lsr(legacy, "&amount=5")).await.1, "success=false; err_msg=duplicate_conversion;");

    let mut conn = f.app.pool.get().unwrap();
    let rows = affnet_tracking::listing::conversions(&mut conn, f.tenant, &Default::default(), 10, 0).unwrap();
    let mut listed: Vec<(String, String)> =
        rows.iter().map(|r| (r.conversion.click_id.clone(), r.aff_sub.clone())).collect();
    listed.sort();
    let mut expected =
        vec![(before.clone(), "a".to_owned()), (legacy.to_owned(), "old".to_owned()), (after, "a".into())];
    expected.sort();
    assert_eq!(listed, expected, "each conversion joined to its click");
    let id = rows.iter().find(|r| r.conversion.click_id == legacy).unwrap().conversion.id;
    let changed = affnet_tracking::conversion::Conversion::set_status(
        &mut conn,
        f.tenant,
        id,
        affnet_offers::ConversionStatus::Rejected,
        "",
        None,
        f.app.clock.now(),
    )
    .unwrap();
    assert_eq!(changed.status.as_str(), "rejected");
    let trace = affnet_tracking::listing::trace(&mut conn, f.tenant, legacy).unwrap();
    assert_eq!(trace.click.map(|c| c.aff_sub), Some("old".to_owned()));
    assert_eq!(trace.conversions.len(), 1);
    let other = affnet_tracking::listing::trace(&mut conn, affnet_db::TenantId(f.tenant.0 + 1000), legacy).unwrap();
    assert!(other.click.is_none(), "another tenant sees nothing");
    drop(conn);
    f.app.stop().await;
}

/// DESIGN.md: a transaction id is the 48-bit millisecond and then 80 random bits. The clicks
/// of one millisecond (the test clock stands still) get ids whose 4 hex digits after the
/// timestamp are spread, not a visible counter (`0000`, `0001`, … before). Each still converts
/// and traces; so does a click recorded with the previous layout (a plain counter).
async fn transaction_ids_show_no_counter_and_every_layout_still_converts(backend: Backend) {
    let f = Fixture::new(backend).await;
    let mut tids = Vec::new();
    for _ in 0..32 {
        tids.push(f.click().await);
    }
    let ms = format!("{:012x}", f.app.clock.now().unix_millis());
    assert!(tids.iter().all(|t| t[..12] == ms), "one millisecond: {tids:?}");
    // 32 random 16-bit values all within a quarter of the range: about 1 in 10^17.
    let fields: Vec<u32> = tids.iter().map(|t| u32::from_str_radix(&t[12..16], 16).unwrap()).collect();
    let spread = fields.iter().max().unwrap() - fields.iter().min().unwrap();
    assert!(spread > 16_384, "the 16 bits after the timestamp look random, not a counter: {tids:?}");
    for tid in &tids[..3] {
        assert_eq!(f.get(&f.lsr(tid, "&amount=5")).await.1, "success=true;", "{tid}");
    }

    // A click of the layout given out before (the counter plain after the timestamp).
    let seq = (f.app.clock.now().unix_millis() << 16) | 0x7777;
    let plain = format!("{seq:016x}{:016x}", 0x5eed_u64);
    let click = affnet_tracking::click::Click {
        id: plain.clone(),
        seq,
        tenant_id: f.tenant,
        offer_id: f.offer.id,
        affiliate_id: f.aff,
        advertiser_id: f.offer.advertiser_id,
        aff_sub: "plain".into(),
        aff_sub2: String::new(),
        aff_sub3: String::new(),
        aff_sub4: String::new(),
        aff_sub5: String::new(),
        source: String::new(),
        aff_click_id: String::new(),
        ip: "127.0.0.1".into(),
        user_agent: String::new(),
        referrer: String::new(),
        created_at: f.app.clock.now(),
    };
    affnet_db::write_tx(&mut f.app.pool.get().unwrap(), |c| {
        affnet_tracking::click::write_clicks(c, &[affnet_tracking::click::ClickJob::Click(Box::new(click))])
    })
    .unwrap();
    assert_eq!(f.get(&f.lsr(&plain, "&amount=5")).await.1, "success=true;");
    assert_eq!(f.get(&f.lsr(&plain, "&amount=5")).await.1, "success=false; err_msg=duplicate_conversion;");
    let trace = affnet_tracking::listing::trace(&mut f.app.pool.get().unwrap(), f.tenant, &plain).unwrap();
    assert_eq!(trace.click.map(|c| c.aff_sub), Some("plain".to_owned()));
    assert_eq!(trace.conversions.len(), 1);
    assert_eq!(f.conversions(), 4);
    f.app.stop().await;
}

/// Conversions on several capped offers at once: each cap holds exactly, and every call gets a
/// real answer (accepted or `cap_reached`). Before, on PostgreSQL the conversion writers locked
/// capped offers call by call in arrival order, so batches naming two of them in opposite orders
/// deadlocked: 503s after seconds.
async fn concurrent_conversions_on_several_capped_offers_never_deadlock(backend: Backend) {
    let f = Fixture::with_offer(backend, |i| i.total_cap = Some(5)).await;
    let mut offers = vec![f.offer.clone()];
    for n in 0..3 {
        let mut input = OfferInput::simple(f.offer.advertiser_id, &format!("Capped {n}"), LANDING, 250);
        input.total_cap = Some(5);
        offers.push(Offer::create(&mut f.app.pool.get().unwrap(), f.tenant, &input, f.app.clock.now()).unwrap());
    }
    let mut urls = Vec::new();
    for offer in &offers {
        for _ in 0..25 {
            let (status, _, location) = f.get(&format!("/aff_c?offer_id={}&aff_id={}", offer.id, f.aff)).await;
            assert_eq!(status, 302);
            let tid = location.unwrap().split("tid=").nth(1).unwrap().split('&').next().unwrap().to_owned();
            urls.push(f.app.url(&format!("/aff_lsr?transaction_id={tid}&security_token={}", offer.security_token)));
        }
    }
    // Interleave the offers, so that every batch names several of them in varying orders.
    let mut order: Vec<usize> = (0..urls.len()).collect();
    order.sort_by_key(|i| (i * 7919) % urls.len());
    let tasks: Vec<_> = order
        .into_iter()
        .map(|i| {
            let (client, url) = (f.http.clone(), urls[i].clone());
            actix_web::rt::spawn(async move {
                let res = client.get(url).send().await.unwrap();
                (res.status().as_u16(), res.text().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let accepted = answers.iter().filter(|(s, _)| *s == 200).count();
    let capped = answers.iter().filter(|(s, b)| *s == 409 && b.contains("cap_reached")).count();
    assert_eq!((accepted, capped), (20, 80), "{answers:?}");
    assert_eq!(f.conversions(), 20);
    f.app.stop().await;
}

/// The calls that named no network (no click of ours, no offer with its token) are stored with
/// no tenant and shown on no page; anyone can make them, so the log keeps only the newest of them
/// (`UNOWNED_CALLS_KEPT`). A network's own calls are never pruned.
async fn calls_that_named_no_network_are_pruned_to_the_newest(backend: Backend) {
    let f = Fixture::new(backend).await;
    for n in 0..5 {
        f.app.clock.advance(Micros::SECOND);
        let junk = format!("/aff_lsr?transaction_id=0190a1b2c3d4e5f60718293a4b5c6d{n:02}");
        assert_eq!(f.get(&junk).await.0, 404);
    }
    let tid = f.click().await;
    f.app.clock.advance(Micros::SECOND);
    assert_eq!(f.get(&format!("/aff_lsr?transaction_id={tid}&security_token=wrong")).await.0, 403);
    let unowned = |f: &Fixture| {
        f.count(|c| {
            conversion_attempts::table
                .filter(conversion_attempts::tenant_id.is_null())
                .order(conversion_attempts::created_at.asc())
                .select(conversion_attempts::transaction_id)
                .load::<String>(c)
        })
    };
    assert_eq!(unowned(&f).len(), 5);
    let pruned = f.count(|c| affnet_tracking::conversion::prune_unowned_calls(c, 2));
    assert_eq!(pruned, 3);
    assert_eq!(unowned(&f), ["0190a1b2c3d4e5f60718293a4b5c6d03", "0190a1b2c3d4e5f60718293a4b5c6d04"], "the newest");
    let owned = f.count(|c| {
        conversion_attempts::table
            .filter(conversion_attempts::tenant_id.eq(Some(f.tenant)))
            .count()
            .get_result::<i64>(c)
    });
    assert_eq!(owned, 1, "the network's own call stays");
    assert_eq!(f.count(|c| affnet_tracking::conversion::prune_unowned_calls(c, 2)), 0);
    f.app.stop().await;
}

crate::on_both_backends!(
    calls_that_named_no_network_are_pruned_to_the_newest,
    an_order_id_left_as_a_placeholder_is_refused,
    a_click_is_recorded_then_redirected_with_macros_encoded,
    bad_clicks_get_a_clear_answer_and_record_nothing,
    a_head_request_is_answered_like_a_click_and_records_nothing,
    other_methods_get_405_with_the_allowed_ones,
    conversion_calls_refused_before_their_parameters_are_answered_and_stored_too,
    refused_clicks_go_to_the_fallback_or_an_error_page_and_are_counted,
    a_conversion_is_recorded_once_with_its_payout,
    bad_conversions_are_refused_with_a_stored_reason_and_change_nothing,
    another_networks_click_cannot_be_converted_with_this_networks_token,
    an_offer_without_a_required_token_ignores_the_token,
    attribution_window_and_ip_allow_list_are_enforced,
    a_clock_behind_the_clicks_does_not_refuse_a_conversion,
    payouts_follow_type_goal_and_affiliate_override,
    an_amount_with_more_decimals_than_the_currency_is_rounded,
    caps_refuse_or_hold_conversions_over_the_limit,
    a_full_cap_answers_retries_as_duplicates_and_counts_network_days,
    a_paused_offer_is_told_only_to_the_token_holder,
    parallel_conversions_of_one_click_record_exactly_one,
    post_bodies_and_status_changes_are_handled,
    an_unreadable_form_body_is_refused_and_stored,
    postback_jobs_are_enqueued_with_the_conversion,
    a_pending_conversion_fires_the_approved_postback_when_first_approved,
    a_postback_on_status_changes_fires_on_every_later_change,
    an_unknown_transaction_with_the_offer_and_its_token_is_shown_to_that_network,
    clicks_recorded_before_sequence_keys_still_convert_list_and_trace,
    transaction_ids_show_no_counter_and_every_layout_still_converts,
    concurrent_conversions_on_several_capped_offers_never_deadlock,
);
