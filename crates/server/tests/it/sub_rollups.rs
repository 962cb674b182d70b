//! Sub id rollups, on both backends: reports grouped by a sub id read the click rollups the
//! worker builds (where their counts say they are exact) and the conversion rollups kept with the
//! conversions, and must equal what the raw clicks and conversions say, over whole days, partial
//! days and days of another zone, with every filter and status; stragglers, status changes, the
//! open hour, the worker thread, the catch-up command and migration 10 (up and down).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use affnet_db::schema::{clicks, conversions, offers, stats_sub_conversions_daily, stats_sub_conversions_hourly};
use affnet_db::{AdvertiserId, AffiliateId, Backend, Clock, ConversionId, Micros, OfferId, TenantId};
use affnet_offers::{ConversionStatus, Offer, OfferInput, Rate};
use affnet_tracking::click::{Click, ClickJob};
use affnet_tracking::conversion::Conversion;
use affnet_tracking::reports::{self, GroupBy, Query, Tz};
use affnet_tracking::sub_report::{self, Plan};
use affnet_tracking::sub_rollup;
use diesel::prelude::*;

use crate::support::TestApp;

const MINUTE: i64 = Micros::MINUTE;
const HOUR: i64 = Micros::HOUR;
const DAY: i64 = Micros::DAY;

/// 2026-11-10 00:00 UTC.
const D: i64 = 1_794_268_800 * Micros::SECOND;

const GRACE: Duration = Duration::from_secs(60);

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

    fn conn(&self) -> affnet_db::PooledConn {
        self.app.pool.get().unwrap()
    }

    fn offer(&self, advertiser: &str, name: &str, currency: &str, payout: i64, revenue: i64) -> Offer {
        let tenant = affnet_accounts::Tenant::find(&mut self.conn(), self.tenant).unwrap();
        let adv = self.app.advertiser(&tenant, advertiser);
        let mut input = OfferInput::simple(adv.id, name, "https://shop.example/?tid={transaction_id}", payout);
        input.revenue = Rate::flat(revenue);
        input.currency = Some(currency.into());
        Offer::create(&mut self.conn(), self.tenant, &input, self.app.clock.now()).unwrap()
    }

    fn affiliate(&self, name: &str) -> i64 {
        let tenant = affnet_accounts::Tenant::find(&mut self.conn(), self.tenant).unwrap();
        self.app.affiliate(&tenant, name).id.0
    }

    /// A click at `at` with the sub ids of `subs` (`&aff_sub=a…`); its transaction id.
    async fn click(&self, at: i64, offer: &Offer, aff: i64, subs: &str) -> String {
        self.app.clock.set(Micros(at));
        let url = self.app.url(&format!("/aff_c?offer_id={}&aff_id={aff}{subs}", offer.id));
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 302);
        let loc = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
        loc.split("tid=").nth(1).unwrap().split('&').next().unwrap().to_owned()
    }

    async fn convert(&self, at: i64, offer: &Offer, tid: &str, status: &str) {
        self.app.clock.set(Micros(at));
        let url = self
            .app
            .url(&format!("/aff_lsr?transaction_id={tid}&security_token={}&status={status}", offer.security_token));
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "success=true;");
    }

    /// A click committed now with a time long past (a straggler: its hour may be aggregated
    /// already), written by the click writer's own function (clicks and `stats_hourly`).
    fn late_click(&self, at: i64, offer: &Offer, aff: i64, aff_sub: &str) {
        let n: i64 = clicks::table.count().get_result(&mut self.conn()).unwrap();
        // A transaction id of the layout `SequenceKeys::next` makes: millisecond, masked
        // sequence, random bits.
        let seq = ((at / 1000) << 16) | (n + 1);
        let click = Click {
            id: affnet_tracking::TransactionId::with_key(seq, 0x5eed).to_string(),
            seq,
            tenant_id: self.tenant,
            offer_id: offer.id,
            affiliate_id: AffiliateId(aff),
            advertiser_id: offer.advertiser_id,
            aff_sub: aff_sub.into(),
            aff_sub2: String::new(),
            aff_sub3: String::new(),
            aff_sub4: String::new(),
            aff_sub5: String::new(),
            source: String::new(),
            aff_click_id: String::new(),
            ip: "127.0.0.1".into(),
            user_agent: String::new(),
            referrer: String::new(),
            created_at: Micros(at),
        };
        affnet_db::write_tx(&mut self.conn(), |c| {
            affnet_tracking::click::write_clicks(c, &[ClickJob::Click(Box::new(click))])
        })
        .unwrap();
    }

    fn query(&self, from: i64, to: i64, group: GroupBy) -> Query {
        Query {
            tenant: self.tenant,
            from: Micros(from),
            to: Micros(to),
            tz: Tz::UTC,
            offer: None,
            affiliate: None,
            advertiser: None,
            status: None,
            group,
            raw_limit: reports::RAW_ROW_LIMIT,
        }
    }

    fn plan(&self, from: i64, to: i64) -> Plan {
        sub_report::plan(&mut self.conn(), &self.query(from, to, GroupBy::Sub(1))).unwrap()
    }
}

