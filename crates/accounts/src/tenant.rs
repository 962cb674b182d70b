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
    /// The network's own tracking domain, if it has one ([`normalize_domain`]).
    pub tracking_domain: Option<String>,
}

/// A tracking domain as stored: a host name (`track.acme.com`), lower case, without scheme,
/// port, path or trailing dot; labels of letters, digits and dashes, at least two of them, the
/// last not all digits. A message saying what to enter for anything else.
pub fn normalize_domain(input: &str) -> Result<String, &'static str> {
    const HOW: &str = "enter a host name such as track.example.com (no http://, port or path)";
    let d = input.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if d.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(HOW);
    }
    // An IP address is not a domain: a network's links need a name it can move.
    if labels.last().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(HOW);
    }
    Ok(d)
}

/// The host name of a `Host` header value (`Track.Acme.com:8080` → `track.acme.com`), as
/// tracking domains are stored; `None` for an IPv6 literal or an empty value.
pub fn host_name(host: &str) -> Option<String> {
    if host.starts_with('[') {
        return None;
    }
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name).trim_end_matches('.');
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
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
        } else if affnet_db::validation::has_control(name) {
            errors.add("name", affnet_db::validation::ONE_LINE);
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

    /// Sets (or with `None` clears) the network's tracking domain: checked by
    /// [`normalize_domain`], unique across the installation, and never `public_host` (the
    /// server's own address serves every network). Returns the stored value. For the operator
    /// (`affnet tenant domain`): a network must not claim a host on its own.
    pub fn set_tracking_domain(
        conn: &mut DbConn,
        id: TenantId,
        domain: Option<&str>,
        public_host: Option<&str>,
    ) -> Result<Option<String>, AccountsError> {
        let domain = match domain.map(str::trim).filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => Some(normalize_domain(d).map_err(|m| FieldErrors::single("tracking_domain", m))?),
        };
        if domain.is_some() && domain.as_deref() == public_host {
            return Err(FieldErrors::single(
                "tracking_domain",
                "this is the server's own address (AFFNET_PUBLIC_URL), which serves every network",
            )
            .into());
        }
        // The unique index decides whether another network has it.
        match diesel::update(tenants::table.find(id)).set(tenants::tracking_domain.eq(&domain)).execute(conn) {
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                Err(FieldErrors::single("tracking_domain", "another network uses this domain").into())
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(domain),
        }
    }

    /// The network whose tracking domain `host` (a host name, [`host_name`]) is.
    pub fn find_by_tracking_domain(conn: &mut DbConn, host: &str) -> Result<Option<Tenant>, AccountsError> {
        Ok(tenants::table
            .filter(tenants::tracking_domain.eq(host))
            .select(Tenant::as_select())
            .first(conn)
            .optional()?)
    }

    /// Every network's tracking domain (the tracking endpoints' `Host` map).
    pub fn tracking_domains(conn: &mut DbConn) -> Result<Vec<(String, TenantId)>, AccountsError> {
        Ok(tenants::table
            .filter(tenants::tracking_domain.is_not_null())
            .select((tenants::tracking_domain.assume_not_null(), tenants::id))
            .load(conn)?)
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
        let admin_password = crate::password::NewPassword::hash(admin_password);
        affnet_db::write_tx(conn, |conn| {
            let tenant = Tenant::create(conn, slug, name, now)?;
            let new = crate::NewUser {
                email: admin_email,
                name: "",
                role: crate::Role::Admin,
                password: &admin_password,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_domains_are_host_names_compared_in_lower_case() {
        assert_eq!(normalize_domain(" Track.Acme.COM. "), Ok("track.acme.com".to_owned()));
        assert_eq!(normalize_domain("t-1.example.co.uk"), Ok("t-1.example.co.uk".to_owned()));
        let long_label = format!("{}.com", "a".repeat(64));
        for bad in [
            "",
            "localhost",
            "https://t.acme.com",
            "t.acme.com:80",
            "t.acme.com/x",
            "1.2.3.4",
            "a..b",
            "-a.com",
            "a-.com",
            "a b.com",
            "é.com",
            long_label.as_str(),
        ] {
            assert!(normalize_domain(bad).is_err(), "{bad}");
        }
        assert_eq!(host_name("Track.Acme.com:8080").as_deref(), Some("track.acme.com"));
        assert_eq!(host_name("track.acme.com.").as_deref(), Some("track.acme.com"));
        assert_eq!(host_name("track.acme.com").as_deref(), Some("track.acme.com"));
        assert_eq!(host_name("[::1]:8080"), None);
        assert_eq!(host_name(""), None);
    }
}
