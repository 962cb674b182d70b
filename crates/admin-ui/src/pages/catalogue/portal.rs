//! The affiliate and advertiser portals' offer pages. An affiliate sees the offers they may
//! see (never another private offer), applies for approval-required ones, and builds their
//! tracking link; an advertiser sees their own offers, read-only, with the integration
//! instructions.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_db::{AdvertiserId, AffiliateId, FieldErrors, OfferId};
use affnet_offers::access::{visible_offers, AccessStatus};
use affnet_offers::{Goal, Offer, OfferAccess, OfferFilter, OfferStatus, OffersError, PayoutOverride, Visibility};
use askama::Template;

use super::{offers_err, page_offset, percent_encode, rate_label, Integration, Pager, PER_PAGE};
use crate::auth::{AdvertiserUser, AffiliateUser};
use crate::csrf::CsrfForm;
use crate::layout::{render, see_other, Layout};
use crate::{AppError, AppState};

/// The affiliate company of the signed-in affiliate user (403 for a user without one).
fn my_affiliate(me: &AffiliateUser) -> Result<AffiliateId, AppError> {
    me.user.affiliate_id.ok_or(AppError::Forbidden)
}

/// The advertiser company of the signed-in advertiser user (403 for a user without one).
fn my_advertiser(me: &AdvertiserUser) -> Result<AdvertiserId, AppError> {
    me.user.advertiser_id.ok_or(AppError::Forbidden)
}

/// What the affiliate's access to an offer looks like in words.
fn access_label(visibility: Visibility, access: Option<AccessStatus>) -> &'static str {
    match (visibility, access) {
        (_, Some(AccessStatus::Approved)) => "approved",
        (_, Some(AccessStatus::Rejected)) => "rejected",
        (_, Some(AccessStatus::Pending)) => "pending",
        (Visibility::Public, None) => "open",
        (_, None) => "apply",
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    page: Option<u32>,
}

pub struct AffiliateOfferRow {
    offer: Offer,
    payout: String,
    access: &'static str,
}

#[derive(Template)]
#[template(path = "affiliate/offers.html")]
struct AffiliateOffersPage {
    l: Layout,
    rows: Vec<AffiliateOfferRow>,
    query: ListQuery,
    pager: Pager,
}

/// `GET /affiliate/offers`
pub async fn affiliate_offers(
    state: web::Data<AppState>,
    me: AffiliateUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let affiliate = my_affiliate(&me)?;
    let query = q.into_inner();
    let (page, offset) = page_offset(query.page);
    let (tenant, search) = (me.tenant.id, query.q.clone());
    let mut rows = state
        .db(move |c| {
            let list = visible_offers(c, tenant, affiliate, Some(&search), PER_PAGE + 1, offset).map_err(offers_err)?;
            let ids: Vec<_> = list.iter().map(|v| v.offer.id).collect();
            let rates = PayoutOverride::of_affiliate(c, tenant, affiliate, &ids).map_err(offers_err)?;
            let mut rows = Vec::with_capacity(list.len());
            for v in list {
                let rate = rates.payout(&v.offer, None);
                rows.push(AffiliateOfferRow {
                    payout: rate_label(rate, v.offer.currency),
                    access: access_label(v.offer.visibility, v.access.as_ref().map(|a| a.status)),
                    offer: v.offer,
                });
            }
            Ok(rows)
        })
        .await?;
    let pager = Pager::new("/affiliate/offers", &[("q", &query.q)], page, &mut rows);
    let page = AffiliateOffersPage { l: Layout::for_user(&me, "Offers", "/affiliate/offers"), rows, query, pager };
    render(StatusCode::OK, &page)
}

/// The optional values of the tracking-link builder (`GET` form on the offer page).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct LinkQuery {
    aff_sub: String,
    aff_sub2: String,
    aff_sub3: String,
    aff_sub4: String,
    aff_sub5: String,
    source: String,
    /// The affiliate's own click id, returned as `{aff_click_id}`.
    aff_click_id: String,
}

/// Longest sub id the click endpoint takes.
const MAX_SUB: usize = 500;

