//! The network's users (admins only): list, create, view, disable/enable.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::{self, Entity};
use affnet_accounts::{NewPassword, NewUser, Role, User, UserStatus};
use affnet_db::{FieldErrors, UserId};
use askama::Template;

use crate::auth::NetworkAdmin;
use crate::csrf::CsrfForm;
use crate::layout::{render, see_other, Layout};
use crate::{AppError, AppState};

#[derive(Default, serde::Deserialize)]
pub struct UserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    /// For role affiliate / advertiser: the company's id.
    #[serde(default)]
    company_id: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    l: Layout,
    users: Vec<User>,
    roles: [Role; 4],
    filter: String,
    form: UserForm,
    errors: FieldErrors,
    signup: affnet_accounts::signup::SignupSettings,
    slug: String,
    /// The network settings' fields.
    settings: NetworkFields,
    /// The network's own tracking domain (set by the operator), and what its links start with.
    tracking_domain: Option<String>,
    tracking_base: String,
    /// The companies a new user may belong to, offered as the company id's choices: (id, what
    /// it is: "Affiliate · name").
    companies: Vec<(i64, String)>,
}

/// At most this many affiliates and as many advertisers are offered as a new user's company.
const COMPANY_CHOICES: i64 = 1000;

/// The network's affiliates and advertisers, by name, as the company id's choices.
fn company_choices(c: &mut affnet_db::DbConn, tenant: affnet_db::TenantId) -> diesel::QueryResult<Vec<(i64, String)>> {
    use affnet_db::schema::{advertisers as adv, affiliates as aff};
    use diesel::prelude::*;
    let affiliates: Vec<(i64, String)> = aff::table
        .filter(aff::tenant_id.eq(tenant))
        .order((aff::name.asc(), aff::id.asc()))
        .select((aff::id, aff::name))
        .limit(COMPANY_CHOICES)
        .load(c)?;
    let advertisers: Vec<(i64, String)> = adv::table
        .filter(adv::tenant_id.eq(tenant))
        .order((adv::name.asc(), adv::id.asc()))
        .select((adv::id, adv::name))
        .limit(COMPANY_CHOICES)
        .load(c)?;
    Ok(affiliates
        .into_iter()
        .map(|(id, name)| (id, format!("Affiliate · {name}")))
        .chain(advertisers.into_iter().map(|(id, name)| (id, format!("Advertiser · {name}"))))
        .collect())
}

/// The network settings' fields: the stored values, or what was submitted with its errors.
struct NetworkFields {
    timezone: String,
    /// Signup settings submitted and refused (shown instead of the stored ones).
    signup: Option<affnet_accounts::signup::SignupSettings>,
    errors: FieldErrors,
}

impl NetworkFields {
    fn stored(me: &NetworkAdmin) -> Self {
        Self { timezone: me.tenant.timezone.clone(), signup: None, errors: FieldErrors::new() }
    }
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    role: Option<String>,
}

async fn users_page(
    state: &AppState,
    me: &NetworkAdmin,
    filter: Option<Role>,
    form: UserForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    users_page_with(state, me, filter, form, errors, NetworkFields::stored(me), status).await
}

async fn users_page_with(
    state: &AppState,
    me: &NetworkAdmin,
    filter: Option<Role>,
    form: UserForm,
    errors: FieldErrors,
    settings: NetworkFields,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let tenant = me.tenant.id;
    let (users, stored, companies) = state
        .db(move |c| {
            Ok((
                User::list(c, tenant, filter, 500, 0)?,
                affnet_accounts::signup::settings(c, tenant)?,
                company_choices(c, tenant)?,
            ))
        })
        .await?;
    let mut settings = settings;
    let signup = settings.signup.take().unwrap_or(stored);
    let page = UsersPage {
        l: Layout::for_user(me, "Users", "/admin/users"),
        users,
        roles: Role::ALL,
        filter: filter.map(|r| r.as_str().to_owned()).unwrap_or_default(),
        form,
        errors,
        signup,
        slug: me.tenant.slug.clone(),
        settings,
        tracking_domain: me.tenant.tracking_domain.clone(),
        tracking_base: state.tracking_base(&me.tenant),
        companies,
    };
    render(status, &page)
}

