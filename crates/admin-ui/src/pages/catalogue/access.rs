//! Offer access requests (staff): the list (pending first by default) and the decision.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_offers::access::AccessStatus;
use affnet_offers::{Affiliate, Decision, Offer, OfferAccess, OffersError};
use askama::Template;

use super::{offers_err, page_offset, Pager, PER_PAGE};
use crate::auth::Staff;
use crate::csrf::CsrfForm;
use crate::layout::{render, see_other, Layout};
use crate::{AppError, AppState};

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    /// `pending` (default), `approved`, `rejected` or `all`.
    status: Option<String>,
    page: Option<u32>,
}

pub struct Row {
    access: OfferAccess,
    offer: String,
    affiliate: String,
}

#[derive(Template)]
#[template(path = "admin/access.html")]
struct ListPage {
    l: Layout,
    rows: Vec<Row>,
    status: String,
    statuses: Vec<(String, String)>,
    pager: Pager,
}

/// `GET /admin/access`
pub async fn list(state: web::Data<AppState>, me: Staff, q: web::Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let status_text = q.status.clone().unwrap_or_else(|| "pending".into());
    let filter = match status_text.as_str() {
        "all" => None,
        s => Some(s.parse::<AccessStatus>().map_err(AppError::BadRequest)?),
    };
    let (page, offset) = page_offset(q.page);
    let tenant = me.tenant.id;
    let mut rows = state
        .db(move |c| {
            let list = OfferAccess::list(c, tenant, filter, None, None, PER_PAGE + 1, offset).map_err(offers_err)?;
            let mut rows = Vec::with_capacity(list.len());
            for a in list {
                let offer = Offer::find(c, tenant, a.offer_id).map_err(offers_err)?;
                let affiliate = Affiliate::find(c, tenant, a.affiliate_id).map_err(offers_err)?;
                rows.push(Row {
                    offer: format!("#{} {} ({})", offer.id, offer.name, offer.visibility),
                    affiliate: format!("#{} {} ({})", affiliate.id, affiliate.name, affiliate.status),
                    access: a,
                });
            }
            Ok(rows)
        })
        .await?;
    let pager = Pager::new("/admin/access", &[("status", &status_text)], page, &mut rows);
    let mut statuses: Vec<(String, String)> =
        AccessStatus::ALL.iter().map(|s| (s.as_str().to_owned(), s.as_str().to_owned())).collect();
    statuses.push(("all".into(), "all".into()));
    let page = ListPage {
        l: Layout::for_user(&me, "Offer access", "/admin/access"),
        rows,
        status: status_text,
        statuses,
        pager,
    };
    render(StatusCode::OK, &page)
}

#[derive(Debug, serde::Deserialize)]
pub struct DecideForm {
    status: String,
    #[serde(default)]
    note: String,
    /// `offer` to return to the offer's page, else the list.
    #[serde(default)]
    back: String,
}

/// `POST /admin/access/{id}`: approve or reject (or revoke) an affiliate's access.
pub async fn decide(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<DecideForm>,
) -> Result<HttpResponse, AppError> {
    let status = match form.status.as_str() {
        "approved" => AccessStatus::Approved,
        "rejected" => AccessStatus::Rejected,
        _ => return Err(AppError::BadRequest("status must be approved or rejected".into())),
    };
    let (tenant, now, by, id, note) = (me.tenant.id, state.clock.now(), me.user.id, id.into_inner(), form.note.clone());
    let result = crate::audit::by_user(&state, &me.user, move |c, log| {
        let a = OfferAccess::find_by_id(c, tenant, id).map_err(offers_err)?;
        let decision = Decision { status, note: &note, by };
        let decided = OfferAccess::decide(c, tenant, a.offer_id, a.affiliate_id, &decision, now);
        if let Ok(a) = &decided {
            let summary = format!("access of affiliate #{}: {}", a.affiliate_id, status);
            log.add(affnet_accounts::audit::Entity::Offer, a.offer_id, "access", summary);
        }
        Ok(decided)
    })
    .await?;
    match result {
        Ok(a) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, offer = %a.offer_id, affiliate = %a.affiliate_id, status = status.as_str(), "offer access decided");
            crate::pages::signup::notify_access_decision(&state, me.tenant.id, a.offer_id, a.affiliate_id, status)
                .await;
            me.session
                .flash("success", format!("Affiliate #{} is {} for offer #{}.", a.affiliate_id, status, a.offer_id));
            if form.back == "offer" {
                Ok(see_other(&format!("/admin/offers/{}#access", a.offer_id)))
            } else {
                Ok(see_other("/admin/access"))
            }
        }
        Err(OffersError::Invalid(errors)) => Err(AppError::Invalid(errors)),
        Err(e) => Err(offers_err(e)),
    }
}
