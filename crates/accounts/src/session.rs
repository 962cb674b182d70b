//! What a sign-in session holds, and how long it lives. The web layer keeps it in a signed,
//! encrypted cookie; this module decides what is in it and when it is stale.

use affnet_db::{Micros, TenantId, UserId};

use crate::token::random_hex;

/// A session is refused after this long without a request…
pub const IDLE_TIMEOUT: i64 = 12 * Micros::HOUR;
/// …and after this long in all, whatever the activity.
pub const ABSOLUTE_TIMEOUT: i64 = 7 * Micros::DAY;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionData {
    /// The signed-in user and their tenant; `None` before sign-in.
    pub user: Option<(UserId, TenantId)>,
    /// The CSRF token every form of this session must send back.
    pub csrf: String,
    /// When the user signed in.
    pub issued_at: Micros,
    /// When the session was last used.
    pub seen_at: Micros,
    /// The user's session epoch at sign-in: signing out moves it on, ending every copy of
    /// this cookie (0 in cookies from before epochs, as in every user's first epoch).
    #[serde(default)]
    pub epoch: i64,
    /// A one-time message for the next page: (kind, text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash: Option<(String, String)>,
}

/// Why a session cookie is no longer accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    Fresh,
    Expired,
}

impl SessionData {
    /// A session with nobody signed in (it still carries a CSRF token for the sign-in form).
    pub fn anonymous(now: Micros) -> Self {
        Self { user: None, csrf: random_hex(32), issued_at: now, seen_at: now, epoch: 0, flash: None }
    }

    /// A fresh session for a user who just signed in: a new CSRF token too, so that nothing
    /// known before sign-in is valid after it.
    pub fn signed_in(user: UserId, tenant: TenantId, epoch: i64, now: Micros) -> Self {
        Self { user: Some((user, tenant)), epoch, ..Self::anonymous(now) }
    }

    pub fn staleness(&self, now: Micros) -> Staleness {
        if now.0 - self.seen_at.0 > IDLE_TIMEOUT || now.0 - self.issued_at.0 > ABSOLUTE_TIMEOUT {
            Staleness::Expired
        } else {
            Staleness::Fresh
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_when_idle_or_old() {
        let t0 = Micros(1_000 * Micros::DAY);
        let mut s = SessionData::signed_in(UserId(1), TenantId(1), 0, t0);
        assert_eq!(s.staleness(t0.plus(IDLE_TIMEOUT)), Staleness::Fresh);
        assert_eq!(s.staleness(t0.plus(IDLE_TIMEOUT + 1)), Staleness::Expired);
        s.seen_at = t0.plus(7 * Micros::DAY);
        assert_eq!(s.staleness(t0.plus(7 * Micros::DAY + 1)), Staleness::Expired);
        assert_ne!(SessionData::anonymous(t0).csrf, SessionData::anonymous(t0).csrf);
    }
}
