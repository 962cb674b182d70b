//! Affiliate postbacks end to end: click → conversion → the outbox job → a real local HTTP
//! receiver gets exactly the expected request; failures retried on schedule (time injected),
//! the SSRF guard, bounded resources, and two workers sharing one outbox.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use affnet_db::schema::{affiliates, postback_attempts, postback_jobs};
use affnet_db::{Backend, Clock, DatabaseClock, ManualClock, Micros};
use affnet_offers::{Offer, OfferInput};
use affnet_tracking::delivery::{Deliverer, DeliveryConfig};
use affnet_tracking::postback::{Postback, PostbackInput};
use diesel::prelude::*;

use crate::support::TestApp;

/// What the receiver saw: method, path with query, body, signature header.
type Seen = Arc<Mutex<Vec<(String, String, String, Option<String>)>>>;

/// Requests being answered now and the most at once (the `/slow` path).
type InFlight = Arc<(std::sync::atomic::AtomicUsize, std::sync::atomic::AtomicUsize)>;

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    seen: web::Data<Seen>,
    in_flight: web::Data<InFlight>,
) -> HttpResponse {
    let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let sig = req.headers().get("x-affnet-signature").map(|v| v.to_str().unwrap().to_owned());
    seen.lock().unwrap().push((req.method().to_string(), path, String::from_utf8_lossy(&body).into_owned(), sig));
    match req.path() {
        "/slow" => {
            use std::sync::atomic::Ordering::SeqCst;
            let now = in_flight.0.fetch_add(1, SeqCst) + 1;
            in_flight.1.fetch_max(now, SeqCst);
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
            in_flight.0.fetch_sub(1, SeqCst);
            HttpResponse::Ok().body("OK")
        }
        "/fail" => HttpResponse::InternalServerError().body("boom"),
        // `/redirect/N/...`: N redirects in a row, then 200.
        p if p.starts_with("/redirect/") => {
            let rest = &p["/redirect/".len()..];
            let (n, tail) = rest.split_once('/').unwrap_or((rest, ""));
            match n.parse::<u32>().unwrap() {
                0 => HttpResponse::Ok().body("OK"),
                n => HttpResponse::Found().insert_header(("location", format!("/redirect/{}/{tail}", n - 1))).finish(),
            }
        }
        "/to-ftp" => HttpResponse::Found().insert_header(("location", "ftp://files.example/x")).finish(),
        "/late" => {
            actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
            HttpResponse::Ok().body("OK")
        }
        // A tracking pixel: binary, with NUL bytes.
        "/pixel" => HttpResponse::Ok().content_type("image/gif").body(&b"GIF89a\x01\x00\x01\x00\x00\xff"[..]),
        "/hang" => {
            actix_web::rt::time::sleep(Duration::from_secs(30)).await;
            HttpResponse::Ok().finish()
        }
        "/big" => {
            // 100 MB, streamed: the worker must read 1 KiB and hang up.
            let chunk = web::Bytes::from(vec![b'x'; 1 << 20]);
            HttpResponse::Ok().streaming(Repeat { chunk, left: 100 })
        }
        _ => HttpResponse::Ok().body("OK"),
    }
}

/// `n` copies of `chunk`, as a body stream.
struct Repeat {
    chunk: web::Bytes,
    left: usize,
}

impl futures_core::Stream for Repeat {
    type Item = Result<web::Bytes, actix_web::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(self.chunk.clone())))
    }
}

struct Receiver {
    base: String,
    seen: Seen,
    in_flight: InFlight,
    handle: actix_web::dev::ServerHandle,
}

async fn receiver() -> Receiver {
    let seen: Seen = Arc::default();
    let in_flight: InFlight = Arc::default();
    let data = web::Data::new(seen.clone());
    let counters = web::Data::new(in_flight.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).app_data(counters.clone()).default_service(web::to(receive))
    })
    .workers(1)
    .shutdown_timeout(0)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Receiver { base, seen, in_flight, handle }
}

struct Fixture {
    app: TestApp,
    tenant: affnet_db::TenantId,
    offer: Offer,
    aff: affnet_db::AffiliateId,
    http: reqwest::Client,
    rx: Receiver,
}

impl Fixture {
    async fn new(backend: Backend) -> Fixture {
        let app = TestApp::start(backend).await;
        let net = app.network("acme");
        let adv = app.advertiser(&net.tenant, "Shop");
        let aff = app.affiliate(&net.tenant, "Media").id;
        let input = OfferInput::simple(adv.id, "Offer", "https://shop.example/?t={transaction_id}", 250);
        let offer = Offer::create(&mut app.pool.get().unwrap(), net.tenant.id, &input, app.clock.now()).unwrap();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Fixture { tenant: net.tenant.id, app, offer, aff, http, rx: receiver().await }
    }

    fn postback(&self, url: &str, edit: impl FnOnce(&mut PostbackInput)) -> Postback {
        let mut input = PostbackInput::new(url);
        edit(&mut input);
        Postback::create(&mut self.app.pool.get().unwrap(), self.tenant, self.aff, &input, self.app.clock.now())
            .unwrap()
    }

    /// A click (with sub ids) and its conversion; returns the transaction id.
    async fn convert(&self) -> String {
        let q = format!("/aff_c?offer_id={}&aff_id={}&aff_sub=fb%20ads&aff_sub3=c3", self.offer.id, self.aff);
        let res = self.http.get(self.app.url(&q)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 302);
        let tid = res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
        let lsr = format!("/aff_lsr?transaction_id={tid}&security_token={}&amount=10", self.offer.security_token);
        assert_eq!(self.http.get(self.app.url(&lsr)).send().await.unwrap().status().as_u16(), 200);
        tid
    }

    fn worker(&self, edit: impl FnOnce(&mut DeliveryConfig)) -> Deliverer {
        let mut config =
            DeliveryConfig { allow_private: true, timeout: Duration::from_secs(2), ..DeliveryConfig::default() };
        edit(&mut config);
        Deliverer::new(self.app.pool.clone(), config, Arc::new(self.app.clock.clone())).unwrap()
    }

