//! The public pages of a network's accounts: affiliate (and, where enabled, advertiser) signup,
//! email verification, forgotten password and reset. Like sign-in, they learn their tenant from
//! the `/t/{slug}` prefix.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use affnet_accounts::mail::{Email, Greeting, Kind};
use affnet_accounts::signup::{self, Purpose, Signup, SignupInput, SignupKind, SignupSettings};
use affnet_accounts::{throttle, AccountsError, Tenant, User};
use affnet_db::FieldErrors;
use askama::Template;

use crate::auth::client_ip;
use crate::csrf::{CsrfForm, NoFields};
use crate::layout::{render, Layout};
use crate::session::Session;
use crate::{AppError, AppState};

fn greeting(tenant: &Tenant, user: &User) -> Greeting {
    Greeting { network: tenant.name.clone(), name: user.name.clone() }
}

/// Renders a message for `user`; a template failure is logged and nothing is sent.
pub(crate) fn message(kind: Kind, tenant: &Tenant, user: &User, link: &str, detail: &str) -> Vec<Email> {
    match Email::render(kind, &user.email, &greeting(tenant, user), link, detail) {
        Ok(e) => vec![e],
        Err(e) => {
            tracing::error!(error = %e, "mail not rendered");
            Vec::new()
        }
    }
}

/// The email asking `user` to confirm their address by opening `link`.
pub(crate) fn verify_mail(tenant: &Tenant, user: &User, link: &str) -> Vec<Email> {
    message(Kind::VerifyEmail, tenant, user, link, "")
}

/// A short page with one message (after signup, verification, reset…).
#[derive(Template)]
#[template(path = "signup/notice.html")]
struct NoticePage {
    l: Layout,
    tenant: Tenant,
    heading: String,
    text: String,
    sign_in: bool,
}

fn notice(
    session: &Session,
    status: StatusCode,
    tenant: Tenant,
    heading: &str,
    text: &str,
    sign_in: bool,
) -> Result<HttpResponse, AppError> {
    let page = NoticePage {
        l: Layout::anonymous(session, heading),
        tenant,
        heading: heading.to_owned(),
        text: text.to_owned(),
        sign_in,
    };
    render(status, &page)
}

#[derive(Default, serde::Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    company: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    terms: Option<String>,
}

#[derive(Template)]
#[template(path = "signup/form.html")]
struct SignupPage {
    l: Layout,
    tenant: Tenant,
    advertiser: bool,
    action: String,
    form: SignupForm,
    errors: FieldErrors,
    /// The network's signup terms (empty: none, no checkbox).
    terms: String,
}

fn signup_page(
    session: &Session,
    status: StatusCode,
    (tenant, settings): (Tenant, SignupSettings),
    kind: SignupKind,
    form: SignupForm,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let advertiser = kind == SignupKind::Advertiser;
    let what = if advertiser { "an advertiser" } else { "an affiliate" };
    let action =
        if advertiser { format!("/t/{}/signup/advertiser", tenant.slug) } else { format!("/t/{}/signup", tenant.slug) };
    let page = SignupPage {
        l: Layout::anonymous(session, format!("Sign up as {what} with {}", tenant.name)),
        tenant,
        advertiser,
        action,
        form,
        errors,
        terms: settings.terms,
    };
    render(status, &page)
}

/// The network of an open signup form, with its signup settings.
async fn open_signup(
    req: &HttpRequest,
    state: &AppState,
    slug: String,
    kind: SignupKind,
) -> Result<(Tenant, SignupSettings), AppError> {
    let tenant = crate::auth::tenant_by_slug(req, state, slug).await?;
    let id = tenant.id;
    let settings = state.db(move |c| Ok(signup::settings(c, id)?)).await?;
    if kind == SignupKind::Advertiser && !settings.advertiser_signup {
        return Err(AppError::NotFound);
    }
    Ok((tenant, settings))
}

/// `GET /t/{slug}/signup`
pub async fn affiliate_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let open = open_signup(&req, &state, slug.into_inner(), SignupKind::Affiliate).await?;
    signup_page(&session, StatusCode::OK, open, SignupKind::Affiliate, SignupForm::default(), FieldErrors::new())
}

/// `GET /t/{slug}/signup/advertiser` (only where the network enables it)
pub async fn advertiser_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let open = open_signup(&req, &state, slug.into_inner(), SignupKind::Advertiser).await?;
    signup_page(&session, StatusCode::OK, open, SignupKind::Advertiser, SignupForm::default(), FieldErrors::new())
}

