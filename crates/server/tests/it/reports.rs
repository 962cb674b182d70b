//! Dashboards and reports over real HTTP, on both backends: clicks and conversions made at
//! known times (the clock moved between days) in a network whose days start at 00:00 of
//! UTC+02:00, then exact numbers on each portal's dashboard, report rows, totals and CSV for
//! several groupings, role scoping, and clear refusals of bad parameters.

use affnet_accounts::Role;
use affnet_db::schema::tenants;
use affnet_db::{Backend, Clock, Micros};
use affnet_offers::{Offer, OfferInput, Rate};
use affnet_tracking::reports;
use diesel::prelude::*;

use crate::support::{Browser, TestApp, PASSWORD};

/// 2026-11-20 12:00 UTC (14:00 in the network's UTC+02:00).
const NOW: i64 = 1_795_176_000;

fn at(secs: i64) -> Micros {
    Micros(secs * Micros::SECOND)
}

struct World {
    app: TestApp,
    http: reqwest::Client,
    x: Offer,
    y: Offer,
    aff1: i64,
    aff2: i64,
}

impl World {
    async fn click(&self, offer: &Offer, aff: i64, subs: &str) -> String {
        let url = self.app.url(&format!("/aff_c?offer_id={}&aff_id={aff}{subs}", offer.id));
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 302);
        let loc = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
        loc.split("tid=").nth(1).unwrap().split('&').next().unwrap().to_owned()
    }

    async fn convert(&self, offer: &Offer, tid: &str) {
        let url = self.app.url(&format!("/aff_lsr?transaction_id={tid}&security_token={}", offer.security_token));
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "success=true;");
    }

    async fn browser(&self, email: &str) -> Browser {
        let b = self.app.browser();
        assert_eq!(b.sign_in("acme", email, PASSWORD).await.status, 303);
        b
    }
}

/// Offer X (advertiser "adv@", payout 2.50, revenue 4.00) and Y (another advertiser, payout
/// 1.00, revenue 1.50); affiliate 1 has the user "aff@", affiliate 2 none. Traffic:
/// - 2026-11-01 10:00 UTC: aff1 on X, aff_sub=c, converted;
/// - 2026-11-15 10:00 UTC: aff2 on Y, aff_sub=a, converted;
/// - 2026-11-19 21:30 UTC (local 11-19 23:30): aff1 on X, aff_sub=b;
/// - 2026-11-19 22:30 UTC (local 11-20 00:30): aff1 on X, aff_sub=a, converted;
/// - 2026-11-20 12:00 UTC (now): aff2 on X, source=fb.
async fn world(backend: Backend) -> World {
    let app = TestApp::start(backend).await;
    app.clock.set(at(NOW - 40 * 86_400));
    let net = app.network("acme");
    diesel::update(tenants::table.find(net.tenant.id))
        .set(tenants::timezone.eq("+02:00"))
        .execute(&mut app.pool.get().unwrap())
        .unwrap();
    let adv_user = app.user(&net.tenant, "adv@acme.test", Role::Advertiser);
    let aff_user = app.user(&net.tenant, "aff@acme.test", Role::Affiliate);
    let other_adv = app.advertiser(&net.tenant, "Other shop");
    let aff2 = app.affiliate(&net.tenant, "Media Two").id.0;
    let offer = |adv, name: &str, payout, revenue| {
        let mut input = OfferInput::simple(adv, name, "https://shop.example/?tid={transaction_id}", payout);
        input.revenue = Rate::flat(revenue);
        Offer::create(&mut app.pool.get().unwrap(), net.tenant.id, &input, app.clock.now()).unwrap()
    };
    let x = offer(adv_user.advertiser_id.unwrap(), "Shop X", 250, 400);
    let y = offer(other_adv.id, "Shop Y", 100, 150);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let w = World { app, http, x, y, aff1: aff_user.affiliate_id.unwrap().0, aff2 };

    w.app.clock.set(at(NOW - 19 * 86_400 - 2 * 3600));
    let t = w.click(&w.x, w.aff1, "&aff_sub=c").await;
    w.convert(&w.x, &t).await;
    w.app.clock.set(at(NOW - 5 * 86_400 - 2 * 3600));
    let t = w.click(&w.y, w.aff2, "&aff_sub=a").await;
    w.convert(&w.y, &t).await;
    w.app.clock.set(at(NOW - 14 * 3600 - 1800));
    w.click(&w.x, w.aff1, "&aff_sub=b").await;
    w.app.clock.set(at(NOW - 13 * 3600 - 1800));
    let t = w.click(&w.x, w.aff1, "&aff_sub=a").await;
    w.convert(&w.x, &t).await;
    w.app.clock.set(at(NOW));
    w.click(&w.x, w.aff2, "&source=fb").await;
    w
}

