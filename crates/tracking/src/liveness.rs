//! Which postback workers are alive, so that the jobs of one that died are sent again at once.
//!
//! A worker marks the jobs it claims with its node key. On PostgreSQL it holds an advisory lock
//! on that key, in a session of its own, while it lives: when its process dies (even killed),
//! PostgreSQL ends the session and drops the lock, and the other workers (or the same node
//! started again) claim its `sending` jobs once their requests are surely over (claimed more
//! than the request timeout ago), instead of waiting for the lease (minutes) to run out. The
//! lease still covers a node that hangs with its session open, and a node that lost its lock
//! claims without its key until it has it again.
//!
//! On SQLite there is one server per database file (`affnet serve` holds a lock beside it), so
//! when it starts every `sending` job was left by a previous process: it takes them all back
//! ([`crate::delivery::take_back`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};
use rand::Rng;

use affnet_db::{DbConn, DbError, DbPool};

/// The advisory locks' first key ("afnt"): the second is the node's key.
pub const CLASS: i32 = 0x6166_6e74;

/// The keys of the live nodes of this database (a subquery).
pub const LIVE_NODES: &str = "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' \
                              AND classid = 1634102900 AND objsubid = 2 AND granted \
                              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// A live node's advisory lock on PostgreSQL, held by a session of its own.
pub struct NodeLock {
    key: i32,
    pool: DbPool,
    session: Mutex<Option<DbConn>>,
    /// What the last [`NodeLock::keep`] found.
    held: AtomicBool,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Takes the advisory lock on `key`, or if another session holds it on a new random key.
fn lock(conn: &mut DbConn, key: i32) -> Result<i32, DbError> {
    let DbConn::Pg(c) = conn else { return Err(DbError::Connect("node locks are for PostgreSQL".into())) };
    let mut key = key;
    loop {
        let taken: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1, $2) AS locked")
            .bind::<Integer, _>(CLASS)
            .bind::<Integer, _>(key)
            .get_result(c)?;
        if taken.locked {
            return Ok(key);
        }
        key = rand::thread_rng().gen_range(1..i32::MAX);
    }
}

impl NodeLock {
    /// Locks a random key in a new session, on PostgreSQL; `None` on SQLite.
    pub fn acquire(pool: &DbPool) -> Result<Option<Self>, DbError> {
        if pool.backend() != affnet_db::Backend::Postgres {
            return Ok(None);
        }
        let mut session = pool.connect_apart()?;
        let key = lock(&mut session, rand::thread_rng().gen_range(1..i32::MAX))?;
        Ok(Some(Self { key, pool: pool.clone(), session: Mutex::new(Some(session)), held: AtomicBool::new(true) }))
    }

    /// The key the node marks its jobs with.
    pub fn key(&self) -> i64 {
        i64::from(self.key)
    }

    /// The key to mark claims with: none while the node does not hold its lock.
    pub fn key_if_held(&self) -> Option<i64> {
        self.held.load(Ordering::Relaxed).then(|| self.key())
    }

    /// Whether this node still holds its lock; if its session is gone or no longer holds it
    /// (PostgreSQL restarted, a fail-over, a pooler in between), opens a new session and locks
    /// the key again. While it does not hold it the node claims without its key (only the lease
    /// protects those jobs), so its jobs never look orphaned while it lives. Blocking.
    pub fn keep(&self) -> bool {
        let held = self.relock_if_lost();
        self.held.store(held, Ordering::Relaxed);
        held
    }

    fn relock_if_lost(&self) -> bool {
        let Ok(mut session) = self.session.lock() else { return false };
        if let Some(conn) = session.as_mut() {
            if holds(conn, self.key).unwrap_or(false) {
                return true;
            }
        }
        *session = None;
        let relocked = self.pool.connect_apart().and_then(|mut conn| lock(&mut conn, self.key).map(|key| (conn, key)));
        match relocked {
            Ok((conn, key)) if key == self.key => {
                tracing::warn!("postback worker: its database session had lost the node lock; locked it again");
                *session = Some(conn);
                true
            }
            // Another session took the key meanwhile (a collision of random keys): keep none, so
            // the next look tries again.
            Ok(_) => {
                tracing::error!("postback worker: its node key is taken by another session");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "postback worker: cannot lock its node key; will retry");
                false
            }
        }
    }
}

/// Does this session hold the advisory lock on `key`?
fn holds(conn: &mut DbConn, key: i32) -> Result<bool, DbError> {
    let DbConn::Pg(c) = conn else { return Ok(false) };
    let held: Locked = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 \
         AND objsubid = 2 AND granted AND pid = pg_backend_pid()) AS locked",
    )
    .bind::<Integer, _>(CLASS)
    .bind::<Integer, _>(key)
    .get_result(c)?;
    Ok(held.locked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_nodes_query_names_the_class() {
        assert!(LIVE_NODES.contains(&format!("classid = {CLASS} ")));
    }
}
