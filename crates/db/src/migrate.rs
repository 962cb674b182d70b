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

/// Applies every pending migration of the connection's backend; returns their names.
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    if let DbConn::Sqlite(c) = conn {
        record_committed_sqlite_migrations(c).map_err(|e| DbError::Migration(e.to_string()))?;
    }
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
