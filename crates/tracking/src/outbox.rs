//! The postback outbox: when a conversion is recorded (or its status changes), one job per
//! affiliate postback to fire is written in the same transaction, with its URL and body already
//! expanded. The delivery worker fires them; nothing is lost if a node dies in between.
//!
//! Which postbacks fire: the affiliate's *standard* postbacks for the conversion's offer (and
//! goal, or any goal), if it has any; otherwise its *global* ones. A postback fires for the
//! statuses it asks for (approved by default); when a conversion that was never approved is
//! approved later (a pending one after review), the postbacks that fire for approved
//! conversions fire then; any other status change fires only the postbacks that ask for them.

use diesel::prelude::*;

use affnet_db::schema::{postback_jobs, postbacks};

pub use crate::postback::Postback;
use affnet_db::{AffiliateId, DbConn, GoalId, Micros, Money, OfferId, TenantId};
use affnet_offers::Offer;

use crate::click::Click;
use crate::conversion::Conversion;
use crate::template::{expand, Encoding};

/// What caused a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Created,
    /// `first_approval`: the conversion is approved now and never was before (so the
    /// affiliate has not been told of an approved conversion yet).
    StatusChanged {
        first_approval: bool,
    },
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Created => "conversion",
            Event::StatusChanged { .. } => "status_change",
        }
    }
}

/// The enabled postbacks of `affiliate`.
pub fn enabled_postbacks(conn: &mut DbConn, tenant: TenantId, affiliate: AffiliateId) -> QueryResult<Vec<Postback>> {
    postbacks::table
        .filter(postbacks::tenant_id.eq(tenant))
        .filter(postbacks::affiliate_id.eq(affiliate))
        .filter(postbacks::enabled.eq(true))
        .order(postbacks::id.asc())
        .select(Postback::as_select())
        .load(conn)
}

/// Of an affiliate's enabled postbacks, those that apply to a conversion of `offer` / `goal`:
/// the offer's standard ones if any matches, else the global ones.
pub fn applicable(all: &[Postback], offer: OfferId, goal: Option<GoalId>) -> Vec<&Postback> {
    let goal_matches = |p: &Postback| p.goal_id.is_none() || p.goal_id == goal;
    let standard: Vec<&Postback> = all.iter().filter(|p| p.offer_id == Some(offer) && goal_matches(p)).collect();
    if !standard.is_empty() {
        return standard;
    }
    all.iter().filter(|p| p.offer_id.is_none() && goal_matches(p)).collect()
}

/// Why a conversion has no postback job: what a person asks when a postback never came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoPostback {
    /// The affiliate has no enabled postback (`disabled`: how many it has turned off).
    NoneEnabled { disabled: i64 },
    /// Its enabled postbacks are all standard ones for other offers or goals.
    NoneForThisOffer,
    /// The postbacks that apply (`postbacks`, their ids) do not fire for the conversion's status
    /// (a pending conversion, and postbacks that fire for approved ones: they fire when it is
    /// approved).
    NotForStatus { postbacks: Vec<i64>, status: affnet_offers::ConversionStatus },
}

/// Why `conversion` has no postback job, from its affiliate's postbacks as they are now (they
/// may have changed since it was recorded).
pub fn why_no_postback(conn: &mut DbConn, conversion: &Conversion) -> QueryResult<NoPostback> {
    let all = enabled_postbacks(conn, conversion.tenant_id, conversion.affiliate_id)?;
    if all.is_empty() {
        let disabled = postbacks::table
            .filter(postbacks::tenant_id.eq(conversion.tenant_id))
            .filter(postbacks::affiliate_id.eq(conversion.affiliate_id))
            .count()
            .get_result(conn)?;
        return Ok(NoPostback::NoneEnabled { disabled });
    }
    let targets = applicable(&all, conversion.offer_id, conversion.goal_id);
    if targets.is_empty() {
        return Ok(NoPostback::NoneForThisOffer);
    }
    Ok(NoPostback::NotForStatus { postbacks: targets.iter().map(|p| p.id).collect(), status: conversion.status })
}

