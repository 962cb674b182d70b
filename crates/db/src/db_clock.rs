//! The database's time, shared by every node of a PostgreSQL installation.
//!
//! Nodes compare times they did not write: a postback job's lease is set by the node that
//! claimed it and checked by every other one, a click's time by the node that recorded it and
//! the attribution window by the node that takes the conversion. With each node's own clock, a
//! node five minutes ahead saw a live node's leases as run out and sent its postbacks a second
//! time. So on PostgreSQL a node tells time by the database server's clock (`clock_timestamp()`),
//! read at start and then every [`DatabaseClock::EVERY`], and carried forward between reads by
//! a monotonic clock ([`crate::MonotonicClock`]): all nodes agree within a few milliseconds,
//! whatever their system clocks say, and a step of a node's system clock (NTP, or a person
//! fixing it) moves nothing. (SQLite has one server per file, on the database's own machine:
//! its clock is that one.)

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::time::{Clock, Micros};
use crate::{DbConn, DbError, DbPool};

/// A clock that follows the database server's: `base` plus the offset last measured.
pub struct DatabaseClock {
    base: Arc<dyn Clock>,
    offset: AtomicI64,
    /// The system clock's distance from the database's last logged, to log it again only when
    /// it changes.
    skew_logged: AtomicI64,
}

#[derive(QueryableByName)]
struct ServerTime {
    #[diesel(sql_type = BigInt)]
    now: i64,
}

/// One measure: the offset of the database's clock from `base` (microseconds), and the round
/// trip it was measured in (the offset is known to within half of it).
fn measure_once(conn: &mut DbConn, base: &dyn Clock) -> Result<(i64, i64), DbError> {
    let sql = match conn {
        DbConn::Pg(_) => "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint AS now",
        DbConn::Sqlite(_) => "SELECT CAST(unixepoch('subsec') * 1000000 AS INTEGER) AS now",
    };
    let before = base.now().0;
    let server: ServerTime = match conn {
        DbConn::Pg(c) => diesel::sql_query(sql).get_result(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(sql).get_result(c)?,
    };
    let after = base.now().0;
    Ok((server.now - (before + (after - before) / 2), after - before))
}

/// The offset of the database's clock from `base`: the best of three measures (the shortest
/// round trip), with that round trip.
fn measure(conn: &mut DbConn, base: &dyn Clock) -> Result<(i64, i64), DbError> {
    let mut best = measure_once(conn, base)?;
    for _ in 0..2 {
        let m = measure_once(conn, base)?;
        if m.1 < best.1 {
            best = m;
        }
    }
    Ok(best)
}

impl DatabaseClock {
    /// How often the offset is measured again (clocks drift, and are stepped).
    pub const EVERY: Duration = Duration::from_secs(30);

    /// A new offset is taken only when it differs from the one in use by more than what the
    /// measure cannot tell apart (half its round trip, and the database clock's resolution):
    /// noise would move time back and forth by microseconds at each measure.
    const SLACK: i64 = 2_000;

    /// A clock over `base` (a [`crate::MonotonicClock`] in production), measured against
    /// `pool`'s database now and then every [`Self::EVERY`] by a thread of its own, which ends
    /// when the clock is dropped. The first measure must succeed (the pool was just opened).
    pub fn start(pool: &DbPool, base: Arc<dyn Clock>) -> Result<Arc<Self>, DbError> {
        let clock = Arc::new(Self { base, offset: AtomicI64::new(0), skew_logged: AtomicI64::new(0) });
        clock.measure_with(&mut *pool.get()?)?;
        let (weak, pool) = (Arc::downgrade(&clock), pool.clone());
        std::thread::Builder::new()
            .name("database-clock".into())
            .spawn(move || Self::keep_measuring(&weak, &pool))
            .map_err(|e| DbError::Connect(format!("cannot start the database clock thread: {e}")))?;
        Ok(clock)
    }

    fn keep_measuring(clock: &Weak<Self>, pool: &DbPool) {
        loop {
            std::thread::sleep(Self::EVERY);
            let Some(clock) = clock.upgrade() else { return };
            let measured = pool.get_within(Duration::from_secs(2)).and_then(|mut conn| clock.measure_with(&mut conn));
            if let Err(e) = measured {
                tracing::warn!(error = %e, "cannot read the database's clock; keeping the last offset");
            }
        }
    }

    /// Measures the offset on `conn` and takes it if it moved by more than the measure can
    /// tell; returns the offset in use.
    pub fn measure_with(&self, conn: &mut DbConn) -> Result<i64, DbError> {
        let (offset, round_trip) = measure(conn, self.base.as_ref())?;
        let current = self.offset.load(Ordering::Relaxed);
        let offset = if (offset - current).abs() <= round_trip.max(0) / 2 + Self::SLACK {
            current
        } else {
            self.offset.store(offset, Ordering::Relaxed);
            offset
        };
        self.log_skew();
        Ok(offset)
    }

    /// Says in the log when the system clock is a second or more off the database's (times
    /// follow the database's), and again when that distance changes by a second.
    fn log_skew(&self) {
        let skew = Micros::now().0 - self.now().0;
        let logged = self.skew_logged.load(Ordering::Relaxed);
        if (skew - logged).abs() < Micros::SECOND {
            return;
        }
        self.skew_logged.store(skew, Ordering::Relaxed);
        if skew.abs() >= Micros::SECOND {
            tracing::warn!(
                skew_ms = skew / 1000,
                "this node's system clock is off the database server's: its times follow the database's clock"
            );
        } else {
            tracing::info!("this node's system clock agrees with the database server's again");
        }
    }

    /// The offset in use, in microseconds (database clock minus `base`).
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Relaxed)
    }
}

impl Clock for DatabaseClock {
    fn now(&self) -> Micros {
        self.base.now().plus(self.offset.load(Ordering::Relaxed))
    }
}
