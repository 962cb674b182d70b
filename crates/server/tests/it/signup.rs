//! Public signup, email verification, approval, password reset, and the emails they send
//! (through a real SMTP conversation with a sink on loopback).

use affnet_accounts::signup::{self, SignupSettings};
use affnet_accounts::{Tenant, UserStatus};
use affnet_db::{Backend, Clock, Micros};

use crate::support::{TestApp, PASSWORD};

const NEW_PASSWORD: &str = "a brand new secret";

async fn sign_up(b: &crate::support::Browser, slug: &str, email: &str) -> crate::support::Page {
    let path = format!("/t/{slug}/signup");
    b.submit(
        &path,
        &path,
        &[("company", "Jo Media"), ("name", "Jo"), ("email", email), ("password", PASSWORD), ("terms", "on")],
    )
    .await
}

fn settings(app: &TestApp, tenant: &Tenant, s: SignupSettings) {
    let mut conn = app.pool.get().unwrap();
    signup::set_settings(&mut conn, tenant.id, &s).unwrap();
}

async fn affiliate_signs_up_verifies_waits_for_approval_and_signs_in(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let b = app.browser();

    let form = b.get("/t/acme/signup").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Affiliate signup"), "{}", form.body);
    assert!(!form.body.contains("name=\"terms\""), "no terms set, none to accept: {}", form.body);

    let done = sign_up(&b, "acme", "jo@media.test").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Check your email"));
    let user = app.users_of(&net.tenant).into_iter().find(|u| u.email == "jo@media.test").unwrap();
    assert_eq!(user.status, UserStatus::Pending);
    assert!(user.email_verified_at.is_none());

    // Not yet verified: sign-in refused with a clear message.
    let refused = b.sign_in("acme", "jo@media.test", PASSWORD).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("confirm your email address"), "{}", refused.body);

    let mail = app.mail.last_to("jo@media.test");
    assert!(mail.subject().contains("Confirm your email"), "{}", mail.data);
    assert!(mail.data.contains("multipart/alternative") && mail.data.contains("text/html"));
    let link = mail.link("/t/acme/verify/").unwrap();
    assert!(link.len() > "/t/acme/verify/".len() + 32, "{link}");

    // Opening the link (as a mail scanner or a preview would, any number of times) changes
    // nothing: it shows one button.
    for _ in 0..2 {
        let page = b.get(&link).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Confirm my email address"), "{}", page.body);
    }
    let unconfirmed = app.users_of(&net.tenant).into_iter().find(|u| u.email == "jo@media.test").unwrap();
    assert!(unconfirmed.email_verified_at.is_none());
    // The button's POST needs the page's CSRF token.
    assert_eq!(app.browser().post(&link, &[("csrf_token", "forged")]).await.status, 403);
    let verified = b.submit(&link, &link, &[]).await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert!(verified.body.contains("waits for the network"), "{}", verified.body);
    // Single use.
    assert_eq!(b.get(&link).await.status, 404);
    let token = b.get("/t/acme/login").await.csrf();
    assert_eq!(b.post(&link, &[("csrf_token", &token)]).await.status, 404);

    let pending = b.sign_in("acme", "jo@media.test", PASSWORD).await;
    assert_eq!(pending.status, 403);
    assert!(pending.body.contains("waiting for approval"), "{}", pending.body);

    // The admin approves from the user's page.
    let admin = app.browser();
    assert_eq!(admin.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303);
    let page = admin.get(&format!("/admin/users/{}", user.id)).await;
    assert!(page.body.contains("Approve") && page.body.contains("email confirmed"), "{}", page.body);
    // The page names the company the approval activates, with a link to it.
    let company = user.affiliate_id.unwrap();
    assert!(page.body.contains(&format!("<a href=\"/admin/affiliates/{company}\">")), "{}", page.body);
    let approved = admin
        .submit(
            &format!("/admin/users/{}", user.id),
            &format!("/admin/users/{}/status", user.id),
            &[("status", "active")],
        )
        .await;
    assert_eq!(approved.status, 303);
    let mail = app.mail.last_to("jo@media.test");
    assert!(mail.subject().contains("approved"), "{}", mail.data);
    assert!(mail.text().contains("/t/acme/login"));
    {
        let mut conn = app.pool.get().unwrap();
        let company = affnet_offers::Affiliate::find(&mut conn, net.tenant.id, user.affiliate_id.unwrap()).unwrap();
        assert_eq!(company.status.as_str(), "active");
    }

    let signed_in = b.sign_in("acme", "jo@media.test", PASSWORD).await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location.as_deref(), Some("/affiliate"));
    app.stop().await;
}