    /// An active user of the fixture's affiliate (postback alerts go to them).
    fn affiliate_user(&self, email: &str) {
        let user = affnet_accounts::NewUser {
            email,
            name: "Jo",
            role: affnet_accounts::Role::Affiliate,
            password: &affnet_accounts::NewPassword::hash(crate::support::PASSWORD),
            advertiser_id: None,
            affiliate_id: Some(self.aff),
        };
        affnet_accounts::User::create(&mut self.app.pool.get().unwrap(), self.tenant, &user, self.app.clock.now())
            .unwrap();
    }

    /// Postback alerts mailed through `smtp_url`, linking to `https://net.example`.
    fn alerts(&self, smtp_url: &str) -> (affnet_tracking::delivery::AlertSender, affnet_server::startup::AlertMail) {
        let mailer = affnet_accounts::mail::Mailer::from_settings(
            Some(smtp_url),
            "Network <noreply@affnet.test>",
            std::path::Path::new("unused"),
        )
        .unwrap();
        affnet_server::startup::postback_alerts(Arc::new(mailer), "https://net.example")
    }

    /// (state, attempts) of every job, oldest first.
    fn jobs(&self) -> Vec<(String, i64)> {
        let mut c = self.app.pool.get().unwrap();
        postback_jobs::table
            .order(postback_jobs::id.asc())
            .select((postback_jobs::state, postback_jobs::attempts))
            .load(&mut c)
            .unwrap()
    }

    /// (status code, error, excerpt length) of every attempt, oldest first.
    fn attempts(&self) -> Vec<(Option<i64>, String, usize)> {
        let mut c = self.app.pool.get().unwrap();
        let rows: Vec<(Option<i64>, String, String)> = postback_attempts::table
            .order(postback_attempts::id.asc())
            .select((postback_attempts::status_code, postback_attempts::error, postback_attempts::response_excerpt))
            .load(&mut c)
            .unwrap();
        rows.into_iter().map(|(s, e, x)| (s, e, x.len())).collect()
    }

    async fn stop(self) {
        self.rx.handle.stop(false).await;
        self.app.stop().await;
    }
}

async fn the_receiver_gets_exactly_the_expanded_url(backend: Backend) {
    let f = Fixture::new(backend).await;
    // The seed's line, as an affiliate pastes it (no scheme: plain HTTP, as curl reads it).
    let seed = f.postback(
        "www.yourdomainname.com/track?&source={aff_sub}&clickid={aff_sub3}&amount={payout}&transaction_id={transaction_id}",
        |i| i.enabled = false,
    );
    assert_eq!(
        seed.url,
        "http://www.yourdomainname.com/track?&source={aff_sub}&clickid={aff_sub3}&amount={payout}&transaction_id={transaction_id}"
    );
    // The same line pointed at the local receiver, also without a scheme: it is fired over HTTP.
    let template = "/track?&source={aff_sub}&clickid={aff_sub3}&amount={payout}&transaction_id={transaction_id}";
    let host = f.rx.base.strip_prefix("http://").expect("the receiver listens on http");
    f.postback(&format!("{host}{template}"), |_| {});
    let tid = f.convert().await;
    assert_eq!(f.worker(|_| {}).run_once().await.unwrap(), 1);
    let seen = f.rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "GET");
    assert_eq!(seen[0].1, format!("/track?&source=fb%20ads&clickid=c3&amount=2.50&transaction_id={tid}"));
    assert_eq!(seen[0].3, None, "unsigned without a secret");
    assert_eq!(f.jobs(), [("delivered".to_owned(), 1)]);
    assert_eq!(f.attempts(), [(Some(200), String::new(), 2)]);
    assert_eq!(f.worker(|_| {}).run_once().await.unwrap(), 0, "a delivered job is not fired again");
    f.stop().await;
}

async fn failures_are_retried_on_schedule_then_failed_and_can_be_refired(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/fail?t={{transaction_id}}", f.rx.base), |_| {});
    f.convert().await;
    let w = f.worker(|c| c.max_attempts = 3);
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(f.jobs(), [("retry".to_owned(), 1)]);
    assert_eq!(w.run_once().await.unwrap(), 0, "not due before its backoff");
    f.app.clock.advance(47_000_000); // < 60 s × 0.8
    assert_eq!(w.run_once().await.unwrap(), 0);
    f.app.clock.advance(25_000_000); // > 60 s × 1.2 in all
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(f.jobs(), [("retry".to_owned(), 2)]);
    f.app.clock.advance(145_000_000); // the second wait is about 120 s
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(f.jobs(), [("failed".to_owned(), 3)]);
    f.app.clock.advance(86_400_000_000);
    assert_eq!(w.run_once().await.unwrap(), 0, "a failed job waits for a person");
    assert_eq!(f.attempts().iter().map(|a| a.0).collect::<Vec<_>>(), [Some(500); 3]);
    assert_eq!(f.attempts()[0].1, "HTTP 500");
    let job: i64 = postback_jobs::table.select(postback_jobs::id).first(&mut f.app.pool.get().unwrap()).unwrap();
    let refired =
        affnet_tracking::delivery::refire(&mut f.app.pool.get().unwrap(), f.tenant, None, job, f.app.clock.now())
            .unwrap();
    assert!(refired);
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(f.rx.seen.lock().unwrap().len(), 4);
    f.stop().await;
}

