//! Daily and hourly rollups, on both backends: reports read whole UTC days from `stats_daily` and
//! the hours at the edges of a range from `stats_hourly`, so every report over any range must
//! equal what the raw clicks and conversions say; local days of other zones (daylight saving
//! included) must come out right across that split; a status change moves counts in both tables.

use std::collections::BTreeMap;

use affnet_db::schema::{clicks, conversions, offers, stats_daily, stats_hourly, tenants};
use affnet_db::{AdvertiserId, AffiliateId, Backend, Clock, ConversionId, Micros, OfferId, TenantId};
use affnet_offers::{ConversionStatus, Offer, OfferInput, Rate};
use affnet_tracking::conversion::Conversion;
use affnet_tracking::reports::{self, GroupBy, Query, Tz};
use diesel::prelude::*;

use crate::support::{Browser, TestApp, PASSWORD};

const MINUTE: i64 = Micros::MINUTE;
const HOUR: i64 = Micros::HOUR;
const DAY: i64 = Micros::DAY;

/// 2026-11-10 00:00 UTC.
const D: i64 = 1_794_268_800 * Micros::SECOND;

struct Net {
    app: TestApp,
    http: reqwest::Client,
    tenant: TenantId,
}

impl Net {
    async fn new(backend: Backend, at: i64) -> Net {
        let app = TestApp::start(backend).await;
        app.clock.set(Micros(at));
        let tenant = app.network("acme").tenant.id;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Net { app, http, tenant }
    }

    fn offer(&self, advertiser: &str, name: &str, currency: &str, payout: i64, revenue: i64) -> Offer {
        let tenant = affnet_accounts::Tenant::find(&mut self.app.pool.get().unwrap(), self.tenant).unwrap();
        let adv = self.app.advertiser(&tenant, advertiser);
        let mut input = OfferInput::simple(adv.id, name, "https://shop.example/?tid={transaction_id}", payout);
        input.revenue = Rate::flat(revenue);
        input.currency = Some(currency.into());
        Offer::create(&mut self.app.pool.get().unwrap(), self.tenant, &input, self.app.clock.now()).unwrap()
    }

    fn affiliate(&self, name: &str) -> i64 {
        let tenant = affnet_accounts::Tenant::find(&mut self.app.pool.get().unwrap(), self.tenant).unwrap();
        self.app.affiliate(&tenant, name).id.0
    }

    /// A click at `at`; its transaction id.
    async fn click(&self, at: i64, offer: &Offer, aff: i64) -> String {
        self.app.clock.set(Micros(at));
        let url = self.app.url(&format!("/aff_c?offer_id={}&aff_id={aff}", offer.id));
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 302);
        let loc = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
        loc.split("tid=").nth(1).unwrap().split('&').next().unwrap().to_owned()
    }

    /// A conversion at `at` of the click `tid`, with `status`.
    async fn convert(&self, at: i64, offer: &Offer, tid: &str, status: &str) {
        self.app.clock.set(Micros(at));
        let url = self
            .app
            .url(&format!("/aff_lsr?transaction_id={tid}&security_token={}&status={status}", offer.security_token));
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "success=true;");
    }

    fn set_timezone(&self, tz: &str) {
        diesel::update(tenants::table.find(self.tenant))
            .set(tenants::timezone.eq(tz))
            .execute(&mut self.app.pool.get().unwrap())
            .unwrap();
    }

    /// Every daily rollup row must be the sum of its day's hourly rows, and no daily row may
    /// lack hours.
    fn assert_daily_sums_hourly(&self) {
        type Row = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);
        let cols = |r: &Row| [r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11];
        let mut conn = self.app.pool.get().unwrap();
        let hourly: Vec<Row> = stats_hourly::table
            .filter(stats_hourly::tenant_id.eq(self.tenant))
            .select((
                stats_hourly::hour,
                stats_hourly::offer_id,
                stats_hourly::affiliate_id,
                stats_hourly::clicks,
                stats_hourly::rejected_clicks,
                stats_hourly::approved,
                stats_hourly::pending,
                stats_hourly::rejected,
                stats_hourly::payout,
                stats_hourly::revenue,
                stats_hourly::pending_payout,
                stats_hourly::pending_revenue,
            ))
            .load(&mut conn)
            .unwrap();
        let daily: Vec<Row> = stats_daily::table
            .filter(stats_daily::tenant_id.eq(self.tenant))
            .select((
                stats_daily::day,
                stats_daily::offer_id,
                stats_daily::affiliate_id,
                stats_daily::clicks,
                stats_daily::rejected_clicks,
                stats_daily::approved,
                stats_daily::pending,
                stats_daily::rejected,
                stats_daily::payout,
                stats_daily::revenue,
                stats_daily::pending_payout,
                stats_daily::pending_revenue,
            ))
            .load(&mut conn)
            .unwrap();
        let mut expected: BTreeMap<(i64, i64, i64), [i64; 9]> = BTreeMap::new();
        for r in &hourly {
            let e = expected.entry((r.0.div_euclid(DAY) * DAY, r.1, r.2)).or_default();
            for (a, b) in e.iter_mut().zip(cols(r)) {
                *a += b;
            }
        }
        let got: BTreeMap<(i64, i64, i64), [i64; 9]> = daily.iter().map(|r| ((r.0, r.1, r.2), cols(r))).collect();
        assert!(!got.is_empty());
        assert_eq!(got, expected, "stats_daily is not the sum of stats_hourly");
    }
}

