//! Every setting, declared once with its default, read once from the environment, validated at
//! start-up and printed with secrets masked.

use std::net::SocketAddr;

use affnet_db::DatabaseUrl;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}: {message}")]
    Invalid { name: &'static str, message: String },
    #[error(transparent)]
    Database(#[from] affnet_db::DbError),
}

#[derive(Clone)]
pub struct Config {
    /// `DATABASE_URL`: `sqlite://affnet.db` (default) or `postgres://user@host/db`.
    pub database_url: DatabaseUrl,
    /// `AFFNET_LISTEN`: address to serve on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// `AFFNET_PUBLIC_URL`: the base URL users and advertisers reach (default `http://<listen>`).
    pub public_url: String,
    /// `AFFNET_SECRET_KEY`: at least 32 characters; encrypts session cookies. When unset, a key is
    /// generated once and kept in the database, so all nodes on one database share it.
    pub secret_key: Option<String>,
    /// `AFFNET_TRUST_PROXY`: take client addresses from `X-Forwarded-For` (default `false`).
    pub trust_proxy: bool,
    /// `AFFNET_DB_POOL_SIZE`: database connections per node (default 10).
    pub db_pool_size: u32,
    /// `AFFNET_WORKERS`: HTTP worker threads (default: one per core).
    pub workers: usize,
    /// `AFFNET_SHUTDOWN_TIMEOUT`: seconds in-flight requests get on SIGTERM (default 10).
    pub shutdown_timeout: u64,
    /// `AFFNET_LOG_FORMAT`: `text` (default) or `json`.
    pub log_json: bool,
    /// `AFFNET_CACHE_TTL`: seconds the click path may use offer and affiliate data without
    /// re-reading it (default 5; changes made on the same node apply at once).
    pub cache_ttl_secs: u64,
    /// `AFFNET_SMTP_URL`: send mail through this SMTP server, e.g.
    /// `smtp://user:pass@host:587?tls=starttls` or `smtps://user:pass@host:465`. When unset, mail
    /// is written as `.eml` files to `mail_dir` instead.
    pub smtp_url: Option<String>,
    /// `AFFNET_MAIL_FROM`: the sender of every email (default `affnet <noreply@localhost>`).
    pub mail_from: String,
    /// `AFFNET_MAIL_DIR`: where `.eml` files go when no SMTP server is set (default `./mail`).
    pub mail_dir: std::path::PathBuf,
    /// `AFFNET_POSTBACK_*`: the postback delivery worker.
    pub postbacks: affnet_tracking::delivery::DeliveryConfig,
    /// `AFFNET_SUB_ROLLUP_INTERVAL` (seconds between passes, default 30; 0: off) and
    /// `AFFNET_SUB_ROLLUP_GRACE` (how old a click must be before it is aggregated, default 60
    /// seconds): the worker that counts clicks per sub id.
    pub sub_rollups: affnet_tracking::sub_rollup::Config,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(name: &'static str, default: T, what: &str) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid { name, message: format!("'{v}' is not {what}") }),
    }
}

/// A number from `name` between `min` and `max`, both included (the README gives each range):
/// a value outside is refused, never silently moved to the nearest bound.
fn parse_in<T>(name: &'static str, default: T, min: T, max: T, what: &str) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let value = parse(name, default, what)?;
    if value < min || value > max {
        return Err(ConfigError::Invalid {
            name,
            message: format!("'{value}' is not between {min} and {max} ({what})"),
        });
    }
    Ok(value)
}

/// Why `url` is not a base URL for links (`http(s)://host[:port][/path]`), if it is not.
/// A URL's scheme in lower case (`HTTPS://net.example` is `https://net.example`: schemes are
/// case-insensitive).
fn lower_scheme(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if scheme.bytes().all(|b| b.is_ascii_alphabetic()) => {
            format!("{}://{rest}", scheme.to_ascii_lowercase())
        }
        _ => url.to_owned(),
    }
}

const WITH_USER_INFO: &str =
    "a base URL has no user name or password before its host (https://net.example.com); not shown here";

