//! The connection enum and the parsing of `DATABASE_URL`.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::DbError;

/// One connection to whichever backend this installation runs on.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// The backend named by a database URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A validated `DATABASE_URL`: `sqlite://path/to/file.db` (relative), `sqlite:///abs/file.db`,
/// or `postgres://…` / `postgresql://…`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    /// For SQLite the file path; for PostgreSQL the whole URL.
    target: String,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() || path.contains('?') {
                return Err(DbError::BadUrl(
                    "a SQLite URL names a file: sqlite://affnet.db or sqlite:///var/lib/affnet/affnet.db".into(),
                ));
            }
            return Ok(Self { backend: Backend::Sqlite, target: path.to_owned() });
        }
        if let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) {
            let host_part = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            if host_part.is_empty() || host_part.starts_with('/') && host_part.len() == 1 {
                return Err(DbError::BadUrl(
                    "a PostgreSQL URL names a host and database: postgres://user@host:5432/dbname".into(),
                ));
            }
            return Ok(Self { backend: Backend::Postgres, target: url.to_owned() });
        }
        Err(DbError::BadUrl("DATABASE_URL must start with sqlite:// or postgres:// (e.g. sqlite://affnet.db)".into()))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with any password replaced by `***`, for logs.
    pub fn masked(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.target),
            Backend::Postgres => mask_password(&self.target),
        }
    }

    /// Opens one connection, with the per-connection settings of its backend.
    pub fn connect(&self) -> Result<DbConn, DbError> {
        match self.backend {
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(&self.target).map_err(|e| DbError::Connect(e.to_string()))?;
                // WAL lets readers run beside the writer; FULL makes an acknowledged commit
                // durable across power loss; the busy timeout turns lock contention into a wait.
                c.batch_execute(
                    "PRAGMA busy_timeout = 10000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = FULL;
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(|e| DbError::Connect(e.to_string()))?;
                Ok(DbConn::Sqlite(c))
            }
            Backend::Postgres => {
                let mut c = PgConnection::establish(&self.target)
                    .map_err(|e| DbError::Connect(mask_password(&e.to_string())))?;
                c.batch_execute("SET TIME ZONE 'UTC'").map_err(|e| DbError::Connect(e.to_string()))?;
                Ok(DbConn::Pg(c))
            }
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Sqlite(_) => Backend::Sqlite,
            DbConn::Pg(_) => Backend::Postgres,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_backends_and_refuses_the_rest() {
        let s = DatabaseUrl::parse("sqlite://affnet.db").unwrap();
        assert_eq!(s.backend(), Backend::Sqlite);
        assert_eq!(s.masked(), "sqlite://affnet.db");
        assert_eq!(DatabaseUrl::parse("sqlite:///var/x.db").unwrap().target, "/var/x.db");
        let p = DatabaseUrl::parse("postgres://u:secret@db:5432/affnet").unwrap();
        assert_eq!(p.backend(), Backend::Postgres);
        assert_eq!(p.masked(), "postgres://u:***@db:5432/affnet");
        assert!(!format!("{p:?}").contains("secret"));
        for bad in ["", "mysql://x", "affnet.db", "sqlite://", "postgres://", "http://x"] {
            assert!(matches!(DatabaseUrl::parse(bad), Err(DbError::BadUrl(_))), "{bad}");
        }
    }
}
