//! Users: one tenant each, one role each, email unique within the tenant.

use diesel::prelude::*;

use affnet_db::schema::{advertisers, affiliates, users};
use affnet_db::{write_tx, AdvertiserId, AffiliateId, DbConn, FieldErrors, Micros, TenantId, UserId};

use crate::{password, throttle, AccountsError, Role};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    /// Signed up, waiting for an admin's approval.
    Pending,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Pending => "pending",
            UserStatus::Disabled => "disabled",
        }
    }
}

impl std::str::FromStr for UserStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(UserStatus::Active),
            "pending" => Ok(UserStatus::Pending),
            "disabled" => Ok(UserStatus::Disabled),
            other => Err(format!("unknown user status '{other}'")),
        }
    }
}

affnet_db::text_sql!(UserStatus);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: Micros,
    pub last_login_at: Option<Micros>,
    /// The advertiser company a user of role `advertiser` works for.
    pub advertiser_id: Option<AdvertiserId>,
    /// The affiliate company a user of role `affiliate` works for.
    pub affiliate_id: Option<AffiliateId>,
    /// When the user followed their verification link (`None`: never, or created by staff).
    pub email_verified_at: Option<Micros>,
    /// Sessions signed in before this moment are refused (set by a password reset).
    pub password_changed_at: Option<Micros>,
    /// Moved on by signing out: a session signed in at another epoch is refused.
    #[serde(skip)]
    pub session_epoch: i64,
}

/// What it takes to create a user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    /// Hashed before the transaction that creates the user ([`NewPassword`]).
    pub password: &'a password::NewPassword,
    /// Required for role `advertiser`: the company (of the same tenant) the user belongs to.
    pub advertiser_id: Option<AdvertiserId>,
    /// Required for role `affiliate`: the company (of the same tenant) the user belongs to.
    pub affiliate_id: Option<AffiliateId>,
}

/// A company users belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Company {
    Affiliate(AffiliateId),
    Advertiser(AdvertiserId),
}

/// Lower-cases and trims an email address, the form it is stored and looked up in.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A deliberately plain check: one `@`, something before it, a dotted domain after it.
pub fn validate_email(email: &str, errors: &mut FieldErrors) {
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !valid {
        errors.add("email", "enter an email address such as name@example.com");
    }
}

/// A user of role `affiliate` or `advertiser` belongs to a company of the same tenant.
fn check_company(
    conn: &mut DbConn,
    tenant: TenantId,
    new: &NewUser<'_>,
    errors: &mut FieldErrors,
) -> Result<(), AccountsError> {
    match new.role {
        Role::Affiliate => {
            let found = match new.affiliate_id {
                Some(id) => {
                    affiliates::table
                        .filter(affiliates::tenant_id.eq(tenant))
                        .filter(affiliates::id.eq(id))
                        .count()
                        .get_result::<i64>(conn)?
                        > 0
                }
                None => false,
            };
            if !found {
                errors.add("affiliate_id", "an affiliate user belongs to an affiliate company of this network");
            }
        }
        Role::Advertiser => {
            let found = match new.advertiser_id {
                Some(id) => {
                    advertisers::table
                        .filter(advertisers::tenant_id.eq(tenant))
                        .filter(advertisers::id.eq(id))
                        .count()
                        .get_result::<i64>(conn)?
                        > 0
                }
                None => false,
            };
            if !found {
                errors.add("advertiser_id", "an advertiser user belongs to an advertiser company of this network");
            }
        }
        Role::Admin | Role::Manager => {}
    }
    Ok(())
}

/// What [`User::create`] refuses in a new user's own fields (email, name, password), without
/// the database: a form that could not read its other fields says these too, at once.
pub fn new_user_field_errors(email: &str, name: &str, password: &str) -> FieldErrors {
    let mut errors = FieldErrors::new();
    validate_email(&normalize_email(email), &mut errors);
    let name = name.trim();
    if name.chars().count() > 200 {
        errors.add("name", "use at most 200 characters");
    } else if affnet_db::validation::has_control(name) {
        errors.add("name", affnet_db::validation::ONE_LINE);
    }
    if let Err(e) = password::check_policy(password, "password") {
        errors.0.extend(e.0);
    }
    errors
}