/// A report's rows as (key, currency) → (clicks, conversions, payout, revenue), rows with
/// nothing counted left out.
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

fn value(c: &Click, group: GroupBy) -> String {
    match group {
        GroupBy::Sub(1) => c.aff_sub.clone(),
        GroupBy::Sub(2) => c.aff_sub2.clone(),
        GroupBy::Sub(3) => c.aff_sub3.clone(),
        GroupBy::Sub(4) => c.aff_sub4.clone(),
        GroupBy::Sub(_) => c.aff_sub5.clone(),
        _ => c.source.clone(),
    }
}

/// What the raw rows say the sub id report `q` shows: clicks and conversions created in the
/// range, by the click's sub id and the offer's currency; conversions of the statuses asked for
/// (approved and pending by default), rejected ones without money (as every rollup report).
fn from_raw_rows(conn: &mut affnet_db::DbConn, q: &Query) -> Table {
    let currency: BTreeMap<OfferId, String> = offers::table
        .select((offers::id, offers::currency))
        .load::<(OfferId, String)>(conn)
        .unwrap()
        .into_iter()
        .collect();
    let wanted = |offer: OfferId, aff: AffiliateId, adv: AdvertiserId| {
        q.offer.is_none_or(|o| o == offer)
            && q.affiliate.is_none_or(|a| a == aff)
            && q.advertiser.is_none_or(|v| v == adv)
    };
    let mut t = Table::new();
    let raw: Vec<Click> = clicks::table
        .filter(clicks::tenant_id.eq(q.tenant))
        .filter(clicks::created_at.ge(q.from))
        .filter(clicks::created_at.lt(q.to))
        .select(Click::as_select())
        .load(conn)
        .unwrap();
    for c in raw.iter().filter(|c| wanted(c.offer_id, c.affiliate_id, c.advertiser_id)) {
        t.entry((value(c, q.group), currency[&c.offer_id].clone())).or_default().0 += 1;
    }
    let raw: Vec<(Conversion, Click)> = conversions::table
        .inner_join(clicks::table.on(clicks::seq.eq(conversions::click_seq).and(clicks::id.eq(conversions::click_id))))
        .filter(conversions::tenant_id.eq(q.tenant))
        .filter(conversions::created_at.ge(q.from))
        .filter(conversions::created_at.lt(q.to))
        .select((Conversion::as_select(), Click::as_select()))
        .load(conn)
        .unwrap();
    for (v, c) in raw.iter().filter(|(v, _)| wanted(v.offer_id, v.affiliate_id, v.advertiser_id)) {
        let status = v.status.as_str();
        let counted = match q.status.as_deref() {
            Some(w) => status == w,
            None => status == "approved" || status == "pending",
        };
        if counted {
            let e = t.entry((value(c, q.group), currency[&v.offer_id].clone())).or_default();
            e.1 += 1;
            if status != "rejected" {
                e.2 += v.payout;
                e.3 += v.revenue;
            }
        }
    }
    t.retain(|_, v| *v != (0, 0, 0, 0));
    t
}

/// A report's filters: offer, affiliate, advertiser.
type Filters = (Option<OfferId>, Option<AffiliateId>, Option<AdvertiserId>);

