//! The JSON API under `/api/v1`: API-key authentication, tenant-scoped, role-checked, errors as
//! `{"error": code, "message": …, "fields": {…}}`.

pub mod access;
pub mod advertisers;
pub mod affiliates;
pub mod goals;
pub mod offers;
pub mod openapi;
pub mod payout_overrides;
pub mod users;

use actix_web::{web, HttpResponse};
use affnet_accounts::Role;
use affnet_db::{AdvertiserId, AffiliateId, FieldErrors};

use crate::auth::ApiUser;
use crate::{ApiError, AppError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(256 * 1024).error_handler(|err, _| {
        ApiError(AppError::BadRequest(format!("the JSON body could not be read: {err}"))).into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError(AppError::BadRequest(format!("the query string could not be read: {err}"))).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|_, _| ApiError(AppError::NotFound).into()))
    .route("/me", web::get().to(users::me))
    .route("/users", web::get().to(users::list))
    .route("/users", web::post().to(users::create))
    .route("/users/{id}", web::get().to(users::get))
    .route("/openapi.json", web::get().to(openapi::document))
    .route("/advertisers", web::get().to(advertisers::list))
    .route("/advertisers", web::post().to(advertisers::create))
    .route("/advertisers/{id}", web::get().to(advertisers::get))
    .route("/advertisers/{id}", web::put().to(advertisers::update))
    .route("/affiliates", web::get().to(affiliates::list))
    .route("/affiliates", web::post().to(affiliates::create))
    .route("/affiliates/{id}", web::get().to(affiliates::get))
    .route("/affiliates/{id}", web::put().to(affiliates::update))
    .route("/affiliates/{id}/status", web::post().to(affiliates::set_status))
    .route("/offers", web::get().to(offers::list))
    .route("/offers", web::post().to(offers::create))
    .route("/offers/{id}", web::get().to(offers::get))
    .route("/offers/{id}", web::put().to(offers::update))
    .route("/offers/{id}/rotate-token", web::post().to(offers::rotate_token))
    .route("/offers/{id}/goals", web::get().to(goals::list))
    .route("/offers/{id}/goals", web::post().to(goals::create))
    .route("/offers/{id}/apply", web::post().to(access::apply))
    .route("/goals/{id}", web::get().to(goals::get))
    .route("/goals/{id}", web::put().to(goals::update))
    .route("/offer-access", web::get().to(access::list))
    .route("/offer-access/decide", web::post().to(access::decide))
    .route("/payout-overrides", web::get().to(payout_overrides::list))
    .route("/payout-overrides", web::post().to(payout_overrides::set))
    .route("/payout-overrides/{id}", web::delete().to(payout_overrides::delete))
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(AppError::NotFound.into())
}

/// `?page=1&per_page=50` (1-based; at most 200 per page).
#[derive(Debug, serde::Deserialize)]
pub struct Pagination {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl Pagination {
    pub fn limit_offset(&self) -> Result<(i64, i64, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(50);
        if page < 1 || !(1..=200).contains(&per_page) {
            return Err(AppError::BadRequest("page starts at 1; per_page is 1 to 200".into()).into());
        }
        Ok((per_page, (page - 1).saturating_mul(per_page), page))
    }
}

/// One page of a list.
#[derive(serde::Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

/// Who is reading the catalogue, which decides what they may see of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Network admins and managers: everything of their network.
    Staff,
    /// A user of an affiliate company: what that company may run or apply to.
    Affiliate(AffiliateId),
    /// A user of an advertiser company: that company's offers, read-only.
    Advertiser(AdvertiserId),
}

impl Viewer {
    /// The viewer behind an API key; a company user not linked to a company sees nothing (403).
    pub fn of(me: &ApiUser) -> Result<Viewer, ApiError> {
        match me.user.role {
            Role::Admin | Role::Manager => Ok(Viewer::Staff),
            Role::Affiliate => me.user.affiliate_id.map(Viewer::Affiliate).ok_or(ApiError(AppError::Forbidden)),
            Role::Advertiser => me.user.advertiser_id.map(Viewer::Advertiser).ok_or(ApiError(AppError::Forbidden)),
        }
    }
}

/// Refuses (403) anyone but network admins and managers.
pub fn require_staff(me: &ApiUser) -> Result<(), ApiError> {
    me.require(&[Role::Admin, Role::Manager])
}

/// Parses an optional query parameter naming one of an enum's words; a wrong word is a 422 on
/// that parameter.
pub fn parse_param<T: std::str::FromStr<Err = String>>(
    value: Option<&str>,
    field: &str,
) -> Result<Option<T>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|m| ApiError(AppError::Invalid(FieldErrors::single(field, m)))),
    }
}
