//! End to end in headless Chromium: the real pages, clicked and typed like a person. An admin
//! creates an advertiser and an offer; an affiliate signs up, confirms the address with the
//! link from the email (the test's SMTP sink), the admin approves; the affiliate builds a link, saves a postback
//! in the seed's format and test-fires it; a click and a conversion follow; the affiliate's
//! receiver gets the postback; the advertiser sees the attributed conversion and the admin
//! traces it. Screenshots of the main pages are saved in `target/screenshots/`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use affnet_accounts::{NewUser, Role, User};
use affnet_db::schema::{advertisers, offers};
use affnet_db::{AdvertiserId, Backend, Clock, OfferId};
use diesel::prelude::*;

use crate::support::{TestApp, PASSWORD};
use crate::webdriver::Browser;

type Seen = Arc<Mutex<Vec<String>>>;

async fn receive(req: HttpRequest, seen: web::Data<Seen>) -> HttpResponse {
    seen.lock().unwrap().push(req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default());
    HttpResponse::Ok().body("OK")
}

async fn sign_in(b: &Browser, app: &TestApp, email: &str, landing: &str) {
    b.goto(&app.url("/t/acme/login")).await;
    b.fill("#email", email).await;
    b.fill("#password", PASSWORD).await;
    b.click("form[action='/t/acme/login'] button[type=submit]").await;
    wait_for(b, |url| url.ends_with(landing)).await;
}

