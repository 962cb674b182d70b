//! What every handler shares.

use std::sync::Arc;

use actix_web::cookie::Key;
use affnet_db::{Clock, DbConn, DbPool};

use crate::AppError;

/// Web settings, from the server's configuration.
#[derive(Clone)]
pub struct WebConfig {
    /// Encrypts and authenticates the session cookie.
    pub cookie_key: Key,
    /// Mark cookies `Secure` (the site is served over HTTPS).
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy: bool,
    /// The public base URL, e.g. `https://track.example.com`, for links shown to users.
    pub public_url: String,
}

#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub clock: Arc<dyn Clock>,
    pub web: WebConfig,
}

impl AppState {
    /// Runs blocking database work on actix's blocking pool, never on the async executor.
    pub async fn db<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get().map_err(|e| AppError::Internal(e.to_string()))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
    }
}
