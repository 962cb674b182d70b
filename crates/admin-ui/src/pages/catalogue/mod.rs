//! The catalogue pages: advertisers, affiliates, offers (goals, access, payout overrides) for
//! network staff; offers and tracking links for affiliates; offers and integration instructions
//! for advertisers. Forms take money and percentages as decimals and convert them here; every
//! rule about what is valid lives in `affnet-offers`.

pub mod access;
pub mod advertisers;
pub mod affiliates;
pub mod offers;
pub mod portal;

use actix_web::web;
use affnet_db::{Currency, FieldErrors, Money};
use affnet_offers::{Goal, Offer, OffersError, PayoutType, Rate};

use crate::AppError;

/// The catalogue routes (inside the pages scope: session, security headers).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/advertisers", web::get().to(advertisers::list))
        .route("/admin/advertisers", web::post().to(advertisers::create))
        .route("/admin/advertisers/{id}", web::get().to(advertisers::show))
        .route("/admin/advertisers/{id}", web::post().to(advertisers::update))
        .route("/admin/affiliates", web::get().to(affiliates::list))
        .route("/admin/affiliates", web::post().to(affiliates::create))
        .route("/admin/affiliates/{id}", web::get().to(affiliates::show))
        .route("/admin/affiliates/{id}", web::post().to(affiliates::update))
        .route("/admin/affiliates/{id}/status", web::post().to(affiliates::set_status))
        .route("/admin/offers", web::get().to(offers::list))
        .route("/admin/offers", web::post().to(offers::create))
        .route("/admin/offers/new", web::get().to(offers::new))
        .route("/admin/offers/{id}", web::get().to(offers::show))
        .route("/admin/offers/{id}", web::post().to(offers::update))
        .route("/admin/offers/{id}/rotate-token", web::post().to(offers::rotate_token))
        .route("/admin/offers/{id}/goals", web::post().to(offers::create_goal))
        .route("/admin/offers/{id}/access", web::post().to(offers::assign))
        .route("/admin/offers/{id}/overrides", web::post().to(offers::set_override))
        .route("/admin/goals/{id}", web::get().to(offers::show_goal))
        .route("/admin/goals/{id}", web::post().to(offers::update_goal))
        .route("/admin/overrides/{id}/delete", web::post().to(offers::delete_override))
        .route("/admin/access", web::get().to(access::list))
        .route("/admin/access/{id}", web::post().to(access::decide))
        .route("/affiliate/offers", web::get().to(portal::affiliate_offers))
        .route("/affiliate/offers/{id}", web::get().to(portal::affiliate_offer))
        .route("/affiliate/offers/{id}/apply", web::post().to(portal::apply))
        .route("/advertiser/offers", web::get().to(portal::advertiser_offers))
        .route("/advertiser/offers/{id}", web::get().to(portal::advertiser_offer));
}

/// A catalogue refusal as a page error (validation errors are rendered by the handlers, next to
/// their fields, before this is reached).
pub fn offers_err(e: OffersError) -> AppError {
    match e {
        OffersError::Invalid(f) => AppError::Invalid(f),
        OffersError::NotFound => AppError::NotFound,
        OffersError::Db(e) => e.into(),
    }
}

/// Rows per list page.
pub const PER_PAGE: i64 = 50;

/// `?page=N` (1-based) and the offset it means.
pub fn page_offset(page: Option<u32>) -> (u32, i64) {
    let page = page.unwrap_or(1).max(1);
    (page, i64::from(page - 1) * PER_PAGE)
}

/// Previous / next links of a list page, keeping the other query parameters.
pub struct Pager {
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `rows` was loaded with `PER_PAGE + 1` as its limit: one extra row means a next page.
    pub fn new<T>(path: &str, params: &[(&str, &str)], page: u32, rows: &mut Vec<T>) -> Pager {
        let has_next = rows.len() as i64 > PER_PAGE;
        rows.truncate(PER_PAGE as usize);
        let link = |p: u32| {
            let mut q: Vec<String> = params
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k}={}", percent_encode(v)))
                .collect();
            q.push(format!("page={p}"));
            format!("{path}?{}", q.join("&"))
        };
        Pager { prev: (page > 1).then(|| link(page - 1)), next: has_next.then(|| link(page + 1)) }
    }
}

