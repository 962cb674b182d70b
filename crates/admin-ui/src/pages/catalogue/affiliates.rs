//! Affiliates (staff): list with search and status filter, create, view and edit (manager,
//! status), approve / suspend / reject, with their users and payout overrides.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_accounts::signup;
use affnet_accounts::user::Company;
use affnet_accounts::{Role, User};
use affnet_db::{AffiliateId, FieldErrors, UserId};
use affnet_offers::{Affiliate, AffiliateInput, AffiliateStatus, Offer, OffersError, PayoutOverride};
use askama::Template;

use super::{offers_err, page_offset, rate_label, Pager, PER_PAGE};
use crate::auth::Staff;
use crate::csrf::CsrfForm;
use crate::layout::{render, see_other, Layout};
use crate::{AppError, AppState};

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AffiliateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    status: String,
    /// A manager's user id, or empty for none.
    #[serde(default)]
    manager_user_id: String,
    #[serde(default)]
    notes: String,
}

impl AffiliateForm {
    fn input(&self) -> Result<AffiliateInput, FieldErrors> {
        let manager = match self.manager_user_id.trim() {
            "" => None,
            m => Some(UserId(m.parse::<i64>().map_err(|_| {
                FieldErrors::single("manager_user_id", "choose a user of role manager in this network")
            })?)),
        };
        Ok(AffiliateInput {
            name: self.name.clone(),
            contact_email: self.contact_email.clone(),
            status: Some(self.status.clone()),
            manager_user_id: manager,
            notes: self.notes.clone(),
        })
    }

    fn from(a: &Affiliate) -> Self {
        AffiliateForm {
            name: a.name.clone(),
            contact_email: a.contact_email.clone(),
            status: a.status.as_str().to_owned(),
            manager_user_id: a.manager_user_id.map(|m| m.to_string()).unwrap_or_default(),
            notes: a.notes.clone(),
        }
    }
}

fn statuses() -> Vec<(String, String)> {
    AffiliateStatus::ALL.iter().map(|s| (s.as_str().to_owned(), s.as_str().to_owned())).collect()
}

/// The network's managers as select options, "no manager" first.
fn manager_options(managers: &[User]) -> Vec<(String, String)> {
    let mut out = vec![(String::new(), "No manager".to_owned())];
    out.extend(managers.iter().map(|u| (u.id.to_string(), format!("{} <{}>", u.name, u.email))));
    out
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    page: Option<u32>,
}

#[derive(Template)]
#[template(path = "admin/affiliates.html")]
struct ListPage {
    l: Layout,
    affiliates: Vec<Affiliate>,
    query: ListQuery,
    pager: Pager,
    statuses: Vec<(String, String)>,
    managers: Vec<(String, String)>,
    form: AffiliateForm,
    errors: FieldErrors,
}

async fn list_page(
    state: &AppState,
    me: &Staff,
    query: ListQuery,
    form: AffiliateForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let filter = match query.status.as_str() {
        "" => None,
        s => Some(s.parse::<AffiliateStatus>().map_err(AppError::BadRequest)?),
    };
    let (page, offset) = page_offset(query.page);
    let (tenant, search) = (me.tenant.id, query.q.clone());
    let (mut affiliates, managers) = state
        .db(move |c| {
            let list = Affiliate::list(c, tenant, Some(&search), filter, PER_PAGE + 1, offset).map_err(offers_err)?;
            Ok((list, User::list(c, tenant, Some(Role::Manager), 1000, 0)?))
        })
        .await?;
    let pager = Pager::new("/admin/affiliates", &[("q", &query.q), ("status", &query.status)], page, &mut affiliates);
    let page = ListPage {
        l: Layout::for_user(me, "Affiliates", "/admin/affiliates"),
        affiliates,
        query,
        pager,
        statuses: statuses(),
        managers: manager_options(&managers),
        form,
        errors,
    };
    render(status, &page)
}

/// `GET /admin/affiliates`
pub async fn list(state: web::Data<AppState>, me: Staff, q: web::Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let form = AffiliateForm { status: "active".into(), ..AffiliateForm::default() };
    list_page(&state, &me, q.into_inner(), form, FieldErrors::new(), StatusCode::OK).await
}

