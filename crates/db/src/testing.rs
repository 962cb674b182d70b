//! Throw-away databases for tests: a temporary SQLite file, or a fresh PostgreSQL database on
//! the server named by `AFFNET_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! migrated, and dropped when the handle is dropped. Each test gets its own, so tests run in
//! parallel. An unreachable PostgreSQL is a test failure, never a skip.

#![allow(clippy::expect_used)]

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::{Backend, DatabaseUrl, DbPool};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL server tests run against.
pub fn pg_admin_url() -> String {
    std::env::var("AFFNET_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

pub struct TestDb {
    pub url: DatabaseUrl,
    pub raw_url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    /// A new, migrated, empty database of `backend`.
    pub fn new(backend: Backend) -> TestDb {
        let db = TestDb::unmigrated(backend);
        let mut conn = db.url.connect().expect("connect to test database");
        crate::migrate::run_pending(&mut conn).expect("migrate test database");
        db
    }

    /// A new database of `backend` without any table.
    pub fn unmigrated(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let raw_url = format!("sqlite://{}", dir.path().join("affnet.db").display());
                TestDb { url: DatabaseUrl::parse(&raw_url).expect("url"), raw_url, _dir: Some(dir), pg_name: None }
            }
            Backend::Postgres => {
                let admin = pg_admin_url();
                let mut conn = PgConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!("PostgreSQL for tests is unreachable at {admin} ({e}); start it or set AFFNET_TEST_PG_URL")
                });
                let name = format!("affnet_t_{}", crate_random_hex());
                conn.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                let raw_url = format!("{base}/{name}");
                TestDb { url: DatabaseUrl::parse(&raw_url).expect("url"), raw_url, _dir: None, pg_name: Some(name) }
            }
        }
    }

    pub fn pool(&self) -> DbPool {
        DbPool::connect(&self.url, 4).expect("test pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut conn) = PgConnection::establish(&pg_admin_url()) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

fn crate_random_hex() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
