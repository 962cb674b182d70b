//! `/api/v1/conversions`, `/api/v1/clicks` and `/api/v1/trace/{transaction_id}`: what was
//! tracked. Staff see everything; affiliate users their own traffic (with their payout, never
//! the network's revenue); advertiser users their own conversions (with the revenue they owe,
//! never the affiliate's payout nor sub ids). Only staff change a conversion's status (audited)
//! or trace a transaction.

use super::ApiBody;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_db::{AdvertiserId, AffiliateId, ConversionId, Currency, FieldErrors, GoalId, OfferId};
use affnet_offers::ConversionStatus;
use affnet_tracking::click::Click;
use affnet_tracking::conversion::{Attempt, Conversion};
use affnet_tracking::listing::{self, ConversionRow};

use super::postbacks::{DeliveryAttemptJson, JobJson};
use super::{parse_param, require_staff, staff_or_affiliate, ListingQuery, Page, Viewer};
use crate::auth::ApiUser;
use crate::{ApiError, AppError, AppState};

/// A conversion as `viewer` may see it.
#[derive(serde::Serialize)]
pub struct ConversionJson {
    id: ConversionId,
    transaction_id: String,
    offer_id: OfferId,
    affiliate_id: AffiliateId,
    advertiser_id: AdvertiserId,
    goal_id: Option<GoalId>,
    status: ConversionStatus,
    currency: Currency,
    sale_amount: Option<i64>,
    /// What the affiliate earns: staff and affiliates.
    #[serde(skip_serializing_if = "Option::is_none")]
    payout: Option<i64>,
    /// What the advertiser pays: staff and advertisers.
    #[serde(skip_serializing_if = "Option::is_none")]
    revenue: Option<i64>,
    adv_sub: String,
    ip: String,
    /// The click's sub ids: staff and affiliates.
    #[serde(skip_serializing_if = "Option::is_none")]
    aff_sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aff_sub2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aff_sub3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aff_sub4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aff_sub5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aff_click_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    click_at: Option<String>,
    created_at: String,
    updated_at: String,
}

/// A conversion's click as its JSON shows it: every sub id and the click's time.
#[derive(Clone)]
struct ClickSubs {
    aff_sub: String,
    aff_sub2: String,
    aff_sub3: String,
    aff_sub4: String,
    aff_sub5: String,
    source: String,
    aff_click_id: String,
    click_at: String,
}

impl ConversionJson {
    fn new(c: Conversion, subs: Option<ClickSubs>, viewer: Viewer) -> Self {
        let advertiser = matches!(viewer, Viewer::Advertiser(_));
        let subs = subs.filter(|_| !advertiser);
        ConversionJson {
            id: c.id,
            transaction_id: c.click_id,
            offer_id: c.offer_id,
            affiliate_id: c.affiliate_id,
            advertiser_id: c.advertiser_id,
            goal_id: c.goal_id,
            status: c.status,
            currency: c.currency,
            sale_amount: c.sale_amount,
            payout: (!advertiser).then_some(c.payout),
            revenue: (!matches!(viewer, Viewer::Affiliate(_))).then_some(c.revenue),
            adv_sub: c.adv_sub,
            ip: if advertiser { String::new() } else { c.ip },
            aff_sub: subs.as_ref().map(|s| s.aff_sub.clone()),
            aff_sub2: subs.as_ref().map(|s| s.aff_sub2.clone()),
            aff_sub3: subs.as_ref().map(|s| s.aff_sub3.clone()),
            aff_sub4: subs.as_ref().map(|s| s.aff_sub4.clone()),
            aff_sub5: subs.as_ref().map(|s| s.aff_sub5.clone()),
            source: subs.as_ref().map(|s| s.source.clone()),
            aff_click_id: subs.as_ref().map(|s| s.aff_click_id.clone()),
            click_at: subs.map(|s| s.click_at),
            created_at: c.created_at.rfc3339(),
            updated_at: c.updated_at.rfc3339(),
        }
    }

    fn of_row(r: ConversionRow, viewer: Viewer) -> Self {
        let m = r.more_subs;
        let subs = ClickSubs {
            aff_sub: r.aff_sub,
            aff_sub2: r.aff_sub2,
            aff_sub3: m.aff_sub3,
            aff_sub4: m.aff_sub4,
            aff_sub5: m.aff_sub5,
            source: r.source,
            aff_click_id: m.aff_click_id,
            click_at: r.click_at.rfc3339(),
        };
        ConversionJson::new(r.conversion, Some(subs), viewer)
    }
}

