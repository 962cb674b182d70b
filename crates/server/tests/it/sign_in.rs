//! Signing in and out, wrong passwords, throttling, expired sessions, unknown networks, CSRF.

use affnet_accounts::session::IDLE_TIMEOUT;
use affnet_db::Backend;

use crate::support::{TestApp, PASSWORD};

async fn sign_in_lands_on_the_role_page_and_sign_out_ends_the_session(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let b = app.browser();

    let anonymous = b.get("/admin").await;
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.body.contains("Sign in"), "{}", anonymous.body);

    let signed_in = b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location.as_deref(), Some("/admin"));
    let cookie = signed_in.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("admin@acme.test"), "the cookie is encrypted: {cookie}");

    let dashboard = b.get("/admin").await;
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.body.contains("acme network"));
    assert!(dashboard.body.contains("/t/acme/login"));
    assert_eq!(b.get("/").await.location.as_deref(), Some("/admin"));

    // The session lives in the cookie: a copy taken before signing out (another tab, a stolen
    // one) is refused after it, on the server, and so is the user's session in another browser.
    let copied = cookie.split(';').next().unwrap().to_owned();
    let other = app.browser();
    assert_eq!(other.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303);
    let with_copy = || reqwest::Client::new().get(app.url("/admin")).header("cookie", copied.clone()).send();
    assert_eq!(with_copy().await.unwrap().status(), 200);

    let out = b.submit("/admin", "/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/t/acme/login"));
    assert!(b.get("/t/acme/login").await.body.contains("You have signed out."));
    assert_eq!(b.get("/admin").await.status, 401);
    assert_eq!(with_copy().await.unwrap().status(), 401, "the copied cookie died with the sign-out");
    assert_eq!(other.get("/admin").await.status, 401, "signing out ends the user's every session");
    // Signing in again works at once (same clock instant: no time comparison involved).
    assert_eq!(b.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303);
    assert_eq!(b.get("/admin").await.status, 200);
    app.stop().await;
}

