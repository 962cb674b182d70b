//! Embedded migrations, one directory per backend, applied at start-up.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::{DbConn, DbError};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Applies every pending migration of the connection's backend; returns their names.
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE).map(|v| v.iter().map(|m| m.to_string()).collect()),
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES).map(|v| v.iter().map(|m| m.to_string()).collect()),
    };
    applied.map_err(|e| DbError::Migration(e.to_string()))
}

/// Reverts the last applied migration of the connection's backend (its `down.sql`); returns
/// its version (the digits of its name's date and number).
pub fn revert_last(conn: &mut DbConn) -> Result<String, DbError> {
    let reverted = match conn {
        DbConn::Sqlite(c) => c.revert_last_migration(SQLITE).map(|m| m.to_string()),
        DbConn::Pg(c) => c.revert_last_migration(POSTGRES).map(|m| m.to_string()),
    };
    reverted.map_err(|e| DbError::Migration(e.to_string()))
}
