//! The catalogue pages over real HTTP (session + CSRF): advertisers, affiliates, offers, goals,
//! access, payout overrides; the affiliate and advertiser portals; role and tenant isolation.

use affnet_accounts::{Role, Tenant};
use affnet_db::{AdvertiserId, AffiliateId, Backend, Clock, OfferId};
use affnet_offers::{
    AccessStatus, Affiliate, AffiliateStatus, Goal, Offer, OfferAccess, OfferInput, PayoutOverride, Visibility,
};

use crate::support::{Browser, TestApp, PASSWORD};

/// A complete, valid offer form; `changes` replace fields.
fn offer_form(advertiser: AdvertiserId, changes: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut form: Vec<(&'static str, String)> = [
        ("advertiser_id", advertiser.to_string().as_str()),
        ("name", "Summer Sale"),
        ("description", "Fashion store, US traffic"),
        ("offer_url", "https://shop.example/land?tid={transaction_id}&s={aff_sub}"),
        ("preview_url", "https://shop.example/"),
        ("fallback_url", ""),
        ("status", "active"),
        ("visibility", "approval_required"),
        ("currency", "USD"),
        ("payout_type", "cpa_both"),
        ("payout_flat", "2.50"),
        ("payout_percent", "12.5"),
        ("revenue_type", "cpa_flat"),
        ("revenue_flat", "4"),
        ("revenue_percent", ""),
        ("conversion_status", "approved"),
        ("min_window", "0"),
        ("min_window_unit", "hours"),
        ("max_window", "30"),
        ("max_window_unit", "days"),
        ("daily_cap", "100"),
        ("total_cap", ""),
        ("cap_unit", "conversions"),
        ("over_cap", "reject"),
        ("dedupe_adv_sub", "on"),
        ("one_per_click", "on"),
        ("require_token", "on"),
        ("ip_allowlist", "203.0.113.7\n198.51.100.0/24"),
    ]
    .iter()
    .map(|(k, v)| (*k, (*v).to_owned()))
    .collect();
    for (k, v) in changes {
        match form.iter_mut().find(|(name, _)| name == k) {
            Some(field) => field.1 = (*v).to_owned(),
            None => form.push((k, (*v).to_owned())),
        }
    }
    form
}

fn refs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The id at the end of a `303 See Other` location such as `/admin/offers/12`.
fn id_from(location: &Option<String>) -> i64 {
    let loc = location.as_deref().expect("a redirect");
    loc.split('#').next().unwrap().rsplit('/').next().unwrap().parse().unwrap()
}

/// The message is shown in the field's own error paragraph, right after the field.
fn assert_error_next_to(body: &str, field: &str, message: &str) {
    let at = body.find(&format!("id=\"{field}\"")).unwrap_or_else(|| panic!("no field {field} in:\n{body}"));
    let after = &body[at..(at + 900).min(body.len())];
    assert!(
        crate::support::shows_field_error(after, &format!("{message}</p>")),
        "expected '{message}' next to {field}, got:\n{after}"
    );
}

fn offers_of(app: &TestApp, tenant: &Tenant) -> Vec<Offer> {
    let mut c = app.pool.get().unwrap();
    Offer::list(&mut c, tenant.id, &Default::default(), 1000, 0).unwrap()
}

fn offer(app: &TestApp, tenant: &Tenant, id: OfferId) -> Offer {
    Offer::find(&mut app.pool.get().unwrap(), tenant.id, id).unwrap()
}

fn make_offer(app: &TestApp, tenant: &Tenant, adv: AdvertiserId, name: &str, vis: Visibility) -> Offer {
    let mut input = OfferInput::simple(adv, name, "https://shop.example/?t={transaction_id}", 200);
    input.visibility = Some(vis.as_str().into());
    Offer::create(&mut app.pool.get().unwrap(), tenant.id, &input, app.clock.now()).unwrap()
}

async fn signed_in(app: &TestApp, slug: &str, email: &str) -> Browser {
    let b = app.browser();
    let res = b.sign_in(slug, email, PASSWORD).await;
    assert_eq!(res.status, 303, "sign-in of {email}");
    b
}