/// `POST /t/{slug}/signup`
pub async fn affiliate_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    form: CsrfForm<SignupForm>,
) -> Result<HttpResponse, AppError> {
    submit(req, state, session, slug.into_inner(), SignupKind::Affiliate, form.0).await
}

/// `POST /t/{slug}/signup/advertiser`
pub async fn advertiser_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    form: CsrfForm<SignupForm>,
) -> Result<HttpResponse, AppError> {
    submit(req, state, session, slug.into_inner(), SignupKind::Advertiser, form.0).await
}

async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    slug: String,
    kind: SignupKind,
    form: SignupForm,
) -> Result<HttpResponse, AppError> {
    let (tenant, settings) = open_signup(&req, &state, slug, kind).await?;
    let ip = client_ip(&req, state.web.trust_proxy);
    let now = state.clock.now();
    let tenant_id = tenant.id;
    let (company, name, email, password) =
        (form.company.clone(), form.name.clone(), form.email.clone(), form.password.clone());
    // A ticked box sends its value (`on` unless the form says otherwise); no value or one saying
    // no does not accept.
    let accept_terms = form
        .terms
        .as_deref()
        .is_some_and(|v| ["on", "true", "yes", "1"].contains(&v.trim().to_ascii_lowercase().as_str()));
    let result = state
        .db(move |c| {
            // Every attempt counts against the client address and the email signed up, like
            // failed sign-ins (never against the network as a whole: anyone could close it).
            throttle::reserve(c, tenant_id, throttle::Action::SignUp, &email.trim().to_lowercase(), &ip, now)?;
            let input =
                SignupInput { kind, company: &company, name: &name, email: &email, password: &password, accept_terms };
            Ok(signup::register(c, tenant_id, &input, now))
        })
        .await?;
    let check_your_email = |tenant| {
        notice(
            &session,
            StatusCode::OK,
            tenant,
            "Check your email",
            "We sent you a link to confirm your email address. Follow it to continue; then your \
             account is reviewed by the network.",
            false,
        )
    };
    match result {
        Ok(Signup::New(reg)) => {
            tracing::info!(tenant = %tenant.slug, user = %reg.user.id, "signed up");
            let link = state.link(&format!("/t/{}/verify/{}", tenant.slug, reg.verify_token));
            state.send_mail(verify_mail(&tenant, &reg.user, &link)).await;
            check_your_email(tenant)
        }
        Ok(Signup::Existing(user)) => {
            // The same answer as a new signup; the owner learns what happened by email.
            tracing::info!(tenant = %tenant.slug, user = %user.id, "signup with the email of an existing account");
            let sign_in = state.link(&format!("/t/{}/login", tenant.slug));
            let forgot = state.link(&format!("/t/{}/forgot", tenant.slug));
            state.send_mail(message(Kind::AlreadyRegistered, &tenant, &user, &sign_in, &forgot)).await;
            check_your_email(tenant)
        }
        Err(AccountsError::Invalid(errors)) => {
            let form = SignupForm { password: String::new(), ..form };
            signup_page(&session, StatusCode::UNPROCESSABLE_ENTITY, (tenant, settings), kind, form, errors)
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "signup/verify.html")]
struct VerifyPage {
    l: Layout,
    tenant: Tenant,
    token: String,
}

/// A `/t/{slug}/…/{token}` link from an email: its network, its token, and whether the token is
/// unused and unexpired for `purpose` (looking does not use it up).
async fn token_link(
    req: &HttpRequest,
    state: &AppState,
    (slug, token): (String, String),
    purpose: Purpose,
) -> Result<(Tenant, String, bool), AppError> {
    let tenant = crate::auth::tenant_by_slug(req, state, slug).await?;
    let (tenant_id, now, t) = (tenant.id, state.clock.now(), token.clone());
    let live = state.db(move |c| Ok(signup::peek_token(c, tenant_id, purpose, &t, now)?)).await?;
    Ok((tenant, token, live.is_some()))
}

fn invalid_verify(session: &Session, tenant: Tenant) -> Result<HttpResponse, AppError> {
    notice(
        session,
        StatusCode::NOT_FOUND,
        tenant,
        "Link not valid",
        "This confirmation link is unknown, already used or expired.",
        false,
    )
}

/// `GET /t/{slug}/verify/{token}`: a page with one button that confirms (by `POST`). Opening
/// the link changes nothing, so a mail scanner or link preview that fetches it does not use it
/// up before its owner clicks.
pub async fn verify_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (tenant, token, live) = token_link(&req, &state, path.into_inner(), Purpose::VerifyEmail).await?;
    if !live {
        return invalid_verify(&session, tenant);
    }
    let page = VerifyPage { l: Layout::anonymous(&session, "Confirm your email"), tenant, token };
    render(StatusCode::OK, &page)
}