/// Ranges that read whole UTC days only, hours only and both; `[D - 5 h, …)` are the local days
/// of UTC+05:00 (a report's range is instants: the zone only places its midnights).
const RANGES: [(i64, i64); 6] = [
    (D + 3 * HOUR, D + 3 * DAY + 7 * HOUR),
    (D, D + 4 * DAY),
    (D + DAY + 6 * HOUR, D + DAY + 20 * HOUR),
    (D - DAY, D + 5 * DAY),
    (D - 5 * HOUR, D + 2 * DAY - 5 * HOUR),
    (D - 5 * HOUR, D + 5 * DAY - 5 * HOUR),
];

/// Every sub id grouping, status and filter over [`RANGES`] equals the raw rows, reading at most
/// `raw_limit` raw clicks; with a limit of 0, nothing may be truncated either (all from rollups).
fn assert_reports_match_raw_rows(net: &Net, filters: &[Filters], raw_limit: i64) {
    let mut conn = net.conn();
    for (from, to) in RANGES {
        for group in [GroupBy::Sub(1), GroupBy::Sub(2), GroupBy::Source] {
            for status in [None, Some("approved"), Some("pending"), Some("rejected")] {
                for &(offer, affiliate, advertiser) in filters {
                    let q = Query {
                        offer,
                        affiliate,
                        advertiser,
                        status: status.map(str::to_owned),
                        raw_limit,
                        ..net.query(from, to, group)
                    };
                    let report = reports::run(&mut conn, &q).unwrap();
                    assert!(!report.truncated, "{q:?}");
                    assert_eq!(table(&report.rows), from_raw_rows(&mut conn, &q), "{q:?}");
                }
            }
        }
    }
}

/// The conversion rollups per sub id, in key order.
type SubConversionRow = ((i64, i64, i64, String, i64, i64), (i64, i64, i64, i64, i64, i64, i64));

fn sub_conversion_rows(conn: &mut affnet_db::DbConn) -> (Vec<SubConversionRow>, Vec<SubConversionRow>) {
    use stats_sub_conversions_daily as d;
    use stats_sub_conversions_hourly as h;
    let hourly = h::table
        .select((
            (h::tenant_id, h::slot, h::hour, h::value, h::offer_id, h::affiliate_id),
            (h::approved, h::pending, h::rejected, h::payout, h::revenue, h::pending_payout, h::pending_revenue),
        ))
        .order((h::tenant_id, h::slot, h::hour, h::value, h::offer_id, h::affiliate_id))
        .load(conn)
        .unwrap();
    let daily = d::table
        .select((
            (d::tenant_id, d::slot, d::day, d::value, d::offer_id, d::affiliate_id),
            (d::approved, d::pending, d::rejected, d::payout, d::revenue, d::pending_payout, d::pending_revenue),
        ))
        .order((d::tenant_id, d::slot, d::day, d::value, d::offer_id, d::affiliate_id))
        .load(conn)
        .unwrap();
    (hourly, daily)
}