/// A report's rows as (key, currency) → (clicks, conversions, payout, revenue). Rows with
/// nothing counted are left out: a rollup row holding only what a report does not count (a
/// rejected conversion, say) gives one, as it always has.
type Table = BTreeMap<(String, String), (i64, i64, i64, i64)>;

fn table(rows: &[reports::Row]) -> Table {
    let mut t = Table::new();
    for r in rows {
        let e = t.entry((r.key.text(), r.currency.clone())).or_default();
        e.0 += r.clicks;
        e.1 += r.conversions;
        e.2 += r.payout;
        e.3 += r.revenue;
    }
    t.retain(|_, v| *v != (0, 0, 0, 0));
    t
}

/// A conversion as the reports see it: time, offer, affiliate, advertiser, currency, status,
/// payout, revenue.
type RawConversion =
    (Micros, affnet_db::OfferId, affnet_db::AffiliateId, affnet_db::AdvertiserId, String, String, i64, i64);

/// What the raw rows say the report `q` shows, with days and hours `offset` hours from UTC (a
/// fixed offset).
fn from_raw_rows(conn: &mut affnet_db::DbConn, q: &Query, offset: i64) -> Table {
    let key = |t: i64, offer: i64, aff: i64, adv: i64| -> String {
        let local = t + offset * HOUR;
        match q.group {
            GroupBy::Date => reports::day_label(local.div_euclid(DAY)),
            GroupBy::Hour => {
                format!("{} {:02}:00", reports::day_label(local.div_euclid(DAY)), local.rem_euclid(DAY) / HOUR)
            }
            GroupBy::Offer => offer.to_string(),
            GroupBy::Affiliate => aff.to_string(),
            _ => adv.to_string(),
        }
    };
    let wanted = |offer: i64, aff: i64, adv: i64| {
        q.offer.is_none_or(|o| o.0 == offer)
            && q.affiliate.is_none_or(|a| a.0 == aff)
            && q.advertiser.is_none_or(|v| v.0 == adv)
    };
    let mut t = Table::new();
    let raw_clicks: Vec<(i64, i64, i64, i64, String)> = clicks::table
        .inner_join(offers::table.on(offers::id.eq(clicks::offer_id)))
        .filter(clicks::tenant_id.eq(q.tenant))
        .filter(clicks::created_at.ge(q.from))
        .filter(clicks::created_at.lt(q.to))
        .select((clicks::created_at, clicks::offer_id, clicks::affiliate_id, clicks::advertiser_id, offers::currency))
        .load::<(Micros, affnet_db::OfferId, affnet_db::AffiliateId, affnet_db::AdvertiserId, String)>(conn)
        .unwrap()
        .into_iter()
        .map(|(t, o, a, v, c)| (t.0, o.0, a.0, v.0, c))
        .collect();
    for (at, o, a, v, c) in raw_clicks {
        if wanted(o, a, v) {
            t.entry((key(at, o, a, v), c)).or_default().0 += 1;
        }
    }
    let raw_conversions: Vec<RawConversion> = conversions::table
        .filter(conversions::tenant_id.eq(q.tenant))
        .filter(conversions::created_at.ge(q.from))
        .filter(conversions::created_at.lt(q.to))
        .select((
            conversions::created_at,
            conversions::offer_id,
            conversions::affiliate_id,
            conversions::advertiser_id,
            conversions::currency,
            conversions::status,
            conversions::payout,
            conversions::revenue,
        ))
        .load(conn)
        .unwrap();
    for (at, o, a, v, c, s, payout, revenue) in raw_conversions {
        let counted = match q.status.as_deref() {
            Some(w) => s == w,
            None => s == "approved" || s == "pending",
        };
        if counted && wanted(o.0, a.0, v.0) {
            let e = t.entry((key(at.0, o.0, a.0, v.0), c)).or_default();
            e.1 += 1;
            // The rollups keep no money of rejected conversions.
            if s != "rejected" {
                e.2 += payout;
                e.3 += revenue;
            }
        }
    }
    t
}

