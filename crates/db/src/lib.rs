//! affnet's storage layer: one connection type that is SQLite or PostgreSQL (chosen at run time
//! from `DATABASE_URL`), its r2d2 pool, the diesel schema, the embedded migrations of both
//! backends, and the value newtypes (ids, money, time) every other crate speaks in.
//!
//! It knows nothing of HTTP or business rules: domain crates build their queries on top of it.

pub mod conn;
pub mod db_clock;
pub mod error;
pub mod ids;
pub mod migrate;
pub mod money;
pub mod pool;
pub mod schema;
pub mod settings;
pub mod sql;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod validation;

pub use conn::{Backend, DatabaseUrl, DbConn};
pub use db_clock::DatabaseClock;
pub use error::DbError;
pub use ids::*;
pub use money::{Currency, Money, MoneyError};
pub use pool::{DbPool, PooledConn};
pub use time::{Clock, ManualClock, Micros, MonotonicClock, SystemClock};
pub use validation::FieldErrors;

/// A no-op write: as the first statement of a SQLite transaction it takes the write lock.
pub const SQLITE_WRITE_LOCK: &str = "UPDATE app_settings SET value = value WHERE 0";

/// A write transaction. On SQLite it takes the write lock first (a no-op `UPDATE`), so that a
/// transaction that reads before it writes waits for other writers (busy timeout) instead of
/// failing with `SQLITE_BUSY` when another connection committed in between (WAL snapshots
/// cannot be upgraded). Use it for every transaction that writes.
pub fn write_tx<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    conn.transaction(|c| {
        if let DbConn::Sqlite(s) = c {
            s.batch_execute(SQLITE_WRITE_LOCK)?;
        }
        f(c)
    })
}

/// Runs `$body` with `$c` bound to the concrete connection (`SqliteConnection` or
/// `PgConnection`), for the few queries diesel's `MultiBackend` cannot express (batch inserts,
/// upserts, backend-specific locking). Write the query once, generically, inside the body.
#[macro_export]
macro_rules! with_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConn::Sqlite($c) => $body,
            $crate::DbConn::Pg($c) => $body,
        }
    };
}
