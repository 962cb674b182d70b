//! `/api/v1/offers`: staff manage offers; advertiser users read their own company's offers
//! (with the security token they integrate with); affiliate users read the offers they may run
//! or apply to, without the advertiser's URL, token or the network's revenue.

use super::ApiBody;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_db::{AdvertiserId, Currency, DbConn, OfferId, TenantId};
use affnet_offers::listing::affiliate_may_see;
use affnet_offers::payout_override::AffiliateRates;
use affnet_offers::{
    AccessStatus, CapUnit, ConversionStatus, Offer, OfferAccess, OfferFilter, OfferInput, OfferStatus, OverCap,
    PayoutOverride, Rate, Visibility,
};

use super::{parse_param, require_staff, Page, Pagination, Viewer};
use crate::auth::ApiUser;
use crate::{ApiError, AppError, AppState};

/// An offer as network staff and the advertiser see it.
#[derive(serde::Serialize)]
pub struct OfferJson {
    id: OfferId,
    advertiser_id: AdvertiserId,
    name: String,
    description: String,
    offer_url: String,
    preview_url: String,
    fallback_url: String,
    status: OfferStatus,
    visibility: Visibility,
    currency: Currency,
    /// What affiliates earn: staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    payout: Option<Rate>,
    revenue: Rate,
    conversion_status: ConversionStatus,
    min_click_age_secs: i64,
    max_click_age_secs: i64,
    daily_cap: Option<i64>,
    total_cap: Option<i64>,
    cap_unit: CapUnit,
    over_cap: OverCap,
    dedupe_adv_sub: bool,
    one_per_click: bool,
    require_token: bool,
    security_token: String,
    ip_allowlist: String,
    created_at: String,
    updated_at: String,
}

impl OfferJson {
    fn new(o: Offer, viewer: Viewer) -> Self {
        OfferJson {
            id: o.id,
            advertiser_id: o.advertiser_id,
            payout: (viewer == Viewer::Staff).then(|| o.payout_rate()),
            revenue: o.revenue_rate(),
            name: o.name,
            description: o.description,
            offer_url: o.offer_url,
            preview_url: o.preview_url,
            fallback_url: o.fallback_url,
            status: o.status,
            visibility: o.visibility,
            currency: o.currency,
            conversion_status: o.conversion_status,
            min_click_age_secs: o.min_click_age_secs,
            max_click_age_secs: o.max_click_age_secs,
            daily_cap: o.daily_cap,
            total_cap: o.total_cap,
            cap_unit: o.cap_unit,
            over_cap: o.over_cap,
            dedupe_adv_sub: o.dedupe_adv_sub,
            one_per_click: o.one_per_click,
            require_token: o.require_token,
            security_token: o.security_token,
            ip_allowlist: o.ip_allowlist,
            created_at: o.created_at.rfc3339(),
            updated_at: o.updated_at.rfc3339(),
        }
    }
}

/// An offer as an affiliate sees it: what it earns and how to send traffic, nothing of the
/// advertiser's side.
#[derive(serde::Serialize)]
pub struct AffiliateOfferJson {
    id: OfferId,
    name: String,
    description: String,
    preview_url: String,
    status: OfferStatus,
    visibility: Visibility,
    currency: Currency,
    payout: Rate,
    min_click_age_secs: i64,
    max_click_age_secs: i64,
    daily_cap: Option<i64>,
    total_cap: Option<i64>,
    cap_unit: CapUnit,
    /// The network's decision on this affiliate's access, if any.
    access: Option<AccessStatus>,
    /// Whether the affiliate may send traffic to the offer now.
    can_run: bool,
    /// The affiliate's tracking link, when it may run the offer.
    tracking_url: Option<String>,
    created_at: String,
    updated_at: String,
}

