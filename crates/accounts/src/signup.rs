//! Self-serve accounts: public signup of an affiliate (or, where the network allows it, an
//! advertiser) company with its first user, email verification, approval by the network, and
//! password reset. Links carry a random token; only its SHA-256 is stored, it works once and
//! expires.

use diesel::prelude::*;

use affnet_db::schema::{account_tokens, advertisers, affiliates, tenants, users};
use affnet_db::{write_tx, AffiliateId, DbConn, FieldErrors, Micros, TenantId, UserId};

use crate::token::{random_hex, sha256_hex};
use crate::user::{normalize_email, validate_email, Company};
use crate::{password, throttle, AccountsError, NewUser, Role, User, UserStatus};

/// How long an email verification link works.
pub const VERIFY_TTL: i64 = 24 * Micros::HOUR;
/// How long a password reset link works.
pub const RESET_TTL: i64 = Micros::HOUR;

/// What a link token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }
}

/// A network's signup settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignupSettings {
    /// Verified signups become active at once, without an admin's approval.
    pub auto_approve: bool,
    /// The public advertiser signup form is open.
    pub advertiser_signup: bool,
    /// The terms a new account accepts on the signup forms (empty: none, and no acceptance is
    /// asked for).
    pub terms: String,
}

/// The longest signup terms, in characters.
pub const MAX_TERMS_CHARS: usize = 20_000;

pub fn settings(conn: &mut DbConn, tenant: TenantId) -> Result<SignupSettings, AccountsError> {
    let (auto_approve, advertiser_signup, terms) = tenants::table
        .find(tenant)
        .select((tenants::signup_auto_approve, tenants::advertiser_signup, tenants::signup_terms))
        .first::<(bool, bool, String)>(conn)?;
    Ok(SignupSettings { auto_approve, advertiser_signup, terms })
}

/// Saves the settings; the terms are stored trimmed, and refused (nothing saved) when longer
/// than [`MAX_TERMS_CHARS`] or holding control characters other than line breaks and tabs.
pub fn set_settings(conn: &mut DbConn, tenant: TenantId, s: &SignupSettings) -> Result<SignupSettings, AccountsError> {
    let terms = s.terms.trim().replace("\r\n", "\n");
    let mut e = FieldErrors::new();
    if terms.chars().count() > MAX_TERMS_CHARS {
        e.add("terms", format!("the terms are {} characters; at most {MAX_TERMS_CHARS}", terms.chars().count()));
    } else if terms.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t')) {
        e.add("terms", "the terms hold a control character; write plain text (line breaks are kept)");
    }
    e.into_result()?;
    let saved = SignupSettings { terms, ..s.clone() };
    diesel::update(tenants::table.find(tenant))
        .set((
            tenants::signup_auto_approve.eq(saved.auto_approve),
            tenants::advertiser_signup.eq(saved.advertiser_signup),
            tenants::signup_terms.eq(&saved.terms),
        ))
        .execute(conn)?;
    Ok(saved)
}

/// Creates a single-use token for `user`; returns the token itself (to put in a link, never
/// stored nor logged).
pub fn issue_token(
    conn: &mut DbConn,
    tenant: TenantId,
    user: UserId,
    purpose: Purpose,
    now: Micros,
) -> Result<String, AccountsError> {
    let ttl = match purpose {
        Purpose::VerifyEmail => VERIFY_TTL,
        Purpose::ResetPassword => RESET_TTL,
    };
    let raw = random_hex(32);
    diesel::insert_into(account_tokens::table)
        .values((
            account_tokens::tenant_id.eq(tenant),
            account_tokens::user_id.eq(user),
            account_tokens::purpose.eq(purpose.as_str()),
            account_tokens::token_hash.eq(sha256_hex(&raw)),
            account_tokens::created_at.eq(now.0),
            account_tokens::expires_at.eq(now.plus(ttl).0),
        ))
        .execute(conn)?;
    Ok(raw)
}

/// How often a user can be sent a new email confirmation link (see [`renew_verification`]).
pub const RENEW_VERIFY_EVERY: i64 = 10 * Micros::MINUTE;

/// A new email confirmation link for `user` (who has just proved their password but has not
/// confirmed their address: their first link may have expired or been lost), unless one was
/// issued in the last [`RENEW_VERIFY_EVERY`]. Returns the token, or `None` when it is too soon.
pub fn renew_verification(
    conn: &mut DbConn,
    tenant: TenantId,
    user: UserId,
    now: Micros,
) -> Result<Option<String>, AccountsError> {
    write_tx(conn, |conn| {
        let recent: i64 = account_tokens::table
            .filter(account_tokens::tenant_id.eq(tenant))
            .filter(account_tokens::user_id.eq(user))
            .filter(account_tokens::purpose.eq(Purpose::VerifyEmail.as_str()))
            .filter(account_tokens::created_at.gt(now.minus(RENEW_VERIFY_EVERY).0))
            .count()
            .get_result(conn)?;
        if recent > 0 {
            return Ok(None);
        }
        issue_token(conn, tenant, user, Purpose::VerifyEmail, now).map(Some)
    })
}