async fn sub_id_reports_from_rollups_equal_the_raw_rows(backend: Backend) {
    let net = Net::new(backend, D - 3 * DAY).await;
    let x = net.offer("Shop", "X", "USD", 250, 400);
    let y = net.offer("Shop", "Y", "USD", 100, 150);
    let z = net.offer("Other shop", "Z", "EUR", 70, 90);
    let (a1, a2) = (net.affiliate("Media One"), net.affiliate("Media Two"));
    // (click time, offer, affiliate, sub ids, conversion time and status).
    type Traffic<'a> = (i64, &'a Offer, i64, &'a str, Option<(i64, &'a str)>);
    let traffic: Vec<Traffic<'_>> = vec![
        (D - 2 * HOUR + 30 * MINUTE, &x, a1, "&aff_sub=a&source=fb", Some((D + 10 * MINUTE, "approved"))),
        (D + 3 * HOUR + 10 * MINUTE, &x, a2, "&aff_sub=b", None),
        (D + DAY - MINUTE, &y, a1, "&aff_sub=a&aff_sub2=k", Some((D + DAY + 5 * MINUTE, "pending"))),
        (D + DAY, &z, a1, "&sub1=c&source=fb", Some((D + DAY + HOUR, "approved"))),
        (D + DAY + 12 * HOUR, &y, a2, "", None),
        (D + DAY + 19 * HOUR + 59 * MINUTE, &x, a1, "&aff_sub=b&source=tt", Some((D + DAY + 20 * HOUR, "approved"))),
        (D + 2 * DAY + 5 * HOUR, &z, a2, "&aff_sub=a", Some((D + 2 * DAY + 6 * HOUR, "rejected"))),
        (D + 2 * DAY + 21 * HOUR, &x, a1, "&aff_sub=c&aff_sub2=k", Some((D + 3 * DAY + 30 * MINUTE, "approved"))),
        (D + 3 * DAY + HOUR + 30 * MINUTE, &y, a1, "&aff_sub=a", None),
        (
            D + 3 * DAY + 6 * HOUR,
            &x,
            a2,
            "&aff_sub=b&source=fb",
            Some((D + 3 * DAY + 6 * HOUR + 20 * MINUTE, "approved")),
        ),
        (D + 3 * DAY + 7 * HOUR, &x, a1, "", Some((D + 4 * DAY + 2 * HOUR, "pending"))),
        (D + 4 * DAY + 2 * HOUR, &y, a2, "&aff_sub=a", None),
    ];
    let mut events: Vec<(i64, usize, bool)> = Vec::new();
    for (i, (at, _, _, _, conv)) in traffic.iter().enumerate() {
        events.push((*at, i, false));
        if let Some((c, _)) = conv {
            events.push((*c, i, true));
        }
    }
    events.sort();
    let mut tids: BTreeMap<usize, String> = BTreeMap::new();
    for (at, i, is_conversion) in events {
        let (_, offer, aff, subs, conv) = &traffic[i];
        if is_conversion {
            net.convert(at, offer, &tids[&i], conv.unwrap().1).await;
        } else {
            tids.insert(i, net.click(at, offer, *aff, subs).await);
        }
    }
    let filters: [Filters; 5] = [
        (None, None, None),
        (Some(x.id), None, None),
        (None, Some(AffiliateId(a1)), None),
        (None, None, Some(z.advertiser_id)),
        (Some(y.id), Some(AffiliateId(a2)), None),
    ];
    let now = D + 6 * DAY;

    // Nothing aggregated yet: the clicks are read raw, the conversions from their rollups.
    let before = net.plan(D, D + 4 * DAY);
    assert!(before.days.is_empty() && before.hours.is_empty() && !before.raw.is_empty(), "{before:?}");
    assert_reports_match_raw_rows(&net, &filters, reports::RAW_ROW_LIMIT);

    // The catch-up aggregates every hour with clicks and folds the six days that have some, and
    // the five days with conversions.
    let done = sub_rollup::catch_up(&mut net.conn(), Micros(now), GRACE).unwrap();
    assert_eq!((done.hours, done.days, done.clicks, done.conversion_days), (12, 6, 12, 5));
    let whole = vec![(Micros(D), Micros(D + 4 * DAY))];
    assert_eq!(
        net.plan(D, D + 4 * DAY),
        Plan { days: whole.clone(), conversion_days: whole.clone(), ..Plan::default() }
    );
    let zone = net.plan(D - 5 * HOUR, D + 2 * DAY - 5 * HOUR);
    assert_eq!(zone.days, vec![(Micros(D), Micros(D + DAY))]);
    assert_eq!(zone.hours.first(), Some(&(Micros(D - 2 * HOUR), Micros(D - HOUR))));
    assert!(zone.raw.is_empty());
    // Exact from the rollups alone: not one raw click read.
    assert_reports_match_raw_rows(&net, &filters, 0);
    // Another pass finds nothing to do.
    let never = AtomicBool::new(false);
    let again = sub_rollup::pass(&mut net.conn(), Micros(now), GRACE, None, &never).unwrap();
    assert!(again.is_empty(), "{again:?}");

    // A straggler: committed now, in an hour aggregated days ago. The counts disagree, so the
    // report reads that hour raw (and stays exact); the worker's next pass aggregates it again.
    net.late_click(D + DAY + 12 * HOUR + 5 * MINUTE, &y, a2, "late");
    assert_eq!(
        net.plan(D, D + 4 * DAY),
        Plan {
            days: vec![(Micros(D), Micros(D + DAY)), (Micros(D + 2 * DAY), Micros(D + 4 * DAY))],
            hours: vec![
                (Micros(D + DAY), Micros(D + DAY + HOUR)),
                (Micros(D + DAY + 19 * HOUR), Micros(D + DAY + 20 * HOUR)),
            ],
            raw: vec![(Micros(D + DAY + 12 * HOUR), Micros(D + DAY + 13 * HOUR))],
            conversion_days: whole.clone(),
            conversion_hours: vec![],
        }
    );
    assert_reports_match_raw_rows(&net, &filters, reports::RAW_ROW_LIMIT);
    let cut = reports::run(&mut net.conn(), &Query { raw_limit: 1, ..net.query(D, D + 4 * DAY, GroupBy::Sub(1)) });
    assert!(cut.unwrap().truncated, "two raw clicks in that hour, one read");
    let late = table(&reports::run(&mut net.conn(), &net.query(D, D + 4 * DAY, GroupBy::Sub(1))).unwrap().rows);
    assert_eq!(late.get(&("late".to_owned(), "USD".to_owned())), Some(&(1, 0, 0, 0)));
    // A regular pass looks back two days only; the full pass finds it.
    let since = Some(Micros(now - 2 * DAY));
    let regular = sub_rollup::pass(&mut net.conn(), Micros(now), GRACE, since, &never).unwrap();
    assert!(regular.is_empty());
    let full = sub_rollup::pass(&mut net.conn(), Micros(now), GRACE, None, &never).unwrap();
    assert_eq!((full.hours, full.days, full.clicks, full.conversion_days), (1, 1, 2, 0));
    assert!(net.plan(D, D + 4 * DAY).raw.is_empty());
    assert_reports_match_raw_rows(&net, &filters, 0);

    // A status change moves the conversion counts per sub id at once (no worker involved): its
    // day is read from the hourly rows until the worker has folded it again.
    let moved: ConversionId = conversions::table
        .filter(conversions::created_at.eq(Micros(D + 3 * DAY + 6 * HOUR + 20 * MINUTE)))
        .select(conversions::id)
        .first(&mut net.conn())
        .unwrap();
    for to in [ConversionStatus::Rejected, ConversionStatus::Pending] {
        Conversion::set_status(&mut net.conn(), net.tenant, moved, to, "checked", None, Micros(now)).unwrap();
        let plan = net.plan(D, D + 4 * DAY);
        assert_eq!(plan.conversion_days, vec![(Micros(D), Micros(D + 3 * DAY))]);
        assert_eq!(plan.conversion_hours, vec![(Micros(D + 3 * DAY), Micros(D + 4 * DAY))]);
        assert_reports_match_raw_rows(&net, &filters, 0);
    }
    let refold = sub_rollup::pass(&mut net.conn(), Micros(now), GRACE, None, &never).unwrap();
    assert_eq!((refold.hours, refold.days, refold.conversion_days), (0, 0, 1));
    assert_eq!(net.plan(D, D + 4 * DAY).conversion_days, whole);
    assert_reports_match_raw_rows(&net, &filters, 0);
    let q = Query { status: Some("pending".into()), ..net.query(D, D + 4 * DAY, GroupBy::Source) };
    let pending = table(&reports::run(&mut net.conn(), &q).unwrap().rows);
    assert_eq!(pending.get(&("fb".to_owned(), "USD".to_owned())), Some(&(1, 1, 250, 400)));

    // Migration 10 down and up again: the conversions' rollups are rebuilt from the raw rows
    // exactly as the conversion path and the worker kept them (every day folded); the click
    // rollups start empty (raw until the worker has been), and the catch-up makes them whole.
    let kept = sub_conversion_rows(&mut net.conn());
    assert!(!kept.0.is_empty() && !kept.1.is_empty());
    {
        let mut conn = net.conn();
        // (Later migrations are reverted first.)
        while affnet_db::migrate::revert_last(&mut conn).unwrap() != "20261128000010" {}
        let ran = affnet_db::migrate::run_pending(&mut conn).unwrap();
        assert!(ran.contains(&"20261128000010".to_owned()), "{ran:?}");
    }
    assert_eq!(sub_conversion_rows(&mut net.conn()), kept);
    let plan = net.plan(D, D + 4 * DAY);
    assert!(plan.days.is_empty() && plan.conversion_days == whole, "{plan:?}");
    assert_reports_match_raw_rows(&net, &filters, reports::RAW_ROW_LIMIT);
    let done = sub_rollup::catch_up(&mut net.conn(), Micros(now), GRACE).unwrap();
    assert_eq!((done.hours, done.days, done.clicks, done.conversion_days), (12, 6, 13, 0));
    assert_reports_match_raw_rows(&net, &filters, 0);
    net.app.stop().await;
}