/// A person who corrects a failing postback's URL and re-fires its job sends the corrected
/// request, expanded for the job's conversion (the job kept the URL it was queued with, so the
/// typo was sent again, as the README promised otherwise). A job whose postback was deleted
/// sends what it was queued with.
async fn a_refire_sends_the_postback_as_corrected(backend: Backend) {
    let f = Fixture::new(backend).await;
    let pb = f.postback(&format!("{}/fail?t={{transaction_id}}", f.rx.base), |_| {});
    let tid = f.convert().await;
    let w = f.worker(|c| c.max_attempts = 1);
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(f.jobs(), [("failed".to_owned(), 1)]);

    let mut fixed = PostbackInput::new(format!("{}/fixed?t={{transaction_id}}&p={{payout}}", f.rx.base));
    fixed.method = Some("POST".into());
    fixed.body = "tid={transaction_id}".into();
    Postback::update(&mut f.app.pool.get().unwrap(), f.tenant, None, pb.id, &fixed, f.app.clock.now()).unwrap();
    let job: i64 = postback_jobs::table.select(postback_jobs::id).first(&mut f.app.pool.get().unwrap()).unwrap();
    let refire = || {
        affnet_tracking::delivery::refire(&mut f.app.pool.get().unwrap(), f.tenant, None, job, f.app.clock.now())
            .unwrap()
    };
    assert!(refire());
    assert_eq!(w.run_once().await.unwrap(), 1);
    {
        let seen = f.rx.seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[1].0.as_str(), seen[1].1.as_str()), ("POST", format!("/fixed?t={tid}&p=2.50").as_str()));
        assert_eq!(seen[1].2, format!("tid={tid}"));
    }
    assert_eq!(f.jobs(), [("delivered".to_owned(), 1)]);

    // The postback deleted: a re-fire sends the job as it last was.
    Postback::delete(&mut f.app.pool.get().unwrap(), f.tenant, None, pb.id).unwrap();
    assert!(refire());
    assert_eq!(w.run_once().await.unwrap(), 1);
    let seen = f.rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].1, format!("/fixed?t={tid}&p=2.50"));
    f.stop().await;
}

async fn a_failing_postback_alerts_the_affiliate_and_manager_once_a_day(backend: Backend) {
    use affnet_accounts::{NewUser, Role, User};
    let f = Fixture::new(backend).await;
    let mut conn = f.app.pool.get().unwrap();
    let password = affnet_accounts::NewPassword::hash(crate::support::PASSWORD);
    let new = |email, role, affiliate_id| NewUser {
        email,
        name: "Jo",
        role,
        password: &password,
        advertiser_id: None,
        affiliate_id,
    };
    let now = f.app.clock.now();
    User::create(&mut conn, f.tenant, &new("pub@media.test", Role::Affiliate, Some(f.aff)), now).unwrap();
    let manager = User::create(&mut conn, f.tenant, &new("am@acme.test", Role::Manager, None), now).unwrap();
    User::create(&mut conn, f.tenant, &new("other@acme.test", Role::Manager, None), now).unwrap();
    diesel::update(affiliates::table.filter(affiliates::id.eq(f.aff)))
        .set(affiliates::manager_user_id.eq(Some(manager.id)))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    f.postback(&format!("{}/fail?token=s3cret&t={{transaction_id}}", f.rx.base), |_| {});
    f.convert().await;
    let (alerts, _mail) = f.alerts(&f.app.mail.url());
    let w = f.worker(|c| c.max_attempts = 3).with_alerts(alerts);
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(f.jobs(), [("retry".to_owned(), 1)]);
    f.app.clock.advance(75_000_000);
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert!(f.app.mail.all().is_empty(), "two failures are not yet an alert");
    f.app.clock.advance(145_000_000);
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(f.jobs(), [("failed".to_owned(), 3)]);
    let mails = mails_after(&f, 2).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    let to_affiliate = f.app.mail.last_to("pub@media.test");
    let text = to_affiliate.text();
    let host = f.rx.base.trim_start_matches("http://");
    assert!(text.contains(&format!("{host}/fail")), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(text.contains("https://net.example/affiliate/postbacks/log"), "{text}");
    assert!(!text.contains("s3cret"), "no query string in the alert: {text}");
    let to_manager = f.app.mail.last_to("am@acme.test");
    assert!(to_manager.subject().contains("Media"), "{}", to_manager.subject());
    assert!(to_manager.text().contains("https://net.example/admin/postbacks/log"));
    assert!(f.app.mail.to("other@acme.test").is_empty());

    // Another conversion fails for good within the day: no second alert.
    f.convert().await;
    let once = f.worker(|c| c.max_attempts = 1).with_alerts(f.alerts(&f.app.mail.url()).0);
    f.app.clock.advance(3_600_000_000);
    assert_eq!(once.run_once().await.unwrap(), 1);
    assert_eq!(f.jobs()[1], ("failed".to_owned(), 1));
    // (Alerts are sent by a thread of their own; one would be there well within this wait.)
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.app.mail.all().len(), 2, "at most one alert per postback a day");

    // A day later, it alerts again.
    f.convert().await;
    f.app.clock.advance(86_400_000_000);
    assert_eq!(once.run_once().await.unwrap(), 1);
    assert_eq!(mails_after(&f, 4).await.len(), 4);
    f.stop().await;
}

/// A request cut by its node's death (logged as interrupted when the job is taken back) says
/// nothing of the affiliate's tracker: it does not count towards the failing-postback alert.
async fn interrupted_attempts_do_not_raise_the_failure_alert(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.affiliate_user("pub@media.test");
    f.postback(&format!("{}/fail?t={{transaction_id}}", f.rx.base), |_| {});
    f.convert().await;
    let (alerts, _mail) = f.alerts(&f.app.mail.url());
    let w = f.worker(|c| c.max_attempts = 10).with_alerts(alerts);
    // Twice: the job is left `sending` by a node that died, taken back (an interrupted attempt)
    // and fired again (HTTP 500).
    for round in 1..=2 {
        // (A worker looks for expired leases once a second.)
        f.app.clock.advance(2_000_000);
        {
            let mut c = f.app.pool.get().unwrap();
            let past = f.app.clock.now().0 - 1;
            diesel::update(postback_jobs::table)
                .set((postback_jobs::state.eq("sending"), postback_jobs::locked_until.eq(Some(past))))
                .execute(&mut c)
                .unwrap();
        }
        assert_eq!(w.run_once().await.unwrap(), 1);
        assert_eq!(f.jobs(), [("retry".to_owned(), 2 * round)]);
    }
    let errors: Vec<String> = f.attempts().into_iter().map(|(_, error, _)| error).collect();
    assert_eq!(errors.len(), 4);
    assert!(errors[0].starts_with("interrupted: ") && errors[2].starts_with("interrupted: "), "{errors:?}");
    assert_eq!((errors[1].as_str(), errors[3].as_str()), ("HTTP 500", "HTTP 500"));
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert!(f.app.mail.all().is_empty(), "two failures and two interruptions are not an alert");
    // A third failure is.
    f.app.clock.advance(86_400_000_000);
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(mails_after(&f, 1).await.len(), 1);
    f.stop().await;
}