fn period(label: &str, cells: &[&str]) -> String {
    let tds: String = cells.iter().map(|c| format!("<td class=\"num\">{c}</td>")).collect();
    format!("<tr><th scope=\"row\">{label}</th>{tds}</tr>")
}

async fn csv(b: &Browser, path: &str) -> (u16, String) {
    let res = b.client.get(format!("{}{}", b.base, path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn dashboards_count_each_roles_days_in_the_network_time_zone(backend: Backend) {
    let w = world(backend).await;
    let admin = w.browser("admin@acme.test").await;
    let page = admin.get("/admin").await;
    assert_eq!(page.status, 200);
    let body = &page.body;
    for row in [
        period("Today", &["2", "1", "50.00%", "2.50 USD", "4.00 USD", "1.50 USD"]),
        period("Yesterday", &["1", "0", "0.00%", "0.00 USD", "0.00 USD", "0.00 USD"]),
        period("Last 7 days", &["4", "2", "50.00%", "3.50 USD", "5.50 USD", "2.00 USD"]),
        period("Last 30 days", &["5", "3", "60.00%", "6.00 USD", "9.50 USD", "3.50 USD"]),
    ] {
        assert!(body.contains(&row), "{row} not in\n{body}");
    }
    assert!(body.contains("<title id=\"chart-title\">Clicks and conversions per day, last 30 days</title>"));
    assert!(body.contains("<title>2026-11-20: 2 clicks, 1 conversions</title>"), "{body}");
    assert!(body.contains("2026-10-22 to 2026-11-20 (UTC+02:00): 5 clicks and 3 conversions"));
    let top_offers = body.split("id=\"top-offers\"").nth(1).unwrap();
    let x = top_offers.find(&format!("#{} Shop X", w.x.id)).unwrap();
    let y = top_offers.find(&format!("#{} Shop Y", w.y.id)).unwrap();
    assert!(x < y, "X has more conversions");
    let top_affs = body.split("id=\"top-affiliates\"").nth(1).unwrap();
    assert!(top_affs.contains("aff@acme.test") && top_affs.contains("Media Two"));

    let aff = w.browser("aff@acme.test").await;
    let body = aff.get("/affiliate").await.body;
    assert!(body.contains(&period("Today", &["1", "1", "100.00%", "2.50 USD"])), "{body}");
    assert!(body.contains(&period("Last 30 days", &["3", "2", "66.67%", "5.00 USD"])), "{body}");
    assert!(!body.contains("Profit") && !body.contains("top-affiliates") && !body.contains("Shop Y"));

    let adv = w.browser("adv@acme.test").await;
    let body = adv.get("/advertiser").await.body;
    assert!(body.contains(&period("Today", &["2", "1", "50.00%", "4.00 USD"])), "{body}");
    assert!(body.contains(&period("Last 30 days", &["4", "2", "50.00%", "8.00 USD"])), "{body}");
    assert!(body.contains("<th scope=\"col\">Cost</th>") && !body.contains(">Payout<") && !body.contains("Shop Y"));
    w.app.stop().await;
}

async fn reports_group_sort_total_and_export_exactly_what_is_shown(backend: Backend) {
    let w = world(backend).await;
    let admin = w.browser("admin@acme.test").await;
    let (x, y) = (w.x.id, w.y.id);

    // Days of UTC+02:00: the 21:30 UTC click is on the 19th, the 22:30 one on the 20th.
    let q = "?group_by=date&from=2026-11-19&to=2026-11-20";
    let page = admin.get(&format!("/admin/reports{q}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("href=\"/admin/reports.csv?group_by=date&#38;from=2026-11-19&#38;to=2026-11-20\""));
    assert!(page
        .body
        .contains("href=\"/admin/reports?group_by=date&#38;from=2026-11-19&#38;to=2026-11-20&#38;sort=-clicks\""));
    let (s, body) = csv(&admin, &format!("/admin/reports.csv{q}")).await;
    assert_eq!(s, 200);
    assert_eq!(
        body,
        "date,name,currency,clicks,conversions,conversion_rate,payout,revenue,profit\r\n\
         2026-11-19,,USD,1,0,0.00%,0.00,0.00,0.00\r\n\
         2026-11-20,,USD,2,1,50.00%,2.50,4.00,1.50\r\n\
         ,Total,USD,3,1,33.33%,2.50,4.00,1.50\r\n"
    );
    // Sorted by clicks, most first.
    let (_, body) = csv(&admin, &format!("/admin/reports.csv{q}&sort=-clicks")).await;
    assert!(body.contains("profit\r\n2026-11-20,"), "{body}");

    // Hours are local too.
    let (_, body) = csv(&admin, "/admin/reports.csv?group_by=hour&from=2026-11-20&to=2026-11-20").await;
    assert_eq!(
        body,
        "hour,name,currency,clicks,conversions,conversion_rate,payout,revenue,profit\r\n\
         2026-11-20 00:00,,USD,1,1,100.00%,2.50,4.00,1.50\r\n\
         2026-11-20 14:00,,USD,1,0,0.00%,0.00,0.00,0.00\r\n\
         ,Total,USD,2,1,50.00%,2.50,4.00,1.50\r\n"
    );

    // By offer over the month, most conversions first (the default for ids).
    let (_, body) = csv(&admin, "/admin/reports.csv?group_by=offer&from=2026-11-01&to=2026-11-30").await;
    assert_eq!(
        body,
        format!(
            "offer,name,currency,clicks,conversions,conversion_rate,payout,revenue,profit\r\n\
             #{x},Shop X,USD,4,2,50.00%,5.00,8.00,3.00\r\n\
             #{y},Shop Y,USD,1,1,100.00%,1.00,1.50,0.50\r\n\
             ,Total,USD,5,3,60.00%,6.00,9.50,3.50\r\n"
        )
    );
    let page = admin.get("/admin/reports?group_by=offer&from=2026-11-01&to=2026-11-30&sort=clicks").await;
    let (px, py) = (page.body.find("Shop X").unwrap(), page.body.find("Shop Y").unwrap());
    assert!(py < px, "fewest clicks first");
    assert!(page.body.contains("aria-sort=\"ascending\""));

    // By affiliate, with a status filter: only approved conversions (all of them here).
    let (_, body) =
        csv(&admin, "/admin/reports.csv?group_by=affiliate&from=2026-11-01&to=2026-11-30&status=pending").await;
    assert!(body.ends_with(",Total,USD,5,0,0.00%,0.00,0.00,0.00\r\n"), "{body}");

    // Sub ids read the raw rows.
    let (_, body) = csv(&admin, "/admin/reports.csv?group_by=aff_sub&from=2026-11-01&to=2026-11-30&sort=key").await;
    assert_eq!(
        body,
        "aff_sub,name,currency,clicks,conversions,conversion_rate,payout,revenue,profit\r\n\
         ,,USD,1,0,0.00%,0.00,0.00,0.00\r\n\
         a,,USD,2,2,100.00%,3.50,5.50,2.00\r\n\
         b,,USD,1,0,0.00%,0.00,0.00,0.00\r\n\
         c,,USD,1,1,100.00%,2.50,4.00,1.50\r\n\
         ,Total,USD,5,3,60.00%,6.00,9.50,3.50\r\n"
    );
    let (_, body) =
        csv(&admin, &format!("/admin/reports.csv?group_by=source&offer={x}&from=2026-11-20&to=2026-11-20")).await;
    assert!(body.contains("\r\nfb,,USD,1,0,0.00%,"), "{body}");
    let (_, body) = csv(&admin, "/admin/reports.csv?group_by=goal&from=2026-11-01&to=2026-11-30").await;
    assert_eq!(
        body,
        "goal,name,currency,conversions,payout,revenue,profit\r\n\
         ,,USD,3,6.00,9.50,3.50\r\n\
         ,Total,USD,3,6.00,9.50,3.50\r\n"
    );

    // The raw-row limit: a sub id report reads at most that many raw clicks (here all of them:
    // no sub id rollup worker ran) and says so; its conversions come from their rollups, kept
    // with the conversions, and are complete.
    let mut conn = w.app.pool.get().unwrap();
    let tenant: affnet_db::TenantId = tenants::table.select(tenants::id).first(&mut conn).unwrap();
    let q = reports::Query {
        tenant,
        from: at(NOW - 30 * 86_400),
        to: at(NOW + 86_400),
        tz: reports::Tz::UTC,
        offer: None,
        affiliate: None,
        advertiser: None,
        status: None,
        group: reports::GroupBy::Sub(1),
        raw_limit: 2,
    };
    let cut = reports::run(&mut conn, &q).unwrap();
    assert!(cut.truncated);
    assert_eq!(cut.rows.iter().map(|r| r.clicks).sum::<i64>(), 2);
    assert_eq!(
        cut.rows.iter().map(|r| (r.conversions, r.payout)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        (3, 600)
    );
    // A goal report reads raw conversions: the earliest two.
    let goals = reports::run(&mut conn, &reports::Query { group: reports::GroupBy::Goal, ..q.clone() }).unwrap();
    assert!(goals.truncated);
    assert_eq!(goals.rows.iter().map(|r| r.conversions).sum::<i64>(), 2);
    let whole = reports::run(&mut conn, &reports::Query { raw_limit: 5, ..q }).unwrap();
    assert!(!whole.truncated);
    assert_eq!(whole.rows.iter().map(|r| r.clicks).sum::<i64>(), 5);
    assert_eq!(whole.rows.iter().map(|r| r.conversions).sum::<i64>(), 3);
    drop(conn);
    w.app.stop().await;
}

async fn portals_see_only_their_own_rows_and_columns(backend: Backend) {
    let w = world(backend).await;
    let aff = w.browser("aff@acme.test").await;
    // The affiliate's own traffic only, whatever affiliate is asked for.
    let (s, body) =
        csv(&aff, &format!("/affiliate/reports.csv?group_by=offer&from=2026-11-01&to=2026-11-30&affiliate={}", w.aff2))
            .await;
    assert_eq!(s, 200);
    assert_eq!(
        body,
        format!(
            "offer,name,currency,clicks,conversions,conversion_rate,payout\r\n\
             #{},Shop X,USD,3,2,66.67%,5.00\r\n\
             ,Total,USD,3,2,66.67%,5.00\r\n",
            w.x.id
        )
    );
    let page = aff.get("/affiliate/reports?group_by=aff_sub&from=2026-11-01&to=2026-11-30").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Revenue") && !page.body.contains("Profit"));
    let page = aff.get("/affiliate/reports?group_by=affiliate").await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("unknown grouping &#34;affiliate&#34;")
            || page.body.contains("unknown grouping &quot;affiliate&quot;"),
        "{}",
        page.body
    );
    assert_eq!(aff.get("/admin/reports").await.status, 403);

    let adv = w.browser("adv@acme.test").await;
    let (s, body) = csv(&adv, "/advertiser/reports.csv?group_by=date&from=2026-11-20&to=2026-11-20").await;
    assert_eq!(s, 200);
    assert_eq!(
        body,
        "date,name,currency,clicks,conversions,conversion_rate,cost\r\n\
         2026-11-20,,USD,2,1,50.00%,4.00\r\n\
         ,Total,USD,2,1,50.00%,4.00\r\n"
    );
    let page = adv.get("/advertiser/reports?group_by=offer&from=2026-11-01&to=2026-11-30").await;
    assert!(page.body.contains("Shop X") && !page.body.contains("Shop Y") && !page.body.contains(">Payout"));
    assert_eq!(adv.get("/advertiser/reports?group_by=aff_sub").await.status, 422);
    assert_eq!(csv(&adv, "/advertiser/reports.csv?sort=payout").await.0, 422);
    // Advertisers sort by the column they see, "Cost" (reports probe: `sort=cost` was refused,
    // and the Cost header linked to `sort=-revenue`); `revenue` is still taken.
    let page = adv.get("/advertiser/reports?group_by=date&from=2026-11-19&to=2026-11-20&sort=-cost").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("sort=cost\">Cost ▼</a>"), "{}", page.body);
    assert_eq!(adv.get("/advertiser/reports?sort=revenue").await.status, 200);
    let (s, body) = csv(&adv, "/advertiser/reports.csv?group_by=date&from=2026-11-19&to=2026-11-20&sort=-cost").await;
    assert_eq!(s, 200);
    assert!(body.contains("cost\r\n2026-11-20,"), "most cost first: {body}");
    assert_eq!(w.browser("admin@acme.test").await.get("/admin/reports?sort=cost").await.status, 422);
    w.app.stop().await;
}

async fn bad_parameters_are_refused_with_a_clear_message(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.network("acme");
    let b = app.browser();
    b.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let page = b.get("/admin/reports?from=20-11-2026").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("enter a date as YYYY-MM-DD"));
    let page = b.get("/admin/reports?group_by=week").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("choose one of date, hour, offer, affiliate, advertiser, goal, aff_sub"));
    let page = b.get("/admin/reports?from=2026-11-20&to=2026-11-01").await;
    assert!(page.status == 422 && page.body.contains("the end date comes before the start date"));
    // A `-` without a column was the default order.
    let page = b.get("/admin/reports?sort=-").await;
    assert!(page.status == 422 && page.body.contains("name a column after"), "{}", page.body);
    let page = b.get("/admin/reports?status=paid&sort=-bogus").await;
    assert!(page.status == 422 && page.body.contains("unknown status") && page.body.contains("cannot sort by"));
    let (s, body) = csv(&b, "/admin/reports.csv?group_by=week").await;
    assert_eq!(s, 422, "{body}");
    assert!(body.contains("unknown grouping"), "{body}");
    // Empty: the page says so.
    let page = b.get("/admin/reports").await;
    assert!(page.status == 200 && page.body.contains("Nothing in this range."));
    app.stop().await;
}