/// The users page again, `422`, with a network setting refused: what was submitted and why.
async fn refused_setting(
    state: &AppState,
    me: &NetworkAdmin,
    settings: NetworkFields,
) -> Result<HttpResponse, AppError> {
    let form = UserForm { role: "affiliate".into(), ..UserForm::default() };
    users_page_with(state, me, None, form, FieldErrors::new(), settings, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// `GET /admin/users`
pub async fn list(
    state: web::Data<AppState>,
    me: NetworkAdmin,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let filter = match q.role.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => Some(r.parse::<Role>().map_err(AppError::BadRequest)?),
        None => None,
    };
    users_page(
        &state,
        &me,
        filter,
        UserForm { role: "affiliate".into(), ..UserForm::default() },
        FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

/// `POST /admin/users`
pub async fn create(
    state: web::Data<AppState>,
    me: NetworkAdmin,
    CsrfForm(form): CsrfForm<UserForm>,
) -> Result<HttpResponse, AppError> {
    // A field that cannot be read is said with every other field's message, at once (the
    // email and password were said only once the company id was fixed).
    let refused = |form: &UserForm, field: &str, message: &str| {
        let mut errors = FieldErrors::single(field, message);
        let rest = affnet_accounts::user::new_user_field_errors(&form.email, &form.name, &form.password);
        for (field, message) in rest.0 {
            errors.add(&field, message);
        }
        errors
    };
    let role = match form.role.parse::<Role>() {
        Ok(r) => r,
        Err(msg) => {
            let errors = refused(&form, "role", &msg);
            return users_page(&state, &me, None, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let (tenant, now) = (me.tenant.id, state.clock.now());
    let (email, name, password) = (form.email.clone(), form.name.clone(), form.password.clone());
    // The company id belongs to affiliate and advertiser users only; for anyone else it is refused,
    // never dropped (as the API does).
    let company = match (form.company_id.trim(), role) {
        ("", _) => None,
        (_, Role::Admin | Role::Manager) => {
            let msg = "admins and managers belong to no company: leave it empty";
            let errors = refused(&form, "company_id", msg);
            return users_page(&state, &me, None, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        (v, _) => match v.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                let errors = refused(&form, "company_id", "enter the company's id (a number)");
                return users_page(&state, &me, None, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
            }
        },
    };
    let password = state.blocking(move || NewPassword::hash(&password)).await?;
    let created = crate::audit::by_user(&state, &me.user, move |c, log| {
        let new = NewUser {
            email: &email,
            name: &name,
            role,
            password: &password,
            advertiser_id: company.filter(|_| role == Role::Advertiser).map(affnet_db::AdvertiserId),
            affiliate_id: company.filter(|_| role == Role::Affiliate).map(affnet_db::AffiliateId),
        };
        let created = User::create(c, tenant, &new, now);
        if let Ok(user) = &created {
            log.add(Entity::User, user.id, "create", crate::audit::user_created(user));
        }
        Ok(created)
    })
    .await?;
    match created {
        Ok(user) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, user = %user.id, role = %user.role, "user created");
            me.session.flash("success", format!("{} ({}) can now sign in.", user.email, user.role.label()));
            Ok(see_other(&format!("/admin/users/{}", user.id)))
        }
        Err(affnet_accounts::AccountsError::Invalid(errors)) => {
            let form = UserForm { password: String::new(), ..form };
            users_page(&state, &me, None, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    l: Layout,
    user: User,
    slug: String,
    is_self: bool,
    company: Option<CompanyLink>,
    /// The edit form's values and errors.
    edit: EditForm,
    errors: FieldErrors,
}

/// The company an affiliate or advertiser user belongs to, as the user page links it.
pub struct CompanyLink {
    pub href: String,
    pub name: String,
    pub status: String,
}

fn company_of(c: &mut affnet_db::DbConn, user: &User) -> Result<Option<CompanyLink>, AppError> {
    let tenant = user.tenant_id;
    Ok(match (user.affiliate_id, user.advertiser_id) {
        (Some(a), _) => affnet_offers::Affiliate::find(c, tenant, a).ok().map(|a| CompanyLink {
            href: format!("/admin/affiliates/{}", a.id),
            name: a.name,
            status: a.status.as_str().to_owned(),
        }),
        (None, Some(a)) => affnet_offers::Advertiser::find(c, tenant, a).ok().map(|a| CompanyLink {
            href: format!("/admin/advertisers/{}", a.id),
            name: a.name,
            status: a.status.as_str().to_owned(),
        }),
        (None, None) => None,
    })
}

/// `GET /admin/users/{id}`: a user of another network is not found.
pub async fn show(state: web::Data<AppState>, me: NetworkAdmin, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    user_page(&state, &me, UserId(id.into_inner()), None, FieldErrors::new(), StatusCode::OK).await
}

/// The user page, with the edit form as typed (`edit`) or as stored.
async fn user_page(
    state: &AppState,
    me: &NetworkAdmin,
    id: UserId,
    edit: Option<EditForm>,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let tenant = me.tenant.id;
    let (user, company) = state
        .db(move |c| {
            let user = User::find(c, tenant, id)?;
            let company = company_of(c, &user)?;
            Ok((user, company))
        })
        .await?;
    let edit = edit.unwrap_or_else(|| EditForm { name: user.name.clone(), role: user.role.as_str().to_owned() });
    let page = UserPage {
        l: Layout::for_user(me, user.email.clone(), "/admin/users"),
        is_self: user.id == me.user.id,
        user,
        slug: me.tenant.slug.clone(),
        company,
        edit,
        errors,
    };
    render(status, &page)
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct EditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

/// `POST /admin/users/{id}/edit`: the name, and the role between admin and manager (audited).
pub async fn edit(
    state: web::Data<AppState>,
    me: NetworkAdmin,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<EditForm>,
) -> Result<HttpResponse, AppError> {
    let id = UserId(id.into_inner());
    let Ok(role) = form.role.parse::<Role>() else {
        let errors = FieldErrors::single("role", format!("unknown role '{}'", form.role));
        return user_page(&state, &me, id, Some(form), errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let (tenant, name) = (me.tenant.id, form.name.clone());
    let edited = crate::audit::by_user(&state, &me.user, move |c, log| {
        let edited = User::edit(c, tenant, id, &name, role).and_then(|before| Ok((before, User::find(c, tenant, id)?)));
        if let Ok((before, after)) = &edited {
            let summary = audit::changes(
                [
                    audit::change("name", &before.name, &after.name),
                    audit::change("role", before.role.as_str(), after.role.as_str()),
                ],
                "no change",
            );
            log.add(Entity::User, id, "edit", format!("{}: {summary}", after.email));
        }
        Ok(edited.map(|(_, after)| after))
    })
    .await?;
    let after = match edited {
        Ok(after) => after,
        Err(affnet_accounts::AccountsError::Invalid(errors)) => {
            return user_page(&state, &me, id, Some(form), errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => return Err(other.into()),
    };
    tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, user = %id, role = %after.role, "user edited");
    me.session.flash("success", "The user is saved.");
    Ok(see_other(&format!("/admin/users/{id}")))
}

/// `POST /admin/users/{id}/reset`: emails an active user a password reset link (the one
/// `/forgot` sends), for someone who cannot ask for it; audited.
pub async fn send_reset(
    state: web::Data<AppState>,
    me: NetworkAdmin,
    id: web::Path<i64>,
    _form: CsrfForm<crate::csrf::NoFields>,
) -> Result<HttpResponse, AppError> {
    let (tenant, id, now) = (me.tenant.id, UserId(id.into_inner()), state.clock.now());
    let sent = crate::audit::by_user(&state, &me.user, move |c, log| {
        let sent = affnet_accounts::signup::reset_for_user(c, tenant, id, now);
        if let Ok((user, _)) = &sent {
            log.add(Entity::User, id, "reset link", format!("{}: password reset link emailed", user.email));
        }
        Ok(sent)
    })
    .await?;
    let (user, token) = match sent {
        Ok(pair) => pair,
        Err(affnet_accounts::AccountsError::Invalid(errors)) => {
            return user_page(&state, &me, id, None, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => return Err(other.into()),
    };
    let link = state.link(&format!("/t/{}/reset/{token}", me.tenant.slug));
    state
        .send_mail(crate::pages::signup::message(
            affnet_accounts::mail::Kind::PasswordReset,
            &me.tenant,
            &user,
            &link,
            "",
        ))
        .await;
    tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, user = %id, "password reset link sent by an admin");
    me.session.flash("success", format!("A password reset link was emailed to {}.", user.email));
    Ok(see_other(&format!("/admin/users/{id}")))
}

#[derive(serde::Deserialize)]
pub struct StatusForm {
    status: String,
}

/// `POST /admin/users/{id}/status`: disable or re-enable a user (never oneself).
pub async fn set_status(
    state: web::Data<AppState>,
    me: NetworkAdmin,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> Result<HttpResponse, AppError> {
    let id = UserId(id.into_inner());
    let status = match form.status.as_str() {
        "active" => UserStatus::Active,
        "disabled" => UserStatus::Disabled,
        _ => return Err(AppError::BadRequest("status must be active or disabled".into())),
    };
    if id == me.user.id {
        return Err(AppError::BadRequest("you cannot change the status of your own account".into()));
    }
    let (tenant, now) = (me.tenant.id, state.clock.now());
    // A pending signup is decided (with its company, and an email); others just change status.
    let decided = crate::audit::by_user(&state, &me.user, move |c, log| {
        let before = User::find(c, tenant, id)?;
        let (after, decided) = if before.status == UserStatus::Pending {
            let approve = status == UserStatus::Active;
            let companies = |c: &mut affnet_db::DbConn| -> Result<_, AppError> {
                let affiliate =
                    before.affiliate_id.map(|a| affnet_offers::Affiliate::find(c, tenant, a)).transpose()?;
                let advertiser =
                    before.advertiser_id.map(|a| affnet_offers::Advertiser::find(c, tenant, a)).transpose()?;
                Ok((affiliate, advertiser))
            };
            let (affiliate, advertiser) = companies(c)?;
            affnet_accounts::signup::decide(c, tenant, id, approve, now)?;
            // The decision moves the signup's company too (pending → active or rejected): said
            // on the company, as a change of its status on its own page is.
            let (affiliate_now, advertiser_now) = companies(c)?;
            if let (Some(b), Some(a)) = (&affiliate, &affiliate_now) {
                if b.status != a.status {
                    log.add(Entity::Affiliate, a.id, "status", crate::audit::affiliate_changes(b, a));
                }
            }
            if let (Some(b), Some(a)) = (&advertiser, &advertiser_now) {
                if b.status != a.status {
                    log.add(Entity::Advertiser, a.id, "status", crate::audit::advertiser_changes(b, a));
                }
            }
            let after = User::find(c, tenant, id)?;
            (after.clone(), Some(after))
        } else {
            User::set_status(c, tenant, id, status)?;
            (User::find(c, tenant, id)?, None)
        };
        if let Some(summary) = audit::change("status", before.status.as_str(), after.status.as_str()) {
            let action = match (&decided, status) {
                (Some(_), UserStatus::Active) => "approve signup",
                (Some(_), _) => "reject signup",
                (None, _) => "status",
            };
            log.add(Entity::User, id, action, format!("{}: {summary}", after.email));
        }
        Ok(decided)
    })
    .await?;
    tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, user = %id, status = status.as_str(), "user status changed");
    if let Some(user) = decided {
        let approved = status == UserStatus::Active;
        state.send_mail(crate::pages::signup::decision_mail(&state, &me.tenant, &user, approved)).await;
        me.session.flash(
            "success",
            if approved { "Signup approved; the user was emailed." } else { "Signup rejected; the user was emailed." },
        );
    } else {
        me.session.flash("success", format!("User is now {}.", status.as_str()));
    }
    Ok(see_other(&format!("/admin/users/{id}")))
}

#[derive(serde::Deserialize)]
pub struct SignupSettingsForm {
    #[serde(default)]
    auto_approve: Option<String>,
    #[serde(default)]
    advertiser_signup: Option<String>,
    #[serde(default)]
    terms: String,
}

/// `POST /admin/signup-settings`: the network's public signup settings and terms.
pub async fn signup_settings(
    state: web::Data<AppState>,
    me: NetworkAdmin,
    CsrfForm(form): CsrfForm<SignupSettingsForm>,
) -> Result<HttpResponse, AppError> {
    let submitted = affnet_accounts::signup::SignupSettings {
        auto_approve: form.auto_approve.is_some(),
        advertiser_signup: form.advertiser_signup.is_some(),
        terms: form.terms,
    };
    let tenant = me.tenant.id;
    let wanted = submitted.clone();
    let slug = me.tenant.slug.clone();
    let saved = crate::audit::by_user(&state, &me.user, move |c, log| {
        let before = affnet_accounts::signup::settings(c, tenant)?;
        let saved = affnet_accounts::signup::set_settings(c, tenant, &wanted);
        if let Ok(after) = &saved {
            log.add(Entity::Network, slug, "signup settings", crate::audit::signup_settings(&before, after));
        }
        Ok(saved)
    })
    .await?;
    let after = match saved {
        Ok(after) => after,
        Err(affnet_accounts::AccountsError::Invalid(errors)) => {
            let settings = NetworkFields { timezone: me.tenant.timezone.clone(), signup: Some(submitted), errors };
            return refused_setting(&state, &me, settings).await;
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        tenant = %me.tenant.slug,
        by = %me.user.id,
        auto_approve = after.auto_approve,
        advertiser_signup = after.advertiser_signup,
        terms_chars = after.terms.chars().count(),
        "signup settings changed"
    );
    me.session.flash("success", "Signup settings saved.");
    Ok(see_other("/admin/users"))
}

#[derive(serde::Deserialize)]
pub struct TimezoneForm {
    #[serde(default)]
    timezone: String,
}

/// `POST /admin/timezone`: the network's time zone (`UTC`, a whole-hour offset such as
/// `+02:00`, or an IANA name such as `Europe/Berlin`), which sets the day boundaries of
/// dashboards and reports.
pub async fn set_timezone(
    state: web::Data<AppState>,
    me: NetworkAdmin,
    CsrfForm(form): CsrfForm<TimezoneForm>,
) -> Result<HttpResponse, AppError> {
    let Some(tz) = affnet_tracking::reports::Tz::parse(form.timezone.trim()) else {
        let errors = FieldErrors::single(
            "timezone",
            "Use UTC, an offset such as +02:00 (-14:00 to +14:00), or a zone name such as Europe/Berlin; only zones with whole-hour offsets are supported (reports are kept per hour).",
        );
        let settings = NetworkFields { timezone: form.timezone, signup: None, errors };
        return refused_setting(&state, &me, settings).await;
    };
    let (tenant, value) = (me.tenant.id, tz.setting_value());
    let (stored, slug) = (value.clone(), me.tenant.slug.clone());
    crate::audit::by_user(&state, &me.user, move |c, log| {
        let before = affnet_accounts::Tenant::find(c, tenant)?.timezone;
        affnet_accounts::Tenant::set_timezone(c, tenant, &stored)?;
        let summary = audit::change("time zone", &before, &stored)
            .unwrap_or_else(|| format!("time zone {stored} saved without changes"));
        log.add(Entity::Network, slug, "time zone", summary);
        Ok(())
    })
    .await?;
    tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, timezone = %value, "network time zone changed");
    me.session.flash("success", format!("Time zone saved: {}.", tz.label()));
    Ok(see_other("/admin/users"))
}