impl User {
    /// Creates a user of `tenant`. Hashes the password (slow: call off the async executor).
    pub fn create(conn: &mut DbConn, tenant: TenantId, new: &NewUser<'_>, now: Micros) -> Result<User, AccountsError> {
        let email = normalize_email(new.email);
        let name = new.name.trim();
        let mut errors = new_user_field_errors(&email, name, new.password.typed());
        check_company(conn, tenant, new, &mut errors)?;
        errors.into_result()?;
        if User::find_by_email(conn, tenant, &email)?.is_some() {
            return Err(FieldErrors::single("email", "a user with this email already exists in this network").into());
        }
        let display_name = if name.is_empty() { email.split('@').next().unwrap_or_default() } else { name };
        let id: UserId = diesel::insert_into(users::table)
            .values((
                users::tenant_id.eq(tenant),
                users::email.eq(&email),
                users::name.eq(display_name),
                users::role.eq(new.role),
                users::status.eq(UserStatus::Active),
                users::password_hash.eq(new.password.stored()),
                users::created_at.eq(now),
                users::advertiser_id.eq(new.advertiser_id.filter(|_| new.role == Role::Advertiser)),
                users::affiliate_id.eq(new.affiliate_id.filter(|_| new.role == Role::Affiliate)),
            ))
            .returning(users::id)
            .get_result(conn)
            .map_err(|e| match affnet_db::DbError::from(e) {
                affnet_db::DbError::UniqueViolation(_) => AccountsError::Invalid(FieldErrors::single(
                    "email",
                    "a user with this email already exists in this network",
                )),
                other => other.into(),
            })?;
        User::find(conn, tenant, id)
    }