/// The user a token is for, when it is unused and unexpired (the token is not consumed).
pub fn peek_token(
    conn: &mut DbConn,
    tenant: TenantId,
    purpose: Purpose,
    raw: &str,
    now: Micros,
) -> Result<Option<UserId>, AccountsError> {
    Ok(account_tokens::table
        .filter(account_tokens::tenant_id.eq(tenant))
        .filter(account_tokens::purpose.eq(purpose.as_str()))
        .filter(account_tokens::token_hash.eq(sha256_hex(raw)))
        .filter(account_tokens::used_at.is_null())
        .filter(account_tokens::expires_at.gt(now.0))
        .select(account_tokens::user_id)
        .first::<UserId>(conn)
        .optional()?)
}

/// Uses up a token: [`AccountsError::NotFound`] when it is unknown, used or expired.
fn consume_token(
    conn: &mut DbConn,
    tenant: TenantId,
    purpose: Purpose,
    raw: &str,
    now: Micros,
) -> Result<UserId, AccountsError> {
    let Some(user) = peek_token(conn, tenant, purpose, raw, now)? else {
        return Err(AccountsError::NotFound);
    };
    // Conditional on still being unused, so two concurrent uses cannot both succeed.
    let n = diesel::update(
        account_tokens::table
            .filter(account_tokens::tenant_id.eq(tenant))
            .filter(account_tokens::token_hash.eq(sha256_hex(raw)))
            .filter(account_tokens::used_at.is_null()),
    )
    .set(account_tokens::used_at.eq(Some(now.0)))
    .execute(conn)?;
    if n != 1 {
        return Err(AccountsError::NotFound);
    }
    Ok(user)
}

/// Which kind of company signs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupKind {
    Affiliate,
    Advertiser,
}

/// The public signup form.
#[derive(Debug, Clone)]
pub struct SignupInput<'a> {
    pub kind: SignupKind,
    pub company: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub accept_terms: bool,
}

/// A new signup: the pending user and the verification token to mail them.
#[derive(Debug)]
pub struct Registered {
    pub user: User,
    pub verify_token: String,
}

/// What a valid signup did.
#[derive(Debug)]
pub enum Signup {
    /// A new account, to confirm with its token.
    New(Registered),
    /// The email already has an account in this network: nothing was created. The page answers
    /// exactly as for a new account (a signup form must not tell strangers which emails have
    /// accounts, any more than sign-in or reset do) and the owner is emailed instead.
    Existing(User),
}