impl AffiliateOfferJson {
    /// The offer as `affiliate` reads it, with what it earns on it (`rates`: its overrides).
    fn new(
        o: Offer,
        affiliate: affnet_db::AffiliateId,
        access: Option<AccessStatus>,
        rates: &AffiliateRates,
        public_url: &str,
    ) -> Self {
        let can_run = o.status == OfferStatus::Active && affnet_offers::access::allowed(o.visibility, access);
        AffiliateOfferJson {
            id: o.id,
            payout: rates.payout(&o, None),
            tracking_url: can_run.then(|| format!("{public_url}/aff_c?offer_id={}&aff_id={affiliate}", o.id)),
            name: o.name,
            description: o.description,
            preview_url: o.preview_url,
            status: o.status,
            visibility: o.visibility,
            currency: o.currency,
            min_click_age_secs: o.min_click_age_secs,
            max_click_age_secs: o.max_click_age_secs,
            daily_cap: o.daily_cap,
            total_cap: o.total_cap,
            cap_unit: o.cap_unit,
            access,
            can_run,
            created_at: o.created_at.rfc3339(),
            updated_at: o.updated_at.rfc3339(),
        }
    }
}

/// The offer `id` if `viewer` may see it, with the affiliate's stored decision (affiliates
/// only); otherwise not found, so that nobody learns an offer they may not see exists.
pub(crate) fn visible_offer(
    c: &mut DbConn,
    tenant: TenantId,
    viewer: Viewer,
    id: OfferId,
) -> Result<(Offer, Option<AccessStatus>), AppError> {
    let offer = Offer::find(c, tenant, id)?;
    match viewer {
        Viewer::Staff => Ok((offer, None)),
        Viewer::Advertiser(a) if offer.advertiser_id == a => Ok((offer, None)),
        Viewer::Advertiser(_) => Err(AppError::NotFound),
        Viewer::Affiliate(f) => {
            let decision = OfferAccess::find(c, tenant, offer.id, f)?.map(|a| a.status);
            if affiliate_may_see(offer.status, offer.visibility, decision) {
                Ok((offer, decision))
            } else {
                Err(AppError::NotFound)
            }
        }
    }
}

/// The offer as `viewer` reads it (an affiliate: with its access, its payout from `rates` and
/// its tracking link on `public_url`).
fn render(
    offer: Offer,
    viewer: Viewer,
    access: Option<AccessStatus>,
    rates: Option<&AffiliateRates>,
    public_url: &str,
) -> serde_json::Value {
    let v = match viewer {
        Viewer::Affiliate(f) => {
            let none = AffiliateRates::default();
            serde_json::to_value(AffiliateOfferJson::new(offer, f, access, rates.unwrap_or(&none), public_url))
        }
        _ => serde_json::to_value(OfferJson::new(offer, viewer)),
    };
    v.unwrap_or_default()
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    search: Option<String>,
    status: Option<String>,
    visibility: Option<String>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    advertiser_id: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    page: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    per_page: Option<i64>,
}

/// `GET /api/v1/offers?search=&status=&visibility=&advertiser_id=&page=&per_page=`: what the
/// key's user may see, newest first.
pub async fn list(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&me)?;
    let q = q.read()?;
    let (limit, offset, page) = Pagination { page: q.page, per_page: q.per_page }.limit_offset()?;
    let mut filter = OfferFilter {
        search: q.search,
        status: parse_param(q.status.as_deref(), "status")?,
        advertiser_id: q.advertiser_id.map(AdvertiserId),
        visibility: parse_param(q.visibility.as_deref(), "visibility")?,
    };
    let tenant = me.user.tenant_id;
    let public_url = state.web.public_url.clone();
    let (data, total) = state
        .db(move |c| match viewer {
            Viewer::Staff | Viewer::Advertiser(_) => {
                if let Viewer::Advertiser(own) = viewer {
                    if filter.advertiser_id.is_some_and(|a| a != own) {
                        return Ok((Vec::new(), 0));
                    }
                    filter.advertiser_id = Some(own);
                }
                let rows = Offer::list(c, tenant, &filter, limit, offset)?;
                let total = Offer::count(c, tenant, &filter)?;
                Ok((rows.into_iter().map(|o| render(o, viewer, None, None, &public_url)).collect(), total))
            }
            Viewer::Affiliate(f) => {
                let public_url = network_tracking_base(c, tenant, &public_url)?;
                filter.advertiser_id = None;
                let rows = Offer::list_visible_to(c, tenant, f, &filter, limit, offset)?;
                let total = Offer::count_visible_to(c, tenant, f, &filter)?;
                let ids: Vec<OfferId> = rows.iter().map(|o| o.id).collect();
                let decisions = OfferAccess::decisions(c, tenant, f, &ids)?;
                let rates = PayoutOverride::of_affiliate(c, tenant, f, &ids)?;
                let data = rows
                    .into_iter()
                    .map(|o| {
                        let d = decisions.iter().find(|(id, _)| *id == o.id).map(|(_, s)| *s);
                        render(o, viewer, d, Some(&rates), &public_url)
                    })
                    .collect();
                Ok((data, total))
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page { data, page, per_page: limit, total }))
}