/// The mails sent so far, once there are `n` of them (alerts go out on a thread of their own),
/// or after 10 s.
async fn mails_after(f: &Fixture, n: usize) -> Vec<crate::smtp_sink::Received> {
    let started = Instant::now();
    while f.app.mail.all().len() < n && started.elapsed() < Duration::from_secs(10) {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    f.app.mail.all()
}

/// A mail server that accepts connections and never answers must not hold up deliveries: the
/// round that raises an alert ends at once, the alert waits on its own thread.
async fn a_hanging_mail_server_does_not_hold_up_deliveries(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.affiliate_user("pub@media.test");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for conn in silent.incoming().flatten() {
            keep.lock().unwrap().push(conn);
        }
    });
    let (alerts, _mail) = f.alerts(&format!("smtp://127.0.0.1:{port}?tls=none"));
    let w = f.worker(|c| c.max_attempts = 1).with_alerts(alerts);
    f.postback(&format!("{}/fail?t={{transaction_id}}", f.rx.base), |_| {});
    f.convert().await;
    let started = Instant::now();
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert!(started.elapsed() < Duration::from_secs(5), "the round waited for the mail: {:?}", started.elapsed());
    assert_eq!(f.jobs(), [("failed".to_owned(), 1)]);
    // The alert did try: its connection is open and waiting.
    let started = Instant::now();
    while held.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5), "no connection to the mail server");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    f.stop().await;
}

async fn binary_answers_are_recorded_and_delivered_once(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/pixel?t={{transaction_id}}", f.rx.base), |_| {});
    f.postback(&format!("{}/ok?t={{transaction_id}}", f.rx.base), |i| i.on_pending = true);
    f.convert().await;
    let w = f.worker(|_| {});
    assert_eq!(w.run_once().await.unwrap(), 2);
    assert_eq!(f.jobs(), [("delivered".to_owned(), 1), ("delivered".to_owned(), 1)]);
    f.app.clock.advance(86_400_000_000);
    assert_eq!(w.run_once().await.unwrap(), 0, "never fired again");
    assert_eq!(f.rx.seen.lock().unwrap().len(), 2);
    f.stop().await;
}

async fn the_ssrf_guard_refuses_internal_targets(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/ok?t={{transaction_id}}", f.rx.base), |_| {});
    f.postback("http://localhost:9/ok", |_| {});
    f.convert().await;
    let guarded = f.worker(|c| c.allow_private = false);
    assert_eq!(guarded.run_once().await.unwrap(), 2);
    assert!(f.rx.seen.lock().unwrap().is_empty(), "nothing reached the receiver");
    let errors: Vec<String> = f.attempts().into_iter().map(|a| a.1).collect();
    assert_eq!(errors[0], "refused: 127.0.0.1 is a private or reserved address", "{errors:?}");
    assert!(
        errors[1].starts_with("refused: localhost resolves only to private or reserved addresses ("),
        "the resolver's refusal, not the client's wrapping of it: {errors:?}"
    );
    // Retrying cannot help: the jobs fail at once (no backoff over days), and nothing fires
    // later by itself.
    assert_eq!(f.jobs(), [("failed".to_owned(), 1), ("failed".to_owned(), 1)]);
    f.app.clock.advance(86_400_000_000);
    assert_eq!(guarded.run_once().await.unwrap(), 0);
    assert!(f.rx.seen.lock().unwrap().is_empty());
    f.stop().await;
}

async fn hanging_and_huge_receivers_cost_bounded_time_and_memory(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/hang", f.rx.base), |_| {});
    f.postback(&format!("{}/big", f.rx.base), |_| {});
    f.convert().await;
    let started = Instant::now();
    assert_eq!(f.worker(|c| c.timeout = Duration::from_secs(1)).run_once().await.unwrap(), 2);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let attempts = f.attempts();
    assert_eq!(attempts[0].0, None);
    assert!(attempts[0].1.contains("timed out"), "{attempts:?}");
    assert_eq!((attempts[1].0, attempts[1].2), (Some(200), 1024));
    f.stop().await;
}

async fn post_json_bodies_are_signed_when_the_affiliate_has_a_secret(backend: Backend) {
    let f = Fixture::new(backend).await;
    diesel::update(affiliates::table.filter(affiliates::id.eq(f.aff)))
        .set(affiliates::postback_secret.eq("s3cret"))
        .execute(&mut f.app.pool.get().unwrap())
        .unwrap();
    let url = format!("{}/json", f.rx.base);
    f.postback(&url, |i| {
        i.method = Some("POST".into());
        i.content_type = Some("application/json".into());
        i.body = r#"{"tid":"{transaction_id}","payout":"{payout}","sub":"{aff_sub}"}"#.into();
    });
    let tid = f.convert().await;
    f.worker(|_| {}).run_once().await.unwrap();
    let seen = f.rx.seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, "POST");
    let body = format!(r#"{{"tid":"{tid}","payout":"2.50","sub":"fb ads"}}"#);
    assert_eq!(seen[0].2, body);
    let unix = f.app.clock.now().unix_seconds();
    assert_eq!(seen[0].3.as_deref(), Some(affnet_tracking::delivery::signature("s3cret", unix, &url, &body).as_str()));
    f.stop().await;
}

/// The signature covers the URL as it is requested, which the receiver can rebuild from its
/// `Host` and request target: a URL saved without a path, or with characters a URL parser
/// encodes, is requested in its normal form (`/?c=…`, `%27`). It covered the text as saved,
/// which no receiver sees.
async fn signatures_cover_the_url_as_requested(backend: Backend) {
    let f = Fixture::new(backend).await;
    diesel::update(affiliates::table.filter(affiliates::id.eq(f.aff)))
        .set(affiliates::postback_secret.eq("s3cret"))
        .execute(&mut f.app.pool.get().unwrap())
        .unwrap();
    f.postback(&format!("{}?c={{transaction_id}}&q='a'", f.rx.base), |_| {});
    // A user name and password go in an Authorization header, not in the requested URL.
    f.postback(&format!("{}/ui?c={{transaction_id}}", f.rx.base.replace("http://", "http://user:pw@")), |_| {});
    let tid = f.convert().await;
    f.worker(|_| {}).run_once().await.unwrap();
    let mut seen = f.rx.seen.lock().unwrap().clone();
    seen.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        (seen[0].1.as_str(), seen[1].1.as_str()),
        (format!("/?c={tid}&q=%27a%27").as_str(), format!("/ui?c={tid}").as_str())
    );
    let unix = f.app.clock.now().unix_seconds();
    for (_, path, _, sig) in &seen {
        let requested = format!("{}{}", f.rx.base, path);
        assert_eq!(
            sig.as_deref(),
            Some(affnet_tracking::delivery::signature("s3cret", unix, &requested, "").as_str()),
            "{path}"
        );
    }
    f.stop().await;
}

