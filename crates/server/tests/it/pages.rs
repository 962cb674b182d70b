//! Role checks on pages, the users pages (validation, tenant isolation), API key pages.

use affnet_accounts::Role;
use affnet_db::{Backend, Clock};

use crate::support::{TestApp, PASSWORD};

async fn each_page_admits_only_its_roles(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    app.user(&net.tenant, "mgr@acme.test", Role::Manager);
    app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    app.user(&net.tenant, "adv@acme.test", Role::Advertiser);
    let pages = ["/admin", "/admin/users", "/affiliate", "/advertiser", "/account/api-keys"];
    for (email, allowed) in [
        ("admin@acme.test", vec!["/admin", "/admin/users", "/account/api-keys"]),
        ("mgr@acme.test", vec!["/admin", "/account/api-keys"]),
        ("aff@acme.test", vec!["/affiliate", "/account/api-keys"]),
        ("adv@acme.test", vec!["/advertiser", "/account/api-keys"]),
    ] {
        let b = app.browser();
        b.sign_in("acme", email, PASSWORD).await;
        for page in pages {
            let res = b.get(page).await;
            let expected = if allowed.contains(&page) { 200 } else { 403 };
            assert_eq!(res.status, expected, "{email} on {page}");
            if expected == 403 {
                assert!(res.body.contains("You do not have access to this page"));
            }
        }
        // The navigation offers exactly the allowed sections.
        let home = b.get(allowed[0]).await.body;
        for page in pages {
            assert_eq!(home.contains(&format!("href=\"{page}\"")), allowed.contains(&page), "{email} nav {page}");
        }
    }
    // A role's form action is refused for another role, even with a valid token.
    let aff = app.browser();
    aff.sign_in("acme", "aff@acme.test", PASSWORD).await;
    let res = aff
        .submit("/affiliate", "/admin/users", &[("email", "x@acme.test"), ("role", "admin"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(app.users_of(&net.tenant).len(), 4);
    app.stop().await;
}

async fn an_admin_creates_a_user_who_can_then_sign_in(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let b = app.browser();
    b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let company = app.affiliate(&net.tenant, "Jo Media").id.to_string();
    // The company id offers the network's companies by name (it had to be looked up by hand).
    let shop = app.advertiser(&net.tenant, "Jo Shop").id;
    let other = app.network("other");
    app.affiliate(&other.tenant, "Not Ours");
    let page = b.get("/admin/users").await;
    assert!(page.body.contains("list=\"companies\""), "{}", page.body);
    assert!(page.body.contains(&format!("<option value=\"{company}\">Affiliate · Jo Media</option>")), "{}", page.body);
    assert!(page.body.contains(&format!("<option value=\"{shop}\">Advertiser · Jo Shop</option>")), "{}", page.body);
    assert!(!page.body.contains("Not Ours"));
    let without_company = b
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", "jo@example.com"), ("role", "affiliate"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(without_company.status, 422);
    assert!(without_company.body.contains("an affiliate user belongs to an affiliate company of this network"));
    let res = b
        .submit(
            "/admin/users",
            "/admin/users",
            &[
                ("email", " Jo@Example.com "),
                ("name", "Jo"),
                ("role", "affiliate"),
                ("password", PASSWORD),
                ("company_id", &company),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let location = res.location.unwrap();
    let page = b.get(&location).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("jo@example.com (Affiliate) can now sign in."));
    assert!(page.body.contains("Affiliate"));
    let list = b.get("/admin/users?role=affiliate").await;
    assert!(list.body.contains("jo@example.com") && !list.body.contains(">admin@acme.test<"));
    let jo = app.browser().sign_in("acme", "jo@example.com", PASSWORD).await;
    assert_eq!(jo.location.as_deref(), Some("/affiliate"));
    assert_eq!(app.users_of(&net.tenant).len(), 2);
    app.stop().await;
}

async fn bad_user_input_is_shown_next_to_its_field_and_changes_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let b = app.browser();
    b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    for (form, field_message) in [
        (
            [("email", "not-an-email"), ("role", "affiliate"), ("password", PASSWORD)],
            "enter an email address such as name@example.com",
        ),
        ([("email", "jo@example.com"), ("role", "affiliate"), ("password", "short")], "use at least 10 characters"),
        (
            [("email", "jo@example.com"), ("role", "superuser"), ("password", PASSWORD)],
            "unknown role &#39;superuser&#39;",
        ),
        (
            [("email", "ADMIN@acme.test"), ("role", "admin"), ("password", PASSWORD)],
            "a user with this email already exists in this network",
        ),
    ] {
        let res = b.submit("/admin/users", "/admin/users", &form).await;
        assert_eq!(res.status, 422, "{form:?}");
        assert!(crate::support::shows_field_error(&res.body, field_message), "{form:?}: {}", res.body);
        // A screen reader reads the message with its field.
        assert!(res.body.contains(r#"aria-describedby="password-help""#) && res.body.contains(r#"id="password-help""#));
        assert!(res.body.contains(&format!("value=\"{}\"", form[0].1.replace('"', ""))), "input kept");
    }
    // A company id is refused where it means nothing, never dropped (a manager with one was
    // created as if it had not been typed), and one that is not a number is named.
    for (role, company, message) in [
        ("manager", "1", "admins and managers belong to no company: leave it empty"),
        ("admin", "7", "admins and managers belong to no company: leave it empty"),
        ("affiliate", "abc", "enter the company&#39;s id (a number)"),
    ] {
        let form = [("email", "jo@example.com"), ("role", role), ("password", PASSWORD), ("company_id", company)];
        let res = b.submit("/admin/users", "/admin/users", &form).await;
        assert_eq!(res.status, 422, "{form:?}");
        assert!(crate::support::shows_field_error(&res.body, message), "{form:?}: {}", res.body);
    }
    // Every message at once: the unreadable company id or role with the email and password's
    // (those came in a second round).
    for (role, company, first) in
        [("affiliate", "abc", "enter the company&#39;s id (a number)"), ("root", "", "unknown role &#39;root&#39;")]
    {
        let form = [("email", "x@"), ("role", role), ("password", "short"), ("company_id", company)];
        let res = b.submit("/admin/users", "/admin/users", &form).await;
        assert_eq!(res.status, 422, "{form:?}");
        for message in [first, "enter an email address such as name@example.com", "use at least 10 characters"] {
            assert!(crate::support::shows_field_error(&res.body, message), "{message}: {}", res.body);
        }
    }
    assert_eq!(app.users_of(&net.tenant).len(), 1);
    let res = b.submit("/admin/users", "/admin/users?role=nope", &[]).await;
    assert_eq!(res.status, 422, "missing fields are validation errors too");
    assert_eq!(b.get("/admin/users?role=nope").await.status, 400);
    app.stop().await;
}

async fn a_user_of_another_network_is_not_found(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let other = app.network("globex");
    let globex_aff = app.user(&other.tenant, "aff@globex.test", Role::Affiliate);
    let b = app.browser();
    b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    for path in [format!("/admin/users/{}", globex_aff.id), format!("/admin/users/{}", other.admin.id)] {
        let res = b.get(&path).await;
        assert_eq!(res.status, 404, "{path}");
        assert!(!res.body.contains("globex"));
        let changed = b.submit("/admin/users", &format!("{path}/status"), &[("status", "disabled")]).await;
        assert_eq!(changed.status, 404);
    }
    // globex's affiliate still signs in: nothing changed.
    assert_eq!(app.browser().sign_in("globex", "aff@globex.test", PASSWORD).await.status, 303);
    // An acme admin's session does not open globex's pages under globex's sign-in either.
    let globex_login = b.sign_in("globex", "admin@acme.test", PASSWORD).await;
    assert_eq!(globex_login.status, 401);
    assert_eq!(b.get("/admin/users").await.status, 200, "still signed in to acme");
    app.stop().await;
}

async fn api_keys_are_shown_once_and_can_be_revoked(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let b = app.browser();
    b.sign_in("acme", "aff@acme.test", PASSWORD).await;
    let created = b.submit("/account/api-keys", "/account/api-keys", &[("label", "my tracker")]).await;
    assert_eq!(created.status, 201);
    let start = created.body.find("<pre class=\"code\">afk_").unwrap() + "<pre class=\"code\">".len();
    let token = created.body[start..].split('<').next().unwrap().to_owned();
    assert_eq!(token.len(), 4 + 12 + 1 + 48);
    let me = app.api(&token).get("/api/v1/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"]["email"], "aff@acme.test");
    let listed = b.get("/account/api-keys").await;
    assert!(listed.body.contains("my tracker"));
    assert!(!listed.body.contains(&token), "the token is never shown again");
    let id = listed.body.split("/account/api-keys/").nth(1).unwrap().split('/').next().unwrap().to_owned();

    // Another user cannot revoke it.
    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let path = format!("/account/api-keys/{id}/revoke");
    assert_eq!(admin.submit("/account/api-keys", &path, &[]).await.status, 404);
    assert_eq!(app.api(&token).get("/api/v1/me").await.status, 200);

    let revoked = b.submit("/account/api-keys", &path, &[]).await;
    assert_eq!(revoked.status, 303);
    assert_eq!(app.api(&token).get("/api/v1/me").await.status, 401);
    assert!(b.get("/account/api-keys").await.body.contains("revoked"));
    app.stop().await;
}

async fn unknown_pages_get_a_404_page(backend: Backend) {
    let app = TestApp::start(backend).await;
    let res = app.browser().get("/no/such/page").await;
    assert_eq!(res.status, 404);
    assert!(res.body.contains("<h1>Not Found</h1>"));
    app.stop().await;
}

/// An admin edits a user's name and role (between admin and manager), audited; the network
/// keeps an active admin; a company's user keeps its role; an admin emails a user a reset link
/// that works like the one `/forgot` sends. Managers may do none of it.
async fn an_admin_edits_users_and_sends_reset_links(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let mia = app.user(&net.tenant, "mia@acme.test", Role::Manager);
    let aff = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let page = |id: affnet_db::UserId| format!("/admin/users/{id}");

    let done = admin
        .submit(&page(mia.id), &format!("{}/edit", page(mia.id)), &[("name", " Mia Rossi "), ("role", "admin")])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let mia_now = app.users_of(&net.tenant).into_iter().find(|u| u.id == mia.id).unwrap();
    assert_eq!((mia_now.name.as_str(), mia_now.role), ("Mia Rossi", Role::Admin));
    let audit = admin.get("/admin/audit").await;
    assert!(audit.body.contains("role manager → admin"), "{}", audit.body);

    // Mia may now demote the first admin, but not herself once she is the last one.
    let me = net.admin.id;
    assert_eq!(
        admin.submit(&page(me), &format!("{}/edit", page(me)), &[("name", "Ad"), ("role", "manager")]).await.status,
        303
    );
    let mia_b = app.browser();
    mia_b.sign_in("acme", "mia@acme.test", PASSWORD).await;
    let last =
        mia_b.submit(&page(mia.id), &format!("{}/edit", page(mia.id)), &[("name", "Mia"), ("role", "manager")]).await;
    assert_eq!(last.status, 422);
    assert!(
        crate::support::shows_field_error(&last.body, "the network&#39;s last active admin stays an admin"),
        "{}",
        last.body
    );
    assert_eq!(admin.get("/admin/users").await.status, 403, "the demoted admin is a manager at once");
    let company =
        mia_b.submit(&page(aff.id), &format!("{}/edit", page(aff.id)), &[("name", "A"), ("role", "admin")]).await;
    assert_eq!(company.status, 422, "a company's user keeps its role");
    assert_eq!(app.users_of(&net.tenant).into_iter().find(|u| u.id == aff.id).unwrap().role, Role::Affiliate);

    // A reset link, emailed by an admin, works like the one /forgot sends.
    let sent = mia_b.submit(&page(aff.id), &format!("{}/reset", page(aff.id)), &[]).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let link = app.mail.last_to("aff@acme.test").link("/t/acme/reset/").unwrap();
    let b = app.browser();
    assert_eq!(b.submit(&link, &link, &[("password", "a brand new passphrase")]).await.status, 200);
    assert_eq!(b.sign_in("acme", "aff@acme.test", "a brand new passphrase").await.status, 303);
    assert!(mia_b.get("/admin/audit").await.body.contains("password reset link emailed"));
    // A manager may not.
    assert_eq!(admin.submit("/admin", &format!("{}/reset", page(aff.id)), &[]).await.status, 403);
    assert_eq!(
        admin.submit("/admin", &format!("{}/edit", page(aff.id)), &[("name", "x"), ("role", "affiliate")]).await.status,
        403
    );
    app.stop().await;
}

/// Two admins who demote or disable each other at the same moment leave the network an active
/// admin: such changes take turns, and the later one is refused. (Without turns, both went
/// through in several rounds out of 8, on PostgreSQL for demotions and on both for a disable.)
async fn admins_acting_at_once_leave_an_active_admin(backend: Backend) {
    use affnet_accounts::UserStatus;
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let (a, b) = (net.admin.clone(), app.user(&net.tenant, "b@acme.test", Role::Admin));
    let (ba, bb) = (app.browser(), app.browser());
    ba.sign_in("acme", "admin@acme.test", PASSWORD).await;
    bb.sign_in("acme", "b@acme.test", PASSWORD).await;
    let demote = |id: affnet_db::UserId| (format!("/admin/users/{id}/edit"), vec![("name", "x"), ("role", "manager")]);
    let disable = |id: affnet_db::UserId| (format!("/admin/users/{id}/status"), vec![("status", "disabled")]);
    for round in 0..6 {
        // Both admins again, active.
        {
            use affnet_db::schema::users;
            use diesel::prelude::*;
            let mut c = app.pool.get().unwrap();
            diesel::update(users::table.filter(users::id.eq_any([a.id, b.id])))
                .set((users::role.eq(Role::Admin), users::status.eq(UserStatus::Active), users::session_epoch.eq(0)))
                .execute(&mut c)
                .unwrap();
        }
        ba.sign_in("acme", "admin@acme.test", PASSWORD).await;
        bb.sign_in("acme", "b@acme.test", PASSWORD).await;
        let ((pa, fa), (pb, fb)) = match round % 3 {
            0 => (demote(b.id), demote(a.id)),
            1 => (demote(a.id), demote(b.id)),
            _ => (disable(b.id), demote(a.id)),
        };
        let (ta, tb) = (ba.get("/admin/users").await.csrf(), bb.get("/admin/users").await.csrf());
        let send =
            |br: &crate::support::Browser, path: String, form: Vec<(&'static str, &'static str)>, token: String| {
                let (client, url) = (br.client.clone(), app.url(&path));
                actix_web::rt::spawn(async move {
                    let mut fields = vec![("csrf_token", token.as_str())];
                    fields.extend(form.iter().copied());
                    client.post(url).form(&fields).send().await.unwrap().status().as_u16()
                })
            };
        let (ja, jb) = (send(&ba, pa, fa, ta), send(&bb, pb, fb, tb));
        let statuses = (ja.await.unwrap(), jb.await.unwrap());
        let admins = app
            .users_of(&net.tenant)
            .into_iter()
            .filter(|u| u.role == Role::Admin && u.status == UserStatus::Active)
            .count();
        assert!(admins >= 1, "round {round}: no active admin left ({statuses:?})");
    }
    app.stop().await;
}

/// The ids a page's fields point at (`aria-describedby`, `<label for>`) are on the page: a
/// screen reader reads the hint or the error they name. Fields pointed at help that is only
/// rendered with an error or a hint (54 fields of 12 pages, portals probe).
fn dangling_references(body: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for attribute in ["aria-describedby=\"", "for=\""] {
        for part in body.split(attribute).skip(1) {
            let value = part.split('"').next().unwrap_or_default();
            for id in value.split_whitespace() {
                if !body.contains(&format!("id=\"{id}\"")) {
                    missing.push(format!("{attribute}{value}\""));
                }
            }
        }
    }
    missing
}

async fn form_fields_point_only_at_help_that_is_on_the_page(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let adv = app.advertiser(&net.tenant, "Shop");
    let input = affnet_offers::OfferInput::simple(adv.id, "Offer", "https://shop.example/?t={transaction_id}", 250);
    let offer =
        affnet_offers::Offer::create(&mut app.pool.get().unwrap(), net.tenant.id, &input, app.clock.now()).unwrap();
    app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let public = app.browser();
    for page in ["/t/acme/login", "/t/acme/signup", "/t/acme/forgot"] {
        let body = public.get(page).await.body;
        assert_eq!(dangling_references(&body), Vec::<String>::new(), "{page}");
    }
    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let offer_page = format!("/admin/offers/{}", offer.id);
    let advertiser_page = format!("/admin/advertisers/{}", adv.id);
    for page in [
        "/admin/users",
        "/admin/advertisers",
        &advertiser_page,
        "/admin/affiliates",
        "/admin/offers/new",
        &offer_page,
        "/account/password",
        "/account/api-keys",
    ] {
        let res = admin.get(page).await;
        assert_eq!(res.status, 200, "{page}");
        assert_eq!(dangling_references(&res.body), Vec::<String>::new(), "{page}");
    }
    // With errors shown, too.
    let res = admin
        .submit("/admin/users", "/admin/users", &[("email", "x@"), ("role", "affiliate"), ("password", "x")])
        .await;
    assert_eq!(res.status, 422);
    assert_eq!(dangling_references(&res.body), Vec::<String>::new());
    let aff = app.browser();
    aff.sign_in("acme", "aff@acme.test", PASSWORD).await;
    let affiliate_offer = format!("/affiliate/offers/{}", offer.id);
    for page in ["/affiliate/postbacks", affiliate_offer.as_str(), "/affiliate/conversions", "/affiliate/postbacks/log"]
    {
        let res = aff.get(page).await;
        assert_eq!(res.status, 200, "{page}");
        assert_eq!(dangling_references(&res.body), Vec::<String>::new(), "{page}");
    }
    app.stop().await;
}

crate::on_both_backends!(
    admins_acting_at_once_leave_an_active_admin,
    an_admin_edits_users_and_sends_reset_links,
    each_page_admits_only_its_roles,
    an_admin_creates_a_user_who_can_then_sign_in,
    bad_user_input_is_shown_next_to_its_field_and_changes_nothing,
    a_user_of_another_network_is_not_found,
    api_keys_are_shown_once_and_can_be_revoked,
    unknown_pages_get_a_404_page,
    form_fields_point_only_at_help_that_is_on_the_page,
);