/// `GET /api/v1/offers/{id}`: 404 when the key's user may not see it.
pub async fn get(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&me)?;
    let id = OfferId(id.into_inner());
    let tenant = me.user.tenant_id;
    let public_url = state.web.public_url.clone();
    let (offer, access, rates, base) = state
        .db(move |c| {
            let (offer, access) = visible_offer(c, tenant, viewer, id)?;
            // Only an affiliate's view has its payout and a tracking link.
            let (rates, base) = match viewer {
                Viewer::Affiliate(f) => (
                    Some(PayoutOverride::of_affiliate(c, tenant, f, &[offer.id])?),
                    network_tracking_base(c, tenant, &public_url)?,
                ),
                _ => (None, public_url),
            };
            Ok((offer, access, rates, base))
        })
        .await?;
    Ok(HttpResponse::Ok().json(render(offer, viewer, access, rates.as_ref(), &base)))
}

/// `POST /api/v1/offers` (staff): 201 with the offer (and its new security token), or 422.
pub async fn create(
    state: web::Data<AppState>,
    me: ApiUser,
    body: ApiBody<OfferInput>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let input = body.read()?;
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let offer = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let offer = Offer::create(c, tenant, &input, now)?;
        log.add(Entity::Offer, offer.id, "create", crate::audit::offer_created(&offer));
        Ok(offer)
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, offer = %offer.id, "offer created through the API");
    Ok(HttpResponse::Created().json(OfferJson::new(offer, Viewer::Staff)))
}

/// `PUT /api/v1/offers/{id}` (staff): replaces the editable fields (the whole body, as for
/// create); the security token is kept.
pub async fn update(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<OfferInput>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    save(state, me, OfferId(id.into_inner()), super::Edit::Whole(body.read()?)).await
}

/// `PATCH /api/v1/offers/{id}`: changes only the fields the body names ([`super::merge_patch`]),
/// then saves as the `PUT` does (same checks, audit and answer).
pub async fn patch(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<super::PatchBody>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    save(state, me, OfferId(id.into_inner()), super::Edit::Patch(body.read()?)).await
}

/// Saves a `PUT` or `PATCH` of an offer, read and written in one locked change.
async fn save(
    state: web::Data<AppState>,
    me: ApiUser,
    id: OfferId,
    edit: super::Edit<OfferInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let offer = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        super::locked_change(c, "offers", tenant, id.0, |c| {
            let before = Offer::find(c, tenant, id)?;
            let input = edit.input(OfferJson::new(before.clone(), Viewer::Staff), "OfferInput")?;
            let offer = Offer::update(c, tenant, id, &input, now)?;
            log.add(Entity::Offer, offer.id, "update", crate::audit::offer_changes(&before, &offer));
            Ok(offer)
        })
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, offer = %offer.id, "offer updated through the API");
    Ok(HttpResponse::Ok().json(OfferJson::new(offer, Viewer::Staff)))
}

/// `POST /api/v1/offers/{id}/rotate-token` (staff): a new security token; the old one stops
/// working at once. Answers with the offer, carrying the new token.
pub async fn rotate_token(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let id = OfferId(id.into_inner());
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let offer = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let offer = Offer::rotate_token(c, tenant, id, now)?;
        log.add(Entity::Offer, offer.id, "rotate token", crate::audit::TOKEN_ROTATED.to_owned());
        Ok(offer)
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, offer = %offer.id, "offer security token rotated through the API");
    Ok(HttpResponse::Ok().json(OfferJson::new(offer, Viewer::Staff)))
}

/// What the network's tracking links start with (its tracking domain, if it has one).
fn network_tracking_base(c: &mut DbConn, tenant: TenantId, public_url: &str) -> Result<String, AppError> {
    let network = affnet_accounts::Tenant::find(c, tenant)?;
    Ok(crate::state::tracking_base(public_url, network.tracking_domain.as_deref()))
}
