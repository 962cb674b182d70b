//! `/api/v1/offers/{id}/goals` and `/api/v1/goals/{id}`: an offer's goals. Staff write; whoever
//! may see the offer may read its goals (affiliates without the revenue, advertisers without the
//! payout).

use super::ApiBody;
use actix_web::{web, HttpResponse};
use affnet_db::{GoalId, OfferId};
use affnet_offers::{Goal, GoalInput, GoalStatus, PayoutOverride, Rate};

use super::offers::visible_offer;
use super::{require_staff, Viewer};
use crate::auth::ApiUser;
use crate::{ApiError, AppState};

#[derive(serde::Serialize)]
pub struct GoalJson {
    id: GoalId,
    offer_id: OfferId,
    name: String,
    status: GoalStatus,
    /// What affiliates earn: staff and affiliates.
    #[serde(skip_serializing_if = "Option::is_none")]
    payout: Option<Rate>,
    /// What the advertiser pays: staff and advertisers.
    #[serde(skip_serializing_if = "Option::is_none")]
    revenue: Option<Rate>,
    allow_multiple: bool,
    created_at: String,
    updated_at: String,
}

impl GoalJson {
    fn new(g: Goal, viewer: Viewer) -> Self {
        GoalJson {
            id: g.id,
            offer_id: g.offer_id,
            payout: (!matches!(viewer, Viewer::Advertiser(_))).then(|| g.payout_rate()),
            revenue: (!matches!(viewer, Viewer::Affiliate(_))).then(|| g.revenue_rate()),
            name: g.name,
            status: g.status,
            allow_multiple: g.allow_multiple,
            created_at: g.created_at.rfc3339(),
            updated_at: g.updated_at.rfc3339(),
        }
    }
}

/// Goals as `viewer` reads them: an affiliate reads what it earns on each (its override for
/// the goal, where the network set one).
fn goals_as_seen(
    c: &mut affnet_db::DbConn,
    viewer: Viewer,
    offer: &affnet_offers::Offer,
    goals: Vec<Goal>,
) -> Result<Vec<GoalJson>, crate::AppError> {
    let rates = match viewer {
        Viewer::Affiliate(f) => Some(PayoutOverride::of_affiliate(c, offer.tenant_id, f, &[offer.id])?),
        _ => None,
    };
    Ok(goals
        .into_iter()
        .map(|g| {
            let payout = rates.as_ref().map(|r| r.payout(offer, Some(&g)));
            let mut json = GoalJson::new(g, viewer);
            json.payout = payout.or(json.payout);
            json
        })
        .collect())
}

/// `GET /api/v1/offers/{id}/goals`: all goals of an offer the key's user may see (404 otherwise).
pub async fn list(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&me)?;
    let offer = OfferId(id.into_inner());
    let tenant = me.user.tenant_id;
    let data = state
        .db(move |c| {
            let (offer, _) = visible_offer(c, tenant, viewer, offer)?;
            let goals = Goal::list_for_offer(c, tenant, offer.id)?;
            goals_as_seen(c, viewer, &offer, goals)
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}

/// `GET /api/v1/goals/{id}`: a goal of an offer the key's user may see (404 otherwise).
pub async fn get(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&me)?;
    let id = GoalId(id.into_inner());
    let tenant = me.user.tenant_id;
    let goal = state
        .db(move |c| {
            let goal = Goal::find(c, tenant, id)?;
            let (offer, _) = visible_offer(c, tenant, viewer, goal.offer_id)?;
            goals_as_seen(c, viewer, &offer, vec![goal])?.pop().ok_or(crate::AppError::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(goal))
}

/// `POST /api/v1/offers/{id}/goals` (staff): 201 with the goal, or 422.
pub async fn create(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<GoalInput>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let offer = OfferId(id.into_inner());
    let input = body.read()?;
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let goal = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let g = Goal::create(c, tenant, offer, &input, now)?;
        let currency = affnet_offers::Offer::find(c, tenant, offer)?.currency;
        log.add(affnet_accounts::audit::Entity::Offer, offer, "goal_create", crate::audit::goal_created(&g, currency));
        Ok(g)
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, goal = %goal.id, offer = %offer, "goal created through the API");
    Ok(HttpResponse::Created().json(GoalJson::new(goal, Viewer::Staff)))
}

/// `PUT /api/v1/goals/{id}` (staff): replaces the editable fields (the whole body).
pub async fn update(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<GoalInput>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    save(state, me, GoalId(id.into_inner()), super::Edit::Whole(body.read()?)).await
}

/// Saves a `PUT` or `PATCH` of a goal, read and written in one locked change.
async fn save(
    state: web::Data<AppState>,
    me: ApiUser,
    id: GoalId,
    edit: super::Edit<GoalInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, now) = (me.user.tenant_id, state.clock.now());
    let goal = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        super::locked_change(c, "goals", tenant, id.0, |c| {
            let current = Goal::find(c, tenant, id)?;
            let input = edit.input(GoalJson::new(current, Viewer::Staff), "GoalInput")?;
            let g = Goal::update(c, tenant, id, &input, now)?;
            let currency = affnet_offers::Offer::find(c, tenant, g.offer_id)?.currency;
            let summary = crate::audit::goal_saved(&g, currency);
            log.add(affnet_accounts::audit::Entity::Offer, g.offer_id, "goal_update", summary);
            Ok(g)
        })
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, goal = %goal.id, "goal updated through the API");
    Ok(HttpResponse::Ok().json(GoalJson::new(goal, Viewer::Staff)))
}

/// `PATCH /api/v1/goals/{id}`: changes only the fields the body names ([`super::merge_patch`]),
/// then saves as the `PUT` does (same checks, audit and answer).
pub async fn patch(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<super::PatchBody>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    save(state, me, GoalId(id.into_inner()), super::Edit::Patch(body.read()?)).await
}