fn public_url_problem(url: &str) -> Option<&'static str> {
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return Some("must start with http:// or https://");
    };
    // First, and wherever it is: the URL is then never echoed (a password may hold `/`, `?`
    // or `#`, which would hide it from a check of the host part alone).
    if rest.contains('@') {
        return Some(WITH_USER_INFO);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("a URL has no spaces or control characters");
    }
    if url.contains(['?', '#']) {
        return Some("a base URL such as https://net.example.com, without a query or fragment");
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() {
        return Some(
            "affnet answers at the root of its host (its tracking links are /aff_c, as on HasOffers): give the URL without a path, such as https://track.example.com",
        );
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, port)) if ip.parse::<std::net::Ipv6Addr>().is_ok() => ("v6", port),
            _ => return Some("the IPv6 address in brackets is not one"),
        },
        // The port part keeps its `:` (empty without one).
        None => authority.rsplit_once(':').map_or((authority, ""), |(h, _)| (h, &authority[h.len()..])),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !host_ok {
        return Some("names no host (https://net.example.com, http://127.0.0.1:8080)");
    }
    match port.strip_prefix(':') {
        None if port.is_empty() => None,
        Some(p) if p.parse::<u16>().is_ok_and(|p| p > 0) => None,
        _ => Some("the port is not a number from 1 to 65535"),
    }
}

