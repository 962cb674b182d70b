//! Advertisers (staff): list with search and status filter, create, view and edit, with their
//! offers and their users.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_accounts::user::Company;
use affnet_accounts::User;
use affnet_db::{AdvertiserId, FieldErrors};
use affnet_offers::{Advertiser, AdvertiserInput, AdvertiserStatus, Offer, OfferFilter, OffersError};
use askama::Template;

use super::{offers_err, page_offset, Pager, PER_PAGE};
use crate::auth::Staff;
use crate::csrf::CsrfForm;
use crate::layout::{render, see_other, Layout};
use crate::{AppError, AppState};

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AdvertiserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    notes: String,
}

impl AdvertiserForm {
    fn input(&self) -> AdvertiserInput {
        AdvertiserInput {
            name: self.name.clone(),
            contact_name: self.contact_name.clone(),
            contact_email: self.contact_email.clone(),
            status: Some(self.status.clone()),
            notes: self.notes.clone(),
        }
    }

    fn from(a: &Advertiser) -> Self {
        AdvertiserForm {
            name: a.name.clone(),
            contact_name: a.contact_name.clone(),
            contact_email: a.contact_email.clone(),
            status: a.status.as_str().to_owned(),
            notes: a.notes.clone(),
        }
    }
}

fn statuses() -> Vec<(String, String)> {
    AdvertiserStatus::ALL.iter().map(|s| (s.as_str().to_owned(), s.as_str().to_owned())).collect()
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
#[template(path = "admin/advertisers.html")]
struct ListPage {
    l: Layout,
    advertisers: Vec<Advertiser>,
    query: ListQuery,
    pager: Pager,
    statuses: Vec<(String, String)>,
    form: AdvertiserForm,
    errors: FieldErrors,
}

async fn list_page(
    state: &AppState,
    me: &Staff,
    query: ListQuery,
    form: AdvertiserForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let filter = match query.status.as_str() {
        "" => None,
        s => Some(s.parse::<AdvertiserStatus>().map_err(AppError::BadRequest)?),
    };
    let (page, offset) = page_offset(query.page);
    let (tenant, search) = (me.tenant.id, query.q.clone());
    let mut advertisers = state
        .db(move |c| Advertiser::list(c, tenant, Some(&search), filter, PER_PAGE + 1, offset).map_err(offers_err))
        .await?;
    let pager = Pager::new("/admin/advertisers", &[("q", &query.q), ("status", &query.status)], page, &mut advertisers);
    let page = ListPage {
        l: Layout::for_user(me, "Advertisers", "/admin/advertisers"),
        advertisers,
        query,
        pager,
        statuses: statuses(),
        form,
        errors,
    };
    render(status, &page)
}

/// `GET /admin/advertisers`
pub async fn list(state: web::Data<AppState>, me: Staff, q: web::Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let form = AdvertiserForm { status: "active".into(), ..AdvertiserForm::default() };
    list_page(&state, &me, q.into_inner(), form, FieldErrors::new(), StatusCode::OK).await
}

/// `POST /admin/advertisers`
pub async fn create(
    state: web::Data<AppState>,
    me: Staff,
    CsrfForm(form): CsrfForm<AdvertiserForm>,
) -> Result<HttpResponse, AppError> {
    let (tenant, now, input) = (me.tenant.id, state.clock.now(), form.input());
    let created = crate::audit::by_user(&state, &me.user, move |c, log| {
        let created = Advertiser::create(c, tenant, &input, now);
        if let Ok(a) = &created {
            log.add(Entity::Advertiser, a.id, "create", crate::audit::advertiser_created(a));
        }
        Ok(created)
    })
    .await?;
    match created {
        Ok(a) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, advertiser = %a.id, "advertiser created");
            me.session.flash("success", format!("Advertiser {} created.", a.name));
            Ok(see_other(&format!("/admin/advertisers/{}", a.id)))
        }
        Err(OffersError::Invalid(errors)) => {
            list_page(&state, &me, ListQuery::default(), form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(offers_err(e)),
    }
}

#[derive(Template)]
#[template(path = "admin/advertiser.html")]
struct ShowPage {
    l: Layout,
    advertiser: Advertiser,
    offers: Vec<Offer>,
    users: Vec<User>,
    statuses: Vec<(String, String)>,
    form: AdvertiserForm,
    errors: FieldErrors,
}

async fn show_page(
    state: &AppState,
    me: &Staff,
    id: AdvertiserId,
    form: Option<AdvertiserForm>,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let tenant = me.tenant.id;
    let (advertiser, offers, users) = state
        .db(move |c| {
            let a = Advertiser::find(c, tenant, id).map_err(offers_err)?;
            let filter = OfferFilter { advertiser_id: Some(id), ..OfferFilter::default() };
            let offers = Offer::list(c, tenant, &filter, 500, 0).map_err(offers_err)?;
            let users = User::list_of_company(c, tenant, Company::Advertiser(id))?;
            Ok((a, offers, users))
        })
        .await?;
    let page = ShowPage {
        l: Layout::for_user(me, advertiser.name.clone(), "/admin/advertisers"),
        form: form.unwrap_or_else(|| AdvertiserForm::from(&advertiser)),
        advertiser,
        offers,
        users,
        statuses: statuses(),
        errors,
    };
    render(status, &page)
}

/// `GET /admin/advertisers/{id}`: an advertiser of another network is not found.
pub async fn show(state: web::Data<AppState>, me: Staff, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    show_page(&state, &me, AdvertiserId(id.into_inner()), None, FieldErrors::new(), StatusCode::OK).await
}

/// `POST /admin/advertisers/{id}`
pub async fn update(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<AdvertiserForm>,
) -> Result<HttpResponse, AppError> {
    let (tenant, now, input, id) = (me.tenant.id, state.clock.now(), form.input(), AdvertiserId(id.into_inner()));
    let saved = crate::audit::by_user(&state, &me.user, move |c, log| {
        crate::api::locked_change(c, "advertisers", tenant, id.0, |c| {
            let saved = Advertiser::find(c, tenant, id)
                .and_then(|b| Advertiser::update(c, tenant, id, &input, now).map(|a| (b, a)));
            if let Ok((before, a)) = &saved {
                log.add(Entity::Advertiser, a.id, "update", crate::audit::advertiser_changes(before, a));
            }
            Ok(saved.map(|(_, a)| a))
        })
    })
    .await?;
    match saved {
        Ok(a) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, advertiser = %a.id, "advertiser updated");
            me.session.flash("success", "Advertiser saved.");
            Ok(see_other(&format!("/admin/advertisers/{}", a.id)))
        }
        Err(OffersError::Invalid(errors)) => {
            show_page(&state, &me, id, Some(form), errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(offers_err(e)),
    }
}
