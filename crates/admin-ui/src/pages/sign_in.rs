//! Signing in and out. The sign-in page of a network lives at `/t/{slug}/login`: the only place
//! a page learns its tenant from the URL. `/login` asks which network, unless it is opened on a
//! network's tracking domain (its `Host`): then it goes on to that network's page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use affnet_accounts::{AccountsError, Tenant, User};
use askama::Template;

use crate::auth::{client_ip, CurrentUser};
use crate::csrf::{CsrfForm, NoFields};
use crate::layout::{home_for, render, see_other, Layout};
use crate::session::Session;
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "sign_in/find_network.html")]
struct FindNetworkPage {
    l: Layout,
    network: String,
    next: String,
    error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct FindNetworkQuery {
    network: Option<String>,
    next: Option<String>,
}

/// `GET /login`: which network? Then on to its sign-in page.
pub async fn find_network(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<FindNetworkQuery>,
) -> Result<HttpResponse, AppError> {
    // The page to go on to after signing in travels with the choice of network.
    let next = safe_next(q.next.as_deref()).unwrap_or("").to_owned();
    let login = |slug: &str| match next.as_str() {
        "" => format!("/t/{slug}/login"),
        n => format!("/t/{slug}/login?next={}", crate::pages::catalogue::percent_encode(n)),
    };
    let host = affnet_tracking::handlers::host(&req);
    if let Some(name) = host.and_then(affnet_accounts::tenant::host_name) {
        if let Some(network) = state.db(move |c| Ok(Tenant::find_by_tracking_domain(c, &name)?)).await? {
            return Ok(see_other(&login(&network.slug)));
        }
    }
    let mut error = None;
    let network = q.network.as_deref().unwrap_or("").trim().to_lowercase();
    if !network.is_empty() {
        let mut e = affnet_db::FieldErrors::new();
        affnet_accounts::tenant::validate_slug(&network, &mut e);
        if !e.is_empty() {
            error = Some("A network address is made of lower-case letters, digits and dashes.".to_owned());
        } else {
            let slug = network.clone();
            if state.db(move |c| Ok(Tenant::find_by_slug(c, &slug)?)).await?.is_some() {
                return Ok(see_other(&login(&network)));
            }
            // A typo is answered here, with the form and what was typed (it went on to a bare
            // 404 page).
            error = Some(format!(
                "No network has the address \"{network}\". Check the sign-in link your network sent you."
            ));
        }
    }
    let page = FindNetworkPage { l: Layout::anonymous(&session, "Sign in"), network, next, error };
    render(if page.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }, &page)
}

#[derive(Template)]
#[template(path = "sign_in/form.html")]
struct SignInPage {
    l: Layout,
    tenant: Tenant,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only same-site paths are followed after sign-in (no open redirect): printable ASCII only,
/// since browsers drop tabs and line breaks from a URL (`/<TAB>/evil.example` is read as
/// `//evil.example`, another site) and a line break cannot be sent in `Location` at all.
pub(crate) fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && n.len() < 1000
            && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
    })
}

/// `GET /t/{slug}/login`
pub async fn form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    let tenant = crate::auth::tenant_by_slug(&req, &state, slug.into_inner()).await?;
    let page = SignInPage {
        l: Layout::anonymous(&session, format!("Sign in to {}", tenant.name)),
        tenant,
        email: String::new(),
        next: safe_next(q.next.as_deref()).unwrap_or("").to_owned(),
        error: None,
    };
    render(StatusCode::OK, &page)
}