/// Percent-encodes everything but the unreserved characters (RFC 3986), for query values.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A percentage in basis points as a short decimal: 1250 → `12.5`, 1000 → `10`.
pub fn percent_text(bps: i64) -> String {
    let s = Money::new(bps, Currency::USD).decimal();
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A rule in words: `2.50 USD`, `12.5 %`, `1.00 USD + 5 %`.
pub fn rate_label(rate: Rate, currency: Currency) -> String {
    let flat = Money::new(rate.flat, currency).to_string();
    let pct = format!("{} %", percent_text(rate.bps));
    match rate.kind {
        PayoutType::CpaFlat => flat,
        PayoutType::CpaPercent => format!("{pct} of sale"),
        PayoutType::CpaBoth => format!("{flat} + {pct} of sale"),
    }
}

/// What a payout type is called on the pages.
pub fn payout_type_label(kind: &str) -> &'static str {
    match kind {
        "cpa_flat" => "CPA flat amount",
        "cpa_percent" => "CPA % of sale",
        "cpa_both" => "CPA flat + % of sale",
        _ => "",
    }
}

/// The three payout types, as (value, label) for selects.
pub fn payout_types() -> Vec<(&'static str, &'static str)> {
    PayoutType::ALL.iter().map(|t| (t.as_str(), payout_type_label(t.as_str()))).collect()
}

/// Parses a decimal amount of `currency` into minor units; empty means zero. The message goes
/// next to `field`.
pub fn parse_money(value: &str, currency: Currency, field: &str, errors: &mut FieldErrors) -> i64 {
    if value.trim().is_empty() {
        return 0;
    }
    match Money::parse_decimal(value, currency) {
        Ok(m) => m.minor,
        Err(e) => {
            errors.add(field, e.to_string());
            0
        }
    }
}

/// Parses a percentage such as `12.5` into basis points (1250); empty means zero. Values over
/// 100 are passed on for the domain to refuse with its own message.
pub fn parse_percent(value: &str, field: &str, errors: &mut FieldErrors) -> i64 {
    let v = value.trim().trim_end_matches('%').trim();
    if v.is_empty() {
        return 0;
    }
    match Money::parse_decimal(v, Currency::USD) {
        Ok(m) => m.minor,
        Err(affnet_db::MoneyError::Negative) => {
            errors.add(field, "a percentage cannot be negative");
            0
        }
        Err(affnet_db::MoneyError::TooPrecise(_)) => {
            errors.add(field, "use at most two decimal places, e.g. 12.25");
            0
        }
        Err(affnet_db::MoneyError::TooLarge) => {
            errors.add(field, "a percentage must be between 0 and 100 %");
            0
        }
        Err(_) => {
            errors.add(field, "enter a percentage as a plain number such as 12.5");
            0
        }
    }
}

/// The rate fields of a form: `{prefix}_type`, `{prefix}_flat` (decimal), `{prefix}_percent`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RateFields {
    pub kind: String,
    pub flat: String,
    pub percent: String,
}

impl RateFields {
    pub fn from_rate(rate: Rate, currency: Currency) -> Self {
        RateFields {
            kind: rate.kind.as_str().to_owned(),
            flat: Money::new(rate.flat, currency).decimal(),
            percent: percent_text(rate.bps),
        }
    }

    /// The rate, or messages next to `{prefix}_type`, `{prefix}_flat`, `{prefix}_percent`.
    pub fn parse(&self, prefix: &str, currency: Currency, errors: &mut FieldErrors) -> Rate {
        let kind = match self.kind.trim() {
            "" => PayoutType::CpaFlat,
            k => k.parse().unwrap_or_else(|e: String| {
                errors.add(&format!("{prefix}_type"), e);
                PayoutType::CpaFlat
            }),
        };
        Rate {
            kind,
            flat: parse_money(&self.flat, currency, &format!("{prefix}_flat"), errors),
            bps: parse_percent(&self.percent, &format!("{prefix}_percent"), errors),
        }
    }
}

/// Moves the domain's field names onto the form's: `payout_bps` is typed in `payout_percent`.
pub fn form_field_names(errors: FieldErrors, renames: &[(&str, &str)]) -> FieldErrors {
    let mut out = FieldErrors::new();
    for (field, message) in errors.0 {
        let name = renames.iter().find(|(from, _)| *from == field).map_or(field.as_str(), |(_, to)| to);
        out.add(name, message);
    }
    out
}

/// The domain's rate field names and the form's.
pub const RATE_RENAMES: &[(&str, &str)] = &[("payout_bps", "payout_percent"), ("revenue_bps", "revenue_percent")];

