//! Each role's landing page.

use actix_web::{web, HttpResponse};
use affnet_accounts::Role;
use askama::Template;

use super::reports::{dashboard, Dashboard, Scope};

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

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct StaffDashboard {
    l: Layout,
    slug: String,
    /// The server's address (sign-in pages, the API) and what tracking links start with.
    public_url: String,
    tracking_base: String,
    d: Dashboard,
    is_admin: bool,
}

/// `GET /admin`: the network overview for admins and managers.
pub async fn staff(state: web::Data<AppState>, me: Staff) -> Result<HttpResponse, AppError> {
    let d = dashboard(&state, &me, Scope::Staff).await?;
    let page = StaffDashboard {
        l: Layout::for_user(&me, "Dashboard", "/admin"),
        slug: me.tenant.slug.clone(),
        public_url: state.web.public_url.clone(),
        tracking_base: state.tracking_base(&me.tenant),
        d,
        is_admin: me.role() == Role::Admin,
    };
    ok(&page)
}

#[derive(Template)]
#[template(path = "affiliate/dashboard.html")]
struct AffiliateDashboard {
    l: Layout,
    public_url: String,
    d: Dashboard,
    /// The affiliate's manager (name, email), when the network assigned an active one.
    manager: Option<(String, String)>,
    /// The affiliate's postback jobs of the last 7 days that failed (gave up), and that wait
    /// for a retry.
    failing: (i64, i64),
}

/// How far back the dashboard looks for failing postbacks.
const FAILING_SINCE: i64 = 7 * affnet_db::Micros::DAY;

/// `GET /affiliate`
pub async fn affiliate(state: web::Data<AppState>, me: AffiliateUser) -> Result<HttpResponse, AppError> {
    let own = me.user.affiliate_id.ok_or(AppError::Forbidden)?;
    let d = dashboard(&state, &me, Scope::Affiliate(own)).await?;
    let (tenant, since) = (me.tenant.id, state.clock.now().minus(FAILING_SINCE));
    let (manager, failing) = state
        .db(move |c| {
            let mut jobs = |state: &str| {
                let f = affnet_tracking::listing::Filter {
                    affiliate: Some(own),
                    status: Some(state.to_owned()),
                    from: Some(since),
                    ..Default::default()
                };
                affnet_tracking::listing::count_jobs(c, tenant, &f)
            };
            let failing = (jobs("failed")?, jobs("retry")?);
            let Some(id) = affnet_offers::Affiliate::find(c, tenant, own)?.manager_user_id else {
                return Ok((None, failing));
            };
            let user = affnet_accounts::User::find(c, tenant, id)?;
            let staff = matches!(user.role, Role::Manager | Role::Admin);
            Ok((
                (staff && user.status == affnet_accounts::UserStatus::Active).then_some((user.name, user.email)),
                failing,
            ))
        })
        .await?;
    ok(&AffiliateDashboard {
        l: Layout::for_user(&me, "Dashboard", "/affiliate"),
        public_url: state.web.public_url.clone(),
        d,
        manager,
        failing,
    })
}

#[derive(Template)]
#[template(path = "advertiser/dashboard.html")]
struct AdvertiserDashboard {
    l: Layout,
    /// What the conversion endpoint's address starts with.
    tracking_base: String,
    d: Dashboard,
}

/// `GET /advertiser`
pub async fn advertiser(state: web::Data<AppState>, me: AdvertiserUser) -> Result<HttpResponse, AppError> {
    let own = me.user.advertiser_id.ok_or(AppError::Forbidden)?;
    let d = dashboard(&state, &me, Scope::Advertiser(own)).await?;
    ok(&AdvertiserDashboard {
        l: Layout::for_user(&me, "Dashboard", "/advertiser"),
        tracking_base: state.tracking_base(&me.tenant),
        d,
    })
}