/// A report's filters: offer, affiliate, advertiser.
type Filters = (Option<OfferId>, Option<AffiliateId>, Option<AdvertiserId>);

/// Every grouping of the rollups, every status filter and each of `filters`, over ranges that
/// read days only, hours only and both (partial first and last days), in UTC and at +05:00:
/// equal to the raw rows.
fn assert_reports_match_raw_rows(net: &Net, filters: &[Filters]) {
    let mut conn = net.app.pool.get().unwrap();
    let ranges = [
        (D + 3 * HOUR, D + 3 * DAY + 7 * HOUR),
        (D, D + 4 * DAY),
        (D + DAY + 6 * HOUR, D + DAY + 20 * HOUR),
        (D - DAY, D + 5 * DAY),
        (D - 5 * HOUR, D + 2 * DAY - 5 * HOUR),
    ];
    for (zone, offset) in [("UTC", 0), ("+05:00", 5)] {
        let tz = Tz::parse(zone).unwrap();
        for (from, to) in ranges {
            for group in [GroupBy::Date, GroupBy::Hour, GroupBy::Offer, GroupBy::Affiliate, GroupBy::Advertiser] {
                for status in [None, Some("approved"), Some("pending"), Some("rejected")] {
                    for &(offer, affiliate, advertiser) in filters {
                        let q = Query {
                            tenant: net.tenant,
                            from: Micros(from),
                            to: Micros(to),
                            tz,
                            offer,
                            affiliate,
                            advertiser,
                            status: status.map(str::to_owned),
                            group,
                            raw_limit: reports::RAW_ROW_LIMIT,
                        };
                        let report = reports::run(&mut conn, &q).unwrap();
                        assert_eq!(table(&report.rows), from_raw_rows(&mut conn, &q, offset), "{zone}: {q:?}");
                    }
                }
            }
        }
    }
}