/// The advertiser's conversion URL for `offer` (base conversion): what the advertiser's server
/// calls, with their placeholders in braces.
pub fn conversion_url(public_url: &str, offer: &Offer) -> String {
    format!(
        "{public_url}/aff_lsr?transaction_id={{transaction_id}}&offer_id={}&amount={{amount}}&adv_sub={{order_id}}&security_token={}",
        offer.id, offer.security_token
    )
}

/// The advertiser's conversion URL for one goal of `offer`.
pub fn goal_conversion_url(public_url: &str, offer: &Offer, goal: &Goal) -> String {
    format!(
        "{public_url}/aff_goal?a=lsr&goal_id={}&transaction_id={{transaction_id}}&security_token={}",
        goal.id, offer.security_token
    )
}

/// One goal with its advertiser URL and payout in words, for the pages.
pub struct GoalRow {
    pub goal: Goal,
    pub payout: String,
    pub revenue: String,
    pub url: String,
}

pub fn goal_rows(public_url: &str, offer: &Offer, goals: Vec<Goal>) -> Vec<GoalRow> {
    goals
        .into_iter()
        .map(|g| GoalRow {
            payout: rate_label(g.payout_rate(), offer.currency),
            revenue: rate_label(g.revenue_rate(), offer.currency),
            url: goal_conversion_url(public_url, offer, &g),
            goal: g,
        })
        .collect()
}

/// What the advertiser integration section shows: to staff (instructions to pass on) or to the
/// advertiser (instructions for them).
pub struct Integration {
    pub conversion_url: String,
    pub goals: Vec<GoalRow>,
    pub token: String,
    pub require_token: bool,
    pub allowlist: Vec<String>,
    /// The landing URL's query parameter that carries `{transaction_id}` (`tid` in
    /// `…?tid={transaction_id}`), when the offer URL has one.
    pub id_param: Option<String>,
    /// Shown to the advertiser themselves (the page speaks to them).
    pub for_advertiser: bool,
    /// Whether a second conversion with the same order id (`adv_sub`) is refused.
    pub dedupe_adv_sub: bool,
    /// Whether the offer URL carries `{transaction_id}` (without it no conversion can be
    /// reported).
    pub carries_id: bool,
}

impl Integration {
    pub fn new(public_url: &str, offer: &Offer, goals: Vec<Goal>) -> Self {
        Integration {
            conversion_url: conversion_url(public_url, offer),
            goals: goal_rows(public_url, offer, goals),
            token: offer.security_token.clone(),
            require_token: offer.require_token,
            allowlist: offer.allowlist().0.iter().map(ToString::to_string).collect(),
            id_param: transaction_param(&offer.offer_url),
            for_advertiser: false,
            dedupe_adv_sub: offer.dedupe_adv_sub,
            carries_id: offer.offer_url.contains("{transaction_id}"),
        }
    }

    /// The same section, worded for the advertiser.
    pub fn for_advertiser(mut self) -> Self {
        self.for_advertiser = true;
        self
    }
}

/// The name of the query parameter whose value holds `{transaction_id}` in a landing URL.
pub fn transaction_param(offer_url: &str) -> Option<String> {
    let query = offer_url.split_once('?')?.1.split('#').next()?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(_, v)| v.contains("{transaction_id}"))
        .map(|(k, _)| k.to_owned())
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip() {
        let mut e = FieldErrors::new();
        assert_eq!(parse_percent("12.5", "p", &mut e), 1250);
        assert_eq!(parse_percent("100", "p", &mut e), 10_000);
        assert_eq!(parse_percent(" 7 %", "p", &mut e), 700);
        assert!(e.is_empty());
        assert_eq!(percent_text(1250), "12.5");
        assert_eq!(percent_text(1000), "10");
        assert_eq!(percent_text(5), "0.05");
        assert_eq!(percent_text(0), "0");
        parse_percent("-1", "p", &mut e);
        assert_eq!(e.get("p"), Some("a percentage cannot be negative"));
    }

    #[test]
    fn finds_the_parameter_that_carries_the_transaction_id() {
        assert_eq!(
            transaction_param("https://shop.example/land?tid={transaction_id}&s={aff_sub}").as_deref(),
            Some("tid")
        );
        assert_eq!(transaction_param("https://shop.example/?a=1&click={transaction_id}#top").as_deref(), Some("click"));
        assert_eq!(transaction_param("https://shop.example/{transaction_id}"), None);
        assert_eq!(transaction_param("https://shop.example/?a=1"), None);
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(percent_encode("Az09-._~"), "Az09-._~");
    }
}