/// `POST /t/{slug}/verify/{token}`
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, token) = path.into_inner();
    let tenant = crate::auth::tenant_by_slug(&req, &state, slug).await?;
    let (tenant_id, now) = (tenant.id, state.clock.now());
    let result = state.db(move |c| Ok(signup::verify_email(c, tenant_id, &token, now))).await?;
    match result {
        Ok(v) if v.activated => {
            tracing::info!(tenant = %tenant.slug, user = %v.user.id, "email verified, approved automatically");
            let link = state.link(&format!("/t/{}/login", tenant.slug));
            state.send_mail(message(Kind::AccountApproved, &tenant, &v.user, &link, "")).await;
            notice(
                &session,
                StatusCode::OK,
                tenant,
                "Email confirmed",
                "Your account is active: you can sign in now.",
                true,
            )
        }
        Ok(v) => {
            tracing::info!(tenant = %tenant.slug, user = %v.user.id, "email verified");
            notice(
                &session,
                StatusCode::OK,
                tenant,
                "Email confirmed",
                "Thank you. Your account now waits for the network's approval; we will email you when it is approved.",
                false,
            )
        }
        Err(AccountsError::NotFound) => invalid_verify(&session, tenant),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "signup/forgot.html")]
struct ForgotPage {
    l: Layout,
    tenant: Tenant,
    email: String,
    /// A malformed address, said next to the field (no account could have it).
    error: Option<String>,
}

/// `GET /t/{slug}/forgot`
pub async fn forgot_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let tenant = crate::auth::tenant_by_slug(&req, &state, slug.into_inner()).await?;
    let page = ForgotPage {
        l: Layout::anonymous(&session, "Forgot your password?"),
        tenant,
        email: String::new(),
        error: None,
    };
    render(StatusCode::OK, &page)
}

#[derive(serde::Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// `POST /t/{slug}/forgot`: the same answer whether or not the address has an account.
pub async fn forgot_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    slug: web::Path<String>,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> Result<HttpResponse, AppError> {
    let tenant = crate::auth::tenant_by_slug(&req, &state, slug.into_inner()).await?;
    // An address that is not one is said so (a typo would wait for a mail that never comes);
    // this tells nothing about which addresses have accounts.
    let mut malformed = FieldErrors::new();
    affnet_accounts::user::validate_email(form.email.trim(), &mut malformed);
    if let Some(error) = malformed.get("email") {
        let page = ForgotPage {
            l: Layout::anonymous(&session, "Forgot your password?"),
            tenant,
            error: Some(error.to_owned()),
            email: form.email,
        };
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let ip = client_ip(&req, state.web.trust_proxy);
    let (tenant_id, now, email) = (tenant.id, state.clock.now(), form.email);
    let found = state.db(move |c| Ok(signup::request_reset(c, tenant_id, &email, &ip, now)?)).await?;
    if let Some((user, token)) = found {
        tracing::info!(tenant = %tenant.slug, user = %user.id, "password reset requested");
        let link = state.link(&format!("/t/{}/reset/{token}", tenant.slug));
        state.send_mail_later(message(Kind::PasswordReset, &tenant, &user, &link, ""));
    }
    notice(
        &session,
        StatusCode::OK,
        tenant,
        "Check your email",
        "If the address belongs to an account of this network, we sent it a link to choose a new password. \
         The link works once, for one hour.",
        false,
    )
}

#[derive(Template)]
#[template(path = "signup/reset.html")]
struct ResetPage {
    l: Layout,
    tenant: Tenant,
    token: String,
    error: Option<String>,
}

fn invalid_reset(session: &Session, tenant: Tenant) -> Result<HttpResponse, AppError> {
    notice(
        session,
        StatusCode::NOT_FOUND,
        tenant,
        "Link not valid",
        "This password reset link is unknown, already used or expired. Ask for a new one.",
        false,
    )
}

/// `GET /t/{slug}/reset/{token}`
pub async fn reset_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (tenant, token, live) = token_link(&req, &state, path.into_inner(), Purpose::ResetPassword).await?;
    if !live {
        return invalid_reset(&session, tenant);
    }
    let page = ResetPage { l: Layout::anonymous(&session, "Choose a new password"), tenant, token, error: None };
    render(StatusCode::OK, &page)
}