/// A click (time, offer, affiliate) and its conversion (time, status), if any.
type Traffic<'a> = (i64, &'a Offer, i64, Option<(i64, &'a str)>);

async fn reports_over_daily_and_hourly_rollups_equal_the_raw_rows(backend: Backend) {
    let net = Net::new(backend, D - 3 * DAY).await;
    let x = net.offer("Shop", "X", "USD", 250, 400);
    let y = net.offer("Shop", "Y", "USD", 100, 150);
    let z = net.offer("Other shop", "Z", "EUR", 70, 90);
    let (a1, a2) = (net.affiliate("Media One"), net.affiliate("Media Two"));
    // (click time, offer, affiliate, conversion time and status): around midnights, at the
    // edges of the ranges above, and conversions a day after their clicks.
    let traffic: Vec<Traffic<'_>> = vec![
        (D - 2 * HOUR + 30 * MINUTE, &x, a1, Some((D + 10 * MINUTE, "approved"))),
        (D + 3 * HOUR + 10 * MINUTE, &x, a2, None),
        (D + DAY - MINUTE, &y, a1, Some((D + DAY + 5 * MINUTE, "pending"))),
        (D + DAY, &z, a1, Some((D + DAY + HOUR, "approved"))),
        (D + DAY + 12 * HOUR, &y, a2, None),
        (D + DAY + 19 * HOUR + 59 * MINUTE, &x, a1, Some((D + DAY + 20 * HOUR, "approved"))),
        (D + 2 * DAY + 5 * HOUR, &z, a2, Some((D + 2 * DAY + 6 * HOUR, "rejected"))),
        (D + 2 * DAY + 21 * HOUR + 45 * MINUTE, &x, a1, Some((D + 3 * DAY + 30 * MINUTE, "approved"))),
        (D + 3 * DAY + HOUR + 30 * MINUTE, &y, a1, None),
        (D + 3 * DAY + 6 * HOUR + 10 * MINUTE, &x, a2, Some((D + 3 * DAY + 6 * HOUR + 20 * MINUTE, "approved"))),
        (D + 3 * DAY + 7 * HOUR, &x, a1, Some((D + 4 * DAY + 2 * HOUR, "pending"))),
        (D + 4 * DAY + 2 * HOUR, &y, a2, None),
    ];
    // In time order, clicks and conversions alike.
    let mut events: Vec<(i64, usize, bool)> = Vec::new();
    for (i, (at, _, _, conv)) in traffic.iter().enumerate() {
        events.push((*at, i, false));
        if let Some((c, _)) = conv {
            events.push((*c, i, true));
        }
    }
    events.sort();
    let mut tids: BTreeMap<usize, String> = BTreeMap::new();
    for (at, i, is_conversion) in events {
        let (_, offer, aff, conv) = &traffic[i];
        if is_conversion {
            net.convert(at, offer, &tids[&i], conv.unwrap().1).await;
        } else {
            tids.insert(i, net.click(at, offer, *aff).await);
        }
    }
    net.assert_daily_sums_hourly();
    let filters: [Filters; 5] = [
        (None, None, None),
        (Some(x.id), None, None),
        (None, Some(AffiliateId(a1)), None),
        (None, None, Some(z.advertiser_id)),
        (Some(y.id), Some(AffiliateId(a2)), None),
    ];
    assert_reports_match_raw_rows(&net, &filters);

    // A status change moves the counts in both tables, wherever a report reads them: the
    // conversion at D+3d 06:20 is read hourly by the first range and daily by the second.
    let moved: ConversionId = conversions::table
        .filter(conversions::created_at.eq(Micros(D + 3 * DAY + 6 * HOUR + 20 * MINUTE)))
        .select(conversions::id)
        .first(&mut net.app.pool.get().unwrap())
        .unwrap();
    for to in [ConversionStatus::Rejected, ConversionStatus::Pending] {
        Conversion::set_status(
            &mut net.app.pool.get().unwrap(),
            net.tenant,
            moved,
            to,
            "checked",
            None,
            Micros(D + 5 * DAY),
        )
        .unwrap();
        net.assert_daily_sums_hourly();
        assert_reports_match_raw_rows(&net, &filters);
    }
    let daily: (i64, i64, i64) = stats_daily::table
        .filter(stats_daily::tenant_id.eq(net.tenant))
        .filter(stats_daily::day.eq(D + 3 * DAY))
        .filter(stats_daily::offer_id.eq(x.id))
        .filter(stats_daily::affiliate_id.eq(a2))
        .select((stats_daily::approved, stats_daily::pending, stats_daily::rejected))
        .first(&mut net.app.pool.get().unwrap())
        .unwrap();
    assert_eq!(daily, (0, 1, 0));

    // Rollup totals (the caps read them) over days, hours and both.
    let mut conn = net.app.pool.get().unwrap();
    for (from, to) in [(D, D + 4 * DAY), (D + 3 * HOUR, D + 3 * DAY + 7 * HOUR), (0, i64::MAX)] {
        let t =
            affnet_tracking::rollup::totals(&mut conn, net.tenant, Micros(from), Micros(to), Some(x.id), None).unwrap();
        let clicks: i64 = clicks::table
            .filter(clicks::offer_id.eq(x.id))
            .filter(clicks::created_at.ge(Micros(from)))
            .filter(clicks::created_at.lt(Micros(to)))
            .count()
            .get_result(&mut conn)
            .unwrap();
        let statuses: Vec<(String, i64)> = conversions::table
            .filter(conversions::offer_id.eq(x.id))
            .filter(conversions::created_at.ge(Micros(from)))
            .filter(conversions::created_at.lt(Micros(to)))
            .select((conversions::status, conversions::payout))
            .load(&mut conn)
            .unwrap();
        let count = |s: &str| statuses.iter().filter(|(st, _)| st == s).count() as i64;
        let paid = |s: &str| statuses.iter().filter(|(st, _)| st == s).map(|(_, p)| p).sum::<i64>();
        assert_eq!(
            (t.clicks, t.approved, t.pending, t.rejected, t.payout, t.pending_payout),
            (clicks, count("approved"), count("pending"), count("rejected"), paid("approved"), paid("pending")),
            "[{from}, {to})"
        );
    }

    // Whole UTC days are read from stats_daily alone: without the hourly rows, a report over
    // whole days still says the same; one with partial days misses their edge hours.
    diesel::delete(stats_hourly::table.filter(stats_hourly::tenant_id.eq(net.tenant))).execute(&mut conn).unwrap();
    let by_offer = |from: i64, to: i64| Query {
        tenant: net.tenant,
        from: Micros(from),
        to: Micros(to),
        tz: Tz::UTC,
        offer: None,
        affiliate: None,
        advertiser: None,
        status: None,
        group: GroupBy::Offer,
        raw_limit: reports::RAW_ROW_LIMIT,
    };
    let whole = by_offer(D, D + 4 * DAY);
    assert_eq!(table(&reports::run(&mut conn, &whole).unwrap().rows), from_raw_rows(&mut conn, &whole, 0));
    let partial = by_offer(D + 3 * HOUR, D + 3 * DAY + 7 * HOUR);
    let days_only = from_raw_rows(&mut conn, &by_offer(D + DAY, D + 3 * DAY), 0);
    assert_ne!(from_raw_rows(&mut conn, &partial, 0), days_only);
    assert_eq!(table(&reports::run(&mut conn, &partial).unwrap().rows), days_only);
    drop(conn);
    net.app.stop().await;
}

