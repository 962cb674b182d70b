//! Time as unix microseconds (UTC), and the clock that tells it (injected, so tests of windows
//! and retries never sleep).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A UTC instant as microseconds since the Unix epoch; stored as `BIGINT`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::BigInt)]
#[serde(transparent)]
pub struct Micros(pub i64);

crate::bigint_sql!(Micros);

impl Micros {
    pub const SECOND: i64 = 1_000_000;
    pub const MINUTE: i64 = 60 * Self::SECOND;
    pub const HOUR: i64 = 60 * Self::MINUTE;
    pub const DAY: i64 = 24 * Self::HOUR;

    pub fn now() -> Self {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Micros(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(Self::SECOND)
    }

    pub fn unix_millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus(self, micros: i64) -> Self {
        Micros(self.0.saturating_add(micros))
    }

    pub fn minus(self, micros: i64) -> Self {
        Micros(self.0.saturating_sub(micros))
    }

    fn to_offset_datetime(self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// `YYYY-MM-DD HH:MM:SS` in UTC (the `{datetime}` postback macro's format).
    pub fn format_utc(self) -> String {
        let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        self.to_offset_datetime().format(&f).unwrap_or_default()
    }

    /// RFC 3339 in UTC, for JSON.
    pub fn rfc3339(self) -> String {
        self.to_offset_datetime().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
    }
}

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.format_utc())
    }
}

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Micros;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Micros {
        Micros::now()
    }
}

/// A clock that never steps: microseconds since it was made (`Instant`), for [`crate::DatabaseClock`]
/// to add the database's time to (a step of the system clock, by NTP or by hand, changes
/// nothing there).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(std::time::Instant);

impl MonotonicClock {
    pub fn new() -> Self {
        Self(std::time::Instant::now())
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Micros {
        Micros(i64::try_from(self.0.elapsed().as_micros()).unwrap_or(i64::MAX))
    }
}

/// A clock tests set and advance by hand.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(t: Micros) -> Self {
        Self(Arc::new(AtomicI64::new(t.0)))
    }
    pub fn advance(&self, micros: i64) {
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
    pub fn set(&self, t: Micros) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Micros {
        Micros(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        let t = Micros(1_764_072_000 * Micros::SECOND + 123);
        assert_eq!(t.format_utc(), "2025-11-25 12:00:00");
        assert_eq!(t.unix_seconds(), 1_764_072_000);
        assert_eq!(t.rfc3339(), "2025-11-25T12:00:00.000123Z");
    }

    #[test]
    fn manual_clock_advances() {
        let c = ManualClock::at(Micros(10));
        c.advance(Micros::SECOND);
        assert_eq!(c.now(), Micros(10 + Micros::SECOND));
    }
}
