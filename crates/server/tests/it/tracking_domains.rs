//! A network's own tracking domain (DESIGN.md, "Tenant resolution"): assigned by the operator
//! (checked, unique across networks, never the server's own host), its links use it, and requests to
//! the tracking endpoints on it know only that network's offers and clicks (another network's
//! ids are unknown: 404), while the server's own address keeps serving every network. `/login`
//! on it leads to the network's sign-in page.

use affnet_accounts::Tenant;
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

/// The networks the refused calls for unknown transactions were stored for.
fn filed_unknown_calls(app: &TestApp) -> Vec<TenantId> {
    conversion_attempts::table
        .filter(conversion_attempts::reason.eq("unknown_transaction"))
        .filter(conversion_attempts::tenant_id.is_not_null())
        .select(conversion_attempts::tenant_id.assume_not_null())
        .load(&mut app.pool.get().unwrap())
        .unwrap()
}

async fn a_networks_tracking_domain_takes_its_links_and_only_its_ids(backend: Backend) {
    let app = TestApp::start(backend).await;
    let acme = app.network("acme");
    let other = app.network("other");
    let (acme_offer, acme_aff) = offer_of(&app, &acme.tenant);
    let (other_offer, other_aff) = offer_of(&app, &other.tenant);
    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;
    // Without one, the page says how to get one (the operator assigns it).
    let page = admin.get("/admin/users").await;
    assert!(page.body.contains("affnet tenant domain --slug acme --domain track.acme.com"), "{}", page.body);
    // Set by the operator (`affnet tenant domain`, tested in cli.rs): a host name, lower case.
    let set = |tenant: TenantId, domain: Option<&str>| {
        Tenant::set_tracking_domain(&mut app.pool.get().unwrap(), tenant, domain, Some("net.example.com"))
    };
    assert_eq!(set(acme.tenant.id, Some(" Track.Acme.TEST. ")).unwrap().as_deref(), Some("track.acme.test"));
    // The pages read the domains too (cached): seen at once, as the CLI's change is within the
    // cache's TTL.
    affnet_offers::changed();
    assert_eq!(domain_of(&app, acme.tenant.id).as_deref(), Some("track.acme.test"));
    // Never another network's, never the server's own address.
    for taken in ["track.acme.test", "NET.example.com"] {
        let refused = set(other.tenant.id, Some(taken)).unwrap_err();
        assert!(matches!(refused, affnet_accounts::AccountsError::Invalid(_)), "{taken}: {refused:?}");
    }
    assert_eq!(domain_of(&app, other.tenant.id), None);
    let page = admin.get("/admin/users").await;
    assert!(
        page.body.contains("This network&#x27;s tracking domain is <code>track.acme.test</code>")
            || page.body.contains("tracking domain is <code>track.acme.test</code>"),
        "{}",
        page.body
    );
    // There is no form: a network cannot claim a host on its own.
    assert!(!page.body.contains("action=\"/admin/tracking-domain\""));
    assert_eq!(admin.post("/admin/tracking-domain", &[("tracking_domain", "y.test")]).await.status, 404);

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
    // A request line naming the host (absolute form) is on that host, whatever `Host` says
    // (RFC 9112, 3.2.2): the domain's scope holds (it followed the `Host` header).
    let addr = app.base.trim_start_matches("http://").to_owned();
    let line = format!("/aff_c?offer_id={}&aff_id={other_aff}", other_offer.id);
    let answer = actix_web::rt::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let head = format!("GET http://track.acme.test{line} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let other_tid = plain.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();

    // Conversions likewise: another network's click is unknown on this domain. The refused call
    // is stored for a network only if it names that network's offer with its token: a `Host`
    // header proves nothing.
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
    let stored = filed_unknown_calls(&app);
    assert!(stored.is_empty(), "{stored:?}");
    let named = format!(
        "/aff_lsr?transaction_id={other_tid}&offer_id={}&security_token={}",
        acme_offer.id, acme_offer.security_token
    );
    let refused = http.get(app.url(&named)).header("Host", "track.acme.test").send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 404);
    let stored = filed_unknown_calls(&app);
    assert_eq!(stored, [acme.tenant.id]);
    let ok = convert(&acme_tid, &acme_offer.security_token, Some("track.acme.test")).await.unwrap();
    assert_eq!((ok.status().as_u16(), ok.text().await.unwrap()), (200, "success=true;".to_owned()));
    let ok = convert(&other_tid, &other_offer.security_token, None).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);

    // Signing in on the domain goes straight to the network's page; elsewhere `/login` asks.
    let login = http.get(app.url("/login")).header("Host", "track.acme.test").send().await.unwrap();
    assert_eq!((login.status().as_u16(), login.headers()["location"].to_str().unwrap()), (303, "/t/acme/login"));
    assert_eq!(http.get(app.url("/login")).send().await.unwrap().status().as_u16(), 200);

    // Cleared: the domain no longer scopes anything (the cache drops it within its TTL; this
    // process at once).
    assert_eq!(set(acme.tenant.id, None).unwrap(), None);
    affnet_offers::changed();
    assert_eq!(click(&other_offer, other_aff, Some("track.acme.test")).await.unwrap().status().as_u16(), 302);
    app.stop().await;
}