/// A tracked click.
#[derive(serde::Serialize)]
pub struct ClickJson {
    transaction_id: String,
    offer_id: OfferId,
    affiliate_id: AffiliateId,
    advertiser_id: AdvertiserId,
    aff_sub: String,
    aff_sub2: String,
    aff_sub3: String,
    aff_sub4: String,
    aff_sub5: String,
    source: String,
    aff_click_id: String,
    ip: String,
    user_agent: String,
    referrer: String,
    created_at: String,
}

impl From<Click> for ClickJson {
    fn from(c: Click) -> Self {
        ClickJson {
            transaction_id: c.id,
            offer_id: c.offer_id,
            affiliate_id: c.affiliate_id,
            advertiser_id: c.advertiser_id,
            aff_sub: c.aff_sub,
            aff_sub2: c.aff_sub2,
            aff_sub3: c.aff_sub3,
            aff_sub4: c.aff_sub4,
            aff_sub5: c.aff_sub5,
            source: c.source,
            aff_click_id: c.aff_click_id,
            ip: c.ip,
            user_agent: c.user_agent,
            referrer: c.referrer,
            created_at: c.created_at.rfc3339(),
        }
    }
}

/// One call of the conversion endpoint, accepted or refused with its reason.
#[derive(serde::Serialize)]
struct AttemptJson {
    id: i64,
    transaction_id: String,
    offer_id: Option<OfferId>,
    goal_id: Option<GoalId>,
    conversion_id: Option<ConversionId>,
    outcome: String,
    reason: String,
    message: String,
    method: String,
    raw_query: String,
    ip: String,
    created_at: String,
}

impl From<Attempt> for AttemptJson {
    fn from(a: Attempt) -> Self {
        AttemptJson {
            id: a.id,
            transaction_id: a.transaction_id,
            offer_id: a.offer_id,
            goal_id: a.goal_id,
            conversion_id: a.conversion_id,
            outcome: a.outcome,
            reason: a.reason,
            message: a.message,
            method: a.method,
            raw_query: a.raw_query,
            ip: a.ip,
            created_at: a.created_at.rfc3339(),
        }
    }
}

/// The parameters of `GET /api/v1/conversion-calls`: a name it does not know is a 400 (`reason=`
/// or `offer=` would otherwise list every call as if filtered).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsQuery {
    from: Option<String>,
    to: Option<String>,
    offer_id: Option<String>,
    advertiser_id: Option<String>,
    status: Option<String>,
    transaction_id: Option<String>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    page: Option<i64>,
    #[serde(default, deserialize_with = "super::blank_is_none")]
    per_page: Option<i64>,
}

/// `GET /api/v1/conversion-calls?from=&to=&offer_id=&status=&transaction_id=&page=&per_page=`:
/// every call of the conversion endpoint stored for the network, newest first, accepted or
/// refused with its reason (`status`: `accepted` or a reason code), as the conversion calls pages
/// show them: staff all, an advertiser the calls naming its offers; affiliates 403.
/// `transaction_id` matches the id as the log stores it: a valid one in any case, a malformed
/// one as sent (its first 100 bytes).
pub async fn calls(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<CallsQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&me)?;
    if matches!(viewer, Viewer::Affiliate(_)) {
        return Err(AppError::Forbidden.into());
    }
    let q = q.read()?;
    if matches!(viewer, Viewer::Advertiser(_)) && q.advertiser_id.as_deref().is_some_and(|v| !v.trim().is_empty()) {
        let message = "an advertiser sees the calls naming its own offers: leave advertiser_id out";
        return Err(AppError::Invalid(FieldErrors::single("advertiser_id", message)).into());
    }
    let transaction = q.transaction_id.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if transaction.is_some_and(|t| t.chars().count() > 500) {
        let message = "a transaction id is at most 500 characters";
        return Err(AppError::Invalid(FieldErrors::single("transaction_id", message)).into());
    }
    let q = ListingQuery {
        from: q.from,
        to: q.to,
        offer_id: q.offer_id,
        advertiser_id: q.advertiser_id,
        status: q.status,
        page: q.page,
        per_page: q.per_page,
        ..ListingQuery::default()
    };
    let (limit, offset, page) = q.limit_offset()?;
    let mut filter = q.filter()?;
    let outcomes = listing::call_outcomes();
    filter.status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) if outcomes.contains(&s) => Some(s.to_owned()),
        Some(_) => {
            let message = format!("choose one of: {}", outcomes.join(", "));
            return Err(AppError::Invalid(FieldErrors::single("status", message)).into());
        }
    };
    filter.transaction = transaction.map(affnet_tracking::conversion::stored_transaction_id);
    if let Viewer::Advertiser(own) = viewer {
        filter.advertiser = Some(own);
    }
    let tenant = me.user.tenant_id;
    let (rows, total) = state
        .db(move |c| {
            Ok((
                listing::conversion_calls(c, tenant, &filter, limit, offset)?,
                listing::count_conversion_calls(c, tenant, &filter)?,
            ))
        })
        .await?;
    let data = rows.into_iter().map(AttemptJson::from).collect();
    Ok(HttpResponse::Ok().json(Page::<AttemptJson> { data, page, per_page: limit, total }))
}

