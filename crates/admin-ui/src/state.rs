//! What every handler shares.

use std::sync::Arc;

use actix_web::cookie::Key;
use affnet_accounts::mail::{Email, Mailer};
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
    /// The postback worker's settings (timeout, attempts, backoff), which the pages explain.
    pub postbacks: affnet_tracking::delivery::DeliveryConfig,
}

/// What tracking links start with: `domain` on `public_url`'s scheme, or `public_url`.
pub fn tracking_base(public_url: &str, domain: Option<&str>) -> String {
    match domain {
        Some(domain) => {
            let scheme = public_url.split_once("://").map_or("https", |(s, _)| s);
            format!("{scheme}://{domain}")
        }
        None => public_url.to_owned(),
    }
}

#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub clock: Arc<dyn Clock>,
    pub web: WebConfig,
    /// Outgoing email (SMTP or `.eml` files).
    pub mailer: Arc<Mailer>,
}

impl AppState {
    /// What a network's tracking links (and its conversion endpoint) start with: its own
    /// tracking domain, on the public URL's scheme, or the public URL.
    pub fn tracking_base(&self, tenant: &affnet_accounts::Tenant) -> String {
        tracking_base(&self.web.public_url, tenant.tracking_domain.as_deref())
    }

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

    /// Runs blocking work that needs no database connection (hashing a password) on actix's
    /// blocking pool.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        actix_web::web::block(f).await.map_err(|e| AppError::Internal(e.to_string()))
    }

    /// Runs `f` once per item, each on its own pooled connection and all at once (independent
    /// reads of one page); the results in the items' order.
    pub async fn db_each<I, T, F>(&self, items: Vec<I>, f: F) -> Result<Vec<T>, AppError>
    where
        I: Send + 'static,
        T: Send + 'static,
        F: Fn(&mut DbConn, I) -> Result<T, AppError> + Clone + Send + 'static,
    {
        // `web::block` starts the work when called: every item is under way before the first
        // is awaited.
        let running: Vec<_> = items
            .into_iter()
            .map(|item| {
                let (pool, f) = (self.pool.clone(), f.clone());
                actix_web::web::block(move || {
                    let mut conn = pool.get().map_err(|e| AppError::Internal(e.to_string()))?;
                    f(&mut conn, item)
                })
            })
            .collect();
        let mut out = Vec::with_capacity(running.len());
        for r in running {
            out.push(r.await.map_err(|e| AppError::Internal(e.to_string()))??);
        }
        Ok(out)
    }

    /// Sends emails off the async executor, one by one, after the change they report has been
    /// committed. A failure is logged (without the link it carried) and never fails the request.
    pub async fn send_mail(&self, emails: Vec<Email>) {
        if emails.is_empty() {
            return;
        }
        let mailer = self.mailer.clone();
        let outcome = actix_web::web::block(move || {
            for email in &emails {
                match mailer.send(email) {
                    // Quoted (`?`): a subject holds names people typed; a line break must not
                    // start a forged log line.
                    Ok(()) => tracing::info!(subject = ?email.subject, "mail sent"),
                    Err(e) => tracing::warn!(subject = ?email.subject, error = %e, "mail not sent"),
                }
            }
        })
        .await;
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "mail not sent");
        }
    }

    /// Sends `emails` after the answer: the request does not wait for the mail server. For
    /// an answer whose time must not tell whether a mail went out (a reset request for a known
    /// email against an unknown one: a mail server taking a second to accept told them apart).
    pub fn send_mail_later(&self, emails: Vec<Email>) {
        let state = self.clone();
        actix_web::rt::spawn(async move { state.send_mail(emails).await });
    }

    /// An absolute link to `path` on this site.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.web.public_url.trim_end_matches('/'))
    }
}
