//! A signed-in user changes their own password (`/account/password`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_accounts::mail::Kind;
use affnet_accounts::{AccountsError, NewPassword, User};
use affnet_db::FieldErrors;
use askama::Template;

use crate::auth::{client_ip, CurrentUser};
use crate::csrf::CsrfForm;
use crate::layout::{render, see_other, Layout};
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage {
    l: Layout,
    /// For password managers (a hidden `username` field).
    email: String,
    errors: FieldErrors,
}

fn page(me: &CurrentUser, status: StatusCode, errors: FieldErrors) -> Result<HttpResponse, AppError> {
    let l = Layout::for_user(me, "Password", "/account/password");
    render(status, &PasswordPage { l, email: me.user.email.clone(), errors })
}

/// `GET /account/password`
pub async fn form(me: CurrentUser) -> Result<HttpResponse, AppError> {
    page(&me, StatusCode::OK, FieldErrors::new())
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /account/password`: the current password (throttled like a sign-in), the new one twice.
/// Every other session of the user ends; this one goes on, and the user is emailed.
pub async fn change(
    state: web::Data<AppState>,
    me: CurrentUser,
    req: HttpRequest,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    if form.new_password != form.confirm_password {
        let errors = FieldErrors::single("confirm_password", "type the same new password twice");
        return page(&me, StatusCode::UNPROCESSABLE_ENTITY, errors);
    }
    let (tenant, id, now, ip) = (me.tenant.id, me.user.id, state.clock.now(), client_ip(&req, state.web.trust_proxy));
    // Checked and hashed outside the change's transaction (argon2 takes tens of milliseconds).
    let checked = state
        .db(move |c| {
            let checked =
                User::check_password_change(c, tenant, id, &form.current_password, &form.new_password, &ip, now);
            Ok(checked.map(|_| NewPassword::hash(&form.new_password)))
        })
        .await?;
    let password = match checked {
        Ok(password) => password,
        Err(AccountsError::Invalid(errors)) => return page(&me, StatusCode::UNPROCESSABLE_ENTITY, errors),
        Err(other) => return Err(other.into()),
    };
    let user = crate::audit::by_user(&state, &me.user, move |c, log| {
        User::set_password(c, tenant, id, &password, now)?;
        let user = User::find(c, tenant, id)?;
        log.add(Entity::User, user.id, "password", format!("{}: password changed by its owner", user.email));
        Ok(user)
    })
    .await?;
    tracing::info!(tenant = %me.tenant.slug, user = %user.id, "password changed");
    me.session.sign_in(user.id, user.tenant_id, user.session_epoch, now);
    let link = state.link(&format!("/t/{}/forgot", me.tenant.slug));
    state.send_mail(crate::pages::signup::message(Kind::PasswordChanged, &me.tenant, &user, &link, "")).await;
    me.session.flash("success", "Your password is changed. Your other sessions are signed out.");
    Ok(see_other("/account/password"))
}