async fn two_workers_deliver_each_job_exactly_once(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/ok?t={{transaction_id}}", f.rx.base), |_| {});
    let mut tids = Vec::new();
    for _ in 0..30 {
        tids.push(f.convert().await);
    }
    let (a, b) = (f.worker(|c| c.concurrency = 4), f.worker(|c| c.concurrency = 4));
    loop {
        let (x, y) = futures_join(a.run_once(), b.run_once()).await;
        if x.unwrap() + y.unwrap() == 0 {
            break;
        }
    }
    let mut seen: Vec<String> = f.rx.seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    seen.sort();
    let mut expected: Vec<String> = tids.iter().map(|t| format!("/ok?t={t}")).collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert!(f.jobs().iter().all(|j| j == &("delivered".to_owned(), 1)));
    f.stop().await;
}

/// A node that died while sending leaves its jobs `sending`: once their lease has run out
/// another worker claims them; a live lease is left alone.
async fn jobs_of_a_dead_node_are_claimed_after_their_lease(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/ok?t={{transaction_id}}", f.rx.base), |_| {});
    let dead = f.convert().await;
    let alive = f.convert().await;
    let now = f.app.clock.now().0;
    {
        let mut c = f.app.pool.get().unwrap();
        let ids: Vec<i64> =
            postback_jobs::table.order(postback_jobs::id.asc()).select(postback_jobs::id).load(&mut c).unwrap();
        for (id, until) in [(ids[0], now - 1), (ids[1], now + 60_000_000)] {
            diesel::update(postback_jobs::table.find(id))
                .set((postback_jobs::state.eq("sending"), postback_jobs::locked_until.eq(Some(until))))
                .execute(&mut c)
                .unwrap();
        }
    }
    let w = f.worker(|_| {});
    assert_eq!(w.run_once().await.unwrap(), 1);
    let seen: Vec<String> = f.rx.seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    assert_eq!(seen, [format!("/ok?t={dead}")]);
    // The request the dead node may have sent counts as an attempt, logged as interrupted.
    assert_eq!(f.jobs(), [("delivered".to_owned(), 2), ("sending".to_owned(), 0)]);
    f.app.clock.advance(61_000_000);
    assert_eq!(w.run_once().await.unwrap(), 1, "the other lease ran out too");
    assert_eq!(f.rx.seen.lock().unwrap().last().unwrap().1, format!("/ok?t={alive}"));
    f.stop().await;
}

/// Nodes tell time by the database's clock ([`DatabaseClock`]): a node whose own clock is 10
/// minutes ahead leaves another node's live lease (5 minutes) alone instead of sending that
/// node's in-flight postback a second time, and the lease runs out for it after the database's
/// 5 minutes. (On its own clock, the lease had run out 5 minutes before it was taken.)
async fn a_node_whose_clock_is_ahead_leaves_live_leases_alone(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/ok?t={{transaction_id}}", f.rx.base), |_| {});
    let tid = f.convert().await;
    let now = Micros::now().0;
    {
        let mut c = f.app.pool.get().unwrap();
        // Another node (no node key) claimed it just now, for the 5-minute lease.
        diesel::update(postback_jobs::table)
            .set((
                postback_jobs::state.eq("sending"),
                postback_jobs::locked_until.eq(Some(now + 5 * Micros::MINUTE)),
                postback_jobs::updated_at.eq(now),
            ))
            .execute(&mut c)
            .unwrap();
    }
    let ahead = ManualClock::at(Micros(now + 10 * Micros::MINUTE));
    let clock = DatabaseClock::start(&f.app.pool, Arc::new(ahead.clone())).unwrap();
    assert!((clock.offset() + 10 * Micros::MINUTE).abs() < Micros::SECOND, "offset {}", clock.offset());
    assert!((clock.now().0 - Micros::now().0).abs() < Micros::SECOND);
    let config = DeliveryConfig { allow_private: true, timeout: Duration::from_secs(2), ..DeliveryConfig::default() };
    let w = Deliverer::new(f.app.pool.clone(), config, clock).unwrap();
    assert_eq!(w.run_once().await.unwrap(), 0, "the other node's lease is live");
    assert!(f.rx.seen.lock().unwrap().is_empty());
    assert_eq!(f.jobs(), [("sending".to_owned(), 0)]);
    ahead.advance(5 * Micros::MINUTE + Micros::SECOND);
    assert_eq!(w.run_once().await.unwrap(), 1, "the lease ran out");
    let seen: Vec<String> = f.rx.seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    assert_eq!(seen, [format!("/ok?t={tid}")]);
    f.stop().await;
}

