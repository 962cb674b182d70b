//! The r2d2 pool of [`DbConn`]s.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection, PooledConnection};

use crate::{Backend, DatabaseUrl, DbConn, DbError};

/// Opens connections of the backend a [`DatabaseUrl`] names.
#[derive(Debug)]
pub struct DbManager {
    url: DatabaseUrl,
}

impl ManageConnection for DbManager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        self.url.connect()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1").map_err(DbError::from)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// A cheap-to-clone handle on the pool.
#[derive(Clone)]
pub struct DbPool {
    pool: r2d2::Pool<DbManager>,
    url: DatabaseUrl,
}

pub type PooledConn = PooledConnection<DbManager>;

impl DbPool {
    /// Builds the pool and opens its first connection, so a bad URL or an unreachable server is
    /// reported at start-up, not at the first request.
    pub fn connect(url: &DatabaseUrl, max_size: u32) -> Result<Self, DbError> {
        // One connection first, to say at once why none can be made (`database "x" does not
        // exist`, a refused password): the pool would retry for its 10 s, then say it timed out.
        drop(url.connect()?);
        // One SQLite file takes one writer at a time; a few readers beside it are plenty.
        let pool = r2d2::Pool::builder()
            .max_size(max_size.max(1))
            .min_idle(Some(2.min(max_size.max(1))))
            .connection_timeout(Duration::from_secs(10))
            .build_unchecked(DbManager { url: url.clone() });
        drop(pool.get().map_err(DbError::from)?);
        Ok(Self { pool, url: url.clone() })
    }

    pub fn get(&self) -> Result<PooledConn, DbError> {
        self.pool.get().map_err(DbError::from)
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// A connection of its own, outside the pool (held for the life of something, where taking
    /// one of the pool's would shrink it, or deadlock a pool of one).
    pub fn connect_apart(&self) -> Result<DbConn, DbError> {
        self.url.connect()
    }

    /// Checks that the database answers (for readiness probes), waiting at most 2 s for a
    /// connection: a probe's own timeout is a few seconds (the image's `HEALTHCHECK`: 3 s), and an
    /// unreachable database made it wait for the pool's 10. Blocking.
    pub fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.get_within(Duration::from_secs(2))?;
        conn.batch_execute("SELECT 1").map_err(DbError::from)
    }

    /// A connection, waiting at most `wait` for one (`get` waits the pool's 10 s).
    pub fn get_within(&self, wait: Duration) -> Result<PooledConn, DbError> {
        self.pool.get_timeout(wait).map_err(DbError::from)
    }
}