/// Narrows `filter` to what `viewer` may list; `false` when the asked-for affiliate or
/// advertiser is not the viewer's own (an empty page). An affiliate filtering by advertiser is
/// refused (422, as the reports refuse a filter by affiliate to non-staff): the filter was
/// dropped silently, and the caller read unfiltered numbers as filtered ones.
fn scope(filter: &mut listing::Filter, viewer: Viewer) -> Result<bool, ApiError> {
    Ok(match viewer {
        Viewer::Staff => true,
        Viewer::Affiliate(own) => {
            if filter.advertiser.is_some() {
                let message = "only network staff and advertisers filter by advertiser";
                return Err(AppError::Invalid(FieldErrors::single("advertiser_id", message)).into());
            }
            let mine = filter.affiliate.is_none_or(|a| a == own);
            filter.affiliate = Some(own);
            mine
        }
        Viewer::Advertiser(own) => {
            let mine = filter.advertiser.is_none_or(|a| a == own);
            filter.advertiser = Some(own);
            mine
        }
    })
}

/// `GET /api/v1/conversions?from=&to=&offer_id=&affiliate_id=&advertiser_id=&status=&sub=&transaction_id=&conversion_id=&adv_sub=&page=&per_page=`:
/// newest first, as the key's user may see them.
pub async fn list(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListingQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&me)?;
    let q = q.read()?;
    q.refuse("conversions", &["state"])?;
    let (limit, offset, page) = q.limit_offset()?;
    let mut filter = q.filter()?;
    filter.status = parse_param::<ConversionStatus>(q.status.as_deref(), "status")?.map(|s| s.as_str().to_owned());
    if matches!(viewer, Viewer::Advertiser(_)) && filter.sub.is_some() {
        return Err(AppError::Invalid(FieldErrors::single("sub", "sub ids are not shown to advertisers")).into());
    }
    if !scope(&mut filter, viewer)? {
        return Ok(HttpResponse::Ok().json(Page::<ConversionJson> {
            data: Vec::new(),
            page,
            per_page: limit,
            total: 0,
        }));
    }
    let tenant = me.user.tenant_id;
    let (rows, total) = state
        .db(move |c| {
            Ok((
                listing::conversions(c, tenant, &filter, limit, offset)?,
                listing::count_conversions(c, tenant, &filter)?,
            ))
        })
        .await?;
    let data = rows.into_iter().map(|r| ConversionJson::of_row(r, viewer)).collect();
    Ok(HttpResponse::Ok().json(Page::<ConversionJson> { data, page, per_page: limit, total }))
}

/// `GET /api/v1/conversions/{id}`: 404 unless the key's user may see it.
pub async fn get(state: web::Data<AppState>, me: ApiUser, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&me)?;
    let (tenant, id) = (me.user.tenant_id, ConversionId(id.into_inner()));
    let row = state.db(move |c| Ok(listing::conversion_row(c, tenant, id)?)).await?;
    let visible = match viewer {
        Viewer::Staff => true,
        Viewer::Affiliate(a) => row.conversion.affiliate_id == a,
        Viewer::Advertiser(a) => row.conversion.advertiser_id == a,
    };
    if !visible {
        return Err(AppError::NotFound.into());
    }
    Ok(HttpResponse::Ok().json(ConversionJson::of_row(row, viewer)))
}