    /// The user `id` of `tenant`; a user of another tenant is simply not found.
    pub fn find(conn: &mut DbConn, tenant: TenantId, id: UserId) -> Result<User, AccountsError> {
        Ok(users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::id.eq(id))
            .select(User::as_select())
            .first(conn)?)
    }

    pub fn find_by_email(conn: &mut DbConn, tenant: TenantId, email: &str) -> Result<Option<User>, AccountsError> {
        Ok(users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::email.eq(normalize_email(email)))
            .select(User::as_select())
            .first(conn)
            .optional()?)
    }

    /// The tenant's users, newest first, optionally of one role.
    pub fn list(
        conn: &mut DbConn,
        tenant: TenantId,
        role: Option<Role>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<User>, AccountsError> {
        let mut q = users::table.filter(users::tenant_id.eq(tenant)).into_boxed();
        if let Some(role) = role {
            q = q.filter(users::role.eq(role));
        }
        Ok(q.order(users::id.desc()).limit(limit).offset(offset).select(User::as_select()).load(conn)?)
    }

    /// The people of one company of the tenant: the users of an affiliate, or of an advertiser.
    pub fn list_of_company(conn: &mut DbConn, tenant: TenantId, company: Company) -> Result<Vec<User>, AccountsError> {
        let q = users::table.filter(users::tenant_id.eq(tenant)).into_boxed();
        let q = match company {
            Company::Affiliate(id) => q.filter(users::affiliate_id.eq(id)),
            Company::Advertiser(id) => q.filter(users::advertiser_id.eq(id)),
        };
        Ok(q.order(users::id.asc()).limit(1000).select(User::as_select()).load(conn)?)
    }

    /// The network's users (of `role` only, when given): the total of [`User::list`].
    pub fn count(conn: &mut DbConn, tenant: TenantId, role: Option<Role>) -> Result<i64, AccountsError> {
        let mut q = users::table.filter(users::tenant_id.eq(tenant)).into_boxed();
        if let Some(role) = role {
            q = q.filter(users::role.eq(role));
        }
        Ok(q.count().get_result(conn)?)
    }

    /// Checks an email and password for `tenant`, under the sign-in throttle. Every failure is
    /// recorded; a success clears the email's failures. Slow on purpose (argon2id): call off the
    /// async executor.
    pub fn authenticate(
        conn: &mut DbConn,
        tenant: TenantId,
        email: &str,
        password_attempt: &str,
        ip: &str,
        now: Micros,
    ) -> Result<User, AccountsError> {
        let email = normalize_email(email);
        // Counted before the password is checked, so that attempts sent at once cannot pass the
        // limit; a right password is uncounted again.
        let attempt = throttle::reserve(conn, tenant, throttle::Action::SignIn, &email, ip, now)?;
        let user = User::find_by_email(conn, tenant, &email)?;
        let hash = user.as_ref().map_or(password::dummy_hash(), |u| u.password_hash.as_str());
        let matches = password::verify(password_attempt, hash);
        match user {
            Some(user) if matches => {
                throttle::forget(conn, tenant, attempt)?;
                if user.status == UserStatus::Pending {
                    return Err(AccountsError::Pending { verified: user.email_verified_at.is_some() });
                }
                if !user.may_work(conn)? {
                    return Err(AccountsError::Disabled);
                }
                throttle::clear(conn, tenant, &email)?;
                diesel::update(users::table.filter(users::tenant_id.eq(tenant)).filter(users::id.eq(user.id)))
                    .set(users::last_login_at.eq(Some(now)))
                    .execute(conn)?;
                Ok(user)
            }
            _ => Err(AccountsError::BadCredentials),
        }
    }

    /// An admin edits a user of the network: the name, and the role between `admin` and `manager`
    /// (a company's user keeps the role of its company). The network always keeps an active
    /// admin: the last one cannot be made a manager. Returns the user as it was before.
    pub fn edit(
        conn: &mut DbConn,
        tenant: TenantId,
        id: UserId,
        name: &str,
        role: Role,
    ) -> Result<User, AccountsError> {
        let name = name.trim();
        let mut errors = FieldErrors::new();
        if name.chars().count() > 200 {
            errors.add("name", "use at most 200 characters");
        } else if affnet_db::validation::has_control(name) {
            errors.add("name", affnet_db::validation::ONE_LINE);
        }
        errors.into_result()?;
        write_tx(conn, |conn| {
            if role != Role::Admin {
                keep_an_admin(conn, tenant, id, "role", "the network's last active admin stays an admin")?;
            }
            let before = User::find(conn, tenant, id)?;
            if role != before.role {
                let staff = |r: Role| matches!(r, Role::Admin | Role::Manager);
                if !staff(before.role) || !staff(role) {
                    return Err(FieldErrors::single(
                        "role",
                        "only admins and managers change roles (between admin and manager); a company's user keeps its role",
                    )
                    .into());
                }
            }
            diesel::update(users::table.filter(users::tenant_id.eq(tenant)).filter(users::id.eq(id)))
                .set((users::name.eq(name), users::role.eq(role)))
                .execute(conn)?;
            Ok(before)
        })
    }

    /// Checks a signed-in user's change of their own password, before the caller sets it
    /// ([`User::set_password`]): `current` must be right (checked under the sign-in throttle of
    /// their email, like a sign-in), the new password must pass the policy and differ from it.
    /// A wrong current password is [`AccountsError::Invalid`] on `current_password`. Returns the
    /// user. Verifies a hash: call off the async executor, outside any transaction (the
    /// throttle's count stands on its own).
    pub fn check_password_change(
        conn: &mut DbConn,
        tenant: TenantId,
        id: UserId,
        current: &str,
        new_password: &str,
        ip: &str,
        now: Micros,
    ) -> Result<User, AccountsError> {
        let user = User::find(conn, tenant, id)?;
        let attempt = throttle::reserve(conn, tenant, throttle::Action::SignIn, &user.email, ip, now)?;
        if !password::verify(current, &user.password_hash) {
            return Err(FieldErrors::single("current_password", "this is not your current password").into());
        }
        throttle::forget(conn, tenant, attempt)?;
        password::check_policy(new_password, "new_password")?;
        if new_password == current {
            return Err(FieldErrors::single("new_password", "choose a password other than your current one").into());
        }
        Ok(user)
    }

    /// Ends every session of the user (signing out: a session lives in the browser's cookie, so
    /// a copy of it must be refused on the server): the user's session epoch moves on.
    pub fn end_sessions(conn: &mut DbConn, tenant: TenantId, id: UserId) -> Result<(), AccountsError> {
        diesel::update(users::table.filter(users::tenant_id.eq(tenant)).filter(users::id.eq(id)))
            .set(users::session_epoch.eq(users::session_epoch + 1))
            .execute(conn)?;
        Ok(())
    }

    /// Ends every session of a company's people: its affiliate company was suspended or
    /// rejected. Making it active again lets them sign in again, never revives a cookie.
    pub fn end_sessions_of_company(conn: &mut DbConn, tenant: TenantId, company: Company) -> Result<(), AccountsError> {
        let q = diesel::update(users::table).filter(users::tenant_id.eq(tenant));
        match company {
            Company::Affiliate(id) => q
                .filter(users::affiliate_id.eq(id))
                .set(users::session_epoch.eq(users::session_epoch + 1))
                .execute(conn)?,
            Company::Advertiser(id) => q
                .filter(users::advertiser_id.eq(id))
                .set(users::session_epoch.eq(users::session_epoch + 1))
                .execute(conn)?,
        };
        Ok(())
    }

    /// Whether the user's affiliate company is `suspended` or `rejected`: its people are locked
    /// out of the pages and the API like disabled users (a blocked affiliate cannot sign in on
    /// HasOffers either) until the company is made active again. Their own account keeps its
    /// status, so re-activating the company lets them back in.
    pub fn company_locked(&self, conn: &mut DbConn) -> Result<bool, AccountsError> {
        let Some(company) = self.affiliate_id.filter(|_| self.role == Role::Affiliate) else { return Ok(false) };
        let status: Option<String> = affiliates::table
            .filter(affiliates::tenant_id.eq(self.tenant_id))
            .filter(affiliates::id.eq(company))
            .select(affiliates::status)
            .first(conn)
            .optional()?;
        Ok(matches!(status.as_deref(), Some("suspended" | "rejected")))
    }

    /// Whether the user may use the pages and the API at all: an active account whose company
    /// (if an affiliate's) is not locked ([`User::company_locked`]).
    pub fn may_work(&self, conn: &mut DbConn) -> Result<bool, AccountsError> {
        Ok(self.status == UserStatus::Active && !self.company_locked(conn)?)
    }

    /// Whether a session signed in at `issued_at`, in session epoch `epoch`, is still honoured:
    /// not once the user signed out (another epoch) or reset the password after it.
    pub fn accepts_session(&self, issued_at: Micros, epoch: i64) -> bool {
        epoch == self.session_epoch && self.password_changed_at.is_none_or(|changed| issued_at >= changed)
    }

    /// Replaces the password (policy-checked), changed at `now`: sessions signed in before it
    /// are refused from then on ([`User::accepts_session`]).
    pub fn set_password(
        conn: &mut DbConn,
        tenant: TenantId,
        id: UserId,
        new_password: &password::NewPassword,
        now: Micros,
    ) -> Result<(), AccountsError> {
        password::check_policy(new_password.typed(), "password")?;
        let n = diesel::update(users::table.filter(users::tenant_id.eq(tenant)).filter(users::id.eq(id)))
            .set((users::password_hash.eq(new_password.stored()), users::password_changed_at.eq(Some(now.0))))
            .execute(conn)?;
        if n == 0 {
            return Err(AccountsError::NotFound);
        }
        Ok(())
    }

    /// Sets the account's status. Any status but `active` ends the user's sessions: enabling the
    /// account again lets them sign in again, never revives a cookie from before.
    pub fn set_status(
        conn: &mut DbConn,
        tenant: TenantId,
        id: UserId,
        status: UserStatus,
    ) -> Result<(), AccountsError> {
        write_tx(conn, |conn| {
            if status != UserStatus::Active {
                keep_an_admin(conn, tenant, id, "status", "the network's last active admin stays active")?;
            }
            let user = users::table.filter(users::tenant_id.eq(tenant)).filter(users::id.eq(id));
            let n = if status == UserStatus::Active {
                diesel::update(user).set(users::status.eq(status)).execute(conn)?
            } else {
                diesel::update(user)
                    .set((users::status.eq(status), users::session_epoch.eq(users::session_epoch + 1)))
                    .execute(conn)?
            };
            if n == 0 {
                return Err(AccountsError::NotFound);
            }
            Ok(())
        })
    }
}

