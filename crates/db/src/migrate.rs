//! Embedded migrations, one directory per backend, applied at start-up.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::{DbConn, DbError};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// SQLite migrations that run outside diesel's transaction (their own `BEGIN … COMMIT`, with
/// foreign key checks off: `metadata.toml`), each with a column it adds. diesel records a
/// migration's version after running it: if the process died between the migration's commit and
/// that record, the schema is migrated but the version is not there, and running the migration
/// again would fail (its first statement adds the column again).
const SQLITE_OWN_TRANSACTION: &[(&str, &str, &str)] = &[("20261130000013", "clicks", "seq")];

/// Records the versions of [`SQLITE_OWN_TRANSACTION`] migrations whose change is in the schema.
fn record_committed_sqlite_migrations(c: &mut diesel::SqliteConnection) -> diesel::QueryResult<()> {
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    for (version, table, column) in SQLITE_OWN_TRANSACTION {
        let has_column = diesel::sql_query("SELECT COUNT(*) AS n FROM pragma_table_info(?) WHERE name = ?")
            .bind::<Text, _>(*table)
            .bind::<Text, _>(*column)
            .get_result::<Count>(c)?;
        if has_column.n == 0 {
            continue;
        }
        diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM __diesel_schema_migrations WHERE version = ?)")
            .bind::<Text, _>(*version)
            .bind::<Text, _>(*version)
            .execute(c)?;
    }
    Ok(())
}

/// Applies every pending migration of the connection's backend; returns their names. Nodes
/// starting together (and `affnet` commands, which migrate first) take turns: the first applies
/// what is pending, the others then find nothing left to do.
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    exclusively(conn, |conn| {
        if let DbConn::Sqlite(c) = conn {
            record_committed_sqlite_migrations(c).map_err(|e| DbError::Migration(e.to_string()))?;
        }
        let applied = match conn {
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE).map(|v| v.iter().map(|m| m.to_string()).collect()),
            DbConn::Pg(c) => c.run_pending_migrations(POSTGRES).map(|v| v.iter().map(|m| m.to_string()).collect()),
        };
        applied.map_err(|e| DbError::Migration(e.to_string()))
    })
}

/// Reverts the last applied migration of the connection's backend (its `down.sql`); returns
/// its version (the digits of its name's date and number).
pub fn revert_last(conn: &mut DbConn) -> Result<String, DbError> {
    exclusively(conn, |conn| {
        let reverted = match conn {
            DbConn::Sqlite(c) => c.revert_last_migration(SQLITE).map(|m| m.to_string()),
            DbConn::Pg(c) => c.revert_last_migration(POSTGRES).map(|m| m.to_string()),
        };
        reverted.map_err(|e| DbError::Migration(e.to_string()))
    })
}

/// The key of the PostgreSQL advisory lock that migrations hold (`affnetmg` in ASCII).
pub const MIGRATION_LOCK: i64 = 0x6166_666e_6574_6d67;

/// Runs `f` while no other process migrates the same database. PostgreSQL: a session advisory
/// lock (released by the server if the process dies). SQLite: an exclusive lock on the file
/// `<database>.migrate-lock` beside it (released by the system if the process dies); an
/// in-memory database has no other process.
fn exclusively<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, DbError>) -> Result<T, DbError> {
    use diesel::connection::SimpleConnection;
    let failed = |e: &dyn std::fmt::Display| DbError::Migration(format!("cannot take the migration lock: {e}"));
    match conn {
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).map_err(|e| failed(&e))?;
            let result = f(conn);
            if let DbConn::Pg(c) = conn {
                // A failure here leaves the lock to the session's end (the connection's drop).
                let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
            }
            result
        }
        DbConn::Sqlite(c) => {
            let file = sqlite_file(c).map_err(|e| failed(&e))?;
            let lock = match file.filter(|f| !f.is_empty()) {
                Some(path) => {
                    let lock = std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(format!("{path}.migrate-lock"))
                        .map_err(|e| failed(&e))?;
                    lock.lock().map_err(|e| failed(&e))?;
                    Some(lock)
                }
                None => None,
            };
            let result = f(conn);
            drop(lock);
            result
        }
    }
}

/// The file of a SQLite connection's main database (empty for an in-memory one).
fn sqlite_file(c: &mut diesel::SqliteConnection) -> diesel::QueryResult<Option<String>> {
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct File {
        #[diesel(sql_type = Text)]
        file: String,
    }
    let found = diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .get_result::<File>(c)
        .optional()?;
    Ok(found.map(|f| f.file))
}