async fn auto_approve_activates_on_verification_and_rejection_mails(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let saved = admin.submit("/admin/users", "/admin/signup-settings", &[("auto_approve", "on")]).await;
    assert_eq!(saved.status, 303);
    assert!(admin.get("/admin/users").await.body.contains("Signup settings saved."));
    let b = app.browser();
    assert_eq!(sign_up(&b, "acme", "auto@media.test").await.status, 200);
    let link = app.mail.last_to("auto@media.test").link("/t/acme/verify/").unwrap();
    let verified = b.submit(&link, &link, &[]).await;
    assert!(verified.body.contains("Your account is active"), "{}", verified.body);
    assert!(app.mail.last_to("auto@media.test").subject().contains("approved"));
    assert_eq!(b.sign_in("acme", "auto@media.test", PASSWORD).await.status, 303);

    // Advertiser signup is closed unless the network opens it.
    assert_eq!(b.get("/t/acme/signup/advertiser").await.status, 404);
    settings(&app, &net.tenant, SignupSettings { advertiser_signup: true, ..SignupSettings::default() });
    let c = app.browser();
    let path = "/t/acme/signup/advertiser";
    let page = c.get(path).await;
    assert!(page.body.contains("Advertiser signup"), "{}", page.body);
    let done = c
        .submit(
            path,
            path,
            &[("company", "Shop"), ("name", "Al"), ("email", "al@shop.test"), ("password", PASSWORD), ("terms", "on")],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let al = app.users_of(&net.tenant).into_iter().find(|u| u.email == "al@shop.test").unwrap();
    assert!(al.advertiser_id.is_some());

    // Rejection: the user is disabled and told.
    let rejected = admin
        .submit(
            &format!("/admin/users/{}", al.id),
            &format!("/admin/users/{}/status", al.id),
            &[("status", "disabled")],
        )
        .await;
    assert_eq!(rejected.status, 303);
    assert!(app.mail.last_to("al@shop.test").subject().contains("application"));
    let al = app.users_of(&net.tenant).into_iter().find(|u| u.email == "al@shop.test").unwrap();
    assert_eq!(al.status, UserStatus::Disabled);
    app.stop().await;
}

async fn password_reset_is_single_use_and_expires(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let b = app.browser();
    // A session signed in before the reset…
    let old = app.browser();
    assert_eq!(old.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303);
    assert_eq!(old.get("/admin").await.status, 200);
    app.clock.advance(Micros::SECOND);

    // Unknown addresses get the same answer and no mail.
    let unknown = b.submit("/t/acme/forgot", "/t/acme/forgot", &[("email", "nobody@acme.test")]).await;
    let known = b.submit("/t/acme/forgot", "/t/acme/forgot", &[("email", "admin@acme.test")]).await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.body, known.body);
    assert!(app.mail.to("nobody@acme.test").is_empty());
    // Text that is not an address is said so next to the field, kept (a typo waited for a mail
    // that never comes); no account has it, so this tells nothing about accounts.
    for typo in ["admin", "admin@acme", "admin @acme.test"] {
        let page = b.submit("/t/acme/forgot", "/t/acme/forgot", &[("email", typo)]).await;
        assert_eq!(page.status, 422, "{typo}");
        assert!(
            crate::support::shows_field_error(&page.body, "enter an email address such as name@example.com"),
            "{typo}: {}",
            page.body
        );
        assert!(page.body.contains(&format!("value=\"{typo}\"")), "{typo}");
    }
    let mail = app.mail.wait_to("admin@acme.test", 1).await;
    assert!(mail.subject().contains("Reset"), "{}", mail.data);
    let link = mail.link("/t/acme/reset/").unwrap();

    // Expired after an hour.
    app.clock.advance(Micros::HOUR + Micros::SECOND);
    assert_eq!(b.get(&link).await.status, 404);
    app.clock.advance(-(Micros::HOUR + Micros::SECOND));

    let form = b.get(&link).await;
    assert_eq!(form.status, 200, "{}", form.body);
    // Policy refused without using the token up.
    let short = b.submit(&link, &link, &[("password", "short")]).await;
    assert_eq!(short.status, 422);
    assert!(short.body.contains("at least"), "{}", short.body);
    let done = b.submit(&link, &link, &[("password", NEW_PASSWORD)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Password changed"));
    // Reused: refused.
    assert_eq!(b.get(&link).await.status, 404);
    let token = b.get("/t/acme/login").await.csrf();
    assert_eq!(b.post(&link, &[("csrf_token", &token), ("password", "another one entirely")]).await.status, 404);

    // The old session is signed out; the old password no longer works, the new one does.
    assert_eq!(old.get("/admin").await.status, 401);
    assert_eq!(b.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 401);
    assert_eq!(b.sign_in("acme", "admin@acme.test", NEW_PASSWORD).await.status, 303);
    app.stop().await;
}

async fn bad_signups_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    settings(&app, &net.tenant, SignupSettings { terms: "Be nice.".into(), ..SignupSettings::default() });
    let b = app.browser();
    let path = "/t/acme/signup";
    let before = app.users_of(&net.tenant).len();
    let good =
        [("company", "Jo Media"), ("name", "Jo"), ("email", "jo@media.test"), ("password", PASSWORD), ("terms", "on")];
    let without = |skip: &str| good.iter().copied().filter(|(k, _)| *k != skip).collect::<Vec<_>>();
    let with = |key: &str, value: &'static str| {
        good.iter().map(|(k, v)| if *k == key { (*k, value) } else { (*k, *v) }).collect::<Vec<_>>()
    };
    for (form, field, message) in [
        (without("terms"), "terms", "accept the terms"),
        // An unticked box sends nothing; a value saying no is no (they were taken as yes).
        (with("terms", "off"), "terms", "accept the terms"),
        (with("terms", "false"), "terms", "accept the terms"),
        (with("terms", ""), "terms", "accept the terms"),
        (with("email", "not-an-email"), "email", "enter an email address"),
        (with("password", "short"), "password", "at least"),
        (with("company", " "), "company", "company"),
    ] {
        // Each attempt counts against the email (five in 15 minutes): these are minutes apart.
        app.clock.advance(affnet_accounts::throttle::WINDOW);
        let page = b.submit(path, path, &form).await;
        assert_eq!(page.status, 422, "{field}: {}", page.body);
        assert!(page.body.contains(message), "{field}: {}", page.body);
        assert!(page.body.contains("field-error"), "{field}");
    }
    // Bytes that are not UTF-8 (%FF, an overlong %C0%80) are refused, never stored as U+FFFD.
    for company in ["%FF", "Jo%C0%80Media"] {
        let token = b.get(path).await.csrf();
        let password = serde_urlencoded::to_string([("password", PASSWORD)]).unwrap();
        let body = format!("csrf_token={token}&company={company}&name=Jo&email=jo%40media.test&{password}&terms=on");
        let page = b.post_raw(path, &body).await;
        assert_eq!(page.status, 400, "{company}: {}", page.body);
        assert!(page.body.contains("UTF-8"), "{}", page.body);
    }
    // No CSRF token: refused before anything happens.
    assert_eq!(b.post(path, &good).await.status, 403);
    // Unknown network.
    assert_eq!(b.get("/t/nowhere/signup").await.status, 404);
    let token = b.get(path).await.csrf();
    let mut with_token = vec![("csrf_token", token.as_str())];
    with_token.extend_from_slice(&good);
    assert_eq!(b.post("/t/nowhere/signup", &with_token).await.status, 404);

    assert_eq!(app.users_of(&net.tenant).len(), before);
    assert!(app.mail.all().is_empty(), "{:?}", app.mail.all());
    {
        let mut conn = app.pool.get().unwrap();
        assert!(affnet_offers::Affiliate::list(&mut conn, net.tenant.id, None, None, 100, 0).unwrap().is_empty());
    }
    app.stop().await;
}

