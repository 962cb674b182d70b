//! The tracking pages: affiliate postbacks (with the macro helper, previews and test-fires), the
//! postback delivery log with re-fire, conversions and clicks of each portal (with the
//! advertiser's CSV export), and the staff's transaction tracer. Every query is scoped to the
//! signed-in user's tenant, and for affiliates and advertisers to their own company.

pub mod calls;
pub mod conversions;
pub mod deliveries;
pub mod postbacks;

use std::collections::BTreeMap;

use actix_web::web;
use affnet_db::{AffiliateId, Currency, DbConn, FieldErrors, Micros, Money, OfferId};
use affnet_offers::{ConversionStatus, Offer};
use affnet_tracking::listing::Filter;
use affnet_tracking::outbox::NoPostback;
use affnet_tracking::reports::{self, Tz};

use super::catalogue::offers_err;
use crate::AppError;

/// The tracking routes (inside the pages scope: session, security headers). The fixed
/// `/log` paths come before the `{id}` ones.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/affiliate/postbacks/secret", web::post().to(postbacks::affiliate_secret))
        .route("/admin/affiliates/{aff}/postbacks/secret", web::post().to(postbacks::staff_secret))
        .route("/affiliate/postbacks/log", web::get().to(deliveries::affiliate_log))
        .route("/affiliate/postbacks/log/{job}/refire", web::post().to(deliveries::affiliate_refire))
        .route("/affiliate/postbacks", web::get().to(postbacks::affiliate_list))
        .route("/affiliate/postbacks", web::post().to(postbacks::affiliate_create))
        .route("/affiliate/postbacks/{id}", web::get().to(postbacks::affiliate_edit))
        .route("/affiliate/postbacks/{id}", web::post().to(postbacks::affiliate_update))
        .route("/affiliate/postbacks/{id}/enabled", web::post().to(postbacks::affiliate_enable))
        .route("/affiliate/postbacks/{id}/delete", web::post().to(postbacks::affiliate_delete))
        .route("/affiliate/postbacks/{id}/test", web::post().to(postbacks::affiliate_test))
        .route("/admin/affiliates/{aff}/postbacks", web::get().to(postbacks::staff_list))
        .route("/admin/affiliates/{aff}/postbacks", web::post().to(postbacks::staff_create))
        .route("/admin/affiliates/{aff}/postbacks/{id}", web::get().to(postbacks::staff_edit))
        .route("/admin/affiliates/{aff}/postbacks/{id}", web::post().to(postbacks::staff_update))
        .route("/admin/affiliates/{aff}/postbacks/{id}/enabled", web::post().to(postbacks::staff_enable))
        .route("/admin/affiliates/{aff}/postbacks/{id}/delete", web::post().to(postbacks::staff_delete))
        .route("/admin/affiliates/{aff}/postbacks/{id}/test", web::post().to(postbacks::staff_test))
        .route("/admin/postbacks/log", web::get().to(deliveries::staff_log))
        .route("/admin/postbacks/log/{job}/refire", web::post().to(deliveries::staff_refire))
        .route("/admin/conversions", web::get().to(conversions::staff_conversions))
        .route("/admin/conversions/{id}/status", web::post().to(conversions::staff_set_status))
        .route("/admin/clicks", web::get().to(conversions::staff_clicks))
        .route("/admin/conversion-calls", web::get().to(calls::staff_calls))
        .route("/advertiser/conversion-calls", web::get().to(calls::advertiser_calls))
        .route("/admin/tracer", web::get().to(conversions::tracer))
        .route("/affiliate/conversions", web::get().to(conversions::affiliate_conversions))
        .route("/advertiser/conversions", web::get().to(conversions::advertiser_conversions))
        .route("/advertiser/conversions.csv", web::get().to(conversions::advertiser_csv));
}

/// The filter form of the lists, as typed (dates `YYYY-MM-DD`, UTC, both days included).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct FilterForm {
    pub from: String,
    pub to: String,
    pub offer: String,
    pub affiliate: String,
    pub status: String,
    pub sub: String,
    /// A transaction id (32 hexadecimal characters, any case).
    pub transaction: String,
    /// A conversion id (the delivery log).
    pub conversion: String,
    /// The advertiser's order id (conversions of staff and advertisers).
    pub adv_sub: String,
    pub page: Option<u32>,
}

/// What is wrong with a date field that does not parse: its form, or (`2026-02-30`) the day.
pub(crate) fn bad_date(value: &str) -> String {
    let v = value.trim();
    let shaped = v.len() == 10
        && v.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if shaped {
        format!("{v} is not a day of the calendar: enter a date as YYYY-MM-DD")
    } else {
        "enter a date as YYYY-MM-DD".to_owned()
    }
}

