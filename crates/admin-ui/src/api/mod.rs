//! The JSON API under `/api/v1`: API-key authentication, tenant-scoped, role-checked, errors as
//! `{"error": code, "message": …, "fields": {…}}`.

pub mod users;

use actix_web::{web, HttpResponse};

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