/// The body of a status change.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    pub status: String,
    /// Why (kept in the conversion's audit trail).
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/conversions/{id}/status` (staff) `{"status": "rejected", "note": "…"}`: audited,
/// rollups moved, postbacks asking for status changes re-enqueued. Answers with the conversion.
pub async fn set_status(
    state: web::Data<AppState>,
    me: ApiUser,
    id: web::Path<i64>,
    body: ApiBody<StatusInput>,
) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let input = body.read()?;
    let Some(to) = parse_param::<ConversionStatus>(Some(&input.status), "status")? else {
        return Err(AppError::Invalid(FieldErrors::single("status", "this field is required")).into());
    };
    if input.note.chars().count() > 2000 {
        return Err(AppError::Invalid(FieldErrors::single("note", "a note may be at most 2000 characters")).into());
    }
    let (tenant, now, id, by) = (me.user.tenant_id, state.clock.now(), ConversionId(id.into_inner()), me.user.id);
    let row = crate::audit::by_api_key(&state, &me.user, move |c, log| {
        let (from, _) = Conversion::change_status(c, tenant, id, to, &input.note, Some(by), now)?;
        let row = listing::conversion_row(c, tenant, id)?;
        if from != to {
            let summary = crate::audit::conversion_status(&row.conversion.click_id, from, to, &input.note);
            log.add(Entity::Conversion, id, "status", summary);
        }
        Ok(row)
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %by, conversion = %id, status = %to, "conversion status changed through the API");
    Ok(HttpResponse::Ok().json(ConversionJson::of_row(row, Viewer::Staff)))
}

/// `GET /api/v1/clicks?from=&to=&offer_id=&affiliate_id=&advertiser_id=&sub=&transaction_id=&page=&per_page=`
/// (staff; affiliate users their own): newest first.
pub async fn clicks(
    state: web::Data<AppState>,
    me: ApiUser,
    q: super::ApiQuery<ListingQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = match staff_or_affiliate(&me)? {
        None => Viewer::Staff,
        Some(a) => Viewer::Affiliate(a),
    };
    let q = q.read()?;
    q.refuse("clicks", &["status", "state", "adv_sub", "conversion_id"])?;
    let (limit, offset, page) = q.limit_offset()?;
    let mut filter = q.filter()?;
    if !scope(&mut filter, viewer)? {
        return Ok(HttpResponse::Ok().json(Page::<ClickJson> { data: Vec::new(), page, per_page: limit, total: 0 }));
    }
    let tenant = me.user.tenant_id;
    let (rows, total) = state
        .db(move |c| {
            Ok((listing::clicks(c, tenant, &filter, limit, offset)?, listing::count_clicks(c, tenant, &filter)?))
        })
        .await?;
    let data = rows.into_iter().map(ClickJson::from).collect();
    Ok(HttpResponse::Ok().json(Page::<ClickJson> { data, page, per_page: limit, total }))
}

#[derive(serde::Serialize)]
struct TraceJson {
    transaction_id: String,
    click: Option<ClickJson>,
    attempts: Vec<AttemptJson>,
    conversions: Vec<ConversionJson>,
    jobs: Vec<JobJson>,
    deliveries: Vec<DeliveryAttemptJson>,
}

/// `GET /api/v1/trace/{transaction_id}` (staff): the click, every conversion call with its
/// outcome, the conversions, their postback jobs and delivery attempts. Nothing known (or
/// another network's id): 404.
pub async fn trace(state: web::Data<AppState>, me: ApiUser, tid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    require_staff(&me)?;
    let (tenant, tid) = (me.user.tenant_id, tid.into_inner());
    let t = state.db(move |c| Ok(listing::trace(c, tenant, &tid)?)).await?;
    if t.click.is_none() && t.attempts.is_empty() && t.conversions.is_empty() {
        return Err(AppError::NotFound.into());
    }
    let subs = t.click.as_ref().map(|c| ClickSubs {
        aff_sub: c.aff_sub.clone(),
        aff_sub2: c.aff_sub2.clone(),
        aff_sub3: c.aff_sub3.clone(),
        aff_sub4: c.aff_sub4.clone(),
        aff_sub5: c.aff_sub5.clone(),
        source: c.source.clone(),
        aff_click_id: c.aff_click_id.clone(),
        click_at: c.created_at.rfc3339(),
    });
    let transaction_of: std::collections::HashMap<ConversionId, String> =
        t.conversions.iter().map(|c| (c.id, c.click_id.clone())).collect();
    let jobs = t
        .jobs
        .iter()
        .cloned()
        .map(|job| {
            let transaction_id = transaction_of.get(&job.conversion_id).cloned().unwrap_or_default();
            JobJson::new(affnet_tracking::listing::ListedJob { job, transaction_id }, &t.deliveries)
        })
        .collect();
    Ok(HttpResponse::Ok().json(TraceJson {
        transaction_id: t.transaction_id,
        click: t.click.map(ClickJson::from),
        attempts: t.attempts.into_iter().map(AttemptJson::from).collect(),
        conversions: t.conversions.into_iter().map(|c| ConversionJson::new(c, subs.clone(), Viewer::Staff)).collect(),
        jobs,
        deliveries: t.deliveries.into_iter().map(DeliveryAttemptJson::from).collect(),
    }))
}
