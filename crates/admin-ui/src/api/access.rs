//! `/api/v1/offer-access` and `/api/v1/offers/{id}/apply`: affiliates apply to run
//! approval-required offers; staff approve, reject, or assign (private offers too).

use super::ApiBody;
use actix_web::{web, HttpResponse};
use affnet_db::{AffiliateId, FieldErrors, OfferId, UserId};
use affnet_offers::{AccessStatus, Decision, OfferAccess};

use super::offers::visible_offer;
use super::{parse_param, require_staff, Page, Pagination, Viewer};
use crate::auth::ApiUser;
use crate::{ApiError, AppError, AppState};

#[derive(serde::Serialize)]
pub struct AccessJson {
    id: i64,
    offer_id: OfferId,
    affiliate_id: AffiliateId,
    status: AccessStatus,
    message: String,
    note: String,
    requested_at: String,
    decided_at: Option<String>,
    decided_by: Option<UserId>,
}

impl From<OfferAccess> for AccessJson {
    fn from(a: OfferAccess) -> Self {
        AccessJson {
            id: a.id,
            offer_id: a.offer_id,
            affiliate_id: a.affiliate_id,
            status: a.status,
            message: a.message,
            note: a.note,
            requested_at: a.requested_at.rfc3339(),
            decided_at: a.decided_at.map(|t| t.rfc3339()),
            decided_by: a.decided_by,
        }
    }
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    offer_id: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    affiliate_id: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    page: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    per_page: Option<i64>,
}

/// `GET /api/v1/offer-access?status=&offer_id=&affiliate_id=&page=&per_page=`: staff see every
/// row of the network, an affiliate user only its company's.
pub async fn list(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&me)?;
    let q = q.read()?;
    let status = parse_param::<AccessStatus>(q.status.as_deref(), "status")?;
    let (limit, offset, page) = Pagination { page: q.page, per_page: q.per_page }.limit_offset()?;
    let offer = q.offer_id.map(OfferId);
    let mut affiliate = q.affiliate_id.map(AffiliateId);
    match viewer {
        Viewer::Staff => {}
        Viewer::Affiliate(own) => {
            if affiliate.is_some_and(|a| a != own) {
                return Ok(HttpResponse::Ok().json(Page::<AccessJson> {
                    data: Vec::new(),
                    page,
                    per_page: limit,
                    total: 0,
                }));
            }
            affiliate = Some(own);
        }
        Viewer::Advertiser(_) => return Err(AppError::Forbidden.into()),
    }
    let tenant = me.user.tenant_id;
    let (rows, total) = state
        .db(move |c| {
            Ok((
                OfferAccess::list(c, tenant, status, offer, affiliate, limit, offset)?,
                OfferAccess::count(c, tenant, status, offer, affiliate)?,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        data: rows.into_iter().map(AccessJson::from).collect(),
        page,
        per_page: limit,
        total,
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    /// Why the network should approve (shown to staff).
    #[serde(default)]
    message: String,
}

/// `POST /api/v1/offers/{id}/apply` (affiliate users): asks to run an approval-required offer;
/// 201 with the pending row. An offer the affiliate may not see (private without access, not
/// active) is not found; a public or already applied-for offer is a 422 on `offer_id`.
pub async fn apply(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<ApplyBody>,
) -> Result<HttpResponse, ApiError> {
    let Viewer::Affiliate(affiliate) = Viewer::of(&me)? else {
        return Err(AppError::Forbidden.into());
    };
    let offer = OfferId(id.into_inner());
    let message = body.read()?.message;
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let row = state
        .db(move |c| {
            // An offer the affiliate may not see (private, paused, rejected) is not found, never
            // described.
            visible_offer(c, tenant, Viewer::Affiliate(affiliate), offer)?;
            Ok(OfferAccess::apply(c, tenant, offer, affiliate, &message, now)?)
        })
        .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, offer = %offer, affiliate = %affiliate, "offer access applied for through the API");
    Ok(HttpResponse::Created().json(AccessJson::from(row)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    offer_id: OfferId,
    affiliate_id: AffiliateId,
    /// `approved` or `rejected`.
    status: String,
    /// Shown to the affiliate.
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/offer-access/decide` (staff): approves or rejects an application, or assigns
/// any offer (private ones too) to an affiliate. 200 with the row.
pub async fn decide(
    state: web::Data<AppState>,
    me: ApiUser,
    body: ApiBody<DecideBody>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let body = body.read()?;
    let status = parse_param::<AccessStatus>(Some(&body.status), "status")?
        .ok_or_else(|| ApiError(AppError::Invalid(FieldErrors::single("status", "this field is required"))))?;
    let (tenant, now, by) = (me.user.tenant_id, state.clock.now(), me.user.id);
    let (offer, affiliate) = (body.offer_id, body.affiliate_id);
    let row = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let decision = Decision { status, note: &body.note, by };
        let row = OfferAccess::decide(c, tenant, offer, affiliate, &decision, now)?;
        let summary = format!("access of affiliate #{affiliate}: {status}");
        log.add(affnet_accounts::audit::Entity::Offer, offer, "access", summary);
        Ok(row)
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %by, offer = %offer, affiliate = %affiliate, status = %status, "offer access decided through the API");
    crate::pages::signup::notify_access_decision(&state, tenant, offer, affiliate, status).await;
    Ok(HttpResponse::Ok().json(AccessJson::from(row)))
}