/// Midnight UTC of a `YYYY-MM-DD` day.
pub(crate) fn parse_day(value: &str) -> Option<Micros> {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(value.trim(), &f).ok()?;
    let secs = d.midnight().assume_utc().unix_timestamp();
    Some(Micros(secs.checked_mul(Micros::SECOND)?))
}

fn parse_id(value: &str, field: &str, message: &str, errors: &mut FieldErrors) -> Option<i64> {
    match value.trim() {
        "" => None,
        v => match v.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                errors.add(field, message);
                None
            }
        },
    }
}

impl FilterForm {
    /// The domain filter, or messages next to the fields. `statuses` are the accepted status
    /// words (conversion statuses or job states).
    /// Days are the network's (`tz`), as in its reports, so that a report's day drills down to
    /// the same conversions and clicks.
    pub fn filter(&self, statuses: &[&str], tz: Tz) -> (Filter, FieldErrors) {
        let mut e = FieldErrors::new();
        let mut f = Filter::default();
        if !self.from.trim().is_empty() {
            f.from = reports::parse_day(&self.from).map(|d| tz.day_start(d));
            if f.from.is_none() {
                e.add("from", bad_date(&self.from));
            }
        }
        if !self.to.trim().is_empty() {
            // The "to" day is included: stop at the next midnight.
            f.to = reports::parse_day(&self.to).map(|d| tz.day_start(d + 1));
            if f.to.is_none() {
                e.add("to", bad_date(&self.to));
            }
        }
        if matches!((f.from, f.to), (Some(from), Some(to)) if to <= from) {
            e.add("to", "the end date comes before the start date");
        }
        f.offer = parse_id(&self.offer, "offer", "enter an offer id (a number)", &mut e).map(OfferId);
        f.affiliate =
            parse_id(&self.affiliate, "affiliate", "enter an affiliate id (a number)", &mut e).map(AffiliateId);
        match self.status.trim() {
            "" => {}
            s if statuses.contains(&s) => f.status = Some(s.to_owned()),
            _ => e.add("status", format!("choose one of: {}", statuses.join(", "))),
        }
        let sub = self.sub.trim();
        if !sub.is_empty() {
            f.sub = Some(sub.to_owned());
        }
        match self.transaction.trim() {
            "" => {}
            t => match affnet_tracking::transaction_id::TransactionId::parse(t) {
                Ok(id) => f.transaction = Some(id.to_hex()),
                Err(_) => e.add("transaction", "enter a transaction id: 32 hexadecimal characters"),
            },
        }
        f.conversion = parse_id(&self.conversion, "conversion", "enter a conversion id (a number)", &mut e)
            .map(affnet_db::ConversionId);
        let adv_sub = self.adv_sub.trim();
        if !adv_sub.is_empty() {
            f.adv_sub = Some(adv_sub.to_owned());
        }
        (f, e)
    }

    /// The query parameters that keep this filter on the pager's links.
    pub fn params(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("offer", self.offer.as_str()),
            ("affiliate", self.affiliate.as_str()),
            ("status", self.status.as_str()),
            ("sub", self.sub.as_str()),
            ("transaction", self.transaction.as_str()),
            ("conversion", self.conversion.as_str()),
            ("adv_sub", self.adv_sub.as_str()),
        ]
    }

    /// The same filter as a query string (for the CSV link).
    pub fn query_string(&self) -> String {
        self.params()
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| format!("{k}={}", super::catalogue::percent_encode(v.trim())))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Why conversion `c` fired no postback, in words (`own`: said to its affiliate).
pub fn no_postback_words(c: &affnet_tracking::conversion::Conversion, why: &NoPostback, own: bool) -> String {
    let (has, your) = if own { ("you have", "your") } else { ("the affiliate has", "the affiliate's") };
    let head = format!("Conversion #{} ({}): no postback fired, because", c.id, c.status.as_str());
    match why {
        NoPostback::NoneEnabled { disabled: 0 } => {
            format!("{head} {has} no postback saved. Save one, then test-fire it to see it arrive; later conversions fire it.")
        }
        NoPostback::NoneEnabled { disabled } => {
            format!("{head} {your} postbacks are all disabled ({disabled}); enable one for later conversions.")
        }
        NoPostback::NoneForThisOffer => format!(
            "{head} {your} postbacks are standard ones for other offers (or goals) and there is no global one: add a global postback, or a standard one for offer #{}.",
            c.offer_id
        ),
        NoPostback::NotForStatus { postbacks, status } => {
            let ids: Vec<String> = postbacks.iter().map(|id| format!("#{id}")).collect();
            format!(
                "{head} {your} postback {} does not fire for {} conversions (each postback fires for the statuses it is set to: approved by default); one that fires for approved conversions fires when this one is approved.",
                ids.join(", "),
                status.as_str()
            )
        }
    }
}