/// Signups count against the client's address and the email signed up, like failed sign-ins,
/// not against the network: six people signing up within minutes all get in (the sixth was a
/// 429: one counter for the whole network, so five requests closed signup for everyone). The
/// same email a sixth time is throttled.
async fn signups_are_throttled_per_client_and_email_not_per_network(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let path = "/t/acme/signup";
    for n in 0..6 {
        let b = app.browser();
        let email = format!("person{n}@media.test");
        let page = b
            .submit(
                path,
                path,
                &[("company", "Media"), ("name", "P"), ("email", &email), ("password", PASSWORD), ("terms", "on")],
            )
            .await;
        assert_eq!(page.status, 200, "signup {n}: {}", page.body);
    }
    let b = app.browser();
    let mut last = 0;
    for _ in 0..6 {
        let form = [("company", "Media"), ("name", "P"), ("email", "person0@media.test"), ("password", PASSWORD)];
        let form = [&form[..], &[("terms", "on")]].concat();
        last = b.submit(path, path, &form).await.status;
    }
    assert_eq!(last, 429, "the same email again and again");
    assert_eq!(app.users_of(&net.tenant).len(), 7, "the admin and six people");
    app.stop().await;
}

async fn offer_access_decisions_are_mailed_to_the_affiliate(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let adv = app.advertiser(&net.tenant, "Shop");
    let user = app.user(&net.tenant, "aff@media.test", affnet_accounts::Role::Affiliate);
    let aff = user.affiliate_id.unwrap();
    let input = affnet_offers::OfferInput::simple(adv.id, "Shop CPA", "https://shop.example/?t={transaction_id}", 250);
    let offer =
        affnet_offers::Offer::create(&mut app.pool.get().unwrap(), net.tenant.id, &input, app.clock.now()).unwrap();
    let staff = app.api(&net.api_key.token);
    let decide =
        |status: &'static str| serde_json::json!({"offer_id": offer.id, "affiliate_id": aff, "status": status});
    assert_eq!(staff.post("/api/v1/offer-access/decide", decide("approved")).await.status, 200);
    let mail = app.mail.last_to("aff@media.test");
    assert!(mail.subject().contains("Shop CPA") && mail.subject().contains("approved"), "{}", mail.data);
    assert!(mail.text().contains("/affiliate/offers"));
    assert_eq!(staff.post("/api/v1/offer-access/decide", decide("rejected")).await.status, 200);
    let mail = app.mail.last_to("aff@media.test");
    assert!(mail.subject().contains("declined"), "{}", mail.data);
    assert_eq!(app.mail.to("aff@media.test").len(), 2);
    app.stop().await;
}

