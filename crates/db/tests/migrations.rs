#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Both migration sets must build the same tables with the same columns, types and nullability,
//! so that one `schema.rs` serves both backends.

use std::collections::BTreeMap;

use affnet_db::testing::TestDb;
use affnet_db::{Backend, DbConn};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = BigInt)]
    not_null: i64,
}

/// table → column → (portable type, NOT NULL)
type Shape = BTreeMap<String, BTreeMap<String, (String, bool)>>;

fn portable(t: &str) -> String {
    match t.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "int8" => "bigint".into(),
        "text" => "text".into(),
        "boolean" | "bool" => "boolean".into(),
        other => other.into(),
    }
}

fn shape(backend: Backend) -> Shape {
    let db = TestDb::new(backend);
    let mut conn = db.url.connect().unwrap();
    let cols: Vec<Column> = match &mut conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type,
                    CAST(p.\"notnull\" OR p.pk AS BIGINT) AS not_null
             FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name != '__diesel_schema_migrations'",
        )
        .load(c)
        .unwrap(),
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT table_name::text, column_name::text, data_type::text,
                    CAST(CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS BIGINT) AS not_null
             FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name != '__diesel_schema_migrations'",
        )
        .load(c)
        .unwrap(),
    };
    let mut out = Shape::new();
    for c in cols {
        out.entry(c.table_name).or_default().insert(c.column_name, (portable(&c.data_type), c.not_null != 0));
    }
    out
}

#[test]
fn sqlite_and_postgres_migrations_build_the_same_schema() {
    let sqlite = shape(Backend::Sqlite);
    let pg = shape(Backend::Postgres);
    assert!(sqlite.contains_key("users") && sqlite.contains_key("tenants"), "{sqlite:?}");
    for (table, cols) in &sqlite {
        assert_eq!(Some(cols), pg.get(table), "table {table} differs between SQLite and PostgreSQL");
    }
    assert_eq!(sqlite.keys().collect::<Vec<_>>(), pg.keys().collect::<Vec<_>>());
}

#[test]
fn every_tenant_owned_table_has_a_not_null_tenant_id() {
    for (table, cols) in shape(Backend::Postgres) {
        if ["tenants", "app_settings"].contains(&table.as_str()) {
            continue;
        }
        if table == "conversion_attempts" {
            // A call whose transaction id names no click belongs to no network; it is still
            // stored (with a NULL tenant) so that an operator can see it.
            assert_eq!(cols.get("tenant_id"), Some(&("bigint".to_owned(), false)));
            continue;
        }
        assert_eq!(cols.get("tenant_id"), Some(&("bigint".to_owned(), true)), "{table} lacks tenant_id");
    }
}

#[test]
fn migrating_twice_is_a_no_op_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(backend);
        let mut conn = db.url.connect().unwrap();
        assert!(affnet_db::migrate::run_pending(&mut conn).unwrap().is_empty());
    }
}

/// Nodes started together on an empty database (and `affnet` commands, which migrate first)
/// take turns: every one succeeds, and each migration is applied once. Before, on PostgreSQL all
/// but one failed (`duplicate key value violates unique constraint "pg_type_typname_nsp_index"`).
#[test]
fn nodes_migrating_at_once_take_turns_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for _ in 0..3 {
            let db = TestDb::unmigrated(backend);
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let nodes: Vec<_> = (0..4)
                .map(|_| {
                    let (url, start) = (db.url.clone(), start.clone());
                    std::thread::spawn(move || {
                        // Every thread reaches the barrier, whatever happens before it: one that
                        // failed there would leave the others waiting for good.
                        let conn = url.connect();
                        start.wait();
                        affnet_db::migrate::run_pending(&mut conn?)
                    })
                })
                .collect();
            let mut applied: Vec<String> = Vec::new();
            for node in nodes {
                applied.extend(node.join().unwrap().unwrap_or_else(|e| panic!("{backend:?}: {e}")));
            }
            applied.sort();
            let mut conn = db.url.connect().unwrap();
            let mut versions: Vec<String> = diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
                .load::<Version>(&mut conn)
                .unwrap()
                .into_iter()
                .map(|v| v.version)
                .collect();
            versions.sort();
            assert_eq!(applied.len(), versions.len(), "{backend:?}: each migration applied once: {applied:?}");
            assert!(versions.len() >= 17, "{backend:?}: {versions:?}");
            assert!(affnet_db::migrate::run_pending(&mut conn).unwrap().is_empty());
        }
    }
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// Migration 13 runs in a transaction of its own on SQLite (foreign key checks must be off):
/// if the process died after its commit but before diesel recorded its version, the next start
/// records the version instead of running it again.
#[test]
fn a_sqlite_migration_committed_but_not_recorded_is_recorded_not_run_again() {
    let db = TestDb::new(Backend::Sqlite);
    let mut conn = db.url.connect().unwrap();
    let before = shape_of(&mut conn);
    diesel::sql_query("DELETE FROM __diesel_schema_migrations WHERE version = '20261130000013'")
        .execute(&mut conn)
        .unwrap();
    assert!(affnet_db::migrate::run_pending(&mut conn).unwrap().is_empty(), "nothing run again");
    let recorded: i64 =
        diesel::sql_query("SELECT COUNT(*) AS n FROM __diesel_schema_migrations WHERE version = '20261130000013'")
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n;
    assert_eq!(recorded, 1);
    assert_eq!(shape_of(&mut conn), before);
    // Reverted (with the migrations after it), it runs again as usual.
    let mut reverted = Vec::new();
    while reverted.last().map(String::as_str) != Some("20261130000013") {
        reverted.push(affnet_db::migrate::revert_last(&mut conn).unwrap());
    }
    reverted.reverse();
    assert_eq!(affnet_db::migrate::run_pending(&mut conn).unwrap(), reverted);
    assert_eq!(shape_of(&mut conn), before);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The SQL of every table and index of a SQLite database.
fn shape_of(conn: &mut DbConn) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Sql {
        #[diesel(sql_type = Text)]
        sql: String,
    }
    diesel::sql_query("SELECT COALESCE(sql, name) AS sql FROM sqlite_master ORDER BY name")
        .load::<Sql>(conn)
        .unwrap()
        .into_iter()
        .map(|s| s.sql)
        .collect()
}