async fn csv(b: &Browser, path: &str) -> String {
    let res = b.client.get(format!("{}{}", b.base, path)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.text().await.unwrap()
}

/// 2026-10-23 00:00 UTC. Berlin leaves summer time (+02:00) on 2026-10-25 at 01:00 UTC.
const OCT23: i64 = 1_792_713_600 * Micros::SECOND;

async fn local_days_of_other_zones_span_daily_and_hourly_rollups(backend: Backend) {
    let net = Net::new(backend, OCT23 - 5 * DAY).await;
    let x = net.offer("Shop", "Shop X", "USD", 250, 400);
    let aff = net.affiliate("Media One");
    let (d23, d24, d25, d26) = (OCT23, OCT23 + DAY, OCT23 + 2 * DAY, OCT23 + 3 * DAY);
    // UTC instants; Berlin local times in the comments.
    net.click(d23 - 2 * HOUR - MINUTE, &x, aff).await; // 10-22 23:59
    let c1 = net.click(d23 + 21 * HOUR + 30 * MINUTE, &x, aff).await; // 10-23 23:30
    net.convert(d23 + 21 * HOUR + 45 * MINUTE, &x, &c1, "approved").await; // 10-23 23:45
    net.click(d23 + 22 * HOUR + 30 * MINUTE, &x, aff).await; // 10-24 00:30
    net.click(d24 + 12 * HOUR, &x, aff).await; // 10-24 14:00
    net.click(d24 + 22 * HOUR + 30 * MINUTE, &x, aff).await; // 10-25 00:30 (+02:00)
    let c5 = net.click(d25 + 30 * MINUTE, &x, aff).await; // 10-25 02:30 (+02:00)
    net.convert(d25 + 45 * MINUTE, &x, &c5, "approved").await; // 10-25 02:45 (+02:00)
    net.click(d25 + HOUR + 30 * MINUTE, &x, aff).await; // 10-25 02:30 (+01:00), again
    net.click(d25 + 22 * HOUR + 30 * MINUTE, &x, aff).await; // 10-25 23:30
    let c8 = net.click(d25 + 23 * HOUR + 30 * MINUTE, &x, aff).await; // 10-26 00:30
    net.click(d26 + 22 * HOUR + 30 * MINUTE, &x, aff).await; // 10-26 23:30
    net.convert(d26 + 22 * HOUR + 45 * MINUTE, &x, &c8, "approved").await; // 10-26 23:45
    net.click(d26 + 23 * HOUR, &x, aff).await; // 10-27 00:00
    net.assert_daily_sums_hourly();

    let admin = net.app.browser();
    assert_eq!(admin.sign_in("acme", "admin@acme.test", PASSWORD).await.status, 303);
    let head = "date,name,currency,clicks,conversions,conversion_rate,payout,revenue,profit\r\n";
    let by_offer = |clicks: i64, conv: i64, cr: &str, payout: &str, revenue: &str, profit: &str| {
        let cells = format!("USD,{clicks},{conv},{cr},{payout},{revenue},{profit}\r\n");
        format!(
            "offer,name,currency,clicks,conversions,conversion_rate,payout,revenue,profit\r\n\
             #{},Shop X,{cells},Total,{cells}",
            x.id
        )
    };
    let range = "from=2026-10-23&to=2026-10-26";

    // Berlin: local midnights at 22:00 UTC, then 23:00 UTC after the change.
    net.set_timezone("Europe/Berlin");
    assert_eq!(
        csv(&admin, &format!("/admin/reports.csv?group_by=date&{range}")).await,
        format!(
            "{head}2026-10-23,,USD,1,1,100.00%,2.50,4.00,1.50\r\n\
             2026-10-24,,USD,2,0,0.00%,0.00,0.00,0.00\r\n\
             2026-10-25,,USD,4,1,25.00%,2.50,4.00,1.50\r\n\
             2026-10-26,,USD,2,1,50.00%,2.50,4.00,1.50\r\n\
             ,Total,USD,9,3,33.33%,7.50,12.00,4.50\r\n"
        )
    );
    // By offer: three whole UTC days from the daily rollups, 10-22 22:00-24:00 and
    // 10-26 00:00-23:00 UTC from the hourly ones.
    assert_eq!(
        csv(&admin, &format!("/admin/reports.csv?group_by=offer&{range}")).await,
        by_offer(9, 3, "33.33%", "7.50", "12.00", "4.50")
    );
    // The hour 02:00 happens twice on 10-25: both are one row.
    assert_eq!(
        csv(&admin, "/admin/reports.csv?group_by=hour&from=2026-10-25&to=2026-10-25").await,
        "hour,name,currency,clicks,conversions,conversion_rate,payout,revenue,profit\r\n\
         2026-10-25 00:00,,USD,1,0,0.00%,0.00,0.00,0.00\r\n\
         2026-10-25 02:00,,USD,2,1,50.00%,2.50,4.00,1.50\r\n\
         2026-10-25 23:00,,USD,1,0,0.00%,0.00,0.00,0.00\r\n\
         ,Total,USD,4,1,25.00%,2.50,4.00,1.50\r\n"
    );

    // A fixed offset: local midnights at 19:00 UTC.
    net.set_timezone("+05:00");
    assert_eq!(
        csv(&admin, &format!("/admin/reports.csv?group_by=date&{range}")).await,
        format!(
            "{head}2026-10-23,,USD,1,0,0.00%,0.00,0.00,0.00\r\n\
             2026-10-24,,USD,3,1,33.33%,2.50,4.00,1.50\r\n\
             2026-10-25,,USD,3,1,33.33%,2.50,4.00,1.50\r\n\
             2026-10-26,,USD,2,0,0.00%,0.00,0.00,0.00\r\n\
             ,Total,USD,9,2,22.22%,5.00,8.00,3.00\r\n"
        )
    );
    assert_eq!(
        csv(&admin, &format!("/admin/reports.csv?group_by=offer&{range}")).await,
        by_offer(9, 2, "22.22%", "5.00", "8.00", "3.00")
    );

    // UTC: days from the daily rollups alone.
    net.set_timezone("UTC");
    assert_eq!(
        csv(&admin, &format!("/admin/reports.csv?group_by=date&{range}")).await,
        format!(
            "{head}2026-10-23,,USD,2,1,50.00%,2.50,4.00,1.50\r\n\
             2026-10-24,,USD,2,0,0.00%,0.00,0.00,0.00\r\n\
             2026-10-25,,USD,4,1,25.00%,2.50,4.00,1.50\r\n\
             2026-10-26,,USD,2,1,50.00%,2.50,4.00,1.50\r\n\
             ,Total,USD,10,3,30.00%,7.50,12.00,4.50\r\n"
        )
    );
    assert_eq!(
        csv(&admin, &format!("/admin/reports.csv?group_by=offer&{range}")).await,
        by_offer(10, 3, "30.00%", "7.50", "12.00", "4.50")
    );
    net.app.stop().await;
}

crate::on_both_backends!(
    reports_over_daily_and_hourly_rollups_equal_the_raw_rows,
    local_days_of_other_zones_span_daily_and_hourly_rollups,
);
