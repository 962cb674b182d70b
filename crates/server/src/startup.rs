//! From configuration to a running node: pool, migrations, session key, state.

use std::sync::Arc;

use actix_web::cookie::Key;
use affnet_admin_ui::{AppState, WebConfig};
use affnet_db::{migrate, settings, DbError, DbPool, SystemClock};

use crate::Config;

/// Opens the pool and applies pending migrations (logged by name).
pub fn connect_and_migrate(config: &Config) -> Result<DbPool, DbError> {
    let pool = DbPool::connect(&config.database_url, config.db_pool_size)?;
    let mut conn = pool.get()?;
    let applied = migrate::run_pending(&mut conn)?;
    if applied.is_empty() {
        tracing::info!(backend = pool.backend().as_str(), "database schema is up to date");
    } else {
        tracing::info!(backend = pool.backend().as_str(), ?applied, "applied migrations");
    }
    Ok(pool)
}

/// The cookie key: from `AFFNET_SECRET_KEY`, else generated once and kept in the database so
/// that every node on the same database shares it and sessions survive restarts.
pub fn cookie_key(config: &Config, pool: &DbPool) -> Result<Key, DbError> {
    let master = match &config.secret_key {
        Some(k) => k.clone(),
        None => {
            let mut conn = pool.get()?;
            settings::get_or_insert_with(&mut conn, "session_key", || affnet_accounts::token::random_hex(64))?
        }
    };
    Ok(Key::derive_from(master.as_bytes()))
}

pub fn app_state(config: &Config, pool: DbPool) -> Result<AppState, DbError> {
    let cookie_key = cookie_key(config, &pool)?;
    Ok(AppState {
        pool,
        clock: Arc::new(SystemClock),
        web: WebConfig {
            cookie_key,
            secure_cookies: config.public_url.starts_with("https://"),
            trust_proxy: config.trust_proxy,
            public_url: config.public_url.clone(),
        },
    })
}