/// `POST /admin/affiliates`
pub async fn create(
    state: web::Data<AppState>,
    me: Staff,
    CsrfForm(form): CsrfForm<AffiliateForm>,
) -> Result<HttpResponse, AppError> {
    let input = match form.input() {
        Ok(i) => i,
        Err(errors) => {
            return list_page(&state, &me, ListQuery::default(), form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    };
    let (tenant, now) = (me.tenant.id, state.clock.now());
    let created = crate::audit::by_user(&state, &me.user, move |c, log| {
        let created = Affiliate::create(c, tenant, &input, now);
        if let Ok(a) = &created {
            log.add(Entity::Affiliate, a.id, "create", crate::audit::affiliate_created(a));
        }
        Ok(created)
    })
    .await?;
    match created {
        Ok(a) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, affiliate = %a.id, "affiliate created");
            me.session.flash("success", format!("Affiliate {} created.", a.name));
            Ok(see_other(&format!("/admin/affiliates/{}", a.id)))
        }
        Err(OffersError::Invalid(errors)) => {
            list_page(&state, &me, ListQuery::default(), form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(offers_err(e)),
    }
}

/// A payout override of the affiliate, with its offer's name and the rule in words.
pub struct OverrideRow {
    pub id: i64,
    pub offer_id: String,
    pub offer_name: String,
    pub goal: String,
    pub payout: String,
}

#[derive(Template)]
#[template(path = "admin/affiliate.html")]
struct ShowPage {
    l: Layout,
    affiliate: Affiliate,
    users: Vec<User>,
    overrides: Vec<OverrideRow>,
    statuses: Vec<(String, String)>,
    managers: Vec<(String, String)>,
    manager_name: String,
    form: AffiliateForm,
    errors: FieldErrors,
}

async fn show_page(
    state: &AppState,
    me: &Staff,
    id: AffiliateId,
    form: Option<AffiliateForm>,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let tenant = me.tenant.id;
    let (affiliate, users, managers, overrides) = state
        .db(move |c| {
            let a = Affiliate::find(c, tenant, id).map_err(offers_err)?;
            let users = User::list_of_company(c, tenant, Company::Affiliate(id))?;
            let managers = User::list(c, tenant, Some(Role::Manager), 1000, 0)?;
            let mut overrides = Vec::new();
            for o in PayoutOverride::list(c, tenant, None, Some(id), 500, 0).map_err(offers_err)? {
                let offer = Offer::find(c, tenant, o.offer_id).map_err(offers_err)?;
                overrides.push(OverrideRow {
                    id: o.id,
                    offer_id: offer.id.to_string(),
                    offer_name: offer.name.clone(),
                    goal: o.goal_id.map(|g| format!("goal #{g}")).unwrap_or_else(|| "whole offer".into()),
                    payout: rate_label(o.rate(), offer.currency),
                });
            }
            Ok((a, users, managers, overrides))
        })
        .await?;
    let manager_name = affiliate
        .manager_user_id
        .and_then(|m| managers.iter().find(|u| u.id == m))
        .map(|u| u.email.clone())
        .unwrap_or_default();
    let page = ShowPage {
        l: Layout::for_user(me, affiliate.name.clone(), "/admin/affiliates"),
        form: form.unwrap_or_else(|| AffiliateForm::from(&affiliate)),
        affiliate,
        users,
        overrides,
        statuses: statuses(),
        managers: manager_options(&managers),
        manager_name,
        errors,
    };
    render(status, &page)
}

/// `GET /admin/affiliates/{id}`: an affiliate of another network is not found.
pub async fn show(state: web::Data<AppState>, me: Staff, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    show_page(&state, &me, AffiliateId(id.into_inner()), None, FieldErrors::new(), StatusCode::OK).await
}

/// `POST /admin/affiliates/{id}`
pub async fn update(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<AffiliateForm>,
) -> Result<HttpResponse, AppError> {
    let id = AffiliateId(id.into_inner());
    let input = match form.input() {
        Ok(i) => i,
        Err(errors) => return show_page(&state, &me, id, Some(form), errors, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let (tenant, now) = (me.tenant.id, state.clock.now());
    let saved = crate::audit::by_user(&state, &me.user, move |c, log| {
        crate::api::locked_change(c, "affiliates", tenant, id.0, |c| {
            let saved = Affiliate::find(c, tenant, id)
                .and_then(|b| Affiliate::update(c, tenant, id, &input, now).map(|a| (b, a)));
            if let Ok((before, a)) = &saved {
                log.add(Entity::Affiliate, a.id, "update", crate::audit::affiliate_changes(before, a));
            }
            Ok(saved.map(|(_, a)| a))
        })
    })
    .await?;
    match saved {
        Ok(a) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, affiliate = %a.id, "affiliate updated");
            me.session.flash("success", "Affiliate saved.");
            Ok(see_other(&format!("/admin/affiliates/{}", a.id)))
        }
        Err(OffersError::Invalid(errors)) => {
            show_page(&state, &me, id, Some(form), errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(offers_err(e)),
    }
}

#[derive(serde::Deserialize)]
pub struct StatusForm {
    status: String,
}

/// `POST /admin/affiliates/{id}/status`: approve (`active`), suspend or reject.
pub async fn set_status(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> Result<HttpResponse, AppError> {
    let status = match form.status.as_str() {
        "active" => AffiliateStatus::Active,
        "suspended" => AffiliateStatus::Suspended,
        "rejected" => AffiliateStatus::Rejected,
        _ => return Err(AppError::BadRequest("status must be active, suspended or rejected".into())),
    };
    let (tenant, now, id) = (me.tenant.id, state.clock.now(), AffiliateId(id.into_inner()));
    // Approving or rejecting the company decides its pending signups too (they are emailed);
    // suspending or rejecting it ends its people's sessions.
    let (a, decided) = crate::audit::by_user(&state, &me.user, move |c, log| {
        let before = Affiliate::find(c, tenant, id).map_err(offers_err)?;
        let a = Affiliate::set_status(c, tenant, id, status, now).map_err(offers_err)?;
        let decided = signup::affiliate_status_changed(c, tenant, id, status.as_str(), now)?;
        log.add(Entity::Affiliate, a.id, "status", crate::audit::affiliate_changes(&before, &a));
        crate::pages::signup::log_company_decision(log, &a, &decided);
        Ok((a, decided))
    })
    .await?;
    tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, affiliate = %a.id, status = status.as_str(), signups = decided.len(), "affiliate status changed");
    crate::pages::signup::announce_company_decision(&state, &me.tenant, &a, decided).await;
    let verb = match status {
        AffiliateStatus::Active => "approved",
        AffiliateStatus::Suspended => "suspended",
        _ => "rejected",
    };
    me.session.flash("success", format!("{} is now {verb}.", a.name));
    Ok(see_other(&format!("/admin/affiliates/{}", a.id)))
}