fn parse_bool(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(ConfigError::Invalid { name, message: format!("'{v}' is not true or false") }),
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let seconds = |name, default: u64| -> Result<std::time::Duration, ConfigError> {
            Ok(std::time::Duration::from_secs(parse_in(name, default, 1, 86_400, "a number of seconds")?))
        };
        // A failed postback is retried after this wait, doubling up to the maximum.
        let retry_after = seconds("AFFNET_POSTBACK_RETRY_AFTER", 60)?;
        let retry_max = seconds("AFFNET_POSTBACK_RETRY_MAX", 86_400)?;
        if retry_max < retry_after {
            return Err(ConfigError::Invalid {
                name: "AFFNET_POSTBACK_RETRY_MAX",
                message: format!("must be at least AFFNET_POSTBACK_RETRY_AFTER ({})", retry_after.as_secs()),
            });
        }
        let database_url = DatabaseUrl::parse(&var("DATABASE_URL").unwrap_or_else(|| "sqlite://affnet.db".into()))
            .map_err(|e| match e {
                affnet_db::DbError::BadUrl(message) => ConfigError::Invalid { name: "DATABASE_URL", message },
                other => other.into(),
            })?;
        let listen: SocketAddr =
            parse("AFFNET_LISTEN", SocketAddr::from(([127, 0, 0, 1], 8080)), "an address such as 127.0.0.1:8080")?;
        let public_url = var("AFFNET_PUBLIC_URL").map_or_else(|| format!("http://{listen}"), |u| lower_scheme(&u));
        if let Some(problem) = public_url_problem(&public_url) {
            // A user name or password is not echoed (it may be a secret).
            let message =
                if problem == WITH_USER_INFO { problem.to_owned() } else { format!("'{public_url}': {problem}") };
            return Err(ConfigError::Invalid { name: "AFFNET_PUBLIC_URL", message });
        }
        let secret_key = var("AFFNET_SECRET_KEY");
        if secret_key.as_ref().is_some_and(|k| k.len() < 32) {
            return Err(ConfigError::Invalid {
                name: "AFFNET_SECRET_KEY",
                message: "must be at least 32 characters".into(),
            });
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = parse("AFFNET_WORKERS", cores, "a number of threads")?;
        let db_pool_size = parse("AFFNET_DB_POOL_SIZE", 10u32, "a number of connections")?;
        for (name, value) in [("AFFNET_WORKERS", workers), ("AFFNET_DB_POOL_SIZE", db_pool_size as usize)] {
            if value == 0 {
                return Err(ConfigError::Invalid { name, message: "must be at least 1".into() });
            }
        }
        let (smtp_url, mail_from) =
            (var("AFFNET_SMTP_URL"), var("AFFNET_MAIL_FROM").unwrap_or_else(|| "affnet <noreply@localhost>".into()));
        affnet_accounts::mail::check_settings(smtp_url.as_deref(), &mail_from)
            .map_err(|(name, message)| ConfigError::Invalid { name, message })?;
        let shutdown_timeout = parse("AFFNET_SHUTDOWN_TIMEOUT", 10u64, "a number of seconds")?;
        let log_json = match var("AFFNET_LOG_FORMAT").as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "AFFNET_LOG_FORMAT",
                    message: format!("'{other}' is not text or json"),
                })
            }
        };
        Ok(Config {
            database_url,
            listen,
            public_url: public_url.trim_end_matches('/').to_owned(),
            secret_key,
            trust_proxy: parse_bool("AFFNET_TRUST_PROXY", false)?,
            db_pool_size,
            workers,
            shutdown_timeout,
            log_json,
            cache_ttl_secs: parse("AFFNET_CACHE_TTL", 5u64, "a number of seconds")?,
            smtp_url,
            mail_from,
            mail_dir: var("AFFNET_MAIL_DIR").unwrap_or_else(|| "./mail".into()).into(),
            postbacks: affnet_tracking::delivery::DeliveryConfig {
                concurrency: parse_in(
                    "AFFNET_POSTBACK_CONCURRENCY",
                    affnet_tracking::delivery::DeliveryConfig::default().concurrency,
                    1,
                    1024,
                    "a number of requests",
                )?,
                per_host: parse_in(
                    "AFFNET_POSTBACK_PER_HOST",
                    affnet_tracking::delivery::DeliveryConfig::default().per_host,
                    1,
                    1024,
                    "a number of requests",
                )?,
                max_attempts: parse_in("AFFNET_POSTBACK_MAX_ATTEMPTS", 10i64, 1, 100, "a number of attempts")?,
                timeout: std::time::Duration::from_secs(parse_in(
                    "AFFNET_POSTBACK_TIMEOUT",
                    10u64,
                    1,
                    300,
                    "a number of seconds",
                )?),
                allow_private: parse_bool("AFFNET_POSTBACK_ALLOW_PRIVATE", false)?,
                first_backoff: retry_after,
                max_backoff: retry_max,
                stop_grace: std::time::Duration::from_secs(shutdown_timeout),
                ..affnet_tracking::delivery::DeliveryConfig::default()
            },
            sub_rollups: affnet_tracking::sub_rollup::Config {
                interval: std::time::Duration::from_secs(parse_in(
                    "AFFNET_SUB_ROLLUP_INTERVAL",
                    30u64,
                    0,
                    86_400,
                    "a number of seconds",
                )?),
                grace: std::time::Duration::from_secs(parse_in(
                    "AFFNET_SUB_ROLLUP_GRACE",
                    60u64,
                    0,
                    86_400,
                    "a number of seconds",
                )?),
            },
        })
    }

    /// Logs every setting, secrets masked.
    pub fn log(&self) {
        tracing::info!(
            database_url = %self.database_url.masked(),
            listen = %self.listen,
            public_url = %self.public_url,
            secret_key = if self.secret_key.is_some() { "set (masked)" } else { "generated, stored in the database" },
            trust_proxy = self.trust_proxy,
            db_pool_size = self.db_pool_size,
            workers = self.workers,
            shutdown_timeout = self.shutdown_timeout,
            cache_ttl_secs = self.cache_ttl_secs,
            postback_concurrency = self.postbacks.concurrency,
            postback_per_host = self.postbacks.per_host,
            postback_max_attempts = self.postbacks.max_attempts,
            postback_timeout_secs = self.postbacks.timeout.as_secs(),
            postback_allow_private = self.postbacks.allow_private,
            postback_retry_after_secs = self.postbacks.first_backoff.as_secs(),
            postback_retry_max_secs = self.postbacks.max_backoff.as_secs(),
            sub_rollup_interval_secs = self.sub_rollups.interval.as_secs(),
            sub_rollup_grace_secs = self.sub_rollups.grace.as_secs(),
            mail_from = %self.mail_from,
            "configuration"
        );
    }
}