#[derive(serde::Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// `POST /t/{slug}/login`
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    CsrfForm(form): CsrfForm<SignInForm>,
) -> Result<HttpResponse, AppError> {
    let tenant = crate::auth::tenant_by_slug(&req, &state, slug.into_inner()).await?;
    let ip = client_ip(&req, state.web.trust_proxy);
    let now = state.clock.now();
    let (tenant_id, email, password) = (tenant.id, form.email.clone(), form.password);
    let result = state.db(move |c| Ok(User::authenticate(c, tenant_id, &email, &password, &ip, now))).await?;
    let (status, message) = match result {
        Ok(user) => {
            tracing::info!(tenant = %tenant.slug, user = %user.id, "signed in");
            session.sign_in(user.id, tenant.id, user.session_epoch, now);
            let next = safe_next(form.next.as_deref()).unwrap_or(home_for(user.role));
            return Ok(see_other(next));
        }
        Err(AccountsError::BadCredentials) => (StatusCode::UNAUTHORIZED, "Wrong email or password.".to_owned()),
        Err(AccountsError::Throttled { retry_after_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed attempts. For your security, sign-in is paused for {} minute(s).",
                (retry_after_secs + 59) / 60
            ),
        ),
        Err(AccountsError::Pending { verified: false }) => {
            // The password was right: the address may get a new link (its first may have
            // expired), at most one per 10 minutes.
            let (email, tenant_id) = (form.email.clone(), tenant.id);
            let renewed = state
                .db(move |c| {
                    let Some(user) = User::find_by_email(c, tenant_id, &email)? else { return Ok(None) };
                    let token = affnet_accounts::signup::renew_verification(c, tenant_id, user.id, now)?;
                    Ok(token.map(|t| (user, t)))
                })
                .await?;
            let message = match renewed {
                Some((user, token)) => {
                    tracing::info!(tenant = %tenant.slug, user = %user.id, "email confirmation link renewed");
                    let link = state.link(&format!("/t/{}/verify/{token}", tenant.slug));
                    state.send_mail(crate::pages::signup::verify_mail(&tenant, &user, &link)).await;
                    "Please confirm your email address first: we emailed you a new link."
                }
                None => "Please confirm your email address first: follow the link we emailed you.",
            };
            (StatusCode::FORBIDDEN, message.to_owned())
        }
        Err(AccountsError::Pending { verified: true }) => (
            StatusCode::FORBIDDEN,
            "Your account is waiting for approval by the network. We will email you when it is approved.".to_owned(),
        ),
        Err(AccountsError::Disabled) => {
            (StatusCode::FORBIDDEN, "This account is not active. Contact your network's administrator.".to_owned())
        }
        Err(other) => return Err(other.into()),
    };
    tracing::info!(tenant = %tenant.slug, status = status.as_u16(), "sign-in refused");
    let retry_after = match result {
        Err(AccountsError::Throttled { retry_after_secs }) => Some(retry_after_secs),
        _ => None,
    };
    let page = SignInPage {
        l: Layout::anonymous(&session, format!("Sign in to {}", tenant.name)),
        tenant,
        email: form.email,
        next: safe_next(form.next.as_deref()).unwrap_or("").to_owned(),
        error: Some(message),
    };
    let mut res = render(status, &page)?;
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from(secs));
    }
    Ok(res)
}

/// `POST /logout`
pub async fn sign_out(
    state: web::Data<AppState>,
    me: Option<CurrentUser>,
    session: Session,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    if let Some(me) = &me {
        // The cookie is the session: a copy of it (another tab's, a stolen one) must die too.
        let (tenant, user) = (me.user.tenant_id, me.user.id);
        state.db(move |c| Ok(User::end_sessions(c, tenant, user)?)).await?;
        tracing::info!(tenant = %tenant, user = %user, "signed out");
    }
    session.sign_out(now);
    session.flash("info", "You have signed out.");
    Ok(match me {
        Some(me) => see_other(&format!("/t/{}/login", me.tenant.slug)),
        None => see_other("/login"),
    })
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/admin/users")), Some("/admin/users"));
        assert_eq!(
            safe_next(Some("/admin/reports?from=2026-01-01&x=%20")),
            Some("/admin/reports?from=2026-01-01&x=%20")
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "admin",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            "/\u{a0}/x",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }
}
