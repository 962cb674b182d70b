//! The base layout every page extends: who is signed in, the navigation of their role, the
//! flash message, and the CSRF token for forms.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use affnet_accounts::Role;
use askama::Template;

use crate::auth::CurrentUser;
use crate::session::Session;
use crate::AppError;

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
}

pub struct LayoutUser {
    pub name: String,
    pub email: String,
    pub role_label: &'static str,
    pub tenant_name: String,
}

pub struct Layout {
    pub title: String,
    pub user: Option<LayoutUser>,
    pub nav: Vec<NavItem>,
    /// The `href` of the current section, highlighted in the navigation.
    pub active: &'static str,
    pub csrf: String,
    pub flash: Option<(String, String)>,
}

/// The sections a role may open, in menu order. Only pages that exist are listed.
pub fn nav_for(role: Role) -> Vec<NavItem> {
    let item = |href, label| NavItem { href, label };
    match role {
        Role::Admin => vec![
            item("/admin", "Dashboard"),
            item("/admin/reports", "Reports"),
            item("/admin/offers", "Offers"),
            item("/admin/advertisers", "Advertisers"),
            item("/admin/affiliates", "Affiliates"),
            item("/admin/access", "Offer access"),
            item("/admin/conversions", "Conversions"),
            item("/admin/conversion-calls", "Conversion calls"),
            item("/admin/clicks", "Clicks"),
            item("/admin/tracer", "Tracer"),
            item("/admin/postbacks/log", "Postback log"),
            item("/admin/users", "Users"),
            item("/admin/audit", "Audit log"),
            item("/account/api-keys", "API keys"),
            item("/account/password", "Password"),
        ],
        Role::Manager => vec![
            item("/admin", "Dashboard"),
            item("/admin/reports", "Reports"),
            item("/admin/offers", "Offers"),
            item("/admin/advertisers", "Advertisers"),
            item("/admin/affiliates", "Affiliates"),
            item("/admin/access", "Offer access"),
            item("/admin/conversions", "Conversions"),
            item("/admin/conversion-calls", "Conversion calls"),
            item("/admin/clicks", "Clicks"),
            item("/admin/tracer", "Tracer"),
            item("/admin/postbacks/log", "Postback log"),
            item("/account/api-keys", "API keys"),
            item("/account/password", "Password"),
        ],
        Role::Affiliate => vec![
            item("/affiliate", "Dashboard"),
            item("/affiliate/reports", "Reports"),
            item("/affiliate/offers", "Offers"),
            item("/affiliate/conversions", "Conversions"),
            item("/affiliate/postbacks", "Postbacks"),
            item("/affiliate/postbacks/log", "Postback log"),
            item("/account/api-keys", "API keys"),
            item("/account/password", "Password"),
        ],
        Role::Advertiser => vec![
            item("/advertiser", "Dashboard"),
            item("/advertiser/reports", "Reports"),
            item("/advertiser/offers", "Offers"),
            item("/advertiser/conversions", "Conversions"),
            item("/advertiser/conversion-calls", "Conversion calls"),
            item("/account/api-keys", "API keys"),
            item("/account/password", "Password"),
        ],
    }
}

/// Where a role lands after sign-in.
pub fn home_for(role: Role) -> &'static str {
    match role {
        Role::Admin | Role::Manager => "/admin",
        Role::Affiliate => "/affiliate",
        Role::Advertiser => "/advertiser",
    }
}

impl Layout {
    pub fn for_user(me: &CurrentUser, title: impl Into<String>, active: &'static str) -> Self {
        Layout {
            title: title.into(),
            user: Some(LayoutUser {
                name: me.user.name.clone(),
                email: me.user.email.clone(),
                role_label: me.user.role.label(),
                tenant_name: me.tenant.name.clone(),
            }),
            nav: nav_for(me.user.role),
            active,
            csrf: me.session.csrf_token(),
            flash: me.session.take_flash(),
        }
    }

    /// Whether the signed-in user's menu has the section `href` (a page links to a section
    /// only for those who may open it).
    pub fn can_open(&self, href: &str) -> bool {
        self.nav.iter().any(|n| n.href == href)
    }

    pub fn anonymous(session: &Session, title: impl Into<String>) -> Self {
        Layout {
            title: title.into(),
            user: None,
            nav: Vec::new(),
            active: "",
            csrf: session.csrf_token(),
            flash: session.take_flash(),
        }
    }
}

/// Renders a page with a status.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    let html = page.render().map_err(|e| AppError::Internal(format!("template: {e}")))?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html))
}

pub fn ok(page: &impl Template) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, page)
}

/// `303 See Other` to a page of this site (after a form).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", location)).finish()
}
