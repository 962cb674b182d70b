//! Advertisers: the companies whose offers the network runs. Their people sign in as users of
//! role `advertiser` linked to the company.

use diesel::prelude::*;

use affnet_db::schema::advertisers;
use affnet_db::{AdvertiserId, DbConn, FieldErrors, Micros, TenantId};

use crate::error::{line, text};
use crate::OffersError;

crate::text_enum!(
    /// Whether the advertiser is being worked with.
    AdvertiserStatus {
        Active = "active",
        Inactive = "inactive",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = advertisers)]
pub struct Advertiser {
    pub id: AdvertiserId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub name: String,
    pub contact_name: String,
    pub contact_email: String,
    pub status: AdvertiserStatus,
    pub notes: String,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// The editable fields, as submitted by a form or the API.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvertiserInput {
    pub name: String,
    #[serde(default)]
    pub contact_name: String,
    #[serde(default)]
    pub contact_email: String,
    /// `active` (default) or `inactive`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub notes: String,
}

struct Valid {
    name: String,
    contact_name: String,
    contact_email: String,
    status: AdvertiserStatus,
    notes: String,
}

/// Checks an optional contact email: empty, or something shaped like an address.
pub(crate) fn check_email(value: &str, field: &str, errors: &mut FieldErrors) -> String {
    let v = value.trim().to_lowercase();
    if !v.is_empty() {
        let ok = v.len() <= 254
            && !v.chars().any(char::is_whitespace)
            && v.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'));
        if !ok {
            errors.add(field, "enter an email address such as name@example.com");
        }
    }
    v
}

pub(crate) fn parse_status<T: std::str::FromStr<Err = String>>(
    value: Option<&str>,
    default: T,
    errors: &mut FieldErrors,
) -> T {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|e: String| {
            errors.add("status", e);
            default
        }),
    }
}

impl AdvertiserInput {
    fn validate(&self) -> Result<Valid, OffersError> {
        let mut e = FieldErrors::new();
        let v = Valid {
            name: line(&self.name, "name", 1, 200, &mut e),
            contact_name: line(&self.contact_name, "contact_name", 0, 200, &mut e),
            contact_email: check_email(&self.contact_email, "contact_email", &mut e),
            status: parse_status(self.status.as_deref(), AdvertiserStatus::Active, &mut e),
            notes: text(&self.notes, "notes", 0, 5000, &mut e),
        };
        e.into_result()?;
        Ok(v)
    }
}

impl Advertiser {
    pub fn create(
        conn: &mut DbConn,
        tenant: TenantId,
        input: &AdvertiserInput,
        now: Micros,
    ) -> Result<Advertiser, OffersError> {
        let _changed = crate::ChangeGuard;
        let v = input.validate()?;
        let id: AdvertiserId = diesel::insert_into(advertisers::table)
            .values((
                advertisers::tenant_id.eq(tenant),
                advertisers::name.eq(&v.name),
                advertisers::contact_name.eq(&v.contact_name),
                advertisers::contact_email.eq(&v.contact_email),
                advertisers::status.eq(v.status),
                advertisers::notes.eq(&v.notes),
                advertisers::created_at.eq(now),
                advertisers::updated_at.eq(now),
            ))
            .returning(advertisers::id)
            .get_result(conn)?;
        Advertiser::find(conn, tenant, id)
    }

    pub fn update(
        conn: &mut DbConn,
        tenant: TenantId,
        id: AdvertiserId,
        input: &AdvertiserInput,
        now: Micros,
    ) -> Result<Advertiser, OffersError> {
        let _changed = crate::ChangeGuard;
        let v = input.validate()?;
        let n =
            diesel::update(advertisers::table.filter(advertisers::tenant_id.eq(tenant)).filter(advertisers::id.eq(id)))
                .set((
                    advertisers::name.eq(&v.name),
                    advertisers::contact_name.eq(&v.contact_name),
                    advertisers::contact_email.eq(&v.contact_email),
                    advertisers::status.eq(v.status),
                    advertisers::notes.eq(&v.notes),
                    advertisers::updated_at.eq(now),
                ))
                .execute(conn)?;
        if n == 0 {
            return Err(OffersError::NotFound);
        }
        Advertiser::find(conn, tenant, id)
    }

    pub fn find(conn: &mut DbConn, tenant: TenantId, id: AdvertiserId) -> Result<Advertiser, OffersError> {
        Ok(advertisers::table
            .filter(advertisers::tenant_id.eq(tenant))
            .filter(advertisers::id.eq(id))
            .select(Advertiser::as_select())
            .first(conn)?)
    }

    /// The tenant's advertisers, newest first; `search` matches the name or contact.
    pub fn list(
        conn: &mut DbConn,
        tenant: TenantId,
        search: Option<&str>,
        status: Option<AdvertiserStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Advertiser>, OffersError> {
        let mut q = advertisers::table.filter(advertisers::tenant_id.eq(tenant)).into_boxed();
        if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
            let pattern = crate::like_pattern(s);
            q = q.filter(
                crate::lower(advertisers::name)
                    .like(crate::lower(pattern.clone()))
                    .escape('\\')
                    .or(crate::lower(advertisers::contact_email).like(crate::lower(pattern.clone())).escape('\\'))
                    .or(crate::lower(advertisers::contact_name).like(crate::lower(pattern)).escape('\\')),
            );
        }
        if let Some(st) = status {
            q = q.filter(advertisers::status.eq(st));
        }
        Ok(q.order(advertisers::id.desc()).limit(limit).offset(offset).select(Advertiser::as_select()).load(conn)?)
    }
}
