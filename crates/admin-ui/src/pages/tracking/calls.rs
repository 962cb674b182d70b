//! The conversion calls log: every call of the conversion endpoint (`/aff_lsr`, `/aff_goal`)
//! stored for the network, accepted or refused, with the reason and the call as received (the
//! security token masked), newest first. Staff see the network's; an advertiser sees the calls
//! that named one of their offers, so that they can fix their own integration. Refused calls
//! are found here without knowing their transaction id (DESIGN.md: every rejection is stored
//! with its reason, so anyone can see why a conversion did not count).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_db::{FieldErrors, TenantId};
use affnet_tracking::conversion::Attempt;
use affnet_tracking::listing::{self, Filter};
use askama::Template;

use super::{offer_names, FilterForm};
use crate::auth::{AdvertiserUser, CurrentUser, Staff};
use crate::layout::{render, Layout};
use crate::pages::catalogue::{page_offset, percent_encode, Pager, PER_PAGE};
use crate::{AppError, AppState};

/// A call as the log shows it.
pub struct CallRow {
    pub a: Attempt,
    pub offer_name: String,
    /// The transaction id, encoded for the tracer's link.
    pub tid_param: String,
}

#[derive(Template)]
#[template(path = "tracking/calls.html")]
struct CallsPage {
    l: Layout,
    action: &'static str,
    /// Staff: links to the tracer and the offer's admin page.
    staff: bool,
    q: FilterForm,
    errors: FieldErrors,
    states: Vec<(String, String)>,
    rows: Vec<CallRow>,
    pager: Pager,
}

/// The outcome filter's choices (word, label).
fn outcomes() -> Vec<(String, String)> {
    listing::call_outcomes()
        .into_iter()
        .map(|c| (c.to_owned(), if c == "accepted" { c.to_owned() } else { format!("refused: {c}") }))
        .collect()
}

async fn load(state: &AppState, tenant: TenantId, filter: Filter, offset: i64) -> Result<Vec<CallRow>, AppError> {
    state
        .db(move |c| {
            let calls = listing::conversion_calls(c, tenant, &filter, PER_PAGE + 1, offset)?;
            let names = offer_names(c, tenant, calls.iter().filter_map(|a| a.offer_id))?;
            Ok(calls
                .into_iter()
                .map(|a| CallRow {
                    offer_name: a.offer_id.and_then(|o| names.get(&o.0).cloned()).unwrap_or_default(),
                    tid_param: percent_encode(&a.transaction_id),
                    a,
                })
                .collect())
        })
        .await
}

async fn page(
    state: &AppState,
    me: &CurrentUser,
    action: &'static str,
    staff: bool,
    mut q: FilterForm,
    advertiser: Option<affnet_db::AdvertiserId>,
) -> Result<HttpResponse, AppError> {
    q.affiliate = String::new();
    q.sub = String::new();
    q.conversion = String::new();
    q.adv_sub = String::new();
    // A call's transaction id is matched as the log stores it: a refused call may name a
    // malformed one.
    let sent = std::mem::take(&mut q.transaction);
    let (mut filter, mut errors) = q.filter(&listing::call_outcomes(), crate::pages::reports::network_tz(&me.tenant).0);
    q.transaction = sent;
    match q.transaction.trim() {
        "" => {}
        t if t.chars().count() > 500 => errors.add("transaction", "a transaction id is at most 500 characters"),
        t => filter.transaction = Some(affnet_tracking::conversion::stored_transaction_id(t)),
    }
    filter.advertiser = advertiser;
    let (page_no, offset) = page_offset(q.page);
    let mut rows = if errors.is_empty() { load(state, me.tenant.id, filter, offset).await? } else { Vec::new() };
    let pager = Pager::new(action, &q.params(), page_no, &mut rows);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = CallsPage {
        l: Layout::for_user(me, "Conversion calls", action),
        action,
        staff,
        q,
        errors,
        states: outcomes(),
        rows,
        pager,
    };
    render(status, &page)
}

/// `GET /admin/conversion-calls`: the network's calls.
pub async fn staff_calls(
    state: web::Data<AppState>,
    me: Staff,
    q: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    page(&state, &me, "/admin/conversion-calls", true, q.into_inner(), None).await
}

/// `GET /advertiser/conversion-calls`: the calls that named one of the advertiser's offers.
pub async fn advertiser_calls(
    state: web::Data<AppState>,
    me: AdvertiserUser,
    q: web::Query<FilterForm>,
) -> Result<HttpResponse, AppError> {
    let own = me.user.advertiser_id.ok_or(AppError::Forbidden)?;
    page(&state, &me, "/advertiser/conversion-calls", false, q.into_inner(), Some(own)).await
}