/// For the conversions `one` names (one transaction's, or one conversion, already narrowed to
/// what the viewer may see) that have no postback job at all, why not, in words (`own`: said to
/// the affiliate); `None` when it names no conversion.
pub fn why_no_postbacks(
    conn: &mut DbConn,
    tenant: affnet_db::TenantId,
    one: &Filter,
    own: bool,
) -> Result<Option<Vec<String>>, AppError> {
    let conversions = affnet_tracking::listing::conversions(conn, tenant, one, 20, 0)?;
    if conversions.is_empty() {
        return Ok(None);
    }
    let mut said = Vec::new();
    for row in conversions {
        let of_it = Filter { conversion: Some(row.conversion.id), affiliate: one.affiliate, ..Filter::default() };
        if affnet_tracking::listing::count_jobs(conn, tenant, &of_it)? == 0 {
            let why = affnet_tracking::outbox::why_no_postback(conn, &row.conversion)?;
            said.push(no_postback_words(&row.conversion, &why, own));
        }
    }
    Ok(Some(said))
}

/// The conversion statuses, as filter and form words.
pub fn conversion_statuses() -> Vec<&'static str> {
    ConversionStatus::ALL.iter().map(|s| s.as_str()).collect()
}

/// The postback job states of the delivery log.
pub const JOB_STATES: &[&str] = &["queued", "retry", "sending", "delivered", "failed"];

/// `2.50 USD`.
pub fn money(minor: i64, currency: Currency) -> String {
    Money::new(minor, currency).to_string()
}

/// Names of the offers with these ids (of the tenant), for lists that show names.
pub fn offer_names(
    conn: &mut DbConn,
    tenant: affnet_db::TenantId,
    ids: impl IntoIterator<Item = OfferId>,
) -> Result<BTreeMap<i64, String>, AppError> {
    names_of(ids, |id| id.0, |id| Offer::find(conn, tenant, id).map(|o| o.name))
}

/// Names of the affiliates with these ids (of the tenant), for lists that show names.
pub fn affiliate_names(
    conn: &mut DbConn,
    tenant: affnet_db::TenantId,
    ids: impl IntoIterator<Item = AffiliateId>,
) -> Result<BTreeMap<i64, String>, AppError> {
    names_of(ids, |id| id.0, |id| affnet_offers::Affiliate::find(conn, tenant, id).map(|a| a.name))
}

/// Names of the goals with these ids (of the tenant), for lists that show names.
pub fn goal_names(
    conn: &mut DbConn,
    tenant: affnet_db::TenantId,
    ids: impl IntoIterator<Item = affnet_db::GoalId>,
) -> Result<BTreeMap<i64, String>, AppError> {
    names_of(ids, |id| id.0, |id| affnet_offers::Goal::find(conn, tenant, id).map(|g| g.name))
}

/// Each id's name, looked up once (one gone since: an empty name).
fn names_of<I: Copy>(
    ids: impl IntoIterator<Item = I>,
    key: impl Fn(I) -> i64,
    mut find: impl FnMut(I) -> Result<String, affnet_offers::OffersError>,
) -> Result<BTreeMap<i64, String>, AppError> {
    let mut names = BTreeMap::new();
    for id in ids {
        if let std::collections::btree_map::Entry::Vacant(e) = names.entry(key(id)) {
            e.insert(match find(id) {
                Ok(name) => name,
                Err(affnet_offers::OffersError::NotFound) => String::new(),
                Err(err) => return Err(offers_err(err)),
            });
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_the_networks_midnights_and_to_is_included() {
        let form = FilterForm { from: "2026-01-02".into(), to: "2026-01-02".into(), ..Default::default() };
        let (f, e) = form.filter(&["approved"], Tz::UTC);
        assert!(e.is_empty());
        assert_eq!(f.from, Some(Micros(1_767_312_000 * Micros::SECOND)));
        assert_eq!(f.to, Some(Micros((1_767_312_000 + 86_400) * Micros::SECOND)));
        // A network at UTC-11:00: its 2 January starts at 11:00 UTC.
        let (f, _) = form.filter(&["approved"], Tz::parse("-11:00").unwrap());
        assert_eq!(f.from, Some(Micros((1_767_312_000 + 11 * 3600) * Micros::SECOND)));
        assert_eq!(f.to, Some(Micros((1_767_312_000 + 86_400 + 11 * 3600) * Micros::SECOND)));
        let bad =
            FilterForm { from: "02/01/2026".into(), offer: "x".into(), status: "nope".into(), ..Default::default() };
        let (_, e) = bad.filter(&["approved"], Tz::UTC);
        assert_eq!(bad_date("2026-02-30"), "2026-02-30 is not a day of the calendar: enter a date as YYYY-MM-DD");
        assert_eq!(bad_date("30/02/2026"), "enter a date as YYYY-MM-DD");
        assert!(e.get("from").is_some() && e.get("offer").is_some() && e.get("status").is_some());
    }
}
