//! affnet's tracking engine: transaction (click) ids, the click recorder (group commit), the
//! redirect, conversion intake, the postback outbox and the stats rollups (the clicks per sub id
//! by a background worker, [`sub_rollup`]). It owns its hot-path actix handlers ([`handlers`]);
//! everything else is plain functions over a connection.

pub mod cache;
pub mod click;
pub mod conversion;
pub mod delivery;
pub mod handlers;
pub mod host_slots;
pub mod listing;
pub mod liveness;
pub mod metrics;
pub mod outbox;
pub mod postback;
pub mod query;
pub mod recorder;
pub mod reports;
pub mod rollup;
pub mod sub_conversions;
pub mod sub_report;
pub mod sub_rollup;
pub mod template;
pub mod transaction_id;

pub use handlers::{configure, Tracking};
pub use transaction_id::{SequenceKeys, TransactionId};

pub use affnet_db::write_tx;

/// A writer's own connection, re-opened when it breaks (database restarted, fail-over, a
/// transaction left broken by a panic), so that tracking recovers without a process restart.
pub struct WriterConn {
    url: affnet_db::DatabaseUrl,
    pub conn: affnet_db::DbConn,
}

impl WriterConn {
    pub fn open(url: &affnet_db::DatabaseUrl) -> Result<Self, affnet_db::DbError> {
        Ok(Self { url: url.clone(), conn: url.connect()? })
    }

    /// After a batch failed: if the connection does not answer a trivial query (or its
    /// transaction state is broken), open a new one.
    pub fn heal(&mut self) {
        use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
        let broken = affnet_db::with_backend!(&mut self.conn, |c| {
            AnsiTransactionManager::is_broken_transaction_manager(c) || c.batch_execute("SELECT 1").is_err()
        });
        if broken {
            match self.url.connect() {
                Ok(conn) => {
                    tracing::warn!("writer connection was broken; reconnected");
                    self.conn = conn;
                }
                Err(e) => tracing::error!(error = %e, "writer cannot reconnect; will retry on the next batch"),
            }
        }
    }
}