async fn admins_set_the_network_time_zone_on_the_users_page(backend: Backend) {
    let app = TestApp::start(backend).await;
    let net = app.network("acme");
    app.user(&net.tenant, "am@acme.test", Role::Manager);
    let timezone = || -> String {
        tenants::table
            .filter(tenants::id.eq(net.tenant.id))
            .select(tenants::timezone)
            .first(&mut app.pool.get().unwrap())
            .unwrap()
    };
    let admin = app.browser();
    admin.sign_in("acme", "admin@acme.test", PASSWORD).await;
    let saved = admin.submit("/admin/users", "/admin/timezone", &[("timezone", "+02:00")]).await;
    assert_eq!((saved.status, saved.location.as_deref()), (303, Some("/admin/users")));
    assert_eq!(timezone(), "+02:00");
    let page = admin.get("/admin/users").await;
    assert!(page.body.contains("Time zone saved: UTC+02:00."), "{}", page.body);
    assert!(page.body.contains(r#"name="timezone" value="+02:00""#));

    // Not a zone reports understand: 422 next to the field, nothing changed.
    for bad in ["Asia/Kolkata", "Mars/Olympus", "+05:30", "+15:00", "2"] {
        let refused = admin.submit("/admin/users", "/admin/timezone", &[("timezone", bad)]).await;
        assert_eq!(refused.status, 422, "{bad}");
        assert!(refused.body.contains("whole-hour offsets"), "{}", refused.body);
        assert!(refused.body.contains(&format!(r#"name="timezone" value="{bad}""#)), "{bad}");
        assert_eq!(timezone(), "+02:00");
    }
    // A named zone with daylight saving time.
    let named = admin.submit("/admin/users", "/admin/timezone", &[("timezone", "Europe/Berlin")]).await;
    assert_eq!(named.status, 303);
    assert_eq!(timezone(), "Europe/Berlin");
    // Written as the reports write it.
    admin.submit("/admin/users", "/admin/timezone", &[("timezone", "UTC-5")]).await;
    assert_eq!(timezone(), "-05:00");

    // Without the CSRF token, or as a manager: refused.
    let no_csrf = admin.post("/admin/timezone", &[("timezone", "UTC")]).await;
    assert!(no_csrf.status >= 400, "{}", no_csrf.status);
    let manager = app.browser();
    manager.sign_in("acme", "am@acme.test", PASSWORD).await;
    let token = manager.get("/admin").await.csrf();
    let forbidden = manager.post("/admin/timezone", &[("csrf_token", token.as_str()), ("timezone", "UTC")]).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(timezone(), "-05:00");
    app.stop().await;
}

/// A rejected conversion is counted with no money in every grouping (the goal grouping, read
/// from raw conversions, showed its payout and revenue), and a refused click (of a suspended
/// affiliate) makes no row of zeros in reports or the dashboard's tops.
async fn rejected_money_and_refused_clicks_show_the_same_in_every_grouping(backend: Backend) {
    use affnet_offers::{Affiliate, AffiliateStatus};
    let w = world(backend).await;
    let t = w.click(&w.y, w.aff2, "&aff_sub=r").await;
    let url = format!("/aff_lsr?transaction_id={t}&security_token={}&status=rejected", w.y.security_token);
    assert_eq!(w.http.get(w.app.url(&url)).send().await.unwrap().text().await.unwrap(), "success=true;");
    let tenant = w.x.tenant_id;
    let input = affnet_offers::AffiliateInput { name: "Benched Media".into(), ..Default::default() };
    let suspended = Affiliate::create(&mut w.app.pool.get().unwrap(), tenant, &input, w.app.clock.now()).unwrap();
    Affiliate::set_status(
        &mut w.app.pool.get().unwrap(),
        tenant,
        suspended.id,
        AffiliateStatus::Suspended,
        w.app.clock.now(),
    )
    .unwrap();
    let res =
        w.http.get(w.app.url(&format!("/aff_c?offer_id={}&aff_id={}", w.x.id, suspended.id))).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 403);

    let admin = w.browser("admin@acme.test").await;
    let range = "from=2026-11-20&to=2026-11-20&status=rejected";
    for group in ["goal", "offer", "affiliate", "date", "aff_sub"] {
        let (s, body) = csv(&admin, &format!("/admin/reports.csv?group_by={group}&{range}")).await;
        assert_eq!(s, 200);
        let total = body.lines().find(|l| l.starts_with(",Total,")).unwrap_or_else(|| panic!("{group}: {body}"));
        // The day's 3 clicks (the refused one is none) and its 1 rejected conversion, no money.
        let expected =
            if group == "goal" { ",Total,USD,1,0.00,0.00,0.00" } else { ",Total,USD,3,1,33.33%,0.00,0.00,0.00" };
        assert_eq!(total, expected, "{group}:\n{body}");
    }
    let (_, body) = csv(&admin, "/admin/reports.csv?group_by=affiliate&from=2026-11-01&to=2026-11-30").await;
    assert!(!body.contains("Benched Media"), "{body}");
    let page = admin.get("/admin").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Benched Media"), "no row of zeros among the top affiliates");
    w.app.stop().await;
}

/// An offer paying more than it earns shows a loss, and the CSV holds it as a number (`-1.00`), so
/// that a spreadsheet adds it up. (Its formula guard wrote `'-1.00`, text a SUM skips.) Text
/// that starts like a formula keeps the guard.
async fn a_loss_is_exported_as_a_number(backend: Backend) {
    let w = world(backend).await;
    let tenant = w.x.tenant_id;
    let mut input = OfferInput::simple(w.x.advertiser_id, "Shop Z", "https://shop.example/?tid={transaction_id}", 500);
    input.revenue = Rate::flat(400);
    let z = Offer::create(&mut w.app.pool.get().unwrap(), tenant, &input, w.app.clock.now()).unwrap();
    let t = w.click(&z, w.aff1, "&aff_sub=%3DSUM(A1)").await;
    w.convert(&z, &t).await;
    let admin = w.browser("admin@acme.test").await;
    let q = format!("group_by=offer&from=2026-11-20&to=2026-11-20&offer={}", z.id);
    let (_, body) = csv(&admin, &format!("/admin/reports.csv?{q}")).await;
    assert_eq!(
        body,
        format!(
            "offer,name,currency,clicks,conversions,conversion_rate,payout,revenue,profit\r\n\
             #{},Shop Z,USD,1,1,100.00%,5.00,4.00,-1.00\r\n\
             ,Total,USD,1,1,100.00%,5.00,4.00,-1.00\r\n",
            z.id
        )
    );
    let (_, body) = csv(&admin, "/admin/reports.csv?group_by=aff_sub&from=2026-11-20&to=2026-11-20").await;
    assert!(body.contains("\r\n'=SUM(A1),"), "{body}");
    w.app.stop().await;
}

/// A sub id that reads like one of the report's own labels ("(empty)", "Total") is told apart
/// from them: in the CSV a click without the sub id is an empty cell and the totals rows have an
/// empty first cell and "Total" as their name; on the page the labels are set apart (`<em>`, the
/// totals in `<tfoot>`). Before, the CSV had two "(empty)" rows and two "Total" rows (reports
/// probe).
async fn labels_never_pass_for_sub_ids(backend: Backend) {
    let w = world(backend).await;
    w.click(&w.y, w.aff2, "&aff_sub5=(empty)").await;
    w.click(&w.y, w.aff2, "&aff_sub5=Total").await;
    w.click(&w.y, w.aff2, "").await;
    let admin = w.browser("admin@acme.test").await;
    let q = format!("group_by=aff_sub5&offer={}&from=2026-11-20&to=2026-11-20&sort=key", w.y.id);
    let (_, body) = csv(&admin, &format!("/admin/reports.csv?{q}")).await;
    assert_eq!(
        body,
        "aff_sub5,name,currency,clicks,conversions,conversion_rate,payout,revenue,profit\r\n\
         ,,USD,1,0,0.00%,0.00,0.00,0.00\r\n\
         (empty),,USD,1,0,0.00%,0.00,0.00,0.00\r\n\
         Total,,USD,1,0,0.00%,0.00,0.00,0.00\r\n\
         ,Total,USD,3,0,0.00%,0.00,0.00,0.00\r\n"
    );
    let page = admin.get(&format!("/admin/reports?{q}")).await;
    assert!(page.body.contains("<td><em class=\"muted\">(empty)</em></td>"), "{}", page.body);
    assert!(page.body.contains("<td>(empty)</td>"), "{}", page.body);
    assert!(page.body.contains("<td>Total</td>"), "{}", page.body);
    let (_, body) = csv(&admin, "/admin/reports.csv?group_by=goal&from=2026-11-01&to=2026-11-30").await;
    assert_eq!(
        body,
        "goal,name,currency,conversions,payout,revenue,profit\r\n\
         ,,USD,3,6.00,9.50,3.50\r\n\
         ,Total,USD,3,6.00,9.50,3.50\r\n"
    );
    let page = admin.get("/admin/reports?group_by=goal&from=2026-11-01&to=2026-11-30").await;
    assert!(page.body.contains("<td><em class=\"muted\">(no goal)</em></td>"), "{}", page.body);
    w.app.stop().await;
}

/// A report of many rows is shown 100 at a time, in its order, with the totals of all of them and
/// links to the other pages that keep the query; the CSV holds every row. Before, a report by
/// sub id with 4,000 of them was one page of 1 MB (portals probe).
async fn a_long_report_is_paged(backend: Backend) {
    let w = world(backend).await;
    for i in 0..120 {
        w.click(&w.x, w.aff1, &format!("&aff_sub=s{i:03}")).await;
    }
    let admin = w.browser("admin@acme.test").await;
    let q = "group_by=aff_sub&from=2026-11-20&to=2026-11-20&sort=key";
    // By key: "" (the click with a source only), "a", s000 .. s119.
    let first = admin.get(&format!("/admin/reports?{q}")).await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains("Rows 1–100 of 122"), "{}", first.body);
    assert!(first.body.contains("<td>s097</td>") && !first.body.contains("<td>s098</td>"));
    assert!(first
        .body
        .contains("<th scope=\"row\">Total</th>\n        <td>USD</td>\n        <td class=\"num\">122</td>"));
    let next = "href=\"/admin/reports?group_by=aff_sub&#38;from=2026-11-20&#38;to=2026-11-20&#38;sort=key&#38;page=2\"";
    assert!(first.body.contains(next), "{}", first.body);
    let second = admin.get(&format!("/admin/reports?{q}&page=2")).await;
    assert!(second.body.contains("Rows 101–122 of 122"), "{}", second.body);
    assert!(second.body.contains("<td>s098</td>") && second.body.contains("<td>s119</td>"));
    assert!(!second.body.contains("<td>s097</td>") && !second.body.contains("page=3"));
    assert!(second.body.contains("sort=key&#38;page=1\""), "{}", second.body);
    // A sort link starts again at the first page.
    assert!(second
        .body
        .contains("href=\"/admin/reports?group_by=aff_sub&#38;from=2026-11-20&#38;to=2026-11-20&#38;sort=-clicks\""));
    let (_, body) = csv(&admin, &format!("/admin/reports.csv?{q}&page=2")).await;
    assert_eq!(body.lines().count(), 1 + 122 + 1, "every row: {body}");
    for bad in ["0", "x", "-1"] {
        let page = admin.get(&format!("/admin/reports?{q}&page={bad}")).await;
        assert_eq!(page.status, 422, "{bad}");
        assert!(page.body.contains("a page number, from 1"), "{}", page.body);
    }
    // Past the last page: nothing there, and the way back.
    let past = admin.get(&format!("/admin/reports?{q}&page=9")).await;
    assert_eq!(past.status, 200);
    assert!(past.body.contains("No rows on page 9 of 2."), "{}", past.body);
    w.app.stop().await;
}

/// `GET /api/v1/reports` answers the pages' numbers as JSON, scoped like the pages: staff see
/// payout, revenue and profit; an affiliate its own rows with its payout; an advertiser its
/// offers with their cost. Money in minor units; totals per currency.
async fn the_api_reports_what_the_pages_show_to_each_role(backend: Backend) {
    use serde_json::json;
    let w = world(backend).await;
    let tenant = w.x.tenant_id;
    let key = |email: &str| {
        let mut c = w.app.pool.get().unwrap();
        let user = affnet_accounts::User::find_by_email(&mut c, tenant, email).unwrap().unwrap();
        w.app.api(&affnet_accounts::ApiKey::create(&mut c, tenant, user.id, "", w.app.clock.now()).unwrap().token)
    };
    let (staff, aff, adv) = (key("admin@acme.test"), key("aff@acme.test"), key("adv@acme.test"));
    let (x, y) = (w.x.id.0, w.y.id.0);
    let month = "from=2026-11-01&to=2026-11-30";

    let res = staff.get(&format!("/api/v1/reports?group_by=offer&{month}")).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        (&res.body["group_by"], &res.body["from"], &res.body["to"], &res.body["truncated"]),
        (&json!("offer"), &json!("2026-11-01"), &json!("2026-11-30"), &json!(false))
    );
    assert_eq!(
        res.body["data"],
        json!([
            {"key": x.to_string(), "id": x, "name": "Shop X", "currency": "USD", "clicks": 4, "conversions": 2,
             "conversion_rate": 50.0, "payout": 500, "revenue": 800, "profit": 300},
            {"key": y.to_string(), "id": y, "name": "Shop Y", "currency": "USD", "clicks": 1, "conversions": 1,
             "conversion_rate": 100.0, "payout": 100, "revenue": 150, "profit": 50},
        ])
    );
    assert_eq!(
        res.body["totals"],
        json!([{"key": "total", "currency": "USD", "clicks": 5, "conversions": 3, "conversion_rate": 60.0,
                "payout": 600, "revenue": 950, "profit": 350}])
    );
    // By day, the last 7 days of the network's zone (UTC+02:00) by default.
    let res = staff.get("/api/v1/reports").await;
    assert_eq!((res.status, &res.body["from"], &res.body["to"]), (200, &json!("2026-11-14"), &json!("2026-11-20")));
    let days: Vec<&str> = res.body["data"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(days, ["2026-11-15", "2026-11-19", "2026-11-20"]);

    // The affiliate: its own traffic and payout, nothing of the network's money.
    let res = aff.get(&format!("/api/v1/reports?group_by=offer&{month}")).await;
    assert_eq!(
        res.body["data"],
        json!([{"key": x.to_string(), "id": x, "name": "Shop X", "currency": "USD", "clicks": 3, "conversions": 2,
                "conversion_rate": 66.67, "payout": 500}])
    );
    let res = aff.get("/api/v1/reports?affiliate_id=2").await;
    assert_eq!((res.status, res.body["fields"]["affiliate_id"].is_string()), (422, true), "{}", res.body);
    let res = aff.get("/api/v1/reports?group_by=affiliate").await;
    assert_eq!((res.status, res.body["fields"]["group_by"].is_string()), (422, true), "{}", res.body);

    // The advertiser: its offer, with what it costs.
    let res = adv.get(&format!("/api/v1/reports?group_by=offer&{month}")).await;
    assert_eq!(
        res.body["data"],
        json!([{"key": x.to_string(), "id": x, "name": "Shop X", "currency": "USD", "clicks": 4, "conversions": 2,
                "conversion_rate": 50.0, "cost": 800}])
    );

    // Bad parameters name themselves.
    for (q, field) in [
        ("from=2026-13-01", "from"),
        ("offer_id=abc", "offer_id"),
        ("from=2026-11-20&to=2026-11-01", "to"),
        ("status=won", "status"),
        ("sort=bogus", "sort"),
    ] {
        let res = staff.get(&format!("/api/v1/reports?{q}")).await;
        assert_eq!((res.status, res.body["fields"][field].is_string()), (422, true), "{q}: {}", res.body);
    }
    assert_eq!(staff.get("/api/v1/reports?bogus=1").await.status, 400);
    w.app.stop().await;
}

/// A report's day drills down to the same conversions and clicks: the lists' From and To are
/// the network's days too. (They were UTC days: a UTC+02:00 network's report showed a conversion
/// on the 20th that the conversions list, asked for the 20th, did not.)
async fn list_filters_count_the_networks_days_like_the_reports(backend: Backend) {
    let w = world(backend).await;
    let admin = w.browser("admin@acme.test").await;
    let day = "from=2026-11-20&to=2026-11-20";
    let (_, report) = csv(&admin, &format!("/admin/reports.csv?group_by=date&{day}")).await;
    assert!(report.contains("\r\n2026-11-20,,USD,2,1,"), "{report}");
    let conversions = admin.get(&format!("/admin/conversions?{day}")).await;
    assert_eq!(conversions.body.matches("<tr").count() - 1, 1, "one conversion on the 20th: {}", conversions.body);
    let clicks = admin.get(&format!("/admin/clicks?{day}")).await;
    assert_eq!(clicks.body.matches("<tr").count() - 1, 2, "two clicks on the 20th: {}", clicks.body);
    assert!(clicks.body.contains("the network's days"));
    w.app.stop().await;
}

crate::on_both_backends!(
    a_long_report_is_paged,
    labels_never_pass_for_sub_ids,
    list_filters_count_the_networks_days_like_the_reports,
    the_api_reports_what_the_pages_show_to_each_role,
    a_loss_is_exported_as_a_number,
    rejected_money_and_refused_clicks_show_the_same_in_every_grouping,
    admins_set_the_network_time_zone_on_the_users_page,
    dashboards_count_each_roles_days_in_the_network_time_zone,
    reports_group_sort_total_and_export_exactly_what_is_shown,
    portals_see_only_their_own_rows_and_columns,
    bad_parameters_are_refused_with_a_clear_message,
);