/// Creates the company (pending) and its first user (pending, email unverified), and a
/// verification token. All or nothing. Hashes a password: call off the async executor.
pub fn register(
    conn: &mut DbConn,
    tenant: TenantId,
    input: &SignupInput<'_>,
    now: Micros,
) -> Result<Signup, AccountsError> {
    let mut e = FieldErrors::new();
    let company = input.company.trim();
    if company.is_empty() || company.chars().count() > 200 {
        e.add("company", "give your company's name (1 to 200 characters)");
    } else if affnet_db::validation::has_control(company) {
        e.add("company", affnet_db::validation::ONE_LINE);
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        e.add("name", "give your name (1 to 200 characters)");
    } else if affnet_db::validation::has_control(name) {
        e.add("name", affnet_db::validation::ONE_LINE);
    }
    let email = normalize_email(input.email);
    validate_email(&email, &mut e);
    if let Err(p) = password::check_policy(input.password, "password") {
        e.0.extend(p.0);
    }
    let settings = settings(conn, tenant)?;
    if !settings.terms.is_empty() && !input.accept_terms {
        e.add("terms", "accept the terms to sign up");
    }
    if input.kind == SignupKind::Advertiser && !settings.advertiser_signup {
        return Err(AccountsError::NotFound);
    }
    e.into_result()?;
    // Hashed before the transaction (`password::NewPassword`), and for an existing account too,
    // so that the time of the answer does not tell either.
    let password = password::NewPassword::hash(input.password);
    if let Some(existing) = User::find_by_email(conn, tenant, &email)? {
        return Ok(Signup::Existing(existing));
    }
    let created = write_tx(conn, |conn| {
        let (role, affiliate_id, advertiser_id) = match input.kind {
            SignupKind::Affiliate => {
                let id = diesel::insert_into(affiliates::table)
                    .values((
                        affiliates::tenant_id.eq(tenant),
                        affiliates::name.eq(company),
                        affiliates::contact_email.eq(&email),
                        affiliates::status.eq("pending"),
                        affiliates::notes.eq("signed up online"),
                        affiliates::created_at.eq(now),
                        affiliates::updated_at.eq(now),
                    ))
                    .returning(affiliates::id)
                    .get_result(conn)?;
                (Role::Affiliate, Some(id), None)
            }
            SignupKind::Advertiser => {
                let id = diesel::insert_into(advertisers::table)
                    .values((
                        advertisers::tenant_id.eq(tenant),
                        advertisers::name.eq(company),
                        advertisers::contact_name.eq(name),
                        advertisers::contact_email.eq(&email),
                        advertisers::status.eq("inactive"),
                        advertisers::notes.eq("signed up online"),
                        advertisers::created_at.eq(now),
                        advertisers::updated_at.eq(now),
                    ))
                    .returning(advertisers::id)
                    .get_result(conn)?;
                (Role::Advertiser, None, Some(id))
            }
        };
        let new = NewUser { email: &email, name, role, password: &password, advertiser_id, affiliate_id };
        let user = User::create(conn, tenant, &new, now)?;
        User::set_status(conn, tenant, user.id, UserStatus::Pending)?;
        let verify_token = issue_token(conn, tenant, user.id, Purpose::VerifyEmail, now)?;
        Ok(Signup::New(Registered { user: User::find(conn, tenant, user.id)?, verify_token }))
    });
    match created {
        // The same email signed up at the same moment (a double-clicked submit): the other
        // request created the account, and this one is answered as for an existing account.
        Err(AccountsError::Invalid(errors)) if errors.get("email").is_some() => {
            match User::find_by_email(conn, tenant, &email)? {
                Some(existing) => Ok(Signup::Existing(existing)),
                None => Err(AccountsError::Invalid(errors)),
            }
        }
        other => other,
    }
}

/// Activates a user and their company (status `active`).
fn activate(conn: &mut DbConn, tenant: TenantId, user: &User, now: Micros) -> Result<(), AccountsError> {
    User::set_status(conn, tenant, user.id, UserStatus::Active)?;
    set_company_status(conn, tenant, user, true, now)
}