/// On PostgreSQL a worker holds an advisory lock on its node key while it lives: a job claimed
/// by a node no session holds the lock of (the node died) is claimed again once its request is
/// surely over (claimed more than the request timeout and a 5 s margin ago), even with its lease
/// running; a live node's job, or a dead node's job claimed just now, is left alone. (SQLite has
/// one server per file: it releases what a dead one left when it starts, `durability.rs`;
/// in-process, only leases count there.)
async fn jobs_of_a_node_without_its_lock_are_claimed_once_their_request_is_over(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/ok?t={{transaction_id}}", f.rx.base), |_| {});
    let orphaned = f.convert().await;
    f.convert().await;
    f.convert().await;
    let (alive, other) = (f.worker(|_| {}), f.worker(|_| {}));
    assert_eq!(alive.node().is_some(), backend == Backend::Postgres);
    if backend == Backend::Postgres {
        assert_ne!(alive.node(), other.node());
    }
    let now = f.app.clock.now().0;
    let (live_until, long_ago) = (now + 60_000_000, now - 8_000_000);
    {
        let mut c = f.app.pool.get().unwrap();
        let ids: Vec<i64> =
            postback_jobs::table.order(postback_jobs::id.asc()).select(postback_jobs::id).load(&mut c).unwrap();
        // Key 7: a node that died (no session holds its lock), 8 s ago (the worker's timeout is
        // 2 s) and just now; the last: a live worker's, 8 s ago.
        for (id, node, claimed) in
            [(ids[0], Some(7), long_ago), (ids[1], Some(7), now), (ids[2], other.node(), long_ago)]
        {
            diesel::update(postback_jobs::table.find(id))
                .set((
                    postback_jobs::state.eq("sending"),
                    postback_jobs::locked_until.eq(Some(live_until)),
                    postback_jobs::locked_by.eq(node),
                    postback_jobs::updated_at.eq(claimed),
                ))
                .execute(&mut c)
                .unwrap();
        }
    }
    let claimed = alive.run_once().await.unwrap();
    let seen: Vec<String> = f.rx.seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    let sending = ("sending".to_owned(), 0);
    if backend == Backend::Postgres {
        assert_eq!(claimed, 1);
        assert_eq!(seen, [format!("/ok?t={orphaned}")]);
        assert_eq!(f.jobs(), [("delivered".to_owned(), 2), sending.clone(), sending]);
    } else {
        assert_eq!(claimed, 0);
        assert!(seen.is_empty());
        assert_eq!(f.jobs(), [sending.clone(), sending.clone(), sending]);
    }
    drop(other);
    f.stop().await;
}

/// A request's outcome, recorded after another claim took the job over (its node's lock was
/// gone), leaves the job to that claim: the attempt is logged, the job not moved.
async fn an_outcome_recorded_after_a_takeover_leaves_the_job_to_the_new_claim(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/late?t={{transaction_id}}", f.rx.base), |_| {});
    f.postback(&format!("{}/hang?t={{transaction_id}}", f.rx.base), |_| {});
    f.convert().await;
    let w = f.worker(|_| {});
    let firing = actix_web::rt::spawn(async move { w.run_once().await.unwrap() });
    let started = Instant::now();
    while f.rx.seen.lock().unwrap().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(5), "the requests did not arrive");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    let taken_until = f.app.clock.now().0 + 999_000_000;
    diesel::update(postback_jobs::table)
        .set((postback_jobs::locked_until.eq(Some(taken_until)), postback_jobs::locked_by.eq(Some(42))))
        .execute(&mut f.app.pool.get().unwrap())
        .unwrap();
    assert_eq!(firing.await.unwrap(), 2, "one delivered late, one timed out");
    assert_eq!(f.attempts().len(), 2, "both attempts are logged");
    let jobs: Vec<(String, i64, Option<i64>)> = postback_jobs::table
        .select((postback_jobs::state, postback_jobs::attempts, postback_jobs::locked_until))
        .load(&mut f.app.pool.get().unwrap())
        .unwrap();
    assert_eq!(jobs, vec![("sending".to_owned(), 0, Some(taken_until)); 2]);
    f.stop().await;
}

/// A worker whose lock session is ended (PostgreSQL restarted, an administrator's
/// `pg_terminate_backend`) notices on its next look, locks its key again in a new session and
/// goes on claiming with it.
#[actix_web::test]
async fn a_worker_that_lost_its_lock_session_locks_its_key_again() {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let f = Fixture::new(Backend::Postgres).await;
    f.postback(&format!("{}/ok?t={{transaction_id}}", f.rx.base), |_| {});
    let w = f.worker(|_| {});
    let key = w.node().unwrap();
    let holders = |c: &mut affnet_db::DbConn| -> i64 {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = {} AND objid = {key} AND granted",
            affnet_tracking::liveness::CLASS
        );
        affnet_db::with_backend!(c, |c| diesel::sql_query(&sql).get_result::<Count>(c)).unwrap().n
    };
    let mut c = f.app.pool.get().unwrap();
    assert_eq!(holders(&mut c), 1);
    let sql = format!(
        "SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = {} AND objid = {key}",
        affnet_tracking::liveness::CLASS
    );
    let ended = affnet_db::with_backend!(&mut *c, |c| diesel::sql_query(&sql).get_result::<Count>(c)).unwrap().n;
    assert_eq!(ended, 1);
    let started = Instant::now();
    while holders(&mut c) != 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "the session did not end");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    // The next claim looks first, locks the key again, and claims as usual.
    let tid = f.convert().await;
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(holders(&mut c), 1);
    assert_eq!(w.node(), Some(key));
    assert_eq!(f.rx.seen.lock().unwrap().last().unwrap().1, format!("/ok?t={tid}"));
    f.stop().await;
}

/// The worker as `affnet serve` runs it (a pipeline: claims, fires and records overlap), two of
/// them on one outbox: every job is fired exactly once, failures are recorded too, and stopping
/// leaves nothing claimed.
async fn two_running_workers_deliver_each_job_exactly_once(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/ok?t={{transaction_id}}", f.rx.base), |_| {});
    f.postback(&format!("{}/fail?t={{transaction_id}}", f.rx.base), |_| {});
    let mut tids = Vec::new();
    for _ in 0..25 {
        tids.push(f.convert().await);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            f.worker(|c| {
                c.concurrency = 4;
                c.max_attempts = 1;
                c.idle_poll = Duration::from_millis(20);
            })
            .spawn(stop.clone())
            .unwrap()
        })
        .collect();
    let started = Instant::now();
    while f.jobs().iter().any(|(state, _)| state != "delivered" && state != "failed") {
        assert!(started.elapsed() < Duration::from_secs(30), "jobs left: {:?}", f.jobs());
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    actix_web::rt::task::spawn_blocking(move || workers.into_iter().for_each(|w| w.join().unwrap())).await.unwrap();
    let mut seen: Vec<String> = f.rx.seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    seen.sort();
    let mut expected: Vec<String> = tids.iter().flat_map(|t| [format!("/fail?t={t}"), format!("/ok?t={t}")]).collect();
    expected.sort();
    assert_eq!(seen, expected, "each job fired once");
    let jobs = f.jobs();
    assert_eq!(jobs.len(), 50);
    assert_eq!(jobs.iter().filter(|j| *j == &("delivered".to_owned(), 1)).count(), 25);
    assert_eq!(jobs.iter().filter(|j| *j == &("failed".to_owned(), 1)).count(), 25);
    let attempts = f.attempts();
    assert_eq!(attempts.len(), 50, "one attempt recorded per firing");
    assert_eq!(attempts.iter().filter(|a| a.0 == Some(500)).count(), 25);
    f.stop().await;
}