/// Refuses (on `field`, with `message`) to take user `id` out of the network's active admins when
/// no other active admin would be left. Called first in the write transaction that would do it:
/// it serialises such changes per network (SQLite's write lock; on PostgreSQL the network's row,
/// locked), so that two admins demoting or disabling each other at once leave one of them.
fn keep_an_admin(
    conn: &mut DbConn,
    tenant: TenantId,
    id: UserId,
    field: &str,
    message: &str,
) -> Result<(), AccountsError> {
    use affnet_db::schema::tenants;
    if let DbConn::Pg(c) = conn {
        // NO KEY UPDATE: it queues behind another such change, but not behind rows referring
        // to the network (their foreign key checks share its key), which would deadlock.
        tenants::table.find(tenant).select(tenants::id).for_no_key_update().execute(c)?;
    }
    let is_active_admin: bool = diesel::select(diesel::dsl::exists(
        users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::id.eq(id))
            .filter(users::role.eq(Role::Admin))
            .filter(users::status.eq(UserStatus::Active)),
    ))
    .get_result(conn)?;
    if !is_active_admin {
        return Ok(());
    }
    let others: i64 = users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::role.eq(Role::Admin))
        .filter(users::status.eq(UserStatus::Active))
        .filter(users::id.ne(id))
        .count()
        .get_result(conn)?;
    if others == 0 {
        return Err(FieldErrors::single(field, message).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rules() {
        for ok in ["a@b.co", "first.last+tag@example.com"] {
            let mut e = FieldErrors::new();
            validate_email(ok, &mut e);
            assert!(e.is_empty(), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@.co", "a@b."] {
            let mut e = FieldErrors::new();
            validate_email(bad, &mut e);
            assert!(!e.is_empty(), "{bad}");
        }
        assert_eq!(normalize_email("  Jo@Example.COM "), "jo@example.com");
    }
}
