//! Per-user API keys for `/api/v1`: shown once at creation, stored as a SHA-256 digest, looked up
//! by a public prefix. A key acts as its user, with that user's role and tenant.

use diesel::prelude::*;

use affnet_db::schema::api_keys;
use affnet_db::{ApiKeyId, DbConn, FieldErrors, Micros, TenantId, UserId};

use crate::token::{constant_time_eq, random_hex, sha256_hex};
use crate::{AccountsError, User};

const SCHEME: &str = "afk";

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub prefix: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub label: String,
    pub created_at: Micros,
    pub last_used_at: Option<Micros>,
    pub revoked_at: Option<Micros>,
}

/// A key just created: `token` is the only time the secret exists in clear.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewApiKey {
    pub key: ApiKey,
    pub token: String,
}

/// Splits `afk_<prefix>_<secret>` into its prefix; anything else is not a key of ours.
fn prefix_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(SCHEME)?.strip_prefix('_')?;
    let (prefix, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(prefix, 12) && hex(secret, 48)).then_some(prefix)
}

impl ApiKey {
    /// Creates a key for `user` of `tenant`.
    pub fn create(
        conn: &mut DbConn,
        tenant: TenantId,
        user: UserId,
        label: &str,
        now: Micros,
    ) -> Result<NewApiKey, AccountsError> {
        let label = label.trim();
        if label.chars().count() > 100 {
            return Err(FieldErrors::single("label", "use at most 100 characters").into());
        }
        // The user must be of this tenant.
        User::find(conn, tenant, user)?;
        let prefix = random_hex(6);
        let token = format!("{SCHEME}_{prefix}_{}", random_hex(24));
        let id: ApiKeyId = diesel::insert_into(api_keys::table)
            .values((
                api_keys::tenant_id.eq(tenant),
                api_keys::user_id.eq(user),
                api_keys::prefix.eq(&prefix),
                api_keys::secret_hash.eq(sha256_hex(&token)),
                api_keys::label.eq(if label.is_empty() { "API key" } else { label }),
                api_keys::created_at.eq(now),
            ))
            .returning(api_keys::id)
            .get_result(conn)?;
        let key = api_keys::table
            .filter(api_keys::tenant_id.eq(tenant))
            .filter(api_keys::id.eq(id))
            .select(ApiKey::as_select())
            .first(conn)?;
        Ok(NewApiKey { key, token })
    }

    /// The active user a bearer token belongs to, or `None` for an unknown, revoked or
    /// malformed token, or a disabled user.
    pub fn authenticate(conn: &mut DbConn, token: &str, now: Micros) -> Result<Option<User>, AccountsError> {
        let Some(prefix) = prefix_of(token.trim()) else { return Ok(None) };
        let key = api_keys::table
            .filter(api_keys::prefix.eq(prefix))
            .filter(api_keys::revoked_at.is_null())
            .select(ApiKey::as_select())
            .first(conn)
            .optional()?;
        let Some(key) = key else { return Ok(None) };
        if !constant_time_eq(&key.secret_hash, &sha256_hex(token.trim())) {
            return Ok(None);
        }
        let user = User::find(conn, key.tenant_id, key.user_id)?;
        if !user.may_work(conn)? {
            return Ok(None);
        }
        // Record use at most once a minute: a busy integration must not write on every call.
        if key.last_used_at.is_none_or(|t| now.0 - t.0 > Micros::MINUTE) {
            diesel::update(
                api_keys::table.filter(api_keys::tenant_id.eq(key.tenant_id)).filter(api_keys::id.eq(key.id)),
            )
            .set(api_keys::last_used_at.eq(Some(now)))
            .execute(conn)?;
        }
        Ok(Some(user))
    }

    /// The keys of one user, newest first (digests never leave this crate).
    pub fn list_for_user(conn: &mut DbConn, tenant: TenantId, user: UserId) -> Result<Vec<ApiKey>, AccountsError> {
        Ok(api_keys::table
            .filter(api_keys::tenant_id.eq(tenant))
            .filter(api_keys::user_id.eq(user))
            .order(api_keys::id.desc())
            .select(ApiKey::as_select())
            .load(conn)?)
    }

    /// Revokes key `id` of `user`; another user's key is not found.
    pub fn revoke(
        conn: &mut DbConn,
        tenant: TenantId,
        user: UserId,
        id: ApiKeyId,
        now: Micros,
    ) -> Result<(), AccountsError> {
        let n = diesel::update(
            api_keys::table
                .filter(api_keys::tenant_id.eq(tenant))
                .filter(api_keys::user_id.eq(user))
                .filter(api_keys::id.eq(id))
                .filter(api_keys::revoked_at.is_null()),
        )
        .set(api_keys::revoked_at.eq(Some(now)))
        .execute(conn)?;
        if n == 0 {
            return Err(AccountsError::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        let good = format!("afk_{}_{}", "a".repeat(12), "b".repeat(48));
        assert_eq!(prefix_of(&good), Some("aaaaaaaaaaaa"));
        for bad in ["", "afk_", "afk_zz_zz", &good[..good.len() - 1], &good.replace("afk", "xyz")] {
            assert_eq!(prefix_of(bad), None, "{bad}");
        }
    }
}