impl LinkQuery {
    fn pairs(&self) -> [(&'static str, &str); 7] {
        [
            ("aff_sub", &self.aff_sub),
            ("aff_sub2", &self.aff_sub2),
            ("aff_sub3", &self.aff_sub3),
            ("aff_sub4", &self.aff_sub4),
            ("aff_sub5", &self.aff_sub5),
            ("source", &self.source),
            ("aff_click_id", &self.aff_click_id),
        ]
    }

    fn errors(&self) -> FieldErrors {
        let mut e = FieldErrors::new();
        for (name, value) in self.pairs() {
            if value.chars().count() > MAX_SUB {
                e.add(name, format!("use at most {MAX_SUB} characters"));
            }
        }
        e
    }
}

/// The affiliate's tracking link for `offer`, with the non-empty sub values percent-encoded,
/// except braces: a traffic source's or tracker's token such as `{clickid}` stays as typed, so
/// that the source can replace it when it serves the link (as on HasOffers and Everflow; encoded
/// as `%7Bclickid%7D` it was never replaced).
pub fn tracking_link(public_url: &str, offer: OfferId, affiliate: AffiliateId, q: &LinkQuery) -> String {
    let mut link = format!("{public_url}/aff_c?offer_id={offer}&aff_id={affiliate}");
    for (name, value) in q.pairs() {
        if !value.is_empty() {
            let encoded = percent_encode(value).replace("%7B", "{").replace("%7D", "}");
            link.push_str(&format!("&{name}={encoded}"));
        }
    }
    link
}

pub struct GoalPayout {
    goal: Goal,
    payout: String,
}

#[derive(Template)]
#[template(path = "affiliate/offer.html")]
struct AffiliateOfferPage {
    l: Layout,
    offer: Offer,
    payout: String,
    goals: Vec<GoalPayout>,
    access: Option<OfferAccess>,
    can_run: bool,
    can_apply: bool,
    company_active: bool,
    link: Option<String>,
    link_query: LinkQuery,
    link_errors: FieldErrors,
    message: String,
    apply_errors: FieldErrors,
}

async fn affiliate_offer_page(
    state: &AppState,
    me: &AffiliateUser,
    id: OfferId,
    link_query: LinkQuery,
    message: String,
    apply_errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let affiliate = my_affiliate(me)?;
    let tenant = me.tenant.id;
    let (offer, access, company, rate, goals) = state
        .db(move |c| {
            let offer = Offer::find(c, tenant, id).map_err(offers_err)?;
            let access = OfferAccess::find(c, tenant, id, affiliate).map_err(offers_err)?;
            let company = affnet_offers::Affiliate::find(c, tenant, affiliate).map_err(offers_err)?;
            let rates = PayoutOverride::of_affiliate(c, tenant, affiliate, &[id]).map_err(offers_err)?;
            let rate = rates.payout(&offer, None);
            let mut goals = Vec::new();
            for g in Goal::list_for_offer(c, tenant, id).map_err(offers_err)? {
                let rule = rates.payout(&offer, Some(&g));
                goals.push(GoalPayout { payout: rate_label(rule, offer.currency), goal: g });
            }
            Ok((offer, access, company, rate, goals))
        })
        .await?;
    let decision = access.as_ref().map(|a| a.status);
    // Private offers exist for an affiliate only once the network approved them; archived
    // offers are gone for affiliates.
    if (offer.visibility == Visibility::Private && decision != Some(AccessStatus::Approved))
        || offer.status == OfferStatus::Archived
    {
        return Err(AppError::NotFound);
    }
    let can_run = affnet_offers::access::allowed(offer.visibility, decision);
    let link_errors = link_query.errors();
    let link = (can_run && link_errors.is_empty())
        .then(|| tracking_link(&state.tracking_base(&me.tenant), offer.id, affiliate, &link_query));
    let status = if apply_errors.is_empty() && link_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = AffiliateOfferPage {
        l: Layout::for_user(me, offer.name.clone(), "/affiliate/offers"),
        payout: rate_label(rate, offer.currency),
        goals: goals.into_iter().filter(|g| g.goal.status == affnet_offers::GoalStatus::Active).collect(),
        can_apply: offer.visibility == Visibility::ApprovalRequired
            && decision.is_none()
            && offer.status == OfferStatus::Active,
        access,
        can_run,
        company_active: company.status == affnet_offers::AffiliateStatus::Active,
        link,
        link_query,
        link_errors,
        message,
        apply_errors,
        offer,
    };
    render(status, &page)
}

/// `GET /affiliate/offers/{id}`: details and the tracking-link builder.
pub async fn affiliate_offer(
    state: web::Data<AppState>,
    me: AffiliateUser,
    id: web::Path<i64>,
    q: web::Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    affiliate_offer_page(&state, &me, OfferId(id.into_inner()), q.into_inner(), String::new(), FieldErrors::new()).await
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ApplyForm {
    #[serde(default)]
    message: String,
}

/// `POST /affiliate/offers/{id}/apply`: asks for an approval-required offer.
pub async fn apply(
    state: web::Data<AppState>,
    me: AffiliateUser,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<ApplyForm>,
) -> Result<HttpResponse, AppError> {
    let affiliate = my_affiliate(&me)?;
    let (tenant, now, id, message) = (me.tenant.id, state.clock.now(), OfferId(id.into_inner()), form.message.clone());
    match state.db(move |c| Ok(OfferAccess::apply(c, tenant, id, affiliate, &message, now))).await? {
        Ok(_) => {
            tracing::info!(tenant = %me.tenant.slug, affiliate = %affiliate, offer = %id, "offer access requested");
            me.session.flash("success", "Application sent. You will see the tracking link here once it is approved.");
            Ok(see_other(&format!("/affiliate/offers/{id}")))
        }
        Err(OffersError::Invalid(errors)) => {
            affiliate_offer_page(&state, &me, id, LinkQuery::default(), form.message, errors).await
        }
        Err(e) => Err(offers_err(e)),
    }
}

// ---- advertiser ----

#[derive(Template)]
#[template(path = "advertiser/offers.html")]
struct AdvertiserOffersPage {
    l: Layout,
    offers: Vec<Offer>,
}

/// `GET /advertiser/offers`: the advertiser's own offers.
pub async fn advertiser_offers(state: web::Data<AppState>, me: AdvertiserUser) -> Result<HttpResponse, AppError> {
    let advertiser = my_advertiser(&me)?;
    let tenant = me.tenant.id;
    let filter = OfferFilter { advertiser_id: Some(advertiser), ..OfferFilter::default() };
    let offers = state.db(move |c| Offer::list(c, tenant, &filter, 1000, 0).map_err(offers_err)).await?;
    render(StatusCode::OK, &AdvertiserOffersPage { l: Layout::for_user(&me, "Offers", "/advertiser/offers"), offers })
}

#[derive(Template)]
#[template(path = "advertiser/offer.html")]
struct AdvertiserOfferPage {
    l: Layout,
    offer: Offer,
    revenue: String,
    integration: Integration,
}

/// `GET /advertiser/offers/{id}`: another advertiser's offer is not found.
pub async fn advertiser_offer(
    state: web::Data<AppState>,
    me: AdvertiserUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let advertiser = my_advertiser(&me)?;
    let (tenant, id) = (me.tenant.id, OfferId(id.into_inner()));
    let (offer, goals) = state
        .db(move |c| {
            let offer = Offer::find(c, tenant, id).map_err(offers_err)?;
            if offer.advertiser_id != advertiser {
                return Err(AppError::NotFound);
            }
            let goals = Goal::list_for_offer(c, tenant, id).map_err(offers_err)?;
            Ok((offer, goals))
        })
        .await?;
    let page = AdvertiserOfferPage {
        l: Layout::for_user(&me, offer.name.clone(), "/advertiser/offers"),
        revenue: rate_label(offer.revenue_rate(), offer.currency),
        integration: Integration::new(&state.tracking_base(&me.tenant), &offer, goals).for_advertiser(),
        offer,
    };
    render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_carries_encoded_subs() {
        let q = LinkQuery {
            aff_sub: "fb ads".into(),
            source: "a&b".into(),
            aff_click_id: "{clickid}".into(),
            ..LinkQuery::default()
        };
        assert_eq!(
            tracking_link("https://t.example", OfferId(7), AffiliateId(3), &q),
            "https://t.example/aff_c?offer_id=7&aff_id=3&aff_sub=fb%20ads&source=a%26b&aff_click_id={clickid}"
        );
    }
}