/// On a network's tracking domain only that network exists for the pages and the API too:
/// another network's sign-in, signup and reset pages are unknown (404), and its sessions and
/// API keys are not signed in (401). (They all worked there, so whoever ran one network's domain
/// served a genuine sign-in page of every other network.)
async fn on_a_networks_tracking_domain_other_networks_do_not_sign_in(backend: Backend) {
    let app = TestApp::start(backend).await;
    let acme = app.network("acme");
    let other = app.network("other");
    Tenant::set_tracking_domain(&mut app.pool.get().unwrap(), acme.tenant.id, Some("track.acme.test"), None).unwrap();
    affnet_offers::changed();
    let on_domain =
        |b: &crate::support::Browser, path: &str| b.client.get(app.url(path)).header("Host", "track.acme.test").send();
    let anyone = app.browser();
    for path in ["/t/other/login", "/t/other/signup", "/t/other/forgot", "/t/other/reset/abc", "/t/other/verify/abc"] {
        assert_eq!(on_domain(&anyone, path).await.unwrap().status().as_u16(), 404, "{path}");
    }
    assert_eq!(anyone.get("/t/other/login").await.status, 200, "on the server's address");
    for path in ["/t/acme/login", "/t/acme/signup", "/t/acme/forgot"] {
        assert_eq!(on_domain(&anyone, path).await.unwrap().status().as_u16(), 200, "{path}");
    }
    // A session of the other network: signed in on the server's address, not on the domain.
    let theirs = app.browser();
    assert_eq!(theirs.sign_in("other", "admin@other.test", PASSWORD).await.status, 303);
    assert_eq!(theirs.get("/admin/offers").await.status, 200);
    assert_eq!(on_domain(&theirs, "/admin/offers").await.unwrap().status().as_u16(), 401);
    let ours = app.browser();
    assert_eq!(ours.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303);
    assert_eq!(on_domain(&ours, "/admin/offers").await.unwrap().status().as_u16(), 200);
    // API keys the same way.
    let http = reqwest::Client::new();
    let offers = |token: &str, host: Option<&str>| {
        let mut req = http.get(app.url("/api/v1/offers")).bearer_auth(token);
        if let Some(h) = host {
            req = req.header("Host", h);
        }
        req.send()
    };
    assert_eq!(offers(&other.api_key.token, Some("track.acme.test")).await.unwrap().status().as_u16(), 401);
    assert_eq!(offers(&other.api_key.token, None).await.unwrap().status().as_u16(), 200);
    assert_eq!(offers(&acme.api_key.token, Some("track.acme.test")).await.unwrap().status().as_u16(), 200);
    app.stop().await;
}

crate::on_both_backends!(
    a_networks_tracking_domain_takes_its_links_and_only_its_ids,
    on_a_networks_tracking_domain_other_networks_do_not_sign_in,
);