async fn approving_the_affiliate_company_approves_its_signup(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let b = app.browser();
    assert_eq!(sign_up(&b, "acme", "jo@media.test").await.status, 200);
    let link = app.mail.last_to("jo@media.test").link("/t/acme/verify/").unwrap();
    assert_eq!(b.submit(&link, &link, &[]).await.status, 200);
    let user = app.users_of(&net.tenant).into_iter().find(|u| u.email == "jo@media.test").unwrap();
    let company = user.affiliate_id.unwrap();

    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let page = format!("/admin/affiliates/{company}");
    let done = admin.submit(&page, &format!("{page}/status"), &[("status", "active")]).await;
    assert_eq!(done.status, 303);
    assert!(app.mail.last_to("jo@media.test").subject().contains("approved"));
    let user = app.users_of(&net.tenant).into_iter().find(|u| u.email == "jo@media.test").unwrap();
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(b.sign_in("acme", "jo@media.test", PASSWORD).await.status, 303);
    app.stop().await;
}

/// A signup with the email of an existing account answers exactly as a new one (the form must
/// not tell strangers which emails have accounts, as sign-in and reset do not) and creates
/// nothing; the owner is emailed how to sign in or reset. (It was a 422 "already exists".)
async fn a_signup_with_a_known_email_reveals_nothing_and_mails_the_owner(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let fresh = sign_up(&app.browser(), "acme", "new@media.test").await;
    assert_eq!(fresh.status, 200);
    let users = app.users_of(&net.tenant).len();
    for email in ["admin@acme.test", " Admin@ACME.test "] {
        let known = sign_up(&app.browser(), "acme", email).await;
        assert_eq!(known.status, 200, "{}", known.body);
        let text = |p: &crate::support::Page| p.body.split("<main").nth(1).unwrap_or_default().to_owned();
        assert_eq!(text(&known), text(&fresh), "the same answer for {email:?}");
    }
    assert_eq!(app.users_of(&net.tenant).len(), users, "nothing created");
    let mails = app.mail.to("admin@acme.test");
    assert_eq!(mails.len(), 2);
    let mail = &mails[0];
    assert!(mail.subject().contains("You already have"), "{}", mail.data);
    assert!(mail.link("/t/acme/login").is_some(), "{}", mail.data);
    assert!(mail.link("/t/acme/forgot").is_some(), "{}", mail.data);
    app.stop().await;
}