fn set_company_status(
    conn: &mut DbConn,
    tenant: TenantId,
    user: &User,
    approved: bool,
    now: Micros,
) -> Result<(), AccountsError> {
    if let Some(id) = user.affiliate_id {
        diesel::update(
            affiliates::table
                .filter(affiliates::tenant_id.eq(tenant))
                .filter(affiliates::id.eq(id))
                .filter(affiliates::status.eq("pending")),
        )
        .set((affiliates::status.eq(if approved { "active" } else { "rejected" }), affiliates::updated_at.eq(now)))
        .execute(conn)?;
    }
    if let (Some(id), true) = (user.advertiser_id, approved) {
        diesel::update(advertisers::table.filter(advertisers::tenant_id.eq(tenant)).filter(advertisers::id.eq(id)))
            .set((advertisers::status.eq("active"), advertisers::updated_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// What following a verification link did.
#[derive(Debug)]
pub struct Verified {
    pub user: User,
    /// The network approves automatically: the account is active now.
    pub activated: bool,
}

/// Marks the address of the token's user as verified; activates the account when the network
/// auto-approves. [`AccountsError::NotFound`] for an unknown, used or expired link.
pub fn verify_email(conn: &mut DbConn, tenant: TenantId, raw: &str, now: Micros) -> Result<Verified, AccountsError> {
    write_tx(conn, |conn| {
        let id = consume_token(conn, tenant, Purpose::VerifyEmail, raw, now)?;
        diesel::update(users::table.filter(users::tenant_id.eq(tenant)).filter(users::id.eq(id)))
            .set(users::email_verified_at.eq(Some(now.0)))
            .execute(conn)?;
        let user = User::find(conn, tenant, id)?;
        let activated = user.status == UserStatus::Pending && settings(conn, tenant)?.auto_approve;
        if activated {
            activate(conn, tenant, &user, now)?;
        }
        Ok(Verified { user: User::find(conn, tenant, id)?, activated })
    })
}

/// An admin's decision on a pending signup: the user becomes active (and their company too) or
/// disabled (an affiliate company is rejected). Returns the user as they were before.
pub fn decide(
    conn: &mut DbConn,
    tenant: TenantId,
    id: UserId,
    approve: bool,
    now: Micros,
) -> Result<User, AccountsError> {
    write_tx(conn, |conn| {
        let user = User::find(conn, tenant, id)?;
        if approve {
            activate(conn, tenant, &user, now)?;
        } else {
            User::set_status(conn, tenant, id, UserStatus::Disabled)?;
            if user.status == UserStatus::Pending {
                set_company_status(conn, tenant, &user, false, now)?;
            }
        }
        Ok(user)
    })
}

/// What a new status of an affiliate company means for its people, in the caller's transaction
/// (after the company's own row changed): `active` approves its pending signups, `rejected`
/// rejects them, and `suspended` or `rejected` ends every open session of its people (letting
/// the company back in later must not revive them). Returns each decided signup with its new
/// status, to email.
pub fn affiliate_status_changed(
    conn: &mut DbConn,
    tenant: TenantId,
    company: AffiliateId,
    status: &str,
    now: Micros,
) -> Result<Vec<(User, UserStatus)>, AccountsError> {
    let mut decided = Vec::new();
    if matches!(status, "active" | "rejected") {
        let approve = status == "active";
        for u in pending_of_company(conn, tenant, Company::Affiliate(company))? {
            decide(conn, tenant, u.id, approve, now)?;
            let after = User::find(conn, tenant, u.id)?.status;
            decided.push((u, after));
        }
    }
    if matches!(status, "suspended" | "rejected") {
        User::end_sessions_of_company(conn, tenant, Company::Affiliate(company))?;
    }
    Ok(decided)
}

/// The pending users of a company (to approve with the company).
pub fn pending_of_company(conn: &mut DbConn, tenant: TenantId, company: Company) -> Result<Vec<User>, AccountsError> {
    Ok(User::list_of_company(conn, tenant, company)?.into_iter().filter(|u| u.status == UserStatus::Pending).collect())
}

/// A password reset request, throttled per address and per client like sign-in failures.
/// Returns the user and the token to mail when the address belongs to an active account;
/// `None` otherwise (the caller answers the same either way).
pub fn request_reset(
    conn: &mut DbConn,
    tenant: TenantId,
    email: &str,
    ip: &str,
    now: Micros,
) -> Result<Option<(User, String)>, AccountsError> {
    let email = normalize_email(email);
    throttle::reserve(conn, tenant, throttle::Action::Reset, &email, ip, now)?;
    let Some(user) = User::find_by_email(conn, tenant, &email)? else {
        return Ok(None);
    };
    // Only someone who may sign in (an active account of an active company): a link would let
    // nobody else in.
    if !user.may_work(conn)? {
        return Ok(None);
    }
    let token = issue_token(conn, tenant, user.id, Purpose::ResetPassword, now)?;
    Ok(Some((user, token)))
}

/// An admin sends an active user of the network a password reset link (the same link as
/// `/forgot` mails). Returns the user and the token to mail; refused for a user who is not active.
pub fn reset_for_user(
    conn: &mut DbConn,
    tenant: TenantId,
    id: UserId,
    now: Micros,
) -> Result<(User, String), AccountsError> {
    let user = User::find(conn, tenant, id)?;
    if !user.may_work(conn)? {
        let message = "only a user who may sign in (active, of an active company) can be sent a reset link";
        return Err(FieldErrors::single("user", message).into());
    }
    let token = issue_token(conn, tenant, user.id, Purpose::ResetPassword, now)?;
    Ok((user, token))
}

/// Sets a new password with a reset token: the token is used up, the user's other reset links
/// stop working, and sessions signed in before now are refused. Hashes: call off the executor.
pub fn reset_password(
    conn: &mut DbConn,
    tenant: TenantId,
    raw: &str,
    new_password: &str,
    now: Micros,
) -> Result<User, AccountsError> {
    password::check_policy(new_password, "password")?;
    // Hashed before the transaction: SQLite's writers wait while one is open.
    let new_password = password::NewPassword::hash(new_password);
    write_tx(conn, |conn| {
        let id = consume_token(conn, tenant, Purpose::ResetPassword, raw, now)?;
        User::set_password(conn, tenant, id, &new_password, now)?;
        diesel::update(
            account_tokens::table
                .filter(account_tokens::tenant_id.eq(tenant))
                .filter(account_tokens::user_id.eq(id))
                .filter(account_tokens::purpose.eq(Purpose::ResetPassword.as_str()))
                .filter(account_tokens::used_at.is_null()),
        )
        .set(account_tokens::used_at.eq(Some(now.0)))
        .execute(conn)?;
        let user = User::find(conn, tenant, id)?;
        throttle::clear(conn, tenant, &user.email)?;
        Ok(user)
    })
}
