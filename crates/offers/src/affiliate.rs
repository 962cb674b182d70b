//! Affiliates: the publishers who send traffic. A company with a status and an optional account
//! manager; its people sign in as users of role `affiliate` linked to it.

use diesel::prelude::*;

use affnet_db::schema::{affiliates, users};
use affnet_db::{AffiliateId, DbConn, FieldErrors, Micros, TenantId, UserId};

use crate::advertiser::{check_email, parse_status};
use crate::error::{line, text};
use crate::OffersError;

crate::text_enum!(
    /// Where the affiliate stands with the network. Only `active` affiliates get clicks tracked.
    AffiliateStatus {
        Pending = "pending",
        Active = "active",
        Suspended = "suspended",
        Rejected = "rejected",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = affiliates)]
pub struct Affiliate {
    pub id: AffiliateId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub name: String,
    pub contact_email: String,
    pub status: AffiliateStatus,
    pub manager_user_id: Option<UserId>,
    pub notes: String,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// The editable fields, as submitted by a form or the API.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffiliateInput {
    pub name: String,
    #[serde(default)]
    pub contact_email: String,
    /// `pending` (default), `active`, `suspended` or `rejected`.
    #[serde(default)]
    pub status: Option<String>,
    /// A user of role `manager` in the same network.
    #[serde(default)]
    pub manager_user_id: Option<UserId>,
    #[serde(default)]
    pub notes: String,
}

struct Valid {
    name: String,
    contact_email: String,
    status: AffiliateStatus,
    manager: Option<UserId>,
    notes: String,
}

impl AffiliateInput {
    fn validate(&self, conn: &mut DbConn, tenant: TenantId) -> Result<Valid, OffersError> {
        let mut e = FieldErrors::new();
        let v = Valid {
            name: line(&self.name, "name", 1, 200, &mut e),
            contact_email: check_email(&self.contact_email, "contact_email", &mut e),
            status: parse_status(self.status.as_deref(), AffiliateStatus::Pending, &mut e),
            manager: self.manager_user_id,
            notes: text(&self.notes, "notes", 0, 5000, &mut e),
        };
        if let Some(m) = v.manager {
            let role: Option<String> = users::table
                .filter(users::tenant_id.eq(tenant))
                .filter(users::id.eq(m))
                .select(users::role)
                .first(conn)
                .optional()?;
            if role.as_deref() != Some("manager") {
                e.add("manager_user_id", "choose a user of role manager in this network");
            }
        }
        e.into_result()?;
        Ok(v)
    }
}

impl Affiliate {
    pub fn create(
        conn: &mut DbConn,
        tenant: TenantId,
        input: &AffiliateInput,
        now: Micros,
    ) -> Result<Affiliate, OffersError> {
        let _changed = crate::ChangeGuard;
        let v = input.validate(conn, tenant)?;
        let id: AffiliateId = diesel::insert_into(affiliates::table)
            .values((
                affiliates::tenant_id.eq(tenant),
                affiliates::name.eq(&v.name),
                affiliates::contact_email.eq(&v.contact_email),
                affiliates::status.eq(v.status),
                affiliates::manager_user_id.eq(v.manager),
                affiliates::notes.eq(&v.notes),
                affiliates::created_at.eq(now),
                affiliates::updated_at.eq(now),
            ))
            .returning(affiliates::id)
            .get_result(conn)?;
        Affiliate::find(conn, tenant, id)
    }

    pub fn update(
        conn: &mut DbConn,
        tenant: TenantId,
        id: AffiliateId,
        input: &AffiliateInput,
        now: Micros,
    ) -> Result<Affiliate, OffersError> {
        let _changed = crate::ChangeGuard;
        let v = input.validate(conn, tenant)?;
        let n =
            diesel::update(affiliates::table.filter(affiliates::tenant_id.eq(tenant)).filter(affiliates::id.eq(id)))
                .set((
                    affiliates::name.eq(&v.name),
                    affiliates::contact_email.eq(&v.contact_email),
                    affiliates::status.eq(v.status),
                    affiliates::manager_user_id.eq(v.manager),
                    affiliates::notes.eq(&v.notes),
                    affiliates::updated_at.eq(now),
                ))
                .execute(conn)?;
        if n == 0 {
            return Err(OffersError::NotFound);
        }
        Affiliate::find(conn, tenant, id)
    }

    /// Approves, suspends or rejects an affiliate.
    pub fn set_status(
        conn: &mut DbConn,
        tenant: TenantId,
        id: AffiliateId,
        status: AffiliateStatus,
        now: Micros,
    ) -> Result<Affiliate, OffersError> {
        let _changed = crate::ChangeGuard;
        let n =
            diesel::update(affiliates::table.filter(affiliates::tenant_id.eq(tenant)).filter(affiliates::id.eq(id)))
                .set((affiliates::status.eq(status), affiliates::updated_at.eq(now)))
                .execute(conn)?;
        if n == 0 {
            return Err(OffersError::NotFound);
        }
        Affiliate::find(conn, tenant, id)
    }

    pub fn find(conn: &mut DbConn, tenant: TenantId, id: AffiliateId) -> Result<Affiliate, OffersError> {
        Ok(affiliates::table
            .filter(affiliates::tenant_id.eq(tenant))
            .filter(affiliates::id.eq(id))
            .select(Affiliate::as_select())
            .first(conn)?)
    }

    /// The tenant's affiliates, newest first; `search` matches the name or email.
    pub fn list(
        conn: &mut DbConn,
        tenant: TenantId,
        search: Option<&str>,
        status: Option<AffiliateStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Affiliate>, OffersError> {
        let mut q = affiliates::table.filter(affiliates::tenant_id.eq(tenant)).into_boxed();
        if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
            let pattern = crate::like_pattern(s);
            q = q.filter(
                crate::lower(affiliates::name).like(crate::lower(pattern.clone())).escape('\\').or(crate::lower(
                    affiliates::contact_email,
                )
                .like(crate::lower(pattern))
                .escape('\\')),
            );
        }
        if let Some(st) = status {
            q = q.filter(affiliates::status.eq(st));
        }
        Ok(q.order(affiliates::id.desc()).limit(limit).offset(offset).select(Affiliate::as_select()).load(conn)?)
    }
}