/// After sign-in only a path of this site is followed: nothing a browser would read as another
/// host (`/<TAB>/evil.example` is `//evil.example` once the tab is dropped), and nothing that
/// cannot be a `Location` (a line break was a 500, with the user signed in anyway).
async fn after_sign_in_only_this_sites_paths_are_followed(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    for (next, expected) in [
        ("/admin/users", "/admin/users"),
        ("//evil.example", "/admin"),
        ("/\t/evil.example", "/admin"),
        ("/\n/evil.example", "/admin"),
        ("/\r/evil.example", "/admin"),
        ("/\\evil.example", "/admin"),
        ("https://evil.example/", "/admin"),
    ] {
        let b = app.browser();
        let form = b.get(&format!("/t/acme/login?next={}", urlencode(next))).await;
        assert_eq!(form.status, 200, "{next:?}");
        let res = b
            .post(
                "/t/acme/login",
                &[("csrf_token", &form.csrf()), ("email", "admin@acme.test"), ("password", PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!((res.status, res.location.as_deref()), (303, Some(expected)), "{next:?}: {}", res.body);
    }
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn each_role_lands_on_its_own_page(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    for (email, role, home) in [
        ("mgr@acme.test", affnet_accounts::Role::Manager, "/admin"),
        ("aff@acme.test", affnet_accounts::Role::Affiliate, "/affiliate"),
        ("adv@acme.test", affnet_accounts::Role::Advertiser, "/advertiser"),
    ] {
        app.user(&net.tenant, email, role);
        let b = app.browser();
        let res = b.sign_in("acme", email, PASSWORD).await;
        assert_eq!(res.location.as_deref(), Some(home), "{email}");
        let page = b.get(home).await;
        assert_eq!(page.status, 200, "{email}");
        assert!(page.body.contains(role.label()), "{email} sees their role");
    }
    app.stop().await;
}

async fn a_wrong_password_or_unknown_email_is_refused_the_same_way(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let b = app.browser();
    for (email, password) in [("admin@acme.test", "wrong password!"), ("nobody@acme.test", PASSWORD)] {
        let res = b.sign_in("acme", email, password).await;
        assert_eq!(res.status, 401);
        assert!(res.body.contains("Wrong email or password."));
        assert!(res.body.contains(&format!("value=\"{email}\"")), "the email is kept in the form");
    }
    assert_eq!(b.get("/admin").await.status, 401);
    // A password that is not UTF-8 is refused as unreadable: read as U+FFFD, distinct bytes
    // (%FE, %C0) signed in with one password holding that character.
    let token = b.get("/t/acme/login").await.csrf();
    let page =
        b.post_raw("/t/acme/login", &format!("csrf_token={token}&email=admin%40acme.test&password=pass%FEword")).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(b.get("/admin").await.status, 401);
    app.stop().await;
}

async fn repeated_failures_throttle_even_the_right_password(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    app.user(&net.tenant, "other@acme.test", affnet_accounts::Role::Manager);
    let b = app.browser();
    for _ in 0..5 {
        assert_eq!(b.sign_in("acme", "admin@acme.test", "wrong password!").await.status, 401);
    }
    let locked = b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    assert_eq!(locked.status, 429);
    assert!(locked.body.contains("Too many failed attempts"));
    assert_eq!(locked.headers.get("set-cookie"), None, "no session was started");
    let retry_after: i64 = locked.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // Another email of the same network is not locked by these failures.
    assert_eq!(app.browser().sign_in("acme", "other@acme.test", PASSWORD).await.status, 303);
    // After the window, the right password works again.
    app.clock.advance(affnet_accounts::throttle::WINDOW + 1);
    let ok = b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    assert_eq!(ok.status, 303);
    app.stop().await;
}

/// A stranger's failures from their own address do not lock the owner out: the limit of 5 is per
/// email *and* address. Only failures for the email from many addresses (50) pause it
/// everywhere, and failures at one address (20, any email) pause that address.
async fn failures_from_one_address_do_not_lock_the_owner_out_elsewhere(backend: Backend) {
    // The limits the README documents.
    let (per_email_and_address, per_email) = (5, 50);
    let app = TestApp::start(backend).await;
    app.network("acme");
    let stranger = app.browser_from("127.0.0.2");
    for _ in 0..per_email_and_address {
        assert_eq!(stranger.sign_in("acme", "admin@acme.test", "wrong password!").await.status, 401);
    }
    assert_eq!(stranger.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 429, "that address is paused");
    assert_eq!(app.browser().sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303, "the owner is not");

    // Many addresses guessing one email: after 50 failures in all, it is paused everywhere.
    let mut failures = 0;
    for n in 3.. {
        let guesser = app.browser_from(&format!("127.0.0.{n}"));
        for _ in 0..per_email_and_address {
            assert_eq!(guesser.sign_in("acme", "admin@acme.test", "wrong password!").await.status, 401, "{failures}");
            failures += 1;
            if failures == per_email {
                break;
            }
        }
        if failures == per_email {
            break;
        }
    }
    assert_eq!(app.browser_from("127.0.0.99").sign_in("acme", "admin@acme.test", PASSWORD).await.status, 429);
    app.stop().await;
}

/// Attempts sent at once are counted as they arrive, before the (slow) password check: 24 wrong
/// guesses at once get exactly 5 answers and 19 refusals. (Checked, then recorded after the
/// check, about half of them got through.)
async fn sign_in_attempts_sent_at_once_are_all_counted(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let b = app.browser();
    let token = b.get("/t/acme/login").await.csrf();
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let (client, url, token) = (b.client.clone(), app.url("/t/acme/login"), token.clone());
            actix_web::rt::spawn(async move {
                let form =
                    [("csrf_token", token.as_str()), ("email", "admin@acme.test"), ("password", "wrong password!")];
                client.post(url).form(&form).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 19), "{statuses:?}");
    app.stop().await;
}

/// A signed-in user changes their own password on `/account/password`: the current one must be
/// right and the new one typed twice; the user's other sessions end, this one goes on; the old
/// password stops working; the owner is emailed; the change is audited.
async fn a_user_changes_their_password_and_their_other_sessions_end(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let (me, other) = (app.browser(), app.browser());
    for b in [&me, &other] {
        assert_eq!(b.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303);
    }
    app.clock.advance(affnet_db::Micros::SECOND);
    let page = me.get("/admin").await;
    assert!(page.body.contains("href=\"/account/password\""), "in the menu");
    let path = "/account/password";
    let new = "a brand new passphrase";
    for (form, field, message) in [
        (
            [("current_password", "wrong password!"), ("new_password", new), ("confirm_password", new)],
            "current_password",
            "not your current password",
        ),
        (
            [("current_password", PASSWORD), ("new_password", new), ("confirm_password", "something else")],
            "confirm_password",
            "same new password twice",
        ),
        (
            [("current_password", PASSWORD), ("new_password", "short"), ("confirm_password", "short")],
            "new_password",
            "at least 10",
        ),
        (
            [("current_password", PASSWORD), ("new_password", PASSWORD), ("confirm_password", PASSWORD)],
            "new_password",
            "other than your current",
        ),
    ] {
        let res = me.submit(path, path, &form).await;
        assert_eq!(res.status, 422, "{field}: {}", res.body);
        assert!(res.body.contains(message), "{field}: {}", res.body);
    }
    assert_eq!(
        me.post(path, &[("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)]).await.status,
        403,
        "CSRF"
    );
    assert_eq!(other.get("/admin").await.status, 200, "nothing changed yet");

    let done = me
        .submit(path, path, &[("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)])
        .await;
    assert_eq!((done.status, done.location.as_deref()), (303, Some(path)), "{}", done.body);
    assert_eq!(me.get("/admin").await.status, 200, "this session goes on");
    assert_eq!(other.get("/admin").await.status, 401, "the other session ended");
    assert_eq!(app.browser().sign_in("acme", "admin@acme.test", PASSWORD).await.status, 401);
    assert_eq!(app.browser().sign_in("acme", "admin@acme.test", new).await.status, 303);
    let mail = app.mail.last_to("admin@acme.test");
    assert!(mail.subject().contains("password was changed"), "{}", mail.data);
    assert!(mail.link("/t/acme/forgot").is_some());
    let audit = me.get("/admin/audit").await;
    assert!(audit.body.contains("password changed by its owner"), "{}", audit.body);
    app.stop().await;
}

/// A signed-out browser asking for a page (a bookmark, a link in a mail) signs in and lands on
/// that page: the 401 page's sign-in link and the network chooser carry it as `next`. A network
/// address nobody has is said on the chooser (it went on to a bare 404 page).
async fn sign_in_goes_on_to_the_page_asked_for(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let b = app.browser();
    let asked = b.get("/admin/reports?group_by=offer").await;
    assert_eq!(asked.status, 401);
    let link = "/login?next=%2Fadmin%2Freports%3Fgroup_by%3Doffer";
    assert!(asked.body.contains(&format!("href=\"{link}\"")), "{}", asked.body);
    let chooser = b.get(link).await;
    assert!(chooser.body.contains("name=\"next\" value=\"/admin/reports?group_by=offer\""), "{}", chooser.body);
    let chosen = b.get(&format!("{link}&network=acme")).await;
    assert_eq!(chosen.location.as_deref(), Some("/t/acme/login?next=%2Fadmin%2Freports%3Fgroup_by%3Doffer"));
    let form = b.get(chosen.location.as_deref().unwrap()).await;
    let token = form.csrf();
    let done = b
        .post(
            "/t/acme/login",
            &[
                ("csrf_token", &token),
                ("email", "admin@acme.test"),
                ("password", PASSWORD),
                ("next", "/admin/reports?group_by=offer"),
            ],
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("/admin/reports?group_by=offer"));

    let typo = app.browser().get("/login?network=acme-typo").await;
    assert_eq!(typo.status, 422);
    assert!(
        typo.body.contains("No network has the address &#34;acme-typo&#34;")
            || typo.body.contains("No network has the address &quot;acme-typo&quot;"),
        "{}",
        typo.body
    );
    assert!(typo.body.contains("value=\"acme-typo\""), "what was typed is kept");
    app.stop().await;
}

async fn an_idle_session_expires_with_a_clear_message(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let b = app.browser();
    b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    assert_eq!(b.get("/admin").await.status, 200);
    app.clock.advance(IDLE_TIMEOUT + affnet_db::Micros::SECOND);
    let expired = b.get("/admin").await;
    assert_eq!(expired.status, 401);
    assert!(expired.body.contains("Your session has expired"), "{}", expired.body);
    assert!(expired.body.contains("/t/acme/login"), "offers this network's sign-in");
    app.stop().await;
}

async fn an_active_session_does_not_expire(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let b = app.browser();
    b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    for _ in 0..3 {
        app.clock.advance(IDLE_TIMEOUT / 2);
        assert_eq!(b.get("/admin").await.status, 200);
    }
    app.stop().await;
}

async fn an_unknown_network_is_not_found(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let b = app.browser();
    let page = b.get("/t/nosuch/login").await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("Not Found"));
    // Posting to it (even with a valid token of this browser) changes nothing.
    let token = b.get("/t/acme/login").await.csrf();
    let res = b
        .post("/t/nosuch/login", &[("csrf_token", &token), ("email", "admin@acme.test"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(b.get("/login?network=acme").await.location.as_deref(), Some("/t/acme/login"));
    assert_eq!(b.get("/login?network=..%2Fadmin").await.status, 422);
    app.stop().await;
}

async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let b = app.browser();
    // Sign-in itself needs the token.
    let res = b.post("/t/acme/login", &[("email", "admin@acme.test"), ("password", PASSWORD)]).await;
    assert_eq!(res.status, 403);
    assert!(res.body.contains("reload the page"));
    b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let form = [("email", "new@acme.test"), ("role", "affiliate"), ("password", PASSWORD)];
    assert_eq!(b.post("/admin/users", &form).await.status, 403);
    let mut forged = vec![("csrf_token", "0000")];
    forged.extend_from_slice(&form);
    assert_eq!(b.post("/admin/users", &forged).await.status, 403);
    assert_eq!(app.users_of(&net.tenant).len(), 1, "no user was created");
    // Another browser's token does not work in this session either.
    let other = app.browser();
    let foreign_token = other.get("/t/acme/login").await.csrf();
    let mut foreign = vec![("csrf_token", foreign_token.as_str())];
    foreign.extend_from_slice(&form);
    assert_eq!(b.post("/admin/users", &foreign).await.status, 403);
    assert_eq!(b.post("/logout", &[]).await.status, 403);
    assert_eq!(b.get("/admin").await.status, 200, "still signed in");
    app.stop().await;
}

async fn a_disabled_user_cannot_sign_in_and_is_signed_out(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let aff = app.user(&net.tenant, "aff@acme.test", affnet_accounts::Role::Affiliate);
    let aff_browser = app.browser();
    aff_browser.sign_in("acme", "aff@acme.test", PASSWORD).await;
    assert_eq!(aff_browser.get("/affiliate").await.status, 200);
    // A second session, not used again until the account is enabled again (a refused request
    // may clear a browser's cookie; a stolen copy would not be cleared).
    let kept = app.browser();
    kept.sign_in("acme", "aff@acme.test", PASSWORD).await;

    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let page = format!("/admin/users/{}", aff.id);
    let res = admin.submit(&page, &format!("{page}/status"), &[("status", "disabled")]).await;
    assert_eq!(res.status, 303);

    assert_eq!(aff_browser.get("/affiliate").await.status, 401);
    let again = app.browser().sign_in("acme", "aff@acme.test", PASSWORD).await;
    assert_eq!(again.status, 403);

    // Enabled again: the user signs in anew; a cookie from before stays dead.
    assert_eq!(admin.submit(&page, &format!("{page}/status"), &[("status", "active")]).await.status, 303);
    assert_eq!(kept.get("/affiliate").await.status, 401, "the old session is not revived");
    assert_eq!(app.browser().sign_in("acme", "aff@acme.test", PASSWORD).await.status, 303);
    app.stop().await;
}

/// A suspended (or rejected) affiliate company locks its people out, pages and API alike, as a
/// blocked affiliate on HasOffers cannot sign in; re-activating it lets them back in.
async fn a_suspended_affiliates_people_are_locked_out(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let aff = app.user(&net.tenant, "aff@acme.test", affnet_accounts::Role::Affiliate);
    let company = aff.affiliate_id.unwrap();
    let key = affnet_accounts::ApiKey::create(
        &mut app.pool.get().unwrap(),
        net.tenant.id,
        aff.id,
        "",
        affnet_db::Clock::now(&app.clock),
    )
    .unwrap();
    let aff_browser = app.browser();
    aff_browser.sign_in("acme", "aff@acme.test", PASSWORD).await;
    assert_eq!(aff_browser.get("/affiliate").await.status, 200);
    assert_eq!(app.api(&key.token).get("/api/v1/me").await.status, 200);
    // A second session, not used again until the company is active again.
    let kept = app.browser();
    kept.sign_in("acme", "aff@acme.test", PASSWORD).await;

    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let page = format!("/admin/affiliates/{company}");
    for status in ["suspended", "rejected"] {
        assert_eq!(admin.submit(&page, &format!("{page}/status"), &[("status", status)]).await.status, 303);
        assert_eq!(aff_browser.get("/affiliate").await.status, 401, "{status}: the open session ends");
        let again = app.browser().sign_in("acme", "aff@acme.test", PASSWORD).await;
        assert_eq!(again.status, 403, "{status}");
        assert!(again.body.contains("not active"), "{status}: {}", again.body);
        assert_eq!(app.api(&key.token).get("/api/v1/me").await.status, 401, "{status}: the API key stops");
        // No reset link either: it would let nobody in.
        let mails = app.mail.to("aff@acme.test").len();
        assert_eq!(
            app.browser().submit("/t/acme/forgot", "/t/acme/forgot", &[("email", "aff@acme.test")]).await.status,
            200
        );
        // A reset mail goes out after the answer: time enough for one to arrive.
        actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(app.mail.to("aff@acme.test").len(), mails, "{status}: no reset link mailed");
    }
    assert_eq!(admin.submit(&page, &format!("{page}/status"), &[("status", "active")]).await.status, 303);
    assert_eq!(app.browser().sign_in("acme", "aff@acme.test", PASSWORD).await.status, 303);
    assert_eq!(app.api(&key.token).get("/api/v1/me").await.status, 200);
    assert_eq!(kept.get("/affiliate").await.status, 401, "a session from before the suspension stays ended");

    // The same through the API.
    let aff_browser = app.browser();
    aff_browser.sign_in("acme", "aff@acme.test", PASSWORD).await;
    let status_url = format!("/api/v1/affiliates/{company}/status");
    for status in ["suspended", "active"] {
        assert_eq!(
            app.api(&net.api_key.token).post(&status_url, serde_json::json!({ "status": status })).await.status,
            200
        );
    }
    assert_eq!(aff_browser.get("/affiliate").await.status, 401, "suspended through the API: the session ended");
    app.stop().await;
}

/// A password with an accent, set in its decomposed form (as macOS and some input methods send
/// "é": "e" and a combining accent) and typed later in its composed form, or the other way
/// round, signs in: they were two different passwords.
async fn a_password_signs_in_whichever_way_its_accents_are_composed(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let me = app.browser();
    assert_eq!(me.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303);
    let (composed, decomposed) = ("d\u{e9}j\u{e0} vu twice", "de\u{301}ja\u{300} vu twice");
    let path = "/account/password";
    let done = me
        .submit(
            path,
            path,
            &[("current_password", PASSWORD), ("new_password", decomposed), ("confirm_password", decomposed)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(app.browser().sign_in("acme", "admin@acme.test", composed).await.status, 303);
    assert_eq!(app.browser().sign_in("acme", "admin@acme.test", decomposed).await.status, 303);
    // Typed composed, the same password again is no new password.
    let same = me
        .submit(
            path,
            path,
            &[("current_password", composed), ("new_password", composed), ("confirm_password", composed)],
        )
        .await;
    assert_eq!(same.status, 422, "{}", same.body);
    assert!(same.body.contains("other than your current"), "{}", same.body);
    app.stop().await;
}

crate::on_both_backends!(
    a_password_signs_in_whichever_way_its_accents_are_composed,
    sign_in_lands_on_the_role_page_and_sign_out_ends_the_session,
    after_sign_in_only_this_sites_paths_are_followed,
    each_role_lands_on_its_own_page,
    a_wrong_password_or_unknown_email_is_refused_the_same_way,
    repeated_failures_throttle_even_the_right_password,
    failures_from_one_address_do_not_lock_the_owner_out_elsewhere,
    sign_in_attempts_sent_at_once_are_all_counted,
    a_user_changes_their_password_and_their_other_sessions_end,
    sign_in_goes_on_to_the_page_asked_for,
    an_idle_session_expires_with_a_clear_message,
    an_active_session_does_not_expire,
    an_unknown_network_is_not_found,
    a_form_without_its_csrf_token_is_refused_and_changes_nothing,
    a_disabled_user_cannot_sign_in_and_is_signed_out,
    a_suspended_affiliates_people_are_locked_out,
);