#[derive(QueryableByName)]
struct Constraint {
    #[diesel(sql_type = Text)]
    conname: String,
}

/// The clicks log has no foreign keys on PostgreSQL (migration 9: their per-row trigger checks
/// cost four times the insert); conversions keep theirs.
#[test]
fn the_clicks_log_has_no_foreign_keys_on_postgres() {
    let db = TestDb::new(Backend::Postgres);
    let mut conn = db.url.connect().unwrap();
    let DbConn::Pg(c) = &mut conn else { panic!("a PostgreSQL connection") };
    let fks = |table: &str, c: &mut diesel::PgConnection| -> Vec<String> {
        diesel::sql_query(format!(
            "SELECT conname::text AS conname FROM pg_constraint WHERE conrelid = '{table}'::regclass AND contype = 'f' ORDER BY 1"
        ))
        .load::<Constraint>(c)
        .unwrap()
        .into_iter()
        .map(|r| r.conname)
        .collect()
    };
    assert_eq!(fks("clicks", c), Vec::<String>::new());
    assert!(fks("conversions", c).contains(&"conversions_click_id_fkey".to_owned()));
}

#[test]
fn the_daily_rollups_are_backfilled_from_the_hourly_ones_on_both_backends() {
    use affnet_db::schema::{stats_daily as sd, stats_hourly as sh, tenants};
    const HOUR: i64 = 3_600_000_000;
    const DAY: i64 = 24 * HOUR;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(backend);
        let mut conn = db.url.connect().unwrap();
        // Back to before migration 8 (every later one reverted first), with hourly rows
        // written then.
        while affnet_db::migrate::revert_last(&mut conn).unwrap() != "20261127000008" {}
        diesel::insert_into(tenants::table)
            .values((tenants::id.eq(1), tenants::slug.eq("a"), tenants::name.eq("A"), tenants::created_at.eq(0)))
            .execute(&mut conn)
            .unwrap();
        let day = 20_000 * DAY;
        // (hour, offer, affiliate, clicks, approved, payout)
        let rows = [
            (day - HOUR, 1, 1, 5, 1, 250),
            (day, 1, 1, 2, 0, 0),
            (day + 23 * HOUR, 1, 1, 3, 2, 500),
            (day + 5 * HOUR, 2, 1, 7, 1, 100),
            (day + DAY, 1, 1, 1, 0, 0),
        ];
        for (hour, offer, aff, clicks, approved, payout) in rows {
            diesel::insert_into(sh::table)
                .values((
                    sh::tenant_id.eq(1),
                    sh::hour.eq(hour),
                    sh::offer_id.eq(offer),
                    sh::affiliate_id.eq(aff),
                    sh::clicks.eq(clicks),
                    sh::approved.eq(approved),
                    sh::payout.eq(payout),
                ))
                .execute(&mut conn)
                .unwrap();
        }
        let ran = affnet_db::migrate::run_pending(&mut conn).unwrap();
        assert!(ran.contains(&"20261127000008".to_owned()), "{ran:?}");
        let daily: Vec<(i64, i64, i64, i64, i64, i64)> = sd::table
            .order((sd::day, sd::offer_id))
            .select((sd::day, sd::offer_id, sd::affiliate_id, sd::clicks, sd::approved, sd::payout))
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            daily,
            [(day - DAY, 1, 1, 5, 1, 250), (day, 1, 1, 5, 2, 500), (day, 2, 1, 7, 1, 100), (day + DAY, 1, 1, 1, 0, 0)],
            "{backend:?}"
        );
        let hourly: i64 = sh::table.count().get_result(&mut conn).unwrap();
        assert_eq!(hourly, 5, "{backend:?}: the hourly rows are kept");
    }
}