#[derive(serde::Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
}

/// `POST /t/{slug}/reset/{token}`
pub async fn reset_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> Result<HttpResponse, AppError> {
    let (slug, token) = path.into_inner();
    let tenant = crate::auth::tenant_by_slug(&req, &state, slug).await?;
    let (tenant_id, now, t) = (tenant.id, state.clock.now(), token.clone());
    let result = state.db(move |c| Ok(signup::reset_password(c, tenant_id, &t, &form.password, now))).await?;
    match result {
        Ok(user) => {
            tracing::info!(tenant = %tenant.slug, user = %user.id, "password reset");
            notice(
                &session,
                StatusCode::OK,
                tenant,
                "Password changed",
                "Your new password is set. Sign in with it; other sessions of your account have been signed out.",
                true,
            )
        }
        Err(AccountsError::Invalid(e)) => {
            let page = ResetPage {
                l: Layout::anonymous(&session, "Choose a new password"),
                tenant,
                token,
                error: e.get("password").map(str::to_owned),
            };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(AccountsError::NotFound) => invalid_reset(&session, tenant),
        Err(other) => Err(other.into()),
    }
}

/// The emails of an admin's decision on a pending signup.
pub fn decision_mail(state: &AppState, tenant: &Tenant, user: &User, approved: bool) -> Vec<Email> {
    if approved {
        let link = state.link(&format!("/t/{}/login", tenant.slug));
        message(Kind::AccountApproved, tenant, user, &link, "")
    } else {
        message(Kind::AccountRejected, tenant, user, "", "")
    }
}

/// Audits, in the change's `log`, the signups decided with their affiliate company's new status
/// ([`signup::affiliate_status_changed`]), whether the staff member changed it on the pages or
/// with an API key.
pub fn log_company_decision(
    log: &mut crate::audit::Log,
    company: &affnet_offers::Affiliate,
    decided: &[(User, affnet_accounts::UserStatus)],
) {
    let approved = company.status == affnet_offers::AffiliateStatus::Active;
    for (u, after) in decided {
        let action = if approved { "approve signup" } else { "reject signup" };
        let summary = format!(
            "{}: status {} → {} (affiliate company #{} {})",
            u.email,
            u.status.as_str(),
            after.as_str(),
            company.id,
            company.status.as_str()
        );
        log.add(affnet_accounts::audit::Entity::User, u.id, action, summary);
    }
}

/// Emails the people whose signups were decided with their affiliate company's new status, once
/// the change is committed ([`log_company_decision`] audits them).
pub async fn announce_company_decision(
    state: &AppState,
    tenant: &Tenant,
    company: &affnet_offers::Affiliate,
    decided: Vec<(User, affnet_accounts::UserStatus)>,
) {
    let approved = company.status == affnet_offers::AffiliateStatus::Active;
    let emails = decided.iter().flat_map(|(u, _)| decision_mail(state, tenant, u, approved)).collect();
    state.send_mail(emails).await;
}

/// Emails the active users of an affiliate about a decision on their access to an offer. Called
/// after the decision is committed; any failure is logged, never returned.
pub async fn notify_access_decision(
    state: &AppState,
    tenant: affnet_db::TenantId,
    offer: affnet_db::OfferId,
    affiliate: affnet_db::AffiliateId,
    status: affnet_offers::AccessStatus,
) {
    let approved = match status {
        affnet_offers::AccessStatus::Approved => true,
        affnet_offers::AccessStatus::Rejected => false,
        _ => return,
    };
    let loaded = state
        .db(move |c| {
            let t = Tenant::find(c, tenant)?;
            let name = affnet_offers::Offer::find(c, tenant, offer)?.name;
            let users = User::list_of_company(c, tenant, affnet_accounts::user::Company::Affiliate(affiliate))?;
            Ok((t, name, users))
        })
        .await;
    let (tenant, offer_name, users) = match loaded {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "offer access mail not sent");
            return;
        }
    };
    let (kind, link) = if approved {
        (Kind::OfferAccessApproved, state.link("/affiliate/offers"))
    } else {
        (Kind::OfferAccessRejected, String::new())
    };
    let emails = users
        .iter()
        .filter(|u| u.status == affnet_accounts::UserStatus::Active)
        .flat_map(|u| message(kind, &tenant, u, &link, &offer_name))
        .collect();
    state.send_mail(emails).await;
}
