//! Each role's landing page.

use actix_web::{web, HttpResponse};
use affnet_accounts::{Role, User};
use askama::Template;

use crate::auth::{AdvertiserUser, AffiliateUser, CurrentUser, Staff};
use crate::layout::{home_for, ok, see_other, Layout};
use crate::{AppError, AppState};

/// `GET /`: the landing page of whoever is signed in, else the sign-in page.
pub async fn root(me: Option<CurrentUser>) -> HttpResponse {
    match me {
        Some(me) => see_other(home_for(me.role())),
        None => see_other("/login"),
    }
}

pub struct RoleCount {
    pub label: &'static str,
    pub count: usize,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct StaffDashboard {
    l: Layout,
    slug: String,
    public_url: String,
    counts: Vec<RoleCount>,
    is_admin: bool,
}

/// `GET /admin`: the network overview for admins and managers.
pub async fn staff(state: web::Data<AppState>, me: Staff) -> Result<HttpResponse, AppError> {
    let tenant = me.tenant.id;
    let users = state.db(move |c| Ok(User::list(c, tenant, None, 10_000, 0)?)).await?;
    let counts = Role::ALL
        .into_iter()
        .map(|role| RoleCount { label: role.label(), count: users.iter().filter(|u| u.role == role).count() })
        .collect();
    let page = StaffDashboard {
        l: Layout::for_user(&me, "Dashboard", "/admin"),
        slug: me.tenant.slug.clone(),
        public_url: state.web.public_url.clone(),
        counts,
        is_admin: me.role() == Role::Admin,
    };
    ok(&page)
}

#[derive(Template)]
#[template(path = "affiliate/dashboard.html")]
struct AffiliateDashboard {
    l: Layout,
    public_url: String,
}

/// `GET /affiliate`
pub async fn affiliate(state: web::Data<AppState>, me: AffiliateUser) -> Result<HttpResponse, AppError> {
    ok(&AffiliateDashboard {
        l: Layout::for_user(&me, "Dashboard", "/affiliate"),
        public_url: state.web.public_url.clone(),
    })
}

#[derive(Template)]
#[template(path = "advertiser/dashboard.html")]
struct AdvertiserDashboard {
    l: Layout,
    public_url: String,
}

/// `GET /advertiser`
pub async fn advertiser(state: web::Data<AppState>, me: AdvertiserUser) -> Result<HttpResponse, AppError> {
    ok(&AdvertiserDashboard {
        l: Layout::for_user(&me, "Dashboard", "/advertiser"),
        public_url: state.web.public_url.clone(),
    })
}