async fn a_network_runs_its_first_offer_through_the_pages(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let admin = signed_in(&app, "acme", "admin@acme.test").await;

    // Advertiser.
    let res = admin
        .submit(
            "/admin/advertisers",
            "/admin/advertisers",
            &[("name", "Shop Co"), ("contact_email", "ops@shop.example"), ("status", "active")],
        )
        .await;
    assert_eq!(res.status, 303);
    let adv = AdvertiserId(id_from(&res.location));
    let page = admin.get(res.location.as_deref().unwrap()).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Advertiser Shop Co created."));
    let list = admin.get("/admin/advertisers?q=shop&status=active").await;
    assert!(list.body.contains(">Shop Co</a>"));
    assert!(admin.get("/admin/advertisers?q=nothing-like-it").await.body.contains("No advertisers match."));

    // Offer, with decimal money and a percentage.
    let form = offer_form(adv, &[]);
    let res = admin.submit("/admin/offers/new", "/admin/offers", &refs(&form)).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let id = OfferId(id_from(&res.location));
    let o = offer(&app, &net.tenant, id);
    assert_eq!((o.payout_flat, o.payout_bps, o.revenue_flat), (250, 1250, 400));
    assert_eq!((o.min_click_age_secs, o.max_click_age_secs, o.daily_cap), (0, 30 * 86_400, Some(100)));
    assert_eq!(o.visibility, Visibility::ApprovalRequired);
    assert_eq!(o.ip_allowlist, "203.0.113.7, 198.51.100.0/24");
    assert!(o.require_token && o.dedupe_adv_sub && o.one_per_click);
    let page = admin.get(&format!("/admin/offers/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("2.50 USD + 12.5 % of sale"));
    assert!(page.body.contains("<code>{transaction_id}</code>"), "macro helper");
    let conversion_url = format!(
        "{}/aff_lsr?transaction_id={{transaction_id}}&#38;offer_id={id}&#38;amount={{amount}}&#38;adv_sub={{order_id}}&#38;security_token={}",
        app.base, o.security_token
    );
    assert!(page.body.contains(&conversion_url), "integration URL in:\n{}", page.body);
    assert!(page.body.contains(&format!("{}/aff_c?offer_id={id}&amp;aff_id=&lt;affiliate id&gt;", app.base)));
    // The integration says what this offer does with a repeated order id, and warns only
    // when the offer URL cannot carry our id.
    assert!(page.body.contains("refused as <code>duplicate_adv_sub</code>"), "{}", page.body);
    assert!(!page.body.contains("This offer URL has no"), "{}", page.body);
    let mut bare = offer_form(adv, &[("name", "No id"), ("offer_url", "https://shop.example/landing")]);
    bare.retain(|(k, _)| *k != "dedupe_adv_sub");
    let res = admin.submit("/admin/offers/new", "/admin/offers", &refs(&bare)).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let page = admin.get(res.location.as_deref().unwrap()).await;
    assert!(page.body.contains("This offer URL has no <code>{transaction_id}</code>"), "{}", page.body);
    assert!(page.body.contains("not used to refuse duplicates on this offer"), "{}", page.body);
    assert!(page.body.contains("<code>203.0.113.7</code>"));

    // Edit: new payout, window in hours, one checkbox off.
    let form = offer_form(
        adv,
        &[
            ("name", "Summer Sale EU"),
            ("payout_type", "cpa_flat"),
            ("payout_flat", "3"),
            ("payout_percent", ""),
            ("max_window", "48"),
            ("max_window_unit", "hours"),
        ],
    );
    let form: Vec<_> = form.into_iter().filter(|(k, _)| *k != "dedupe_adv_sub").collect();
    let res = admin.submit(&format!("/admin/offers/{id}"), &format!("/admin/offers/{id}"), &refs(&form)).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let edited = offer(&app, &net.tenant, id);
    assert_eq!((edited.name.as_str(), edited.payout_flat, edited.payout_bps), ("Summer Sale EU", 300, 0));
    assert_eq!(edited.max_click_age_secs, 48 * 3600);
    assert!(!edited.dedupe_adv_sub && edited.one_per_click);
    let page = admin.get(&format!("/admin/offers/{id}")).await;
    assert!(page.body.contains("Offer saved.") && page.body.contains("up to 2 days after the click"));

    // Rotate the token.
    let res = admin.submit(&format!("/admin/offers/{id}"), &format!("/admin/offers/{id}/rotate-token"), &[]).await;
    assert_eq!(res.status, 303);
    let token = offer(&app, &net.tenant, id).security_token;
    assert_ne!(token, o.security_token);
    let page = admin.get(&format!("/admin/offers/{id}")).await;
    assert!(page.body.contains(&format!("security_token={token}")) && !page.body.contains(&o.security_token));

    // Goal: create, then edit.
    let res = admin
        .submit(
            &format!("/admin/offers/{id}"),
            &format!("/admin/offers/{id}/goals"),
            &[("name", "Deposit"), ("status", "active"), ("payout_type", "cpa_flat"), ("payout_flat", "1.25")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let goals = Goal::list_for_offer(&mut app.pool.get().unwrap(), net.tenant.id, id).unwrap();
    assert_eq!(goals.len(), 1);
    let goal = &goals[0];
    assert_eq!((goal.name.as_str(), goal.payout_flat), ("Deposit", 125));
    let page = admin.get(&format!("/admin/offers/{id}")).await;
    assert!(page.body.contains(&format!(
        "{}/aff_goal?a=lsr&#38;goal_id={}&#38;transaction_id={{transaction_id}}&#38;security_token={token}",
        app.base, goal.id
    )));
    let res = admin
        .submit(
            &format!("/admin/goals/{}", goal.id),
            &format!("/admin/goals/{}", goal.id),
            &[
                ("name", "First deposit"),
                ("status", "active"),
                ("payout_type", "cpa_flat"),
                ("payout_flat", "1.50"),
                ("allow_multiple", "on"),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let goal = Goal::find(&mut app.pool.get().unwrap(), net.tenant.id, goal.id).unwrap();
    assert_eq!((goal.name.as_str(), goal.payout_flat, goal.allow_multiple), ("First deposit", 150, true));

    // Affiliate: created pending, a user for it, approved.
    let res = admin
        .submit(
            "/admin/affiliates",
            "/admin/affiliates",
            &[("name", "Jo Media"), ("contact_email", "jo@media.example"), ("status", "pending")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let aff = AffiliateId(id_from(&res.location));
    let res = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[
                ("email", "jo@media.example"),
                ("role", "affiliate"),
                ("password", PASSWORD),
                ("company_id", &aff.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let page = admin.get(&format!("/admin/affiliates/{aff}")).await;
    assert!(page.body.contains("jo@media.example") && page.body.contains(">Approve</button>"));
    let res = admin
        .submit(
            &format!("/admin/affiliates/{aff}"),
            &format!("/admin/affiliates/{aff}/status"),
            &[("status", "active")],
        )
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(
        Affiliate::find(&mut app.pool.get().unwrap(), net.tenant.id, aff).unwrap().status,
        AffiliateStatus::Active
    );
    assert!(admin.get(&format!("/admin/affiliates/{aff}")).await.body.contains("Jo Media is now approved."));

    // The affiliate applies for the approval-required offer: no link until approved.
    let jo = signed_in(&app, "acme", "jo@media.example").await;
    let list = jo.get("/affiliate/offers").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Summer Sale EU") && list.body.contains("approval required"));
    let page = jo.get(&format!("/affiliate/offers/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Apply to run this offer"));
    assert!(!page.body.contains("/aff_c?"));
    let res = jo
        .submit(
            &format!("/affiliate/offers/{id}"),
            &format!("/affiliate/offers/{id}/apply"),
            &[("message", "email list, 50k US")],
        )
        .await;
    assert_eq!(res.status, 303);
    let page = jo.get(&format!("/affiliate/offers/{id}")).await;
    assert!(page.body.contains("Application sent.") && page.body.contains("waiting for the network"));
    assert!(!page.body.contains("/aff_c?"));
    let again = jo.submit("/affiliate/offers", &format!("/affiliate/offers/{id}/apply"), &[("message", "")]).await;
    assert_eq!(again.status, 422);
    assert!(again.body.contains("you already applied (status: pending)"));

    // The network approves it from the access list.
    let access = admin.get("/admin/access").await;
    assert_eq!(access.status, 200);
    assert!(access.body.contains("email list, 50k US"));
    let row = OfferAccess::find(&mut app.pool.get().unwrap(), net.tenant.id, id, aff).unwrap().unwrap();
    let res = admin
        .submit("/admin/access", &format!("/admin/access/{}", row.id), &[("status", "approved"), ("note", "welcome")])
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location.as_deref(), Some("/admin/access"));
    let row = OfferAccess::find(&mut app.pool.get().unwrap(), net.tenant.id, id, aff).unwrap().unwrap();
    assert_eq!((row.status, row.note.as_str()), (AccessStatus::Approved, "welcome"));
    assert!(admin.get("/admin/access").await.body.contains("Nothing pending."));

    // The affiliate now has the link, and the builder adds encoded sub ids.
    let page = jo.get(&format!("/affiliate/offers/{id}?aff_sub=fb+ads&aff_sub3=x%2Fy&source=news%26co")).await;
    assert_eq!(page.status, 200);
    let link = format!(
        "{}/aff_c?offer_id={id}&#38;aff_id={aff}&#38;aff_sub=fb%20ads&#38;aff_sub3=x%2Fy&#38;source=news%26co",
        app.base
    );
    assert!(page.body.contains(&link), "link in:\n{}", page.body);
    // A tracker's token in braces stays as typed (its traffic source replaces it).
    let page = jo.get(&format!("/affiliate/offers/{id}?aff_sub3=%7Bclickid%7D")).await;
    let link = format!("{}/aff_c?offer_id={id}&#38;aff_id={aff}&#38;aff_sub3={{clickid}}", app.base);
    assert!(page.body.contains(&link), "link in:\n{}", page.body);
    let long = "x".repeat(501);
    let page = jo.get(&format!("/affiliate/offers/{id}?aff_sub2={long}")).await;
    assert_eq!(page.status, 422);
    assert_error_next_to(&page.body, "aff_sub2", "use at most 500 characters");

    // Payout override for this affiliate: set, seen by the affiliate, deleted.
    let res = admin
        .submit(
            &format!("/admin/offers/{id}"),
            &format!("/admin/offers/{id}/overrides"),
            &[("affiliate_id", &aff.to_string()), ("goal_id", ""), ("payout_type", "cpa_flat"), ("payout_flat", "5")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let overrides = PayoutOverride::list(&mut app.pool.get().unwrap(), net.tenant.id, Some(id), None, 10, 0).unwrap();
    assert_eq!(overrides.len(), 1);
    assert_eq!((overrides[0].affiliate_id, overrides[0].payout_flat), (aff, 500));
    assert!(jo.get(&format!("/affiliate/offers/{id}")).await.body.contains("5.00 USD"));
    assert!(admin.get(&format!("/admin/affiliates/{aff}")).await.body.contains("5.00 USD"));
    let res = admin
        .submit(&format!("/admin/offers/{id}"), &format!("/admin/overrides/{}/delete", overrides[0].id), &[])
        .await;
    assert_eq!(res.status, 303);
    assert!(PayoutOverride::list(&mut app.pool.get().unwrap(), net.tenant.id, Some(id), None, 10, 0)
        .unwrap()
        .is_empty());
    let page = jo.get(&format!("/affiliate/offers/{id}")).await;
    assert!(page.body.contains("3.00 USD") && !page.body.contains("5.00 USD"));

    // A goal conversion (from this test's address): the tracer names its goal (it said "#1").
    {
        use diesel::prelude::*;
        let offers = affnet_db::schema::offers::table.filter(affnet_db::schema::offers::id.eq(id));
        diesel::update(offers)
            .set(affnet_db::schema::offers::ip_allowlist.eq(""))
            .execute(&mut app.pool.get().unwrap())
            .unwrap();
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(app.url(&format!("/aff_c?offer_id={id}&aff_id={aff}"))).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let tid = location.split(|c: char| !c.is_ascii_hexdigit()).find(|p| p.len() == 32).unwrap().to_owned();
    let goal_call = format!("/aff_goal?a=lsr&goal_id={}&transaction_id={tid}&security_token={token}", goal.id);
    assert_eq!(http.get(app.url(&goal_call)).send().await.unwrap().text().await.unwrap(), "success=true;");
    let trace = admin.get(&format!("/admin/tracer?transaction_id={tid}")).await;
    assert!(trace.body.contains(&format!("#{} First deposit", goal.id)), "{}", trace.body);
    app.stop().await;
}

async fn bad_offer_input_is_shown_next_to_its_field_and_changes_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let adv = app.advertiser(&net.tenant, "Shop Co").id;
    let existing = make_offer(&app, &net.tenant, adv, "Existing", Visibility::Public);
    let before = offer(&app, &net.tenant, existing.id);
    let admin = signed_in(&app, "acme", "admin@acme.test").await;
    let cases: &[(&str, &str, &str, &str)] = &[
        ("payout_flat", "-1", "payout_flat", "amount must not be negative"),
        ("payout_flat", "1e400", "payout_flat", "amount must be a plain decimal number such as 12.50"),
        ("payout_flat", "12,50", "payout_flat", "amount must be a plain decimal number such as 12.50"),
        ("revenue_flat", "0.001", "revenue_flat", "amount has more decimal places than the currency allows (2)"),
        ("payout_percent", "150", "payout_percent", "a percentage must be between 0 and 100 %"),
        ("offer_url", "ftp://x", "offer_url", "only http:// and https:// URLs are allowed"),
        ("offer_url", "https://shop.example/?c={clickid}", "offer_url", "unknown macro: {clickid}"),
        ("fallback_url", "https://shop.example/?p={payout}", "fallback_url", "unknown macro: {payout}"),
        ("ip_allowlist", "10.0.0.0/33", "ip_allowlist", "&#39;10.0.0.0/33&#39;: the prefix length must be 0 to 32"),
        ("min_window", "10", "min_window", "the minimum click age cannot be above the maximum"),
        ("max_window", "soon", "max_window", "enter a whole number, e.g. 30"),
        ("daily_cap", "-5", "daily_cap", "a cap must be a positive number (leave empty for no cap)"),
        ("name", "  ", "name", "this field is required"),
    ];
    for (field, value, shown_at, message) in cases {
        let mut changes = vec![(*field, *value)];
        if *field == "min_window" {
            changes.extend([("min_window_unit", "days"), ("max_window", "1"), ("max_window_unit", "days")]);
        }
        let form = offer_form(adv, &changes);
        let res = admin.submit("/admin/offers/new", "/admin/offers", &refs(&form)).await;
        assert_eq!(res.status, 422, "create with {field}={value}");
        assert_error_next_to(&res.body, shown_at, message);
        assert!(res.body.contains("Please correct the highlighted fields."));
        let res = admin
            .submit(&format!("/admin/offers/{}", existing.id), &format!("/admin/offers/{}", existing.id), &refs(&form))
            .await;
        assert_eq!(res.status, 422, "edit with {field}={value}");
        assert_error_next_to(&res.body, shown_at, message);
    }
    // Every field's message at once, on create and edit: those that do not parse (amount,
    // currency, cap) and the others (they came in a second round, once the first were fixed).
    let form = offer_form(
        adv,
        &[("name", ""), ("offer_url", "ftp://x"), ("payout_flat", "abc"), ("currency", "ZZZ"), ("daily_cap", "-1")],
    );
    for (page, action) in [
        ("/admin/offers/new".to_owned(), "/admin/offers".to_owned()),
        (format!("/admin/offers/{}", existing.id), format!("/admin/offers/{}", existing.id)),
    ] {
        let res = admin.submit(&page, &action, &refs(&form)).await;
        assert_eq!(res.status, 422, "{action}");
        assert_error_next_to(&res.body, "name", "this field is required");
        assert_error_next_to(&res.body, "offer_url", "only http:// and https:// URLs are allowed");
        assert_error_next_to(&res.body, "payout_flat", "amount must be a plain decimal number such as 12.50");
        assert_error_next_to(&res.body, "daily_cap", "a cap must be a positive number (leave empty for no cap)");
        assert!(res.body.contains("ZZZ"), "the currency's message");
    }
    // A valid field is not blamed for an unreadable one of its group (the maximum read as 0).
    let form =
        offer_form(adv, &[("min_window", "1"), ("min_window_unit", "days"), ("max_window", "soon"), ("name", "")]);
    let res = admin.submit("/admin/offers/new", "/admin/offers", &refs(&form)).await;
    assert_eq!(res.status, 422);
    assert_error_next_to(&res.body, "max_window", "enter a whole number, e.g. 30");
    assert_error_next_to(&res.body, "name", "this field is required");
    assert!(!res.body.contains("the minimum click age cannot be above the maximum"), "{}", res.body);
    // The typed value is kept in the form.
    let form = offer_form(adv, &[("payout_flat", "12,50")]);
    let res = admin.submit("/admin/offers/new", "/admin/offers", &refs(&form)).await;
    assert!(res.body.contains("value=\"12,50\""));
    assert_eq!(offers_of(&app, &net.tenant).len(), 1, "nothing created");
    assert_eq!(offer(&app, &net.tenant, existing.id), before, "nothing changed");

    // Goal and override forms refuse the same way.
    let id = existing.id;
    let res = admin
        .submit(
            &format!("/admin/offers/{id}"),
            &format!("/admin/offers/{id}/goals"),
            &[("name", "Deposit"), ("payout_type", "cpa_percent"), ("payout_percent", "150")],
        )
        .await;
    assert_eq!(res.status, 422);
    assert_error_next_to(&res.body, "goal-payout_percent", "a percentage must be between 0 and 100 %");
    // A goal's unreadable amount and its missing name, at once.
    let res = admin
        .submit(
            &format!("/admin/offers/{id}"),
            &format!("/admin/offers/{id}/goals"),
            &[("name", ""), ("payout_type", "cpa_flat"), ("payout_flat", "abc")],
        )
        .await;
    assert_eq!(res.status, 422);
    assert_error_next_to(&res.body, "goal-payout_flat", "amount must be a plain decimal number such as 12.50");
    assert_error_next_to(&res.body, "goal-name", "this field is required");
    assert!(Goal::list_for_offer(&mut app.pool.get().unwrap(), net.tenant.id, id).unwrap().is_empty());
    let aff = app.affiliate(&net.tenant, "Jo Media").id.to_string();
    let res = admin
        .submit(
            &format!("/admin/offers/{id}"),
            &format!("/admin/offers/{id}/overrides"),
            &[("affiliate_id", &aff), ("payout_type", "cpa_flat"), ("payout_flat", "-1")],
        )
        .await;
    assert_eq!(res.status, 422);
    assert_error_next_to(&res.body, "ovr-payout_flat", "amount must not be negative");
    let res = admin
        .submit(&format!("/admin/offers/{id}"), &format!("/admin/offers/{id}/overrides"), &[("payout_flat", "1")])
        .await;
    assert_eq!(res.status, 422);
    assert_error_next_to(&res.body, "ovr-affiliate_id", "choose an affiliate of this network");
    assert!(PayoutOverride::list(&mut app.pool.get().unwrap(), net.tenant.id, Some(id), None, 10, 0)
        .unwrap()
        .is_empty());

    // Advertiser and affiliate forms.
    let res =
        admin.submit("/admin/advertisers", "/admin/advertisers", &[("name", ""), ("contact_email", "nope")]).await;
    assert_eq!(res.status, 422);
    assert_error_next_to(&res.body, "name", "this field is required");
    assert_error_next_to(&res.body, "contact_email", "enter an email address such as name@example.com");
    let admin_id = app.users_of(&net.tenant)[0].id.to_string();
    let res =
        admin.submit("/admin/affiliates", "/admin/affiliates", &[("name", "X"), ("manager_user_id", &admin_id)]).await;
    assert_eq!(res.status, 422);
    assert_error_next_to(&res.body, "manager_user_id", "choose a user of role manager in this network");
    app.stop().await;
}

async fn affiliates_see_only_what_is_theirs(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let adv = app.advertiser(&net.tenant, "Shop Co").id;
    let public = make_offer(&app, &net.tenant, adv, "Open Offer", Visibility::Public);
    let private = make_offer(&app, &net.tenant, adv, "Secret Offer", Visibility::Private);
    let a_user = app.user(&net.tenant, "a@aff.test", Role::Affiliate);
    let b_user = app.user(&net.tenant, "b@aff.test", Role::Affiliate);
    let (a, b) = (a_user.affiliate_id.unwrap(), b_user.affiliate_id.unwrap());
    let admin = signed_in(&app, "acme", "admin@acme.test").await;

    // The private offer is assigned to A only; A also gets a better payout on the public one.
    let res = admin
        .submit(
            &format!("/admin/offers/{}", private.id),
            &format!("/admin/offers/{}/access", private.id),
            &[("affiliate_id", &a.to_string()), ("note", "exclusive")],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let res = admin
        .submit(
            &format!("/admin/offers/{}", public.id),
            &format!("/admin/offers/{}/overrides", public.id),
            &[("affiliate_id", &a.to_string()), ("payout_type", "cpa_flat"), ("payout_flat", "9.99")],
        )
        .await;
    assert_eq!(res.status, 303);

    let browser_a = signed_in(&app, "acme", "a@aff.test").await;
    let browser_b = signed_in(&app, "acme", "b@aff.test").await;
    let list_a = browser_a.get("/affiliate/offers").await.body;
    assert!(list_a.contains("Open Offer") && list_a.contains("Secret Offer") && list_a.contains("9.99 USD"));
    let list_b = browser_b.get("/affiliate/offers").await.body;
    assert!(list_b.contains("Open Offer") && list_b.contains("2.00 USD"));
    assert!(!list_b.contains("Secret Offer") && !list_b.contains("9.99"));

    // B: the private offer does not exist; A: it has a link with A's id.
    let res = browser_b.get(&format!("/affiliate/offers/{}", private.id)).await;
    assert_eq!(res.status, 404);
    assert!(!res.body.contains("Secret Offer"));
    let res = browser_b.submit("/affiliate/offers", &format!("/affiliate/offers/{}/apply", private.id), &[]).await;
    assert_eq!(res.status, 404);
    let page = browser_a.get(&format!("/affiliate/offers/{}", private.id)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("/aff_c?offer_id={}&#38;aff_id={a}", private.id)));
    let page = browser_b.get(&format!("/affiliate/offers/{}", public.id)).await;
    assert!(page.body.contains(&format!("/aff_c?offer_id={}&#38;aff_id={b}", public.id)));
    assert!(!page.body.contains(&format!("aff_id={a}")) && !page.body.contains("9.99"));

    // Applying for a public offer is refused with a message; unknown offers are 404.
    let res = browser_b.submit("/affiliate/offers", &format!("/affiliate/offers/{}/apply", public.id), &[]).await;
    assert_eq!(res.status, 422);
    assert!(res.body.contains("this offer is public: no application is needed"));
    assert_eq!(browser_b.get("/affiliate/offers/999999").await.status, 404);

    // Staff pages and actions are closed to affiliates.
    for path in [format!("/admin/affiliates/{a}"), format!("/admin/offers/{}", private.id), "/admin/access".into()] {
        assert_eq!(browser_b.get(&path).await.status, 403, "{path}");
    }
    let res = browser_b
        .submit(
            "/affiliate/offers",
            &format!("/admin/offers/{}/access", private.id),
            &[("affiliate_id", &b.to_string())],
        )
        .await;
    assert_eq!(res.status, 403);
    let mut c = app.pool.get().unwrap();
    assert!(OfferAccess::find(&mut c, net.tenant.id, private.id, b).unwrap().is_none());
    app.stop().await;
}

async fn advertisers_read_their_own_offers_only(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let adv_user = app.user(&net.tenant, "ads@shop.test", Role::Advertiser);
    let own_adv = adv_user.advertiser_id.unwrap();
    let other_adv = app.advertiser(&net.tenant, "Other Co").id;
    let own = make_offer(&app, &net.tenant, own_adv, "Own Offer", Visibility::Public);
    let other = make_offer(&app, &net.tenant, other_adv, "Their Offer", Visibility::Public);
    let b = signed_in(&app, "acme", "ads@shop.test").await;

    let list = b.get("/advertiser/offers").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Own Offer") && !list.body.contains("Their Offer"));
    let page = b.get(&format!("/advertiser/offers/{}", own.id)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!(
        "{}/aff_lsr?transaction_id={{transaction_id}}&#38;offer_id={}&#38;amount={{amount}}&#38;adv_sub={{order_id}}&#38;security_token={}",
        app.base, own.id, own.security_token
    )));
    assert!(!page.body.contains("<form method=\"post\" action=\"/admin"), "read-only");
    assert_eq!(b.get(&format!("/advertiser/offers/{}", other.id)).await.status, 404);
    assert_eq!(b.get(&format!("/admin/offers/{}", own.id)).await.status, 403);

    // Posting the admin edit form with a valid CSRF token is still refused, and changes nothing.
    let form = offer_form(own_adv, &[("name", "Hijacked"), ("payout_flat", "999")]);
    let res = b.submit("/advertiser/offers", &format!("/admin/offers/{}", own.id), &refs(&form)).await;
    assert_eq!(res.status, 403);
    let res = b.submit("/advertiser/offers", &format!("/admin/offers/{}/rotate-token", own.id), &[]).await;
    assert_eq!(res.status, 403);
    assert_eq!(offer(&app, &net.tenant, own.id), own);
    app.stop().await;
}

async fn ids_of_another_network_are_not_found(backend: Backend) {
    let app = TestApp::start(backend).await;
    let acme = app.network("acme");
    let beta = app.network("beta");
    let acme_adv = app.advertiser(&acme.tenant, "Acme Shop").id;
    let acme_offer = make_offer(&app, &acme.tenant, acme_adv, "Acme Offer", Visibility::Public);
    let beta_adv = app.advertiser(&beta.tenant, "Beta Shop").id;
    let beta_offer = make_offer(&app, &beta.tenant, beta_adv, "Beta Offer", Visibility::Public);
    let beta_aff = app.affiliate(&beta.tenant, "Beta Media").id;
    let beta_user = app.user(&beta.tenant, "aff@beta.test", Role::Affiliate);
    let mut c = app.pool.get().unwrap();
    let beta_goal = Goal::create(
        &mut c,
        beta.tenant.id,
        beta_offer.id,
        &affnet_offers::GoalInput {
            name: "Deposit".into(),
            status: None,
            payout: affnet_offers::Rate::flat(100),
            revenue: affnet_offers::Rate::ZERO,
            allow_multiple: false,
        },
        app.clock.now(),
    )
    .unwrap();
    let beta_override = PayoutOverride::set(
        &mut c,
        beta.tenant.id,
        &affnet_offers::OverrideInput {
            offer_id: beta_offer.id,
            affiliate_id: beta_aff,
            goal_id: None,
            payout: affnet_offers::Rate::flat(300),
        },
        app.clock.now(),
    )
    .unwrap();
    drop(c);
    let admin = signed_in(&app, "acme", "admin@acme.test").await;
    for path in [
        format!("/admin/offers/{}", beta_offer.id),
        format!("/admin/advertisers/{beta_adv}"),
        format!("/admin/affiliates/{beta_aff}"),
        format!("/admin/goals/{}", beta_goal.id),
    ] {
        let res = admin.get(&path).await;
        assert_eq!(res.status, 404, "{path}");
        assert!(!res.body.contains("Beta"));
    }
    let form = offer_form(beta_adv, &[("name", "Taken over")]);
    let res = admin.submit("/admin/offers", &format!("/admin/offers/{}", beta_offer.id), &refs(&form)).await;
    assert_eq!(res.status, 404);
    for action in [
        format!("/admin/offers/{}/rotate-token", beta_offer.id),
        format!("/admin/overrides/{}/delete", beta_override.id),
        format!("/admin/affiliates/{beta_aff}/status"),
    ] {
        let res = admin.submit("/admin/offers", &action, &[("status", "active")]).await;
        assert_eq!(res.status, 404, "{action}");
    }
    assert_eq!(offer(&app, &beta.tenant, beta_offer.id), beta_offer);
    let mut c = app.pool.get().unwrap();
    assert!(PayoutOverride::find(&mut c, beta.tenant.id, beta_override.id).is_ok());
    assert_eq!(Affiliate::find(&mut c, beta.tenant.id, beta_aff).unwrap().status, AffiliateStatus::Active);
    drop(c);

    // Another network's advertiser or affiliate cannot be picked in forms either.
    let res = admin.submit("/admin/offers/new", "/admin/offers", &refs(&offer_form(beta_adv, &[]))).await;
    assert_eq!(res.status, 422);
    assert_error_next_to(&res.body, "advertiser_id", "choose an advertiser of this network");
    let res = admin
        .submit(
            &format!("/admin/offers/{}", acme_offer.id),
            &format!("/admin/offers/{}/access", acme_offer.id),
            &[("affiliate_id", &beta_aff.to_string())],
        )
        .await;
    assert_eq!(res.status, 422);
    assert_error_next_to(&res.body, "assign-affiliate_id", "choose an affiliate of this network");
    assert_eq!(offers_of(&app, &acme.tenant).len(), 1);

    // An affiliate of beta does not see acme's offers.
    let beta_browser = signed_in(&app, "beta", "aff@beta.test").await;
    assert_eq!(beta_browser.get(&format!("/affiliate/offers/{}", acme_offer.id)).await.status, 404);
    assert!(!beta_browser.get("/affiliate/offers").await.body.contains("Acme Offer"));
    assert!(beta_user.affiliate_id.is_some());
    app.stop().await;
}

/// A page links to a section only for those who may open it: a manager (no Users page) is not
/// sent to `/admin/users` (a 403) from a company without users, nor from the dashboard.
async fn pages_link_only_to_sections_the_role_may_open(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    app.user(&net.tenant, "am@acme.test", Role::Manager);
    let adv = app.advertiser(&net.tenant, "Lonely Shop").id;
    let aff = app.affiliate(&net.tenant, "Lonely Media").id;
    let manager = signed_in(&app, "acme", "am@acme.test").await;
    let admin = signed_in(&app, "acme", "admin@acme.test").await;
    assert_eq!(manager.get("/admin/users").await.status, 403);
    for path in [format!("/admin/advertisers/{adv}"), format!("/admin/affiliates/{aff}"), "/admin".to_owned()] {
        let page = manager.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("href=\"/admin/users\""), "{path} links a manager to Users");
        let page = admin.get(&path).await;
        assert!(page.body.contains("href=\"/admin/users\""), "{path} links an admin to Users");
    }
    app.stop().await;
}

/// The edit page says why an offer with history cannot change currency or advertiser, next to
/// the field, even when the amounts typed do not read in the new currency (before, only
/// "more decimal places than the currency allows" showed, on the payout).
async fn the_edit_page_says_why_an_offer_keeps_its_currency_and_advertiser(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let adv = app.advertiser(&net.tenant, "Shop Co").id;
    let other = app.advertiser(&net.tenant, "Other Co").id;
    let aff = app.user(&net.tenant, "aff@acme.test", Role::Affiliate).affiliate_id.unwrap();
    let existing = make_offer(&app, &net.tenant, adv, "Existing", Visibility::Public);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = http.get(app.url(&format!("/aff_c?offer_id={}&aff_id={aff}", existing.id))).send().await.unwrap();
    let tid = res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
    let call = format!("/aff_lsr?transaction_id={tid}&security_token={}", existing.security_token);
    assert_eq!(http.get(app.url(&call)).send().await.unwrap().status().as_u16(), 200);
    let before = offer(&app, &net.tenant, existing.id);
    let admin = signed_in(&app, "acme", "admin@acme.test").await;
    let path = format!("/admin/offers/{}", existing.id);
    let currency = "this offer has conversions recorded in USD: its currency cannot change; create a new offer for another currency";
    let advertiser =
        "this offer has clicks: its history belongs to its advertiser; create a new offer for another advertiser";
    let other_id = other.to_string();
    for (changes, field, message) in [
        (vec![("currency", "JPY")], "currency", currency),
        (vec![("currency", "EUR"), ("payout_flat", "2.50")], "currency", currency),
        (vec![("advertiser_id", other_id.as_str())], "advertiser_id", advertiser),
    ] {
        let form = offer_form(if field == "advertiser_id" { other } else { adv }, &changes);
        let res = admin.submit(&path, &path, &refs(&form)).await;
        assert_eq!(res.status, 422, "{changes:?}: {}", res.body);
        assert_error_next_to(&res.body, field, message);
    }
    assert_eq!(offer(&app, &net.tenant, existing.id), before, "nothing changed");
    app.stop().await;
}

/// An affiliate's dashboard names its manager (the one the network assigned, while active) with
/// their email: who to ask about offers, payouts and postbacks. Without one, or with one
/// disabled, it names nobody.
async fn an_affiliate_sees_its_manager_on_its_dashboard(backend: Backend) {
    use affnet_db::schema::users;
    use diesel::prelude::*;
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    let aff = app.user(&net.tenant, "aff@acme.test", Role::Affiliate).affiliate_id.unwrap();
    let b = signed_in(&app, "acme", "aff@acme.test").await;
    let page = b.get("/affiliate").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Your affiliate manager"));
    let kim = app.user(&net.tenant, "kim@acme.test", Role::Manager);
    let set_user = |name: &str, status: &str| {
        diesel::update(users::table.find(kim.id.0))
            .set((users::name.eq(name), users::status.eq(status)))
            .execute(&mut app.pool.get().unwrap())
            .unwrap();
    };
    set_user("Kim <Lee>", "active");
    let api = app.api(&net.api_key.token);
    let body = serde_json::json!({"manager_user_id": kim.id.0});
    let res = api.send(reqwest::Method::PATCH, &format!("/api/v1/affiliates/{}", aff.0), Some(body)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let page = b.get("/affiliate").await.body;
    let card = page.split("id=\"manager\"").nth(1).expect("the manager's card").split("</section>").next().unwrap();
    assert!(card.contains("Kim &#60;Lee&#62;, <a href=\"mailto:kim@acme.test\">kim@acme.test</a>"), "{card}");
    set_user("Kim <Lee>", "disabled");
    assert!(!b.get("/affiliate").await.body.contains("Your affiliate manager"));
    app.stop().await;
}

crate::on_both_backends!(
    an_affiliate_sees_its_manager_on_its_dashboard,
    the_edit_page_says_why_an_offer_keeps_its_currency_and_advertiser,
    pages_link_only_to_sections_the_role_may_open,
    a_network_runs_its_first_offer_through_the_pages,
    bad_offer_input_is_shown_next_to_its_field_and_changes_nothing,
    affiliates_see_only_what_is_theirs,
    advertisers_read_their_own_offers_only,
    ids_of_another_network_are_not_found,
);