/// Many jobs for one receiver never open more than `per_host` requests to it at once, whatever
/// the worker's overall concurrency: an affiliate's tracker is not flooded by a burst.
async fn one_receiver_gets_at_most_per_host_requests_at_once(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/slow?t={{transaction_id}}", f.rx.base), |_| {});
    for _ in 0..12 {
        f.convert().await;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = f
        .worker(|c| {
            c.concurrency = 64;
            c.per_host = 3;
            c.idle_poll = Duration::from_millis(20);
        })
        .spawn(stop.clone())
        .unwrap();
    let started = Instant::now();
    while f.jobs().iter().any(|(state, _)| state != "delivered") {
        assert!(started.elapsed() < Duration::from_secs(30), "jobs left: {:?}", f.jobs());
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    actix_web::rt::task::spawn_blocking(move || worker.join().unwrap()).await.unwrap();
    let most = f.rx.in_flight.1.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(most, 3, "at most 3 at once, and the 3 were used");
    assert_eq!(f.attempts().len(), 12);
    f.stop().await;
}

/// A tracker that hangs, with a backlog, does not hold up the postbacks to other hosts: a
/// claimed job that would wait longer than `host_wait` for a free request to its host is given
/// back unsent (no attempt counted), due again when the host is expected to have room, and the
/// worker's slots go to other hosts' jobs. Before, the jobs waiting for the hanging host held
/// the slots until its requests timed out, round after round (delivery probe: 600 jobs to a
/// hanging host delayed another network's postback by 11 s).
async fn a_hanging_host_with_a_backlog_does_not_hold_up_other_hosts(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/hang?t={{transaction_id}}", f.rx.base), |_| {});
    for _ in 0..30 {
        f.convert().await;
        f.app.clock.advance(1);
    }
    let other = receiver().await;
    f.postback(&format!("{}/ok?t={{transaction_id}}", other.base), |_| {});
    let tid = f.convert().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = f
        .worker(|c| {
            c.concurrency = 8;
            c.per_host = 2;
            c.idle_poll = Duration::from_millis(20);
        })
        .spawn(stop.clone())
        .unwrap();
    let started = Instant::now();
    // Queued last, behind 31 jobs to the hanging host: 2 of those in flight at a time, each for
    // the 2 s timeout, took it about 30 s.
    while other.seen.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(6), "the other host got nothing: {:?}", f.jobs());
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(other.seen.lock().unwrap()[0].1, format!("/ok?t={tid}"));
    stop.store(true, std::sync::atomic::Ordering::Release);
    actix_web::rt::task::spawn_blocking(move || worker.join().unwrap()).await.unwrap();
    // The 2 requests of per_host, hanging until the stop (they time out after 2 s; the jobs
    // given back are due later on the test's clock, which stands still).
    let sent = f.rx.seen.lock().unwrap().len();
    assert_eq!(sent, 2, "{:?}", f.rx.seen.lock().unwrap());
    // Every request sent is an attempt (timed out, or cut by the stop); a job given back unsent
    // counts none, logs none, and is queued again for later, at most 5 minutes on.
    let mut c = f.app.pool.get().unwrap();
    let now = f.app.clock.now();
    let jobs: Vec<(String, String, i64, Micros)> = postback_jobs::table
        .order(postback_jobs::id.asc())
        .select((postback_jobs::url, postback_jobs::state, postback_jobs::attempts, postback_jobs::next_attempt_at))
        .load(&mut c)
        .unwrap();
    let hanging: Vec<_> = jobs.iter().filter(|j| j.0.contains("/hang")).collect();
    assert_eq!(hanging.len(), 31);
    assert_eq!(hanging.iter().map(|j| j.2).sum::<i64>(), sent as i64, "{jobs:?}");
    assert_eq!(f.attempts().len(), sent + 1);
    let unsent: Vec<_> = hanging.iter().filter(|j| j.2 == 0).collect();
    assert_eq!(unsent.len(), 31 - sent);
    for (_, state, _, next) in unsent {
        assert_eq!(state, "queued");
        assert!(next.0 > now.0 && next.0 <= now.0 + 300_000_000, "due again within 5 minutes: {jobs:?}");
    }
    let delivered: Vec<_> = jobs.iter().filter(|j| j.1 == "delivered").collect();
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].0.contains("/ok?t="));

    // The tracker answers again (its jobs now go to a path that does): once due, every job is
    // delivered, each exactly once, the ones given back included.
    diesel::sql_query("UPDATE postback_jobs SET url = REPLACE(url, '/hang?', '/ok?')").execute(&mut c).unwrap();
    f.app.clock.advance(301 * Micros::SECOND);
    let w = f.worker(|c| {
        c.concurrency = 8;
        c.per_host = 2;
    });
    while w.run_once().await.unwrap() > 0 {}
    let mut oks: Vec<String> =
        f.rx.seen.lock().unwrap().iter().map(|s| s.1.clone()).filter(|p| p.starts_with("/ok?")).collect();
    oks.sort();
    oks.dedup();
    assert_eq!(oks.len(), 31, "each job once: {oks:?}");
    assert_eq!(f.rx.seen.lock().unwrap().len(), 2 + 31);
    let jobs = f.jobs();
    assert!(jobs.iter().all(|(state, _)| state == "delivered"), "{jobs:?}");
    assert_eq!(jobs.iter().map(|j| j.1).sum::<i64>(), 2 + 31 + 1, "an attempt per request sent");
    other.handle.stop(false).await;
    f.stop().await;
}

async fn futures_join<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