async fn wait_for(b: &Browser, ok: impl Fn(&str) -> bool) {
    let started = Instant::now();
    loop {
        let url = b.current_url().await;
        if ok(&url) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "stuck on {url}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_whole_loop_in_a_real_browser(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let tag = backend.as_str();
    let seen: Seen = Arc::default();
    let data = web::Data::new(seen.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rx = format!("http://{}", listener.local_addr().unwrap());
    let receiver = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    let receiver_handle = receiver.handle();
    actix_web::rt::spawn(receiver);

    // The admin: advertiser, then offer, through the forms.
    let admin = Browser::start().await;
    sign_in(&admin, &app, "admin@acme.test", "/admin").await;
    admin.screenshot(&format!("{tag}-admin-dashboard")).await;
    admin.goto(&app.url("/admin/advertisers")).await;
    admin.fill("form[action='/admin/advertisers'][method=post] input[name=name]", "Browser Shop").await;
    admin.click("form[action='/admin/advertisers'][method=post] button[type=submit]").await;
    wait_for(&admin, |u| !u.ends_with("/admin/advertisers")).await;
    let advertiser: AdvertiserId = advertisers::table
        .filter(advertisers::name.eq("Browser Shop"))
        .select(advertisers::id)
        .first(&mut app.pool.get().unwrap())
        .unwrap();
    admin.goto(&app.url("/admin/offers/new")).await;
    admin.click(&format!("select[name=advertiser_id] option[value='{advertiser}']")).await;
    admin.fill("input[name=name]", "Browser CPA").await;
    admin.fill("input[name=offer_url]", "https://shop.example/land?tid={transaction_id}&s={aff_sub}").await;
    admin.fill("input[name=payout_flat]", "2.50").await;
    admin.click("form[action='/admin/offers'] button[type=submit]").await;
    wait_for(&admin, |u| u.contains("/admin/offers/") && !u.ends_with("/new")).await;
    let (offer, token): (OfferId, String) = offers::table
        .filter(offers::name.eq("Browser CPA"))
        .select((offers::id, offers::security_token))
        .first(&mut app.pool.get().unwrap())
        .unwrap();
    let page = admin.source().await;
    assert!(page.contains("/aff_lsr?transaction_id="), "integration instructions shown");
    assert!(page.contains(&token), "the conversion URL carries the offer's token");
    admin.screenshot(&format!("{tag}-admin-offer")).await;

    // The network writes its signup terms.
    admin.goto(&app.url("/admin/users")).await;
    admin.fill("#terms", "Browser network terms: no incentivised traffic.").await;
    admin.click("form[action='/admin/signup-settings'] button[type=submit]").await;
    let started = Instant::now();
    while !admin.source().await.contains("Signup settings saved.") {
        assert!(started.elapsed() < Duration::from_secs(10), "signup settings not saved");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }

    // The affiliate signs up (accepting the terms shown), confirms the address from the
    // email, and the admin approves.
    let affiliate = Browser::start().await;
    affiliate.goto(&app.url("/t/acme/signup")).await;
    assert!(affiliate.source().await.contains("Browser network terms: no incentivised traffic."));
    affiliate.fill("#company", "Browser Media").await;
    affiliate.fill("#name", "Bea").await;
    affiliate.fill("#email", "aff@acme.test").await;
    affiliate.fill("#password", PASSWORD).await;
    affiliate.click("input[name=terms]").await;
    affiliate.click("form[action='/t/acme/signup'] button[type=submit]").await;
    let started = Instant::now();
    while !affiliate.source().await.contains("Check your email") {
        assert!(started.elapsed() < Duration::from_secs(10), "no signup confirmation page");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    affiliate.screenshot(&format!("{tag}-affiliate-signup")).await;
    let link = app.mail.last_to("aff@acme.test").link("/t/acme/verify/").expect("a verification link");
    affiliate.goto(&app.url(&link)).await;
    affiliate.click("form[action^='/t/acme/verify/'] button[type=submit]").await;
    let started = Instant::now();
    while !affiliate.source().await.contains("waits for the network") {
        assert!(started.elapsed() < Duration::from_secs(10), "no confirmation page");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let user = app.users_of(&net.tenant).into_iter().find(|u| u.email == "aff@acme.test").unwrap();
    let aff = user.affiliate_id.unwrap();
    admin.goto(&app.url(&format!("/admin/users/{}", user.id))).await;
    admin.click("button[name=status][value=active]").await;
    // The approval is done when its email went out (the page URL does not change).
    let started = Instant::now();
    while !app.mail.to("aff@acme.test").iter().any(|m| m.subject().contains("approved")) {
        assert!(started.elapsed() < Duration::from_secs(10), "no approval email");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }

    // The affiliate: link builder, postback in the seed's format, test-fire.
    sign_in(&affiliate, &app, "aff@acme.test", "/affiliate").await;
    affiliate.goto(&app.url(&format!("/affiliate/offers/{offer}"))).await;
    affiliate.fill("#aff_sub", "browser").await;
    affiliate.click("form[method=get] button[type=submit]").await;
    wait_for(&affiliate, |u| u.contains("aff_sub=browser")).await;
    let link = affiliate.text("#tracking-link").await;
    assert!(link.contains(&format!("/aff_c?offer_id={offer}&aff_id={aff}")), "{link}");
    assert!(link.contains("aff_sub=browser"), "{link}");
    affiliate.screenshot(&format!("{tag}-affiliate-link")).await;
    affiliate.goto(&app.url("/affiliate/postbacks")).await;
    let seed = format!(
        "{rx}/track?&source={{aff_sub}}&clickid={{aff_sub3}}&amount={{payout}}&transaction_id={{transaction_id}}"
    );
    affiliate.fill("#url", &seed).await;
    affiliate.click("#new button[type=submit]").await;
    wait_for(&affiliate, |u| u.ends_with("/affiliate/postbacks") || u.contains("/affiliate/postbacks#")).await;
    affiliate.click("form[action$='/test'] button[type=submit]").await;
    let started = Instant::now();
    while !affiliate.source().await.contains("test-result") {
        assert!(started.elapsed() < Duration::from_secs(10), "no test-fire result shown");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(affiliate.text(".test-result").await.contains("200"));
    affiliate.screenshot(&format!("{tag}-affiliate-postbacks")).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "the test-fire reached the receiver");

    // A visitor clicks (the landing page is not reachable here: follow the redirect by hand) and
    // the advertiser's server reports the sale.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(&link).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 302);
    let tid =
        res.headers()["location"].to_str().unwrap().split("tid=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let lsr = app.url(&format!("/aff_lsr?transaction_id={tid}&security_token={token}&amount=19.99&adv_sub=order-1"));
    assert_eq!(http.get(lsr).send().await.unwrap().text().await.unwrap(), "success=true;");
    let worker = affnet_tracking::delivery::Deliverer::new(
        app.pool.clone(),
        affnet_tracking::delivery::DeliveryConfig { allow_private: true, ..Default::default() },
        Arc::new(app.clock.clone()),
    )
    .unwrap();
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        &format!("/track?&source=browser&clickid=&amount=2.50&transaction_id={tid}")
    );

    // The advertiser sees the attributed conversion; the admin traces it.
    let new = NewUser {
        email: "adv@acme.test",
        name: "",
        role: Role::Advertiser,
        password: &affnet_accounts::NewPassword::hash(PASSWORD),
        advertiser_id: Some(advertiser),
        affiliate_id: None,
    };
    User::create(&mut app.pool.get().unwrap(), net.tenant.id, &new, app.clock.now()).unwrap();
    let adv = Browser::start().await;
    sign_in(&adv, &app, "adv@acme.test", "/advertiser").await;
    adv.goto(&app.url("/advertiser/conversions")).await;
    let page = adv.source().await;
    assert!(page.contains("order-1") || page.contains(&tid), "the advertiser sees the conversion");
    adv.screenshot(&format!("{tag}-advertiser-conversions")).await;
    admin.goto(&app.url(&format!("/admin/tracer?transaction_id={tid}"))).await;
    let page = admin.source().await;
    assert!(page.contains("accepted") && page.contains("delivered"), "tracer shows the call and the postback");
    admin.screenshot(&format!("{tag}-admin-tracer")).await;
    admin.goto(&app.url("/admin")).await;
    admin.screenshot(&format!("{tag}-admin-dashboard-after")).await;

    // On a phone's width nothing scrolls sideways, not even a postback's long error (a URL
    // with no space to break at pushed the delivery log to 572 px, portals probe).
    let long = format!(
        "error sending request for url ({}/track?&source=browser&clickid=&amount=2.50&transaction_id={tid}{})",
        rx,
        "x".repeat(200)
    );
    diesel::update(affnet_db::schema::postback_jobs::table)
        .set(affnet_db::schema::postback_jobs::last_error.eq(&long))
        .execute(&mut app.pool.get().unwrap())
        .unwrap();
    for (b, pages) in [
        (
            &affiliate,
            vec![
                "/affiliate",
                "/affiliate/postbacks",
                "/affiliate/postbacks/log",
                "/affiliate/conversions",
                "/affiliate/offers",
            ],
        ),
        (
            &admin,
            vec!["/admin", "/admin/postbacks/log", "/admin/conversions", "/admin/clicks", "/admin/conversion-calls"],
        ),
        (&adv, vec!["/advertiser", "/advertiser/conversions", "/advertiser/offers"]),
    ] {
        b.set_window_size(375, 800).await;
        for page in pages {
            b.goto(&app.url(page)).await;
            assert!(b.source().await.contains("<h1"), "{page}");
            assert_eq!(b.overflow_x().await, 0, "{page} at 375 px");
        }
    }
    affiliate.goto(&app.url("/affiliate/postbacks/log")).await;
    assert!(affiliate.source().await.contains(&"x".repeat(200)), "the long error is shown");
    // Checkboxes keep their size beside a long label (on_status_change's was squashed to 4 px).
    for width in [375, 1280] {
        affiliate.set_window_size(width, 800).await;
        affiliate.goto(&app.url("/affiliate/postbacks")).await;
        let sizes = affiliate
            .execute("return [...document.querySelectorAll('#new input[type=checkbox]')].map(e => Math.round(e.getBoundingClientRect().width));")
            .await;
        let sizes: Vec<i64> = sizes.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert!(!sizes.is_empty() && sizes.iter().all(|w| *w >= 12), "checkbox widths at {width} px: {sizes:?}");
    }

    for b in [admin, affiliate, adv] {
        b.quit().await;
    }
    receiver_handle.stop(false).await;
    app.stop().await;
}

crate::on_both_backends!(the_whole_loop_in_a_real_browser);
