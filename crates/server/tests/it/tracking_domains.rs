//! A network's own tracking domain (DESIGN.md, "Tenant resolution"): set by its admin on the
//! settings page (checked, unique across networks, audited), its links use it, and requests to
//! the tracking endpoints on it know only that network's offers and clicks (another network's
//! ids are unknown: 404), while the server's own address keeps serving every network. `/login`
//! on it leads to the network's sign-in page.

use affnet_accounts::{Role, Tenant};
use affnet_db::schema::{conversion_attempts, tenants};
use affnet_db::{AffiliateId, Backend, Clock, TenantId};
use affnet_offers::{Offer, OfferInput};
use diesel::prelude::*;

use crate::support::{TestApp, PASSWORD};

fn offer_of(app: &TestApp, tenant: &Tenant) -> (Offer, AffiliateId) {
    let adv = app.advertiser(tenant, "Shop");
    let aff = app.affiliate(tenant, "Media").id;
    let input = OfferInput::simple(adv.id, "Offer", "https://shop.example/?t={transaction_id}", 250);
    (Offer::create(&mut app.pool.get().unwrap(), tenant.id, &input, app.clock.now()).unwrap(), aff)
}

fn domain_of(app: &TestApp, tenant: TenantId) -> Option<String> {
    tenants::table.find(tenant).select(tenants::tracking_domain).first(&mut app.pool.get().unwrap()).unwrap()
}