/// A claim that committed but whose rows never came back (its connection broke, or the query
/// after it failed) leaves its jobs `sending` under this node's marks; they are made due again at
/// once, with no attempt counted (none was sent), instead of waiting for their lease.
async fn jobs_of_a_claim_whose_answer_was_lost_are_due_again(backend: Backend) {
    use diesel::connection::SimpleConnection;
    let f = Fixture::new(backend).await;
    f.postback(&format!("{}/ok?t={{transaction_id}}", f.rx.base), |_| {});
    let mut tids = [f.convert().await, f.convert().await];
    let w = f.worker(|_| {});
    // The claim commits; the query of the affiliates' signing secrets right after it fails.
    let sql = |s: &str| f.app.pool.get().unwrap().batch_execute(s).unwrap();
    sql("ALTER TABLE affiliates RENAME COLUMN postback_secret TO postback_secret_gone");
    assert!(w.run_once().await.is_err());
    sql("ALTER TABLE affiliates RENAME COLUMN postback_secret_gone TO postback_secret");
    assert_eq!(f.jobs(), [("retry".to_owned(), 0), ("retry".to_owned(), 0)]);
    assert!(f.attempts().is_empty(), "nothing was sent: {:?}", f.attempts());
    assert_eq!(w.run_once().await.unwrap(), 2);
    let mut seen: Vec<String> = f.rx.seen.lock().unwrap().iter().map(|s| s.1.clone()).collect();
    seen.sort();
    tids.sort();
    assert_eq!(seen, tids.iter().map(|t| format!("/ok?t={t}")).collect::<Vec<_>>());
    assert_eq!(f.jobs(), [("delivered".to_owned(), 1), ("delivered".to_owned(), 1)]);
    f.stop().await;
}

/// A postback deleted while one of its jobs is being sent: the answer is recorded all the same
/// (on SQLite the attempts log's foreign key refused it, and with it every later round).
async fn an_answer_for_a_postback_deleted_meanwhile_is_recorded(backend: Backend) {
    let f = Fixture::new(backend).await;
    let pb = f.postback(&format!("{}/late?t={{transaction_id}}", f.rx.base), |_| {});
    f.convert().await;
    let w = Arc::new(f.worker(|_| {}));
    let firing = {
        let w = w.clone();
        actix_web::rt::spawn(async move { w.run_once().await })
    };
    let started = Instant::now();
    while f.rx.seen.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5), "the request did not arrive");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    Postback::delete(&mut f.app.pool.get().unwrap(), f.tenant, None, pb.id).unwrap();
    assert_eq!(firing.await.unwrap().unwrap(), 1);
    assert_eq!(f.jobs(), [("delivered".to_owned(), 1)]);
    assert_eq!(f.attempts(), [(Some(200), String::new(), 2)]);
    // And the next rounds are recorded too.
    f.postback(&format!("{}/ok?t={{transaction_id}}", f.rx.base), |_| {});
    f.convert().await;
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(f.jobs()[1], ("delivered".to_owned(), 1));
    f.stop().await;
}

/// Up to 3 redirects in a row are followed; a 4th, or one to another scheme, is the answer: an
/// `HTTP 3xx` failure that says why it was not followed, retried like any other.
async fn three_redirects_are_followed_and_a_redirect_not_followed_is_the_answer(backend: Backend) {
    let f = Fixture::new(backend).await;
    let w = f.worker(|_| {});
    let mut expected = Vec::new();
    for (path, attempt) in [
        ("/redirect/3/a", (Some(200), String::new(), 2)),
        ("/redirect/4/a", (Some(302), "HTTP 302: redirect not followed: more than 3 redirects".to_owned(), 0)),
        (
            "/to-ftp",
            (
                Some(302),
                "HTTP 302: redirect to files.example/x not followed, refused: the ftp scheme is not allowed (http or https only)"
                    .to_owned(),
                0,
            ),
        ),
    ] {
        let pb = f.postback(&format!("{}{path}?t={{transaction_id}}", f.rx.base), |_| {});
        f.convert().await;
        assert_eq!(w.run_once().await.unwrap(), 1, "{path}");
        Postback::delete(&mut f.app.pool.get().unwrap(), f.tenant, None, pb.id).unwrap();
        expected.push(attempt);
        assert_eq!(f.attempts(), expected, "{path}");
    }
    let seen: Vec<String> =
        f.rx.seen.lock().unwrap().iter().map(|s| s.1.split('?').next().unwrap().to_owned()).collect();
    let chain = |n: u32, last: u32| (last..=n).rev().map(move |i| format!("/redirect/{i}/a"));
    let mut want: Vec<String> = chain(3, 0).collect();
    want.extend(chain(4, 1));
    want.push("/to-ftp".to_owned());
    assert_eq!(seen, want);
    assert_eq!(f.jobs().iter().map(|j| j.0.as_str()).collect::<Vec<_>>(), ["delivered", "retry", "retry"]);
    f.stop().await;
}

crate::on_both_backends!(
    the_receiver_gets_exactly_the_expanded_url,
    failures_are_retried_on_schedule_then_failed_and_can_be_refired,
    a_refire_sends_the_postback_as_corrected,
    a_failing_postback_alerts_the_affiliate_and_manager_once_a_day,
    interrupted_attempts_do_not_raise_the_failure_alert,
    the_ssrf_guard_refuses_internal_targets,
    binary_answers_are_recorded_and_delivered_once,
    hanging_and_huge_receivers_cost_bounded_time_and_memory,
    post_json_bodies_are_signed_when_the_affiliate_has_a_secret,
    signatures_cover_the_url_as_requested,
    two_workers_deliver_each_job_exactly_once,
    two_running_workers_deliver_each_job_exactly_once,
    one_receiver_gets_at_most_per_host_requests_at_once,
    a_hanging_host_with_a_backlog_does_not_hold_up_other_hosts,
    jobs_of_a_dead_node_are_claimed_after_their_lease,
    a_node_whose_clock_is_ahead_leaves_live_leases_alone,
    jobs_of_a_node_without_its_lock_are_claimed_once_their_request_is_over,
    an_outcome_recorded_after_a_takeover_leaves_the_job_to_the_new_claim,
    jobs_of_a_claim_whose_answer_was_lost_are_due_again,
    an_answer_for_a_postback_deleted_meanwhile_is_recorded,
    three_redirects_are_followed_and_a_redirect_not_followed_is_the_answer,
    a_hanging_mail_server_does_not_hold_up_deliveries,
);