/// The same new email signed up several times at once (a double-clicked submit) gets the same
/// answer every time and one account. (On PostgreSQL the losers of the race got the old 422
/// "already exists".)
async fn signups_of_one_email_at_once_all_get_the_same_answer(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let path = "/t/acme/signup";
    let mut tasks = Vec::new();
    // Five: the sixth from one address would be throttled (5 per email and address).
    for _ in 0..5 {
        let b = app.browser();
        let token = b.get(path).await.csrf();
        let (client, url) = (b.client.clone(), app.url(path));
        tasks.push(actix_web::rt::spawn(async move {
            let form = [
                ("csrf_token", token.as_str()),
                ("company", "Jo Media"),
                ("name", "Jo"),
                ("email", "jo@media.test"),
                ("password", PASSWORD),
                ("terms", "on"),
            ];
            client.post(url).form(&form).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses, [200; 5]);
    assert_eq!(app.users_of(&net.tenant).iter().filter(|u| u.email == "jo@media.test").count(), 1);
    app.stop().await;
}

/// The API's `POST /affiliates/{id}/status` decides the company's pending signups as the page
/// does: `active` approves (and emails) them, `rejected` rejects (and emails) them. (The API
/// changed the company alone: its signup stayed pending, unable to sign in.)
async fn the_api_decides_a_companys_signups_like_the_page(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let api = app.api(&net.api_key.token);
    for (email, status, user_after, subject) in [
        ("jo@media.test", "active", UserStatus::Active, "approved"),
        ("al@media.test", "rejected", UserStatus::Disabled, "has not been"),
    ] {
        let b = app.browser();
        assert_eq!(sign_up(&b, "acme", email).await.status, 200);
        let link = app.mail.last_to(email).link("/t/acme/verify/").unwrap();
        assert_eq!(b.submit(&link, &link, &[]).await.status, 200);
        let user = app.users_of(&net.tenant).into_iter().find(|u| u.email == email).unwrap();
        let company = user.affiliate_id.unwrap();
        let res =
            api.post(&format!("/api/v1/affiliates/{company}/status"), serde_json::json!({ "status": status })).await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.body["status"], status);
        let user = app.users_of(&net.tenant).into_iter().find(|u| u.email == email).unwrap();
        assert_eq!(user.status, user_after, "{email}");
        assert!(app.mail.last_to(email).data.contains(subject), "{}", app.mail.last_to(email).data);
        let sign_in = b.sign_in("acme", email, PASSWORD).await.status;
        assert_eq!(sign_in, if status == "active" { 303 } else { 403 }, "{email}");
    }
    app.stop().await;
}

/// Signups and reset requests count apart from sign-ins: an office that signs up 20 affiliates or
/// asks for 20 reset links from its one address can still sign in from it. (They shared the
/// address's counter, so the office was locked out of sign-in for 15 minutes.)
async fn signups_and_reset_requests_do_not_use_up_sign_ins(backend: Backend) {
    let per_address = 20; // for each, as the README says
    let app = TestApp::start(backend).await;
    app.network("acme");
    let b = app.browser();
    for n in 0..per_address {
        assert_eq!(sign_up(&b, "acme", &format!("person{n}@media.test")).await.status, 200, "signup {n}");
    }
    assert_eq!(sign_up(&b, "acme", "one.more@media.test").await.status, 429, "signups from the address are paused");
    for n in 0..per_address {
        let email = format!("person{n}@elsewhere.test");
        assert_eq!(b.submit("/t/acme/forgot", "/t/acme/forgot", &[("email", &email)]).await.status, 200, "reset {n}");
    }
    assert_eq!(b.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303);
    app.stop().await;
}

/// A signup whose confirmation link expired is not stuck: signing in with the right password
/// sends a new link (at most one per 10 minutes), which works like the first.
async fn an_expired_confirmation_link_is_replaced_at_sign_in(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let b = app.browser();
    assert_eq!(sign_up(&b, "acme", "late@media.test").await.status, 200);
    let first = app.mail.last_to("late@media.test").link("/t/acme/verify/").unwrap();
    app.clock.advance(25 * Micros::HOUR);
    assert_eq!(b.get(&first).await.status, 404, "expired after 24 hours");
    // A wrong password learns nothing and sends nothing.
    assert_eq!(b.sign_in("acme", "late@media.test", "not the password at all").await.status, 401);
    assert_eq!(app.mail.to("late@media.test").len(), 1);
    let refused = b.sign_in("acme", "late@media.test", PASSWORD).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("we emailed you a new link"), "{}", refused.body);
    assert_eq!(app.mail.to("late@media.test").len(), 2);
    let second = app.mail.last_to("late@media.test").link("/t/acme/verify/").unwrap();
    assert_ne!(second, first);
    // Asking again at once sends nothing more.
    let again = b.sign_in("acme", "late@media.test", PASSWORD).await;
    assert!(again.body.contains("follow the link we emailed you"), "{}", again.body);
    assert_eq!(app.mail.to("late@media.test").len(), 2);
    let verified = b.submit(&second, &second, &[]).await;
    assert!(verified.body.contains("waits for the network"), "{}", verified.body);
    let user = app.users_of(&net.tenant).into_iter().find(|u| u.email == "late@media.test").unwrap();
    assert!(user.email_verified_at.is_some());
    app.stop().await;
}

/// A network writes its signup terms on the users page; the signup forms show them (as text,
/// with their line breaks) and ask for their acceptance. With no terms, no acceptance is asked
/// for (the form required accepting "the terms" a network could not write). Terms too long or
/// holding control characters are refused, and the stored ones kept.
async fn signup_terms_are_written_by_an_admin_shown_and_accepted(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let users = admin.get("/admin/users").await;
    assert!(users.body.contains("name=\"terms\""), "{}", users.body);

    let terms = "<b>Rules</b>\r\nNo incentivised traffic.\nNo brand bidding.";
    let saved =
        admin.submit("/admin/users", "/admin/signup-settings", &[("advertiser_signup", "on"), ("terms", terms)]).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let stored = signup::settings(&mut app.pool.get().unwrap(), net.tenant.id).unwrap();
    assert_eq!(stored.terms, "<b>Rules</b>\nNo incentivised traffic.\nNo brand bidding.");
    assert!(stored.advertiser_signup);
    assert!(admin.get("/admin/users").await.body.contains("&#60;b&#62;Rules&#60;/b&#62;"), "shown in the textarea");

    for path in ["/t/acme/signup", "/t/acme/signup/advertiser"] {
        let b = app.browser();
        let form = b.get(path).await;
        assert_eq!(form.status, 200);
        assert!(
            form.body.contains("&#60;b&#62;Rules&#60;/b&#62;\nNo incentivised traffic."),
            "escaped, lines kept: {}",
            form.body
        );
        assert!(!form.body.contains("<b>Rules"), "never as HTML");
        assert!(form.body.contains("name=\"terms\""), "{}", form.body);
        let email = format!("jo{}@media.test", path.len());
        let fields = [("company", "Jo Media"), ("name", "Jo"), ("email", email.as_str()), ("password", PASSWORD)];
        let refused = b.submit(path, path, &fields).await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains("accept the terms to sign up"), "{}", refused.body);
        assert!(refused.body.contains("No brand bidding."), "the terms stay on the page");
        assert!(!app.users_of(&net.tenant).iter().any(|u| u.email == email));
        let accepted = b.submit(path, path, &[&fields[..], &[("terms", "on")]].concat()).await;
        assert_eq!(accepted.status, 200, "{}", accepted.body);
        assert!(app.users_of(&net.tenant).iter().any(|u| u.email == email));
    }

    // Refused: nothing saved, the error under the field, the text kept in it.
    let long = "x".repeat(signup::MAX_TERMS_CHARS + 1);
    for (bad, message) in [(long.as_str(), "at most 20000"), ("Rules\u{7}", "control character")] {
        let page = admin.submit("/admin/users", "/admin/signup-settings", &[("terms", bad)]).await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains(message), "{}", page.body);
        assert_eq!(signup::settings(&mut app.pool.get().unwrap(), net.tenant.id).unwrap(), stored);
    }

    // Cleared: no terms, no checkbox, and a signup without acceptance goes through.
    let cleared = admin.submit("/admin/users", "/admin/signup-settings", &[("terms", "  ")]).await;
    assert_eq!(cleared.status, 303);
    let b = app.browser();
    assert!(!b.get("/t/acme/signup").await.body.contains("name=\"terms\""));
    let fields = [("company", "Al Media"), ("name", "Al"), ("email", "al@media.test"), ("password", PASSWORD)];
    assert_eq!(b.submit("/t/acme/signup", "/t/acme/signup", &fields).await.status, 200);
    assert!(app.users_of(&net.tenant).iter().any(|u| u.email == "al@media.test"));

    // Audited in words.
    let summaries: Vec<String> = {
        use affnet_db::schema::audit_log;
        use diesel::prelude::*;
        audit_log::table
            .filter(audit_log::entity.eq("network"))
            .order(audit_log::id.asc())
            .select(audit_log::summary)
            .load(&mut app.pool.get().unwrap())
            .unwrap()
    };
    assert_eq!(
        summaries,
        ["advertiser signup off → on; terms set (55 characters)", "advertiser signup on → off; terms removed"],
    );
    app.stop().await;
}

