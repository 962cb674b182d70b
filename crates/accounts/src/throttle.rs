//! Throttling of the public account forms: sign-in, signup and password reset requests. Every
//! attempt counts (a sign-in that turns out right is forgotten again) against three limits of
//! its own action, over the last [`WINDOW`]:
//! - one email from one client address ([`Limits::per_email_and_address`]): what stops a
//!   guesser at once, without locking the owner out from another address;
//! - one email from every address ([`Limits::per_email`]): a wider limit against guessing from
//!   many addresses, which a lock-out by strangers would need many addresses to reach;
//! - one client address, any email ([`Limits::per_address`]).
//!
//! Over a limit, further attempts are refused, even right ones, until the oldest counted attempt
//! leaves the window. The actions count apart: signing people up or asking for reset links
//! from an office's one address never pauses its sign-ins. Counting is atomic
//! ([`reserve`]): attempts sent at once cannot pass a limit between a check and a record.

use diesel::prelude::*;

use affnet_db::schema::login_failures;
use affnet_db::{write_tx, DbConn, Micros, TenantId};

use crate::AccountsError;

/// Attempts are counted over this window.
pub const WINDOW: i64 = 15 * Micros::MINUTE;

/// What is being attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignIn,
    SignUp,
    Reset,
}

/// Attempts allowed within [`WINDOW`] before the next is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_email_and_address: i64,
    pub per_email: i64,
    pub per_address: i64,
}

impl Action {
    pub const fn limits(self) -> Limits {
        match self {
            Action::SignIn => Limits { per_email_and_address: 5, per_email: 50, per_address: 20 },
            Action::SignUp | Action::Reset => Limits { per_email_and_address: 5, per_email: 20, per_address: 20 },
        }
    }

    /// Prefixes both stored keys (email and address), so that each action counts apart.
    fn prefix(self) -> &'static str {
        match self {
            Action::SignIn => "sign_in:",
            Action::SignUp => "signup:",
            Action::Reset => "reset:",
        }
    }
}

/// A counted attempt (its row), to [`forget`] when it turns out not to be a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt(i64);

/// Counts an attempt of `action` for `email` from `ip`, or refuses it with
/// [`AccountsError::Throttled`] (counting nothing) when a limit is reached. One transaction that
/// serialises with every other count (SQLite's write lock; on PostgreSQL a table lock that only
/// these short transactions take).
pub fn reserve(
    conn: &mut DbConn,
    tenant: TenantId,
    action: Action,
    email: &str,
    ip: &str,
    now: Micros,
) -> Result<Attempt, AccountsError> {
    let (email, ip) = (format!("{}{email}", action.prefix()), format!("{}{}", action.prefix(), client_key(ip)));
    write_tx(conn, |conn| {
        if let DbConn::Pg(c) = conn {
            use diesel::connection::SimpleConnection;
            c.batch_execute("LOCK TABLE login_failures IN SHARE ROW EXCLUSIVE MODE")?;
        }
        check(conn, tenant, action.limits(), &email, &ip, now)?;
        let id = diesel::insert_into(login_failures::table)
            .values((
                login_failures::tenant_id.eq(tenant),
                login_failures::email.eq(&email),
                login_failures::ip.eq(&ip),
                login_failures::at.eq(now.0),
            ))
            .returning(login_failures::id)
            .get_result(conn)?;
        // Keep the table small: what has left the window no longer matters.
        diesel::delete(
            login_failures::table
                .filter(login_failures::tenant_id.eq(tenant))
                .filter(login_failures::email.eq(&email))
                .filter(login_failures::at.le(now.minus(WINDOW).0)),
        )
        .execute(conn)?;
        Ok(Attempt(id))
    })
}

/// The client an address counts as: an IPv4 address itself, an IPv6 one by its `/64` (one
/// subscriber's network: anyone holding one has 2^64 addresses to spread guesses over).
fn client_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        _ => ip.to_owned(),
    }
}

/// Refuses when any limit is reached: locked until the oldest of the last `max` attempts leaves
/// the window.
fn check(
    conn: &mut DbConn,
    tenant: TenantId,
    limits: Limits,
    email: &str,
    ip: &str,
    now: Micros,
) -> Result<(), AccountsError> {
    let recent = || {
        login_failures::table
            .filter(login_failures::tenant_id.eq(tenant))
            .filter(login_failures::at.gt(now.minus(WINDOW).0))
            .into_boxed()
    };
    let last = |conn: &mut DbConn, q: login_failures::BoxedQuery<'_, _>, max: i64| -> QueryResult<Option<i64>> {
        let times: Vec<i64> = q.order(login_failures::at.desc()).limit(max).select(login_failures::at).load(conn)?;
        Ok(times.last().copied().filter(|_| times.len() as i64 >= max))
    };
    let locked_until = [
        last(
            conn,
            recent().filter(login_failures::email.eq(email)).filter(login_failures::ip.eq(ip)),
            limits.per_email_and_address,
        )?,
        last(conn, recent().filter(login_failures::email.eq(email)), limits.per_email)?,
        last(conn, recent().filter(login_failures::ip.eq(ip)), limits.per_address)?,
    ]
    .into_iter()
    .flatten()
    .map(|oldest| oldest + WINDOW)
    .max();
    match locked_until {
        Some(until) if until > now.0 => {
            Err(AccountsError::Throttled { retry_after_secs: ((until - now.0) / Micros::SECOND).max(1) })
        }
        _ => Ok(()),
    }
}

/// Uncounts an attempt that was not a failure (the right password).
pub fn forget(conn: &mut DbConn, tenant: TenantId, attempt: Attempt) -> Result<(), AccountsError> {
    diesel::delete(
        login_failures::table.filter(login_failures::tenant_id.eq(tenant)).filter(login_failures::id.eq(attempt.0)),
    )
    .execute(conn)?;
    Ok(())
}

/// Forgets every counted sign-in of `email` (the owner proved it: a right password or a reset).
pub fn clear(conn: &mut DbConn, tenant: TenantId, email: &str) -> Result<(), AccountsError> {
    let key = format!("{}{email}", Action::SignIn.prefix());
    diesel::delete(
        login_failures::table.filter(login_failures::tenant_id.eq(tenant)).filter(login_failures::email.eq(key)),
    )
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::client_key;

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        assert_eq!(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(client_key("2001:db8:1:3::1"), client_key("2001:db8:1:2::1"));
        assert_eq!(client_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("unknown"), "unknown");
    }
}
