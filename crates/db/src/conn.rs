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
            let target =
                if std::env::var_os("PGSSLMODE").is_none() { loopback_without_tls(url) } else { url.to_owned() };
            return Ok(Self { backend: Backend::Postgres, target });
        }
        Err(DbError::BadUrl("DATABASE_URL must start with sqlite:// or postgres:// (e.g. sqlite://affnet.db)".into()))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database file of a SQLite URL.
    pub fn sqlite_path(&self) -> Option<&str> {
        (self.backend == Backend::Sqlite).then_some(self.target.as_str())
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
                c.batch_execute(&format!("PRAGMA busy_timeout = {};", SQLITE_BUSY_TIMEOUT.as_millis()))
                    .map_err(|e| DbError::Connect(e.to_string()))?;
                in_wal_mode(&mut c).map_err(|e| DbError::Connect(e.to_string()))?;
                c.batch_execute(
                    "PRAGMA synchronous = FULL;
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

/// SQLite's busy timeout: how long a connection waits for a lock, and tries to switch a new
/// file to WAL.
const SQLITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Puts a SQLite file in WAL mode (a setting kept in the file: only its first connection
/// changes it). The switch needs the file's exclusive lock, and SQLite refuses it at once,
/// without the busy timeout's wait, while another connection reads the file, as the first
/// connections to a new file all do together (a pool opening several, nodes starting side by
/// side): such a refusal is tried again until the busy timeout.
fn in_wal_mode(c: &mut SqliteConnection) -> diesel::QueryResult<()> {
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    let deadline = std::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
    loop {
        match diesel::sql_query("PRAGMA journal_mode = WAL").get_result::<Mode>(c) {
            // An in-memory database answers `memory`: it has no other connection.
            Ok(mode) if mode.journal_mode.eq_ignore_ascii_case("wal") || mode.journal_mode == "memory" => return Ok(()),
            Ok(_) | Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Ok(mode) => {
                return Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::Unknown,
                    Box::new(format!("the database stays in journal mode {}, not WAL", mode.journal_mode)),
                ))
            }
            Err(e) => return Err(e),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A PostgreSQL URL naming a loopback host (`localhost`, `127.x.x.x`, `::1`) or a Unix socket,
/// without an `sslmode`, gets `sslmode=disable`: libpq's default (`prefer`) would encrypt
/// traffic that never leaves the machine, which cost ~6 % of the CPU of both the server and
/// PostgreSQL per tracked click (perf, BENCHMARKS.md). An explicit `sslmode` in the URL, or
/// `PGSSLMODE` in the environment, is always respected; any other host is left to libpq.
pub fn loopback_without_tls(url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else { return url.to_owned() };
    let (before_query, query) = rest.split_once('?').map_or((rest, None), |(a, q)| (a, Some(q)));
    if query.is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some("sslmode"))) {
        return url.to_owned();
    }
    let authority = before_query.split('/').next().unwrap_or_default();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match hostport.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => hostport.split(':').next().unwrap_or_default(),
    };
    // No host in the URL: libpq takes `host=` from the query (a socket directory) or its
    // default socket, both local.
    let query_host = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("host=")));
    let local = match (host, query_host) {
        ("", None) => true,
        ("", Some(h)) => h.starts_with('/') || h.starts_with("%2F") || h.starts_with("%2f"),
        (h, _) => h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
    };
    if !local {
        return url.to_owned();
    }
    format!("{url}{}sslmode=disable", if query.is_some() { '&' } else { '?' })
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

    #[test]
    fn loopback_connections_skip_tls_unless_asked() {
        for (url, want) in [
            ("postgres://postgres@127.0.0.1:5432/test", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"),
            (
                "postgres://u:p@localhost/db?application_name=x",
                "postgres://u:p@localhost/db?application_name=x&sslmode=disable",
            ),
            ("postgresql://[::1]:5432/db", "postgresql://[::1]:5432/db?sslmode=disable"),
            ("postgres://u@127.0.0.2/db", "postgres://u@127.0.0.2/db?sslmode=disable"),
            ("postgres:///db", "postgres:///db?sslmode=disable"),
            ("postgres:///db?host=/var/run/postgresql", "postgres:///db?host=/var/run/postgresql&sslmode=disable"),
            // Asked for, or not local: unchanged.
            ("postgres://u@127.0.0.1/db?sslmode=require", "postgres://u@127.0.0.1/db?sslmode=require"),
            ("postgres://u@db.internal:5432/db", "postgres://u@db.internal:5432/db"),
            ("postgres://u@10.0.0.5/db", "postgres://u@10.0.0.5/db"),
            ("postgres://u@[2001:db8::1]/db", "postgres://u@[2001:db8::1]/db"),
            ("postgres://localhost.evil.example/db", "postgres://localhost.evil.example/db"),
            ("postgres:///db?host=db.internal", "postgres:///db?host=db.internal"),
        ] {
            assert_eq!(loopback_without_tls(url), want, "{url}");
        }
        let p = DatabaseUrl::parse("postgres://u:secret@127.0.0.1:5432/affnet").unwrap();
        if std::env::var_os("PGSSLMODE").is_none() {
            assert_eq!(p.masked(), "postgres://u:***@127.0.0.1:5432/affnet?sslmode=disable");
        }
    }
}
