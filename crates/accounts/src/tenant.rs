//! Networks (tenants). Every other row belongs to exactly one.

use diesel::prelude::*;

use affnet_db::schema::tenants;
use affnet_db::{DbConn, FieldErrors, Micros, TenantId};

use crate::AccountsError;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub timezone: String,
    pub created_at: Micros,
}

/// Checks a network slug: 2–40 of `a-z`, `0-9`, `-`, starting with a letter or digit.
pub fn validate_slug(slug: &str, errors: &mut FieldErrors) {
    let ok_chars = slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(2..=40).contains(&slug.len()) || !ok_chars || slug.starts_with('-') || slug.ends_with('-') {
        errors.add("slug", "use 2 to 40 lower-case letters, digits and dashes (e.g. acme-network)");
    }
}

impl Tenant {
    /// Creates a network. The slug is unique across the installation.
    pub fn create(conn: &mut DbConn, slug: &str, name: &str, now: Micros) -> Result<Tenant, AccountsError> {
        let mut errors = FieldErrors::new();
        validate_slug(slug, &mut errors);
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            errors.add("name", "give the network a name of 1 to 200 characters");
        }
        errors.into_result()?;
        if Tenant::find_by_slug(conn, slug)?.is_some() {
            return Err(FieldErrors::single("slug", format!("a network with slug '{slug}' already exists")).into());
        }
        let id: TenantId = diesel::insert_into(tenants::table)
            .values((tenants::slug.eq(slug), tenants::name.eq(name), tenants::created_at.eq(now)))
            .returning(tenants::id)
            .get_result(conn)?;
        Tenant::find(conn, id)
    }

    /// Sets the network's `timezone` (the caller has validated it; reports fall back to UTC
    /// for a value they do not understand).
    pub fn set_timezone(conn: &mut DbConn, id: TenantId, timezone: &str) -> Result<(), AccountsError> {
        diesel::update(tenants::table.find(id)).set(tenants::timezone.eq(timezone)).execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConn, id: TenantId) -> Result<Tenant, AccountsError> {
        Ok(tenants::table.find(id).select(Tenant::as_select()).first(conn)?)
    }

    pub fn find_by_slug(conn: &mut DbConn, slug: &str) -> Result<Option<Tenant>, AccountsError> {
        Ok(tenants::table.filter(tenants::slug.eq(slug)).select(Tenant::as_select()).first(conn).optional()?)
    }
}

/// A network as `affnet tenant create` makes it: the tenant, its first admin, and an API key
/// for that admin (its token shown once).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProvisionedTenant {
    pub tenant: Tenant,
    pub admin: crate::User,
    pub api_key: crate::NewApiKey,
}

impl Tenant {
    /// Creates a network with its first admin and an admin API key, all or nothing.
    pub fn provision(
        conn: &mut DbConn,
        slug: &str,
        name: &str,
        admin_email: &str,
        admin_password: &str,
        now: Micros,
    ) -> Result<ProvisionedTenant, AccountsError> {
        affnet_db::write_tx(conn, |conn| {
            let tenant = Tenant::create(conn, slug, name, now)?;
            let new = crate::NewUser {
                email: admin_email,
                name: "",
                role: crate::Role::Admin,
                password: admin_password,
                advertiser_id: None,
                affiliate_id: None,
            };
            let admin = crate::User::create(conn, tenant.id, &new, now).map_err(|e| match e {
                AccountsError::Invalid(f) => AccountsError::Invalid(FieldErrors(
                    f.0.into_iter().map(|(k, v)| (format!("admin_{k}"), v)).collect(),
                )),
                other => other,
            })?;
            let api_key = crate::ApiKey::create(conn, tenant.id, admin.id, "created with the tenant", now)?;
            Ok(ProvisionedTenant { tenant, admin, api_key })
        })
    }
}
