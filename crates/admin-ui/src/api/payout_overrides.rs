//! `/api/v1/payout-overrides`: per-affiliate payouts for an offer or one of its goals (staff).

use super::ApiBody;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_db::{AffiliateId, GoalId, OfferId};
use affnet_offers::{Offer, OverrideInput, PayoutOverride, Rate};

use super::{require_staff, Page, Pagination};
use crate::auth::ApiUser;
use crate::{ApiError, AppState};

#[derive(serde::Serialize)]
pub struct OverrideJson {
    id: i64,
    offer_id: OfferId,
    goal_id: Option<GoalId>,
    affiliate_id: AffiliateId,
    payout: Rate,
    created_at: String,
    updated_at: String,
}

impl From<PayoutOverride> for OverrideJson {
    fn from(o: PayoutOverride) -> Self {
        OverrideJson {
            id: o.id,
            payout: o.rate(),
            offer_id: o.offer_id,
            goal_id: o.goal_id,
            affiliate_id: o.affiliate_id,
            created_at: o.created_at.rfc3339(),
            updated_at: o.updated_at.rfc3339(),
        }
    }
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    #[serde(default, deserialize_with = "super::blank_is_none")]
    offer_id: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    affiliate_id: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    page: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    per_page: Option<i64>,
}

/// `GET /api/v1/payout-overrides?offer_id=&affiliate_id=&page=&per_page=` (staff)
pub async fn list(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let q = q.read()?;
    let (limit, offset, page) = Pagination { page: q.page, per_page: q.per_page }.limit_offset()?;
    let (offer, affiliate) = (q.offer_id.map(OfferId), q.affiliate_id.map(AffiliateId));
    let tenant = me.user.tenant_id;
    let (rows, total) = state
        .db(move |c| {
            Ok((
                PayoutOverride::list(c, tenant, offer, affiliate, limit, offset)?,
                PayoutOverride::count(c, tenant, offer, affiliate)?,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        data: rows.into_iter().map(OverrideJson::from).collect(),
        page,
        per_page: limit,
        total,
    }))
}

/// `POST /api/v1/payout-overrides` (staff): sets the override of (offer, goal, affiliate); 201
/// when new, 200 when it replaced one; 422 with a field map otherwise.
pub async fn set(
    state: web::Data<AppState>,
    me: ApiUser,
    body: ApiBody<OverrideInput>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let input = body.read()?;
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let (row, replaced) = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let existing = PayoutOverride::find_for(c, tenant, input.offer_id, input.goal_id, input.affiliate_id)?;
        let row = PayoutOverride::set(c, tenant, &input, now)?;
        let currency = Offer::find(c, tenant, row.offer_id)?.currency;
        log.add(Entity::PayoutOverride, row.id, "set", crate::audit::override_set(existing.as_ref(), &row, currency));
        Ok((row, existing.is_some()))
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, payout_override = row.id, "payout override set through the API");
    let mut res = if replaced { HttpResponse::Ok() } else { HttpResponse::Created() };
    Ok(res.json(OverrideJson::from(row)))
}

/// `DELETE /api/v1/payout-overrides/{id}` (staff): 204; the offer's own payout applies again.
pub async fn delete(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let id = id.into_inner();
    let tenant = me.user.tenant_id;
    crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let row = PayoutOverride::find(c, tenant, id)?;
        let currency = Offer::find(c, tenant, row.offer_id)?.currency;
        PayoutOverride::delete(c, tenant, id)?;
        log.add(Entity::PayoutOverride, id, "delete", crate::audit::override_deleted(&row, currency));
        Ok(())
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, payout_override = id, "payout override deleted through the API");
    Ok(HttpResponse::NoContent().finish())
}