/// A reset request for a known email answers as fast as one for an unknown email, also when
/// the mail server is slow: the mail goes out after the answer. (The answer waited for the
/// mail server, so with one taking 1.5 s to accept, a known email answered 1.5 s later and the
/// form told which emails have accounts.)
async fn a_reset_request_takes_as_long_for_a_known_email_as_for_an_unknown_one(backend: Backend) {
    let mail = crate::smtp_sink::SmtpSink::start_slow(std::time::Duration::from_secs(3));
    let app = TestApp::start_with_mail(backend, mail).await;
    app.network("acme");
    let b = app.browser();
    for email in ["nobody@acme.test", "admin@acme.test"] {
        let started = std::time::Instant::now();
        let page = b.submit("/t/acme/forgot", "/t/acme/forgot", &[("email", email)]).await;
        let took = started.elapsed();
        assert_eq!(page.status, 200, "{email}");
        assert!(took < std::time::Duration::from_secs(2), "{email}: answered after {took:?}");
    }
    assert!(app.mail.to("admin@acme.test").is_empty(), "the slow mail server has not accepted it yet");
    let sent = app.mail.wait_to("admin@acme.test", 1).await;
    assert!(sent.subject().contains("Reset"), "{}", sent.data);
    assert!(app.mail.to("nobody@acme.test").is_empty());
    app.stop().await;
}

crate::on_both_backends!(
    signups_are_throttled_per_client_and_email_not_per_network,
    an_expired_confirmation_link_is_replaced_at_sign_in,
    approving_the_affiliate_company_approves_its_signup,
    offer_access_decisions_are_mailed_to_the_affiliate,
    affiliate_signs_up_verifies_waits_for_approval_and_signs_in,
    auto_approve_activates_on_verification_and_rejection_mails,
    password_reset_is_single_use_and_expires,
    bad_signups_change_nothing,
    the_api_decides_a_companys_signups_like_the_page,
    a_signup_with_a_known_email_reveals_nothing_and_mails_the_owner,
    signups_of_one_email_at_once_all_get_the_same_answer,
    signups_and_reset_requests_do_not_use_up_sign_ins,
    signup_terms_are_written_by_an_admin_shown_and_accepted,
    a_reset_request_takes_as_long_for_a_known_email_as_for_an_unknown_one,
);