/// The value of one postback macro for a conversion (DESIGN.md formats: money as decimals with
/// the currency's minor digits, missing values empty, `{ip}` the click's address).
pub fn macro_value(name: &str, conversion: &Conversion, click: &Click, offer: &Offer) -> Option<String> {
    let money = |minor: i64| Money::new(minor, conversion.currency).decimal();
    Some(match name {
        "transaction_id" => click.id.clone(),
        "aff_click_id" => click.aff_click_id.clone(),
        "offer_id" => offer.id.to_string(),
        "offer_name" => offer.name.clone(),
        "affiliate_id" | "aff_id" => click.affiliate_id.to_string(),
        "aff_sub" | "aff_sub1" => click.aff_sub.clone(),
        "aff_sub2" => click.aff_sub2.clone(),
        "aff_sub3" => click.aff_sub3.clone(),
        "aff_sub4" => click.aff_sub4.clone(),
        "aff_sub5" => click.aff_sub5.clone(),
        "source" => click.source.clone(),
        "payout" => money(conversion.payout),
        "amount" | "sale_amount" => conversion.sale_amount.map(money).unwrap_or_default(),
        "currency" => conversion.currency.code().to_owned(),
        "goal_id" => conversion.goal_id.map(|g| g.to_string()).unwrap_or_default(),
        "conversion_id" => conversion.id.to_string(),
        "status" => conversion.status.as_str().to_owned(),
        "adv_sub" => conversion.adv_sub.clone(),
        "ip" => click.ip.clone(),
        "datetime" => conversion.created_at.format_utc(),
        "unix_timestamp" => conversion.created_at.unix_seconds().to_string(),
        _ => return None,
    })
}

/// The URL and body `postback` sends for `conversion`: its macros replaced by the recorded
/// values, percent-encoded (JSON-escaped in a JSON body).
pub fn request_of(postback: &Postback, conversion: &Conversion, click: &Click, offer: &Offer) -> (String, String) {
    let lookup = |name: &str| macro_value(name, conversion, click, offer);
    let body_encoding = if postback.content_type.contains("json") { Encoding::Json } else { Encoding::Url };
    (expand(&postback.url, Encoding::Url, lookup), expand(&postback.body, body_encoding, lookup))
}

/// Writes the jobs for `conversion` (inside the caller's transaction). Returns how many.
pub fn enqueue(
    conn: &mut DbConn,
    conversion: &Conversion,
    click: &Click,
    offer: &Offer,
    event: Event,
    now: Micros,
) -> QueryResult<usize> {
    let all = enabled_postbacks(conn, conversion.tenant_id, conversion.affiliate_id)?;
    enqueue_for(conn, &all, conversion, click, offer, event, now)
}

/// [`enqueue`] with the affiliate's enabled postbacks already loaded.
pub fn enqueue_for(
    conn: &mut DbConn,
    all: &[Postback],
    conversion: &Conversion,
    click: &Click,
    offer: &Offer,
    event: Event,
    now: Micros,
) -> QueryResult<usize> {
    let targets = applicable(all, conversion.offer_id, conversion.goal_id);
    let mut n = 0;
    for p in targets.into_iter().filter(|p| p.fires_for(conversion.status, event)) {
        let (url, body) = request_of(p, conversion, click, offer);
        diesel::insert_into(postback_jobs::table)
            .values((
                postback_jobs::tenant_id.eq(conversion.tenant_id),
                postback_jobs::conversion_id.eq(conversion.id),
                postback_jobs::postback_id.eq(Some(p.id)),
                postback_jobs::affiliate_id.eq(conversion.affiliate_id),
                postback_jobs::event.eq(event.as_str()),
                postback_jobs::method.eq(&p.method),
                postback_jobs::url.eq(url),
                postback_jobs::body.eq(body),
                postback_jobs::content_type.eq(&p.content_type),
                postback_jobs::state.eq("queued"),
                postback_jobs::next_attempt_at.eq(now),
                postback_jobs::created_at.eq(now),
                postback_jobs::updated_at.eq(now),
            ))
            .execute(conn)?;
        n += 1;
    }
    Ok(n)
}
