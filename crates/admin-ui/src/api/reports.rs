//! `GET /api/v1/reports`: the reports of the pages as JSON (HasOffers' `Report::getStats`), with
//! the same groupings, filters, sort, days of the network's time zone and role scoping: staff see
//! everything, an affiliate its own traffic with its payout, an advertiser its offers with their
//! cost.

use actix_web::{web, HttpResponse};
use affnet_db::FieldErrors;
use affnet_tracking::reports::{self, GroupBy, Key, Row};

use super::{ApiQuery, Viewer};
use crate::auth::ApiUser;
use crate::pages::reports::{compute, network_tz, validate, ReportForm, Scope};
use crate::{ApiError, AppError, AppState};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportQuery {
    group_by: String,
    from: String,
    to: String,
    offer_id: String,
    affiliate_id: String,
    status: String,
    sort: String,
}

/// One row, or the total of one currency (`key` `"total"`). Money in minor units of `currency`.
#[derive(serde::Serialize)]
struct RowJson {
    /// The group: a day (`YYYY-MM-DD`), an hour (`YYYY-MM-DD HH:00`), a sub id, an id as text,
    /// `""` for the base conversion of a goal report or clicks without the sub id, or `"total"`.
    key: String,
    /// The offer's, affiliate's, advertiser's or goal's id for those groupings.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    currency: String,
    /// Absent in goal reports (goals have no clicks).
    #[serde(skip_serializing_if = "Option::is_none")]
    clicks: Option<i64>,
    conversions: i64,
    /// Conversions per 100 clicks, to two decimals; absent without clicks.
    #[serde(skip_serializing_if = "Option::is_none")]
    conversion_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revenue: Option<i64>,
    /// What an advertiser pays (the network's revenue).
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profit: Option<i64>,
}

#[derive(serde::Serialize)]
struct ReportJson {
    group_by: &'static str,
    /// First and last day, both included, in `timezone`.
    from: String,
    to: String,
    timezone: String,
    /// A report reading raw rows stopped at its limit: the numbers are short.
    truncated: bool,
    data: Vec<RowJson>,
    /// One per currency: amounts are never added across currencies.
    totals: Vec<RowJson>,
}

fn row_json(
    scope: Scope,
    group: GroupBy,
    r: &Row,
    names: &std::collections::HashMap<i64, String>,
    total: bool,
) -> RowJson {
    let (key, id, name) = match (&r.key, total) {
        (_, true) => ("total".to_owned(), None, None),
        (Key::Id(id), false) => (id.to_string(), Some(*id), Some(names.get(id).cloned().unwrap_or_default())),
        (k, false) => (k.text(), None, None),
    };
    let has_clicks = group.has_clicks();
    RowJson {
        key,
        id,
        name,
        currency: r.currency.clone(),
        clicks: has_clicks.then_some(r.clicks),
        conversions: r.conversions,
        conversion_rate: r.cr_hundredths().filter(|_| has_clicks).map(|h| h as f64 / 100.0),
        payout: scope.shows_payout().then_some(r.payout),
        revenue: (scope == Scope::Staff).then_some(r.revenue),
        cost: matches!(scope, Scope::Advertiser(_)).then_some(r.revenue),
        profit: scope.shows_profit().then_some(r.profit()),
    }
}

/// `GET /api/v1/reports?group_by=&from=&to=&offer_id=&affiliate_id=&status=&sort=`
pub async fn get(state: web::Data<AppState>, me: ApiUser, q: ApiQuery<ReportQuery>) -> Result<HttpResponse, ApiError> {
    let scope = match Viewer::of(&me)? {
        Viewer::Staff => Scope::Staff,
        Viewer::Affiliate(a) => Scope::Affiliate(a),
        Viewer::Advertiser(a) => Scope::Advertiser(a),
    };
    let q = q.read()?;
    if scope != Scope::Staff && !q.affiliate_id.trim().is_empty() {
        let message = "only network staff filter by affiliate";
        return Err(ApiError(AppError::Invalid(FieldErrors::single("affiliate_id", message))));
    }
    let mut form = ReportForm {
        from: q.from,
        to: q.to,
        offer: q.offer_id,
        affiliate: q.affiliate_id,
        status: q.status,
        group_by: q.group_by,
        sort: q.sort,
        page: String::new(),
    };
    let tenant_id = me.user.tenant_id;
    let tenant = state.db(move |c| Ok(affnet_accounts::Tenant::find(c, tenant_id)?)).await?;
    let (tz, _) = network_tz(&tenant);
    let (query, by, desc) = validate(scope, tenant_id, tz, state.clock.now(), &mut form).map_err(|mut e| {
        // The API names its id parameters `offer_id`, `affiliate_id`.
        for (page, api) in [("offer", "offer_id"), ("affiliate", "affiliate_id")] {
            if let Some(message) = e.0.remove(page) {
                e.0.insert(api.to_owned(), message);
            }
        }
        ApiError(AppError::Invalid(e))
    })?;
    let (group, from, to) = (query.group, query.tz.day_of(query.from), query.tz.day_of(query.to) - 1);
    let c = compute(&state, query, by, desc).await?;
    Ok(HttpResponse::Ok().json(ReportJson {
        group_by: group.as_str(),
        from: reports::day_label(from),
        to: reports::day_label(to),
        timezone: tz.label(),
        truncated: c.truncated,
        data: c.rows.iter().map(|r| row_json(scope, group, r, &c.names, false)).collect(),
        totals: c.totals.iter().map(|r| row_json(scope, group, r, &c.names, true)).collect(),
    }))
}
