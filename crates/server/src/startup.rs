//! From configuration to a running node: pool, migrations, session key, state.

use std::sync::Arc;

use actix_web::cookie::Key;
use affnet_accounts::mail::{MailError, Mailer};
use affnet_admin_ui::{AppState, WebConfig};
use affnet_db::{migrate, settings, Backend, Clock, DatabaseClock, DbError, DbPool, MonotonicClock, SystemClock};

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

/// The mail transport of the configuration, said clearly in the log: SMTP, or `.eml` files.
pub fn mailer(config: &Config) -> Result<Mailer, MailError> {
    let mailer = Mailer::from_settings(config.smtp_url.as_deref(), &config.mail_from, &config.mail_dir)?;
    if config.smtp_url.is_some() {
        tracing::info!(transport = mailer.description(), "mail is sent by SMTP");
    } else {
        tracing::warn!(
            transport = mailer.description(),
            "AFFNET_SMTP_URL is not set: mail is NOT delivered, each message is written as an .eml file"
        );
    }
    Ok(mailer)
}

/// The node's clock: on PostgreSQL the database server's ([`DatabaseClock`]: nodes compare the
/// times they write, such as postback leases and click times), on SQLite the system's.
pub fn clock(pool: &DbPool) -> Result<Arc<dyn Clock>, DbError> {
    Ok(match pool.backend() {
        Backend::Postgres => DatabaseClock::start(pool, Arc::new(MonotonicClock::new()))?,
        Backend::Sqlite => Arc::new(SystemClock),
    })
}

pub fn app_state(config: &Config, pool: DbPool, mailer: Mailer) -> Result<AppState, DbError> {
    let cookie_key = cookie_key(config, &pool)?;
    Ok(AppState {
        clock: clock(&pool)?,
        pool,
        web: WebConfig {
            cookie_key,
            secure_cookies: config.public_url.starts_with("https://"),
            trust_proxy: config.trust_proxy,
            public_url: config.public_url.clone(),
            postbacks: config.postbacks.clone(),
        },
        mailer: Arc::new(mailer),
    })
}

/// Alerts waiting for the mail thread; more are dropped (and logged). An alert goes out at most
/// once per postback a day, so this is far more than a network produces at once.
const ALERT_QUEUE: usize = 1024;

/// The postback worker's alert sender: hands each alert to a thread of its own, which renders it
/// for each recipient and sends it through `mailer`, so that a slow or unreachable mail server
/// never holds up deliveries (before, the round that raised an alert waited for its mail, up to
/// the SMTP timeout per recipient). A message that cannot be sent is logged; delivery never
/// depends on it. The thread ends when the sender is dropped, after sending what was queued;
/// [`AlertMail::finish`] waits for that at a graceful stop (before, the process ended with the
/// queued alerts unsent).
pub fn postback_alerts(mailer: Arc<Mailer>, public_url: &str) -> (affnet_tracking::delivery::AlertSender, AlertMail) {
    use affnet_tracking::delivery::FailureAlert;
    use std::sync::mpsc::{sync_channel, TrySendError};
    let base = public_url.trim_end_matches('/').to_owned();
    let (queue, alerts) = sync_channel::<FailureAlert>(ALERT_QUEUE);
    let (done_tx, done) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("postback-alerts".into()).spawn(move || {
        for alert in alerts {
            send_alert(&mailer, &base, &alert);
        }
        let _ = done_tx.send(());
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the postback alert thread did not start: alerts will not be mailed");
    }
    let sender: affnet_tracking::delivery::AlertSender =
        Arc::new(move |alert: &FailureAlert| match queue.try_send(alert.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(a)) => {
                tracing::warn!(
                    postback = a.postback_id,
                    "postback alert not sent: too many alerts waiting for the mail server"
                )
            }
            Err(TrySendError::Disconnected(a)) => {
                tracing::warn!(postback = a.postback_id, "postback alert not sent: the alert thread is not running")
            }
        });
    (sender, AlertMail { done })
}

/// The alert mail thread, to wait for at a graceful stop.
pub struct AlertMail {
    done: std::sync::mpsc::Receiver<()>,
}

impl AlertMail {
    /// Once every alert sender is gone (the delivery worker stopped), waits at most `within` for
    /// the alerts still queued to be sent; logs it if the mail server is slower.
    pub fn finish(self, within: std::time::Duration) {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = self.done.recv_timeout(within) {
            tracing::warn!("stopping with postback alerts not sent: the mail server is too slow");
        }
    }
}

/// Renders `alert` for each of its recipients and sends it (blocking).
fn send_alert(mailer: &Mailer, base: &str, alert: &affnet_tracking::delivery::FailureAlert) {
    use affnet_accounts::mail::{Email, Greeting, PostbackAlert};
    for r in &alert.recipients {
        let link =
            if r.manager { format!("{base}/admin/postbacks/log") } else { format!("{base}/affiliate/postbacks/log") };
        let g = Greeting { network: alert.network.clone(), name: r.name.clone() };
        let content = PostbackAlert {
            affiliate: &alert.affiliate,
            target: &alert.target,
            last_error: &alert.last_error,
            gave_up: alert.gave_up,
            manager: r.manager,
            link: &link,
        };
        let sent = Email::postback_alert(&r.email, &g, &content).and_then(|email| mailer.send(&email));
        match sent {
            Ok(()) => tracing::info!(postback = alert.postback_id, manager = r.manager, "postback alert sent"),
            Err(e) => {
                tracing::warn!(postback = alert.postback_id, manager = r.manager, error = %e, "postback alert not sent")
            }
        }
    }
}