async fn the_open_hour_stragglers_and_the_worker_thread(backend: Backend) {
    let now = D + 10 * HOUR + 30 * MINUTE;
    let net = Net::new(backend, D).await;
    let x = net.offer("Shop", "X", "USD", 250, 400);
    let aff = net.affiliate("Media One");
    net.click(D + 9 * HOUR + 10 * MINUTE, &x, aff, "&aff_sub=a").await;
    net.click(D + 10 * HOUR + 5 * MINUTE, &x, aff, "&aff_sub=a").await;
    let tid = net.click(D + 10 * HOUR + 20 * MINUTE, &x, aff, "&aff_sub=b").await;
    net.convert(D + 10 * HOUR + 25 * MINUTE, &x, &tid, "approved").await;

    // A pass aggregates the open hour too, up to now minus the grace (the day is not folded: it
    // is not over); the catch-up then finds nothing left.
    let never = AtomicBool::new(false);
    let worker = sub_rollup::pass(&mut net.conn(), Micros(now), GRACE, None, &never).unwrap();
    assert_eq!((worker.hours, worker.days, worker.clicks), (2, 0, 3));
    let done = sub_rollup::catch_up(&mut net.conn(), Micros(now), GRACE).unwrap();
    assert!(done.is_empty(), "{done:?}");
    let upto = now - MINUTE;
    let (day_from, day_to) = (D, D + DAY);
    // (Today's conversions are read from their hourly rows: the day is not over.)
    let today = vec![(Micros(D), Micros(D + DAY))];
    // Both hours from their rows, nothing raw.
    let from_rows = Plan {
        hours: vec![(Micros(D + 9 * HOUR), Micros(D + 11 * HOUR))],
        conversion_hours: today.clone(),
        ..Plan::default()
    };
    assert_eq!(net.plan(day_from, day_to), from_rows);

    // A click after the cut: the hour's rows up to the cut, the rest raw.
    net.click(now - 30 * Micros::SECOND, &x, aff, "&aff_sub=c").await;
    assert_eq!(
        net.plan(day_from, day_to),
        Plan {
            hours: vec![(Micros(D + 9 * HOUR), Micros(D + 11 * HOUR))],
            raw: vec![(Micros(upto), Micros(D + 11 * HOUR))],
            conversion_hours: today.clone(),
            ..Plan::default()
        }
    );
    let by_sub = |raw_limit: i64| {
        let q = Query { raw_limit, ..net.query(day_from, day_to, GroupBy::Sub(1)) };
        let r = reports::run(&mut net.conn(), &q).unwrap();
        (table(&r.rows), r.truncated, from_raw_rows(&mut net.conn(), &q))
    };
    let (got, truncated, want) = by_sub(1);
    assert_eq!((got, truncated), (want.clone(), false));
    assert_eq!(want.get(&("b".to_owned(), "USD".to_owned())), Some(&(1, 1, 250, 400)));
    assert!(by_sub(0).1, "the click after the cut is raw");

    // A minute later the next pass adds only the clicks since its previous cut to the open hour.
    let extended = sub_rollup::pass(&mut net.conn(), Micros(now + MINUTE), GRACE, None, &never).unwrap();
    assert_eq!((extended.hours, extended.days, extended.clicks), (1, 0, 1));
    assert_eq!(net.plan(day_from, day_to), from_rows);
    let (got, truncated, want) = by_sub(0);
    assert_eq!((got, truncated), (want, false));

    // A straggler before the cut: the whole hour is read raw.
    net.late_click(D + 10 * HOUR + MINUTE, &x, aff, "late");
    assert_eq!(
        net.plan(day_from, day_to),
        Plan {
            hours: vec![(Micros(D + 9 * HOUR), Micros(D + 10 * HOUR))],
            raw: vec![(Micros(D + 10 * HOUR), Micros(D + 11 * HOUR))],
            conversion_hours: today.clone(),
            ..Plan::default()
        }
    );
    let (got, truncated, want) = by_sub(reports::RAW_ROW_LIMIT);
    assert_eq!((got, truncated), (want, false));
    // The next pass sees the hour's rows lack a click before their cut: it aggregates the hour
    // whole again (four clicks), not just the minute since.
    let again = sub_rollup::pass(&mut net.conn(), Micros(now + 2 * MINUTE), GRACE, None, &never).unwrap();
    assert_eq!((again.hours, again.clicks), (1, 4));
    assert!(net.plan(day_from, day_to).raw.is_empty());
    let (got, truncated, want) = by_sub(0);
    assert_eq!((got, truncated), (want, false));

    // The worker thread, once the hour has closed (and the grace passed), completes it.
    net.app.clock.set(Micros(D + 11 * HOUR + 2 * MINUTE));
    let stop = Arc::new(AtomicBool::new(false));
    let config = sub_rollup::Config { interval: Duration::from_millis(50), grace: GRACE };
    let thread = sub_rollup::Worker::new(&net.app.db().url, Arc::new(net.app.clock.clone()), config)
        .spawn(stop.clone())
        .unwrap();
    let mut covered = false;
    for _ in 0..200 {
        if net.plan(day_from, day_to).raw.is_empty() {
            covered = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    thread.join().unwrap();
    assert!(covered, "the worker did not aggregate the hour again: {:?}", net.plan(day_from, day_to));
    let (got, truncated, want) = by_sub(0);
    assert_eq!((got, truncated), (want.clone(), false));
    assert_eq!(want.values().map(|v| v.0).sum::<i64>(), 5);
    net.app.stop().await;
}

async fn the_catch_up_command(backend: Backend) {
    let real_now = Micros::now().0;
    let net = Net::new(backend, real_now - 2 * DAY).await;
    let x = net.offer("Shop", "X", "USD", 250, 400);
    let aff = net.affiliate("Media One");
    net.click(real_now - 26 * HOUR, &x, aff, "&aff_sub=old").await;
    net.click(real_now - 2 * HOUR, &x, aff, "&aff_sub=new&source=fb").await;
    net.click(real_now - 2 * HOUR + 1, &x, aff, "&aff_sub=new").await;
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_affnet"))
            .args(["rollup", "subs", "--grace", "0"])
            .env("DATABASE_URL", &net.app.db().raw_url)
            .env("AFFNET_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = run();
    assert_eq!((first["hours"].as_u64(), first["clicks"].as_i64()), (Some(2), Some(3)), "{first}");
    assert!(first["days"].as_u64().unwrap() >= 1, "{first}");
    assert!(first["seconds"].as_f64().is_some(), "{first}");
    let q = Query { raw_limit: 0, ..net.query(real_now - 3 * DAY, real_now + DAY, GroupBy::Sub(1)) };
    let report = reports::run(&mut net.conn(), &q).unwrap();
    assert!(!report.truncated);
    assert_eq!(table(&report.rows), from_raw_rows(&mut net.conn(), &q));
    let second = run();
    assert_eq!((second["hours"].as_u64(), second["days"].as_u64()), (Some(0), Some(0)), "{second}");
    net.app.stop().await;
}

crate::on_both_backends!(
    sub_id_reports_from_rollups_equal_the_raw_rows,
    the_open_hour_stragglers_and_the_worker_thread,
    the_catch_up_command,
);