async fn a_networks_tracking_domain_takes_its_links_and_only_its_ids(backend: Backend) {
    let app = TestApp::start(backend).await;
    let acme = app.network("acme");
    let other = app.network("other");
    let (acme_offer, acme_aff) = offer_of(&app, &acme.tenant);
    let (other_offer, other_aff) = offer_of(&app, &other.tenant);
    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;

    // Not a host name: 422 next to the field, nothing stored.
    for bad in [
        "http://track.acme.test",
        "track.acme.test:8080",
        "track.acme.test/x",
        "localhost",
        "10.0.0.1",
        "a..b",
        "-x.test",
        "track acme.test",
    ] {
        let refused = admin.submit("/admin/users", "/admin/tracking-domain", &[("tracking_domain", bad)]).await;
        assert_eq!(refused.status, 422, "{bad}");
        assert!(refused.body.contains("enter a host name such as track.example.com"), "{bad}: {}", refused.body);
        assert_eq!(domain_of(&app, acme.tenant.id), None);
    }
    // Stored as a host name is compared: lower case, without the trailing dot; audited.
    let saved =
        admin.submit("/admin/users", "/admin/tracking-domain", &[("tracking_domain", " Track.Acme.TEST. ")]).await;
    assert_eq!((saved.status, saved.location.as_deref()), (303, Some("/admin/users")));
    assert_eq!(domain_of(&app, acme.tenant.id).as_deref(), Some("track.acme.test"));
    let page = admin.get("/admin/users").await;
    assert!(page.body.contains("Tracking domain saved: track.acme.test."), "{}", page.body);
    assert!(page.body.contains(r#"name="tracking_domain" value="track.acme.test""#));
    let audit = admin.get("/admin/audit?entity=network").await;
    assert!(audit.body.contains("tracking domain"), "{}", audit.body);
    // Another network cannot take it; a manager cannot change it; no CSRF token, no change.
    let other_admin = app.browser();
    other_admin.sign_in("other", "admin@other.test", PASSWORD).await;
    let taken =
        other_admin.submit("/admin/users", "/admin/tracking-domain", &[("tracking_domain", "track.acme.test")]).await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("another network uses this domain"));
    assert_eq!(domain_of(&app, other.tenant.id), None);
    app.user(&acme.tenant, "am@acme.test", Role::Manager);
    let manager = app.browser();
    manager.sign_in("acme", "am@acme.test", PASSWORD).await;
    let as_manager = manager.submit("/admin", "/admin/tracking-domain", &[("tracking_domain", "x.acme.test")]).await;
    assert_eq!(as_manager.status, 403);
    assert!(admin.post("/admin/tracking-domain", &[("tracking_domain", "y.acme.test")]).await.status >= 400);
    assert_eq!(domain_of(&app, acme.tenant.id).as_deref(), Some("track.acme.test"));

    // The network's pages give links on its domain (the server's scheme).
    let offer_page = admin.get(&format!("/admin/offers/{}", acme_offer.id)).await;
    assert!(
        offer_page.body.contains(&format!("://track.acme.test/aff_c?offer_id={}", acme_offer.id)),
        "{}",
        offer_page.body
    );
    assert!(offer_page.body.contains("://track.acme.test/aff_lsr?transaction_id="), "{}", offer_page.body);

    // On the domain, only the network's offers exist; on the server's address, every network's.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let click = |offer: &Offer, aff: AffiliateId, host: Option<&'static str>| {
        let mut req = http.get(app.url(&format!("/aff_c?offer_id={}&aff_id={aff}", offer.id)));
        if let Some(h) = host {
            req = req.header("Host", h);
        }
        req.send()
    };
    let ours = click(&acme_offer, acme_aff, Some("TRACK.acme.test:443")).await.unwrap();
    assert_eq!(ours.status().as_u16(), 302);
    let acme_tid = ours.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
    let theirs = click(&other_offer, other_aff, Some("track.acme.test")).await.unwrap();
    assert_eq!(theirs.status().as_u16(), 404);
    let plain = click(&other_offer, other_aff, None).await.unwrap();
    assert_eq!(plain.status().as_u16(), 302);
    let other_tid = plain.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();

    // Conversions likewise: another network's click is unknown on this domain (and the call is
    // stored where this network's tracer shows it).
    let convert = |tid: &str, token: &str, host: Option<&'static str>| {
        let mut req = http.get(app.url(&format!("/aff_lsr?transaction_id={tid}&security_token={token}")));
        if let Some(h) = host {
            req = req.header("Host", h);
        }
        req.send()
    };
    let refused = convert(&other_tid, &other_offer.security_token, Some("track.acme.test")).await.unwrap();
    assert_eq!(refused.status().as_u16(), 404);
    assert_eq!(refused.text().await.unwrap(), "success=false; err_msg=unknown_transaction;");
    let stored: Vec<(TenantId, String)> = conversion_attempts::table
        .filter(conversion_attempts::reason.eq("unknown_transaction"))
        .select((conversion_attempts::tenant_id.assume_not_null(), conversion_attempts::reason))
        .load(&mut app.pool.get().unwrap())
        .unwrap();
    assert_eq!(stored, [(acme.tenant.id, "unknown_transaction".to_owned())]);
    let ok = convert(&acme_tid, &acme_offer.security_token, Some("track.acme.test")).await.unwrap();
    assert_eq!((ok.status().as_u16(), ok.text().await.unwrap()), (200, "success=true;".to_owned()));
    let ok = convert(&other_tid, &other_offer.security_token, None).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);

    // Signing in on the domain goes straight to the network's page; elsewhere `/login` asks.
    let login = http.get(app.url("/login")).header("Host", "track.acme.test").send().await.unwrap();
    assert_eq!((login.status().as_u16(), login.headers()["location"].to_str().unwrap()), (303, "/t/acme/login"));
    assert_eq!(http.get(app.url("/login")).send().await.unwrap().status().as_u16(), 200);

    // Cleared: the domain no longer scopes anything.
    let cleared = admin.submit("/admin/users", "/admin/tracking-domain", &[("tracking_domain", "")]).await;
    assert_eq!(cleared.status, 303);
    assert_eq!(domain_of(&app, acme.tenant.id), None);
    assert_eq!(click(&other_offer, other_aff, Some("track.acme.test")).await.unwrap().status().as_u16(), 302);
    app.stop().await;
}

crate::on_both_backends!(a_networks_tracking_domain_takes_its_links_and_only_its_ids);
