//! Sign-in throttling: after repeated failures for one email (or from one address) in a
//! network, further attempts are refused for a while, even with the right password.

use diesel::prelude::*;

use affnet_db::schema::login_failures;
use affnet_db::{DbConn, Micros, TenantId};

use crate::AccountsError;

/// Failures counted over this window.
pub const WINDOW: i64 = 15 * Micros::MINUTE;
/// Failures for one email within the window before it is locked.
pub const MAX_PER_EMAIL: i64 = 5;
/// Failures from one IP address within the window (any email) before it is locked.
pub const MAX_PER_IP: i64 = 20;

/// Refuses with [`AccountsError::Throttled`] when the email or IP has failed too often lately.
pub fn check(conn: &mut DbConn, tenant: TenantId, email: &str, ip: &str, now: Micros) -> Result<(), AccountsError> {
    let since = now.minus(WINDOW);
    let recent =
        login_failures::table.filter(login_failures::tenant_id.eq(tenant)).filter(login_failures::at.gt(since.0));
    let by_email: Vec<i64> = recent
        .filter(login_failures::email.eq(email))
        .order(login_failures::at.desc())
        .limit(MAX_PER_EMAIL)
        .select(login_failures::at)
        .load(conn)?;
    let by_ip: Vec<i64> = recent
        .filter(login_failures::ip.eq(ip))
        .order(login_failures::at.desc())
        .limit(MAX_PER_IP)
        .select(login_failures::at)
        .load(conn)?;
    let locked_until = [(by_email, MAX_PER_EMAIL), (by_ip, MAX_PER_IP)]
        .into_iter()
        .filter(|(times, max)| times.len() as i64 >= *max)
        // Locked until the oldest of the last `max` failures leaves the window.
        .filter_map(|(times, _)| times.last().map(|oldest| oldest + WINDOW))
        .max();
    match locked_until {
        Some(until) if until > now.0 => {
            Err(AccountsError::Throttled { retry_after_secs: ((until - now.0) / Micros::SECOND).max(1) })
        }
        _ => Ok(()),
    }
}

pub fn record_failure(
    conn: &mut DbConn,
    tenant: TenantId,
    email: &str,
    ip: &str,
    now: Micros,
) -> Result<(), AccountsError> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::tenant_id.eq(tenant),
            login_failures::email.eq(email),
            login_failures::ip.eq(ip),
            login_failures::at.eq(now.0),
        ))
        .execute(conn)?;
    // Keep the table small: what has left the window no longer matters.
    diesel::delete(
        login_failures::table
            .filter(login_failures::tenant_id.eq(tenant))
            .filter(login_failures::email.eq(email))
            .filter(login_failures::at.le(now.minus(WINDOW).0)),
    )
    .execute(conn)?;
    Ok(())
}

pub fn clear(conn: &mut DbConn, tenant: TenantId, email: &str) -> Result<(), AccountsError> {
    diesel::delete(
        login_failures::table.filter(login_failures::tenant_id.eq(tenant)).filter(login_failures::email.eq(email)),
    )
    .execute(conn)?;
    Ok(())
}
